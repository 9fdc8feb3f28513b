/**
 * Registration with `@nextcloud/files` 3.x (Nextcloud 32): `new FileAction({...})` with
 * callbacks `(nodes, view)` and `exec(node, view, dir)`; the registry is `window._nc_fileactions`.
 */
import { emit } from '@nextcloud/event-bus'
import { addNewFileMenuEntry, DefaultType, File, FileAction, registerFileAction } from 'files3'
import { actionSpecs, filesConfig, newMenuSpec, NOTEBOOK_MIME } from './actions.js'

export function toFileAction(spec) {
	return new FileAction({
		id: spec.id,
		displayName: () => spec.displayName(),
		title: () => spec.title(),
		iconSvgInline: () => spec.iconSvgInline(),
		enabled: (nodes, view) => spec.enabled(nodes, view),
		exec: async (node) => spec.exec(node),
		order: spec.order,
		...(spec.default ? { default: DefaultType.DEFAULT } : {}),
	})
}

/** The new notebook as a 3.x File in `folder`, for the Files app's list. */
export function notebookNode(folder, { fileId, name }) {
	return new File({
		source: `${folder.source.replace(/\/$/, '')}/${name}`, // sources are kept unencoded
		root: folder.root,
		id: fileId,
		mime: NOTEBOOK_MIME,
		owner: folder.owner,
		permissions: folder.permissions,
		mtime: new Date(),
	})
}

function announce(folder, created) {
	emit('files:node:created', notebookNode(folder, created))
}

export function register(config = filesConfig()) {
	for (const spec of actionSpecs(config)) {
		registerFileAction(toFileAction(spec))
	}
	addNewFileMenuEntry(newMenuSpec(config, announce))
}

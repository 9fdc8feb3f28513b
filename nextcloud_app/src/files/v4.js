/**
 * Registration with `@nextcloud/files` 4.x (Nextcloud 33 and later): plain objects whose
 * callbacks take one context `{nodes, view, folder, contents}`; the registry is scoped to the
 * major version (`window._nc_files_scope.v4_0`).
 */
import { emit } from '@nextcloud/event-bus'
import { addNewFileMenuEntry, DefaultType, File, registerFileAction } from '@nextcloud/files'
import { actionSpecs, filesConfig, newMenuSpec, NOTEBOOK_MIME } from './actions.js'

export function toFileAction(spec) {
	return {
		id: spec.id,
		displayName: () => spec.displayName(),
		title: () => spec.title(),
		iconSvgInline: () => spec.iconSvgInline(),
		enabled: ({ nodes, view }) => spec.enabled(nodes, view),
		exec: async ({ nodes: [node] }) => spec.exec(node),
		order: spec.order,
		...(spec.default ? { default: DefaultType.DEFAULT } : {}),
	}
}

/** The new notebook as a 4.x File in `folder`, for the Files app's list. */
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

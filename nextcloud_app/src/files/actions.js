/**
 * The Files integration, once, independent of the `@nextcloud/files` version: what each
 * action is called, when it is enabled and what it does. `v3.js` and `v4.js` only adapt these
 * to the two registration APIs.
 */
import { emit } from '@nextcloud/event-bus'
import { loadState } from '@nextcloud/initial-state'
import { createAndLaunch, launch, refuse } from '../lib/launcher.js'
import { t } from '../lib/l10n.js'
import { canCreateNotebook, canOpenFolder, canOpenNotebook, fileIdOf, freeNotebookName, NOTEBOOK_MIME } from '../lib/nodes.js'

// Two arcs and three moons in the manner of Jupyter's logo; currentColor follows the theme.
export const JUPYTER_ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path fill="currentColor" d="M7.2 4.1a1.1 1.1 0 1 1-2.2 0 1.1 1.1 0 0 1 2.2 0zM12 6.2c3.5 0 6.6 1.3 8.2 3.3C19.1 6.4 15.8 4.2 12 4.2S4.9 6.4 3.8 9.5c1.6-2 4.7-3.3 8.2-3.3zm0 11.6c-3.5 0-6.6-1.3-8.2-3.3 1.1 3.1 4.4 5.3 8.2 5.3s7.1-2.2 8.2-5.3c-1.6 2-4.7 3.3-8.2 3.3zM6.3 20.6a1.4 1.4 0 1 1-2.8 0 1.4 1.4 0 0 1 2.8 0zM19.6 3.7a.9.9 0 1 1-1.8 0 .9.9 0 0 1 1.8 0z"/></svg>'

export const OPEN_NOTEBOOK = 'nextpyter-open-notebook'
export const OPEN_FOLDER = 'nextpyter-open-folder'
export const NEW_NOTEBOOK = 'nextpyter-new-notebook'

/**
 * `files-config` from the app: `{enabled, message?}`. Not enabled with a message: the actions
 * show, and say why they cannot open (for example a group restriction). Not enabled without
 * one: nothing is registered.
 */
export function filesConfig() {
	const config = loadState('nextpyter', 'files-config', { enabled: true })
	return {
		enabled: config?.enabled !== false,
		message: typeof config?.message === 'string' ? config.message : '',
	}
}

export function shouldRegister(config = filesConfig()) {
	return config.enabled || config.message !== ''
}

function launcher(config) {
	return config.enabled ? (fileId) => launch(fileId) : () => refuse(config.message)
}

/** Version-neutral descriptions; `nodes`, `view`, `node` and `folder` are the library's own. */
export function actionSpecs(config = filesConfig()) {
	const open = launcher(config)
	return [
		{
			id: OPEN_NOTEBOOK,
			displayName: () => t('Open in Jupyter'),
			title: () => t('Open this notebook in JupyterLab, in a new tab'),
			iconSvgInline: () => JUPYTER_ICON,
			enabled: (nodes, view) => canOpenNotebook(nodes, view),
			exec: (node) => open(fileIdOf(node)),
			order: -10,
			default: true,
		},
		{
			id: OPEN_FOLDER,
			displayName: () => t('Open folder in Jupyter'),
			title: () => t('Open JupyterLab on this folder, in a new tab'),
			iconSvgInline: () => JUPYTER_ICON,
			enabled: (nodes, view) => canOpenFolder(nodes, view),
			exec: (node) => open(fileIdOf(node)),
			order: -9,
			default: false,
		},
	]
}

/**
 * "+ New" → "New notebook". `makeNode(folder, {fileId, name})` builds the library's own File
 * so the Files app can list the new notebook at once; emitted as `files:node:created`.
 */
export function newMenuSpec(config = filesConfig(), announce = () => {}) {
	return {
		id: NEW_NOTEBOOK,
		displayName: t('New notebook'),
		iconSvgInline: JUPYTER_ICON,
		order: 60,
		enabled: (folder) => canCreateNotebook(folder),
		handler: (folder, contents) => {
			if (!config.enabled) {
				return refuse(config.message)
			}
			const name = freeNotebookName(contents ?? [], t('Untitled'))
			return createAndLaunch(folder.path, name, (created) => announce(folder, created))
		},
	}
}

/**
 * Whether Nextcloud's Viewer on this page shows notebooks (the app's preview registered with it).
 * Then clicking a notebook in Files opens the preview (the Viewer's "View" action is the default
 * action), and "Open in Jupyter" is one click away in the preview and in the actions menu.
 */
export function viewerPreviewsNotebooks(win = window) {
	try {
		const mimes = win.OCA?.Viewer?.mimetypes
		return Array.isArray(mimes) && mimes.includes(NOTEBOOK_MIME)
	} catch {
		return false
	}
}

/**
 * The fields of a spec's file action that read alike in every version; each version adds
 * `enabled` and `exec` in its own calling convention, then `withDefault`.
 */
export function commonActionFields(spec) {
	return {
		id: spec.id,
		displayName: () => spec.displayName(),
		title: () => spec.title(),
		iconSvgInline: () => spec.iconSvgInline(),
		order: spec.order,
	}
}

/**
 * `default` on the finished action object (both library versions keep that very object, and
 * Files reads `action.default` when a row is clicked): "Open in Jupyter" is the click on a
 * notebook only while no Viewer previews notebooks. A getter, since the Viewer may register
 * its handlers after this script ran. `DefaultType` is the version's enum.
 */
export function withDefault(action, spec, DefaultType) {
	if (spec.default) {
		Object.defineProperty(action, 'default', {
			enumerable: true,
			configurable: true,
			get: () => (viewerPreviewsNotebooks() ? undefined : DefaultType.DEFAULT),
		})
	}
	return action
}

/**
 * Registers the actions and the New-menu entry with one major version of `@nextcloud/files`.
 * `files` holds that version's `File`, `registerFileAction` and `addNewFileMenuEntry`;
 * `toFileAction` turns a spec into the action object that version takes.
 */
export function registerWith(files, toFileAction, config = filesConfig()) {
	for (const spec of actionSpecs(config)) {
		files.registerFileAction(toFileAction(spec))
	}
	const announce = (folder, created) => emit('files:node:created', notebookNode(files, folder, created))
	files.addNewFileMenuEntry(newMenuSpec(config, announce))
}

/** The new notebook as a `files.File` in `folder`, for the Files app's list. */
export function notebookNode(files, folder, { fileId, name }) {
	return new files.File({
		source: `${folder.source.replace(/\/$/, '')}/${name}`, // sources are kept unencoded
		root: folder.root,
		id: fileId,
		mime: NOTEBOOK_MIME,
		owner: folder.owner,
		permissions: folder.permissions,
		mtime: new Date(),
	})
}

export { NOTEBOOK_MIME }

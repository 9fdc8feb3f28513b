/**
 * Registration with `@nextcloud/files` 3.x (Nextcloud 32): `new FileAction({...})` with
 * callbacks `(nodes, view)` and `exec(node, view, dir)`; the registry is `window._nc_fileactions`.
 */
import { addNewFileMenuEntry, DefaultType, File, FileAction, registerFileAction } from 'files3'
import { commonActionFields, filesConfig, notebookNode as sharedNotebookNode, registerWith, withDefault } from './actions.js'

export function toFileAction(spec) {
	return new FileAction(withDefault({
		...commonActionFields(spec),
		enabled: (nodes, view) => spec.enabled(nodes, view),
		exec: async (node) => spec.exec(node),
	}, spec, DefaultType))
}

const files = { addNewFileMenuEntry, File, registerFileAction }

/** The new notebook as a File of this version in `folder`, for the Files app's list. */
export function notebookNode(folder, created) {
	return sharedNotebookNode(files, folder, created)
}

export function register(config = filesConfig()) {
	registerWith(files, toFileAction, config)
}

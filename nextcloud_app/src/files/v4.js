/**
 * Registration with `@nextcloud/files` 4.x (Nextcloud 33 and later): plain objects whose
 * callbacks take one context `{nodes, view, folder, contents}`; the registry is scoped to the
 * major version (`window._nc_files_scope.v4_0`).
 */
import { addNewFileMenuEntry, DefaultType, File, registerFileAction } from '@nextcloud/files'
import { commonActionFields, filesConfig, notebookNode as sharedNotebookNode, registerWith, withDefault } from './actions.js'

export function toFileAction(spec) {
	return withDefault({
		...commonActionFields(spec),
		enabled: ({ nodes, view }) => spec.enabled(nodes, view),
		exec: async ({ nodes: [node] }) => spec.exec(node),
	}, spec, DefaultType)
}

const files = { addNewFileMenuEntry, File, registerFileAction }

/** The new notebook as a File of this version in `folder`, for the Files app's list. */
export function notebookNode(folder, created) {
	return sharedNotebookNode(files, folder, created)
}

export function register(config = filesConfig()) {
	registerWith(files, toFileAction, config)
}

/**
 * Which Files nodes the NextPyter actions apply to. Pure functions over the fields that
 * `@nextcloud/files` 3.x and 4.x nodes share (`type`, `mime`, `extension`, `permissions`,
 * `fileid`, `basename`), so one set of rules serves both generations of the Files app.
 */

export const NOTEBOOK_MIME = 'application/x-ipynb+json'
/** `Permission.READ` and `Permission.CREATE`: the same bits in both library versions. */
export const PERMISSION_READ = 1
export const PERMISSION_CREATE = 4

/** Views whose nodes cannot be opened: deleted files live outside the user's files. */
const CLOSED_VIEWS = new Set(['trashbin'])

/**
 * The node's Nextcloud file id as a number. 4.x keeps `fileid` for numeric ids only and offers
 * `id` as a string (ready for 64-bit ids), so both are read; an id a JavaScript number cannot
 * hold exactly gives `null` and the actions stay off rather than open the wrong file.
 */
export function fileIdOf(node) {
	if (Number.isSafeInteger(node?.fileid)) {
		return node.fileid
	}
	const id = typeof node?.id === 'string' && /^[0-9]+$/.test(node.id) ? Number(node.id) : NaN
	return Number.isSafeInteger(id) ? id : null
}

function readable(node) {
	return (node.permissions & PERMISSION_READ) !== 0 && fileIdOf(node) !== null
}

function openableView(view) {
	return !CLOSED_VIEWS.has(view?.id)
}

/** A notebook file: by MIME type, or by the `.ipynb` extension where the server's type is generic. */
export function isNotebook(node) {
	if (node?.type !== 'file') {
		return false
	}
	const extension = (node.extension ?? '').toLowerCase()
	return node.mime === NOTEBOOK_MIME || extension === '.ipynb'
}

/** "Open in Jupyter": exactly one readable notebook file. */
export function canOpenNotebook(nodes, view) {
	return nodes?.length === 1 && isNotebook(nodes[0]) && readable(nodes[0]) && openableView(view)
}

/** "Open folder in Jupyter": exactly one readable folder. */
export function canOpenFolder(nodes, view) {
	return nodes?.length === 1 && nodes[0]?.type === 'folder' && readable(nodes[0]) && openableView(view)
}

/** "New notebook": only where the user may create files. */
export function canCreateNotebook(folder) {
	return Boolean(folder) && (folder.permissions & PERMISSION_CREATE) !== 0
}

/**
 * A notebook name not yet taken in the folder: `Untitled.ipynb`, then `Untitled 2.ipynb`, …
 * (the server still refuses or renames on a race; this only spares the common clash).
 */
export function freeNotebookName(contents = [], base = 'Untitled') {
	const taken = new Set(contents.map((node) => String(node.basename).toLowerCase()))
	for (let n = 1; ; n++) {
		const name = n === 1 ? `${base}.ipynb` : `${base} ${n}.ipynb`
		if (!taken.has(name.toLowerCase())) {
			return name
		}
	}
}

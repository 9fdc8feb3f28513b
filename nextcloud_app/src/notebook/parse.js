/**
 * A notebook file's text → the cells the preview shows. Only nbformat 4 (what Jupyter has
 * written since 2015); anything else is a `NotebookError` whose message says what the file is
 * instead, so the view always has something to show.
 *
 * Notebooks are untrusted: nothing here copies the parsed JSON's keys onto other objects
 * (a `"__proto__"` key stays an own property of the parsed object, as JSON.parse makes it),
 * every field is read with its type checked, and lookups by a name from the file use
 * `Object.hasOwn`.
 */

export class NotebookError extends Error {}

export const CELL_TYPES = new Set(['markdown', 'code', 'raw'])

/** `source` and `text` are a string or a list of lines; anything else reads as empty. */
export function joinText(value) {
	if (typeof value === 'string') {
		return value
	}
	if (Array.isArray(value)) {
		let text = ''
		for (const part of value) {
			if (typeof part === 'string') {
				text += part
			}
		}
		return text
	}
	return ''
}

export function isObject(value) {
	return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** `object[key]` when `key` is the object's own (never an inherited `constructor` or `__proto__`). */
export function own(object, key) {
	return isObject(object) && Object.hasOwn(object, key) ? object[key] : undefined
}

/** The kernel's language, for highlighting code cells: "python", "r", "julia"… or "". */
export function notebookLanguage(metadata) {
	const info = own(metadata, 'language_info')
	const kernel = own(metadata, 'kernelspec')
	for (const candidate of [own(info, 'name'), own(kernel, 'language')]) {
		if (typeof candidate === 'string' && candidate.length < 40) {
			return candidate.toLowerCase()
		}
	}
	return ''
}

/**
 * Parse the text of a `.ipynb` file. Returns `{cells, language, nbformat}`; throws a
 * NotebookError with a message for a person when the file is not a notebook this can show.
 */
export function parseNotebook(text) {
	if (typeof text !== 'string' || text.trim() === '') {
		throw new NotebookError('The file is empty.')
	}
	let data
	try {
		data = JSON.parse(text)
	} catch (error) {
		if (error instanceof RangeError) {
			throw new NotebookError('The file is nested too deeply to be read.')
		}
		throw new NotebookError(`The file is not valid JSON, so it is not a notebook (or it is damaged): ${String(error.message).slice(0, 200)}`)
	}
	if (!isObject(data)) {
		throw new NotebookError('The file is JSON, but not a notebook: a notebook is a JSON object with a list of cells.')
	}
	const nbformat = own(data, 'nbformat')
	if (nbformat !== 4) {
		if (typeof nbformat === 'number' && nbformat < 4) {
			throw new NotebookError(`This notebook is in an old format (nbformat ${nbformat}). Open it in Jupyter, which converts it, to read it.`)
		}
		if (nbformat === undefined && !Array.isArray(own(data, 'cells'))) {
			throw new NotebookError('The file is JSON, but not a notebook: it has no "cells" and no "nbformat".')
		}
		if (typeof nbformat === 'number') {
			throw new NotebookError(`This notebook is in a format this preview does not know (nbformat ${nbformat}).`)
		}
	}
	const cells = own(data, 'cells')
	if (!Array.isArray(cells)) {
		throw new NotebookError('The file is not a notebook: it has no list of cells.')
	}
	return {
		cells: cells.map(normalizeCell),
		language: notebookLanguage(own(data, 'metadata')),
		nbformat: 4,
	}
}

/** One cell as the renderer reads it; a cell that is not an object becomes an `invalid` one. */
export function normalizeCell(cell, index) {
	if (!isObject(cell)) {
		return { type: 'invalid', index, source: '', outputs: [], attachments: null, executionCount: null }
	}
	const type = own(cell, 'cell_type')
	const count = own(cell, 'execution_count')
	const outputs = own(cell, 'outputs')
	const attachments = own(cell, 'attachments')
	return {
		type: CELL_TYPES.has(type) ? type : 'invalid',
		index,
		source: joinText(own(cell, 'source')),
		outputs: type === 'code' && Array.isArray(outputs) ? outputs : [],
		attachments: isObject(attachments) ? attachments : null,
		executionCount: Number.isSafeInteger(count) && count >= 0 ? count : null,
	}
}

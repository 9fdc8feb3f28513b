/**
 * One cell → one element: markdown (sanitized, with math and `attachment:` images), code
 * (highlighted, with its execution count and outputs), raw (as text). A cell that cannot be
 * read becomes a line that says so; nothing a cell holds can stop the others from showing.
 */
import { h } from '../lib/dom.js'
import { t } from '../lib/l10n.js'
import { highlight } from './highlight.js'
import { renderMarkdown } from './markdown.js'
import { MAX_OUTPUTS, placeholder, renderOutput } from './outputs.js'

function prompt(text, className) {
	return h('div', { class: `np-prompt ${className}`, 'aria-hidden': 'true' }, text)
}

function codeInput(cell, language) {
	const code = h('code', { class: 'hljs' })
	const highlighted = highlight(cell.source, language)
	if (highlighted === null) {
		code.textContent = cell.source
	} else {
		code.innerHTML = highlighted // highlight.js escapes the code; it adds only its spans
		code.classList.add(`language-${language}`)
	}
	const count = cell.executionCount === null ? ' ' : String(cell.executionCount)
	return h('div', { class: 'np-input' },
		prompt(`In [${count}]:`, 'np-prompt-in'),
		h('pre', { class: 'np-source' }, code))
}

function outputs(cell, options) {
	if (cell.outputs.length === 0) {
		return null
	}
	const area = h('div', { class: 'np-outputs' })
	for (const output of cell.outputs.slice(0, MAX_OUTPUTS)) {
		let rendered
		try {
			rendered = renderOutput(output, options)
		} catch {
			rendered = { element: placeholder(t('An output that could not be shown.')), prompt: '' }
		}
		area.append(h('div', { class: 'np-output' }, prompt(rendered.prompt, 'np-prompt-out'), h('div', { class: 'np-output-body' }, rendered.element)))
	}
	if (cell.outputs.length > MAX_OUTPUTS) {
		area.append(h('p', { class: 'np-note' }, t('{count} more outputs not shown.', { count: cell.outputs.length - MAX_OUTPUTS })))
	}
	return area
}

export function renderCell(cell, { language = '', remoteImages = false } = {}) {
	const options = { remoteImages }
	try {
		switch (cell.type) {
		case 'markdown':
			return h('div', { class: 'np-cell np-markdown-cell', dataset: { index: String(cell.index) } },
				h('div', { class: 'np-markdown' }, renderMarkdown(cell.source, { attachments: cell.attachments, remoteImages })))
		case 'code':
			return h('div', { class: 'np-cell np-code-cell', dataset: { index: String(cell.index) } },
				codeInput(cell, language), outputs(cell, options))
		case 'raw':
			return h('div', { class: 'np-cell np-raw-cell', dataset: { index: String(cell.index) } },
				h('pre', { class: 'np-raw' }, cell.source))
		default:
			return h('div', { class: 'np-cell', dataset: { index: String(cell.index) } }, placeholder(t('This cell could not be read.')))
		}
	} catch {
		return h('div', { class: 'np-cell', dataset: { index: String(cell.index) } }, placeholder(t('This cell could not be shown.')))
	}
}

/**
 * Code cells' outputs → DOM. What nbviewer and GitHub show: `stream`, `error` (with its ANSI
 * colours), and of a `display_data` / `execute_result` bundle the richest type the preview can
 * show safely: HTML (sanitized), SVG (as an image), PNG, JPEG, GIF, Markdown, LaTeX, plain text.
 * Widgets and JavaScript outputs are never run: a line says what is missing and where to see it.
 */
import { AnsiUp } from 'ansi_up'
import { h } from '../lib/dom.js'
import { t } from '../lib/l10n.js'
import { isObject, joinText, own } from './parse.js'
import { renderLatex, renderMarkdown } from './markdown.js'
import { imageDataUrl, sanitize } from './sanitize.js'

/** Text outputs beyond this are cut (with a note): megabytes of log make a page crawl. */
export const MAX_TEXT = 100_000
/** Outputs per cell shown; a loop that printed 50,000 times is summarised after these. */
export const MAX_OUTPUTS = 200

const WIDGET = 'application/vnd.jupyter.widget-view+json'
/** Types that need a script to show anything: never run here. */
const NEEDS_SCRIPT = [
	WIDGET,
	'application/javascript',
	'text/javascript',
	'application/vnd.plotly.v1+json',
	'application/vnd.bokehjs_exec.v0+json',
	'application/vnd.bokehjs_load.v0+json',
	'application/vnd.vegalite.v5+json',
	'application/vnd.vegalite.v4+json',
	'application/vnd.vega.v5+json',
	'application/vnd.holoviews_exec.v0+json',
]
/** The order of preference, as nbconvert has it, of what this preview renders. */
export const DISPLAY_ORDER = ['text/html', 'image/svg+xml', 'image/png', 'image/jpeg', 'image/gif', 'image/webp', 'text/markdown', 'text/latex', 'text/plain']

let ansi = null
function ansiToHtml(text) {
	if (!ansi) {
		ansi = new AnsiUp()
		ansi.use_classes = true
		ansi.escape_html = true
		ansi.url_allowlist = { http: 1, https: 1 }
	}
	return ansi.ansi_to_html(text)
}

/** What a terminal shows for text with carriage returns (progress bars): the last rewrite of each line. */
export function collapseCarriageReturns(text) {
	if (!text.includes('\r')) {
		return text
	}
	return text.replace(/\r\n/g, '\n').split('\n').map((line) => {
		const parts = line.split('\r')
		for (let i = parts.length - 1; i >= 0; i--) {
			if (parts[i] !== '') {
				return parts[i]
			}
		}
		return ''
	}).join('\n')
}

function truncate(text) {
	if (text.length <= MAX_TEXT) {
		return { text, cut: 0 }
	}
	return { text: text.slice(0, MAX_TEXT), cut: text.length - MAX_TEXT }
}

function cutNote(cut) {
	return cut > 0 ? h('p', { class: 'np-note' }, t('… {count} more characters not shown. Download the notebook or open it in Jupyter to see all.', { count: cut.toLocaleString() })) : null
}

/** Text with ANSI escapes → `<pre>` with coloured spans (ansi_up escapes the text). */
export function ansiPre(text, className) {
	const { text: shown, cut } = truncate(collapseCarriageReturns(text))
	const pre = h('pre', { class: className })
	if (/\x1b/.test(shown)) {
		pre.innerHTML = ansiToHtml(shown)
		for (const link of pre.querySelectorAll('a')) {
			link.setAttribute('target', '_blank')
			link.setAttribute('rel', 'noopener noreferrer nofollow')
		}
	} else {
		pre.textContent = shown
	}
	return cut ? h('div', {}, pre, cutNote(cut)) : pre
}

export function placeholder(text) {
	return h('div', { class: 'np-placeholder', role: 'note' }, text)
}

function dimension(value) {
	return Number.isFinite(value) && value > 0 && value < 100000 ? String(Math.round(value)) : null
}

function image(mime, data, metadata) {
	const url = imageDataUrl(mime, data)
	if (!url) {
		return placeholder(t('An image that could not be read ({type}).', { type: mime }))
	}
	const meta = own(metadata, mime)
	const img = h('img', { class: 'np-image', alt: t('Output image'), decoding: 'async' })
	const width = dimension(own(meta, 'width'))
	const height = dimension(own(meta, 'height'))
	if (width) {
		img.setAttribute('width', width)
	}
	if (height) {
		img.setAttribute('height', height)
	}
	img.src = url
	return img
}

function html(text, options) {
	const { fragment, removedScripts } = sanitize(text, { remoteImages: options.remoteImages })
	const visible = (fragment.textContent ?? '').trim() !== '' || fragment.querySelector?.('img, a, table, hr') !== null
	if (removedScripts > 0 && !visible) {
		return placeholder(t('This output needs JavaScript, which the preview never runs. Open the notebook in Jupyter to see it.'))
	}
	return h('div', { class: 'np-html' }, fragment)
}

/** The element of one MIME bundle, or a placeholder. */
export function renderBundle(data, metadata, options = {}) {
	if (!isObject(data)) {
		return placeholder(t('An output that could not be read.'))
	}
	if (Object.hasOwn(data, WIDGET)) {
		return placeholder(t('An interactive widget: the preview runs no code. Open the notebook in Jupyter to use it.'))
	}
	const scripted = NEEDS_SCRIPT.find((mime) => Object.hasOwn(data, mime))
	for (const mime of DISPLAY_ORDER) {
		if (!Object.hasOwn(data, mime)) {
			continue
		}
		if (scripted && mime === 'text/plain') {
			break // "<IPython.core.display.Javascript object>" says less than the placeholder
		}
		const value = data[mime]
		switch (mime) {
		case 'text/html':
			return html(joinText(value), options)
		case 'text/markdown':
			return h('div', { class: 'np-markdown' }, renderMarkdown(joinText(value), { remoteImages: options.remoteImages }))
		case 'text/latex':
			return h('div', { class: 'np-latex' }, renderLatex(joinText(value)))
		case 'text/plain':
			return ansiPre(joinText(value), 'np-text')
		default:
			return image(mime, value, metadata)
		}
	}
	if (scripted) {
		return placeholder(t('A JavaScript output ({type}): the preview never runs code. Open the notebook in Jupyter to see it.', { type: scripted }))
	}
	const types = Object.keys(data).slice(0, 5).join(', ')
	return placeholder(t('An output the preview cannot show ({types}).', { types: types || t('empty') }))
}

/** One output of a code cell → `{element, prompt}` (prompt: "Out[3]:" or ""). */
export function renderOutput(output, options = {}) {
	if (!isObject(output)) {
		return { element: placeholder(t('An output that could not be read.')), prompt: '' }
	}
	const type = own(output, 'output_type')
	switch (type) {
	case 'stream': {
		const name = own(output, 'name') === 'stderr' ? 'stderr' : 'stdout'
		return { element: ansiPre(joinText(own(output, 'text')), `np-stream np-${name}`), prompt: '' }
	}
	case 'error': {
		const traceback = own(output, 'traceback')
		const text = Array.isArray(traceback) && traceback.length
			? traceback.filter((line) => typeof line === 'string').join('\n')
			: `${String(own(output, 'ename') ?? 'Error')}: ${String(own(output, 'evalue') ?? '')}`
		return { element: ansiPre(text, 'np-error'), prompt: '' }
	}
	case 'execute_result':
	case 'display_data':
	case 'update_display_data': {
		const count = own(output, 'execution_count')
		const prompt = type === 'execute_result' ? `Out[${Number.isSafeInteger(count) ? count : ' '}]:` : ''
		return { element: renderBundle(own(output, 'data'), own(output, 'metadata'), options), prompt }
	}
	default:
		return { element: placeholder(t('An output of a kind the preview does not know.')), prompt: '' }
	}
}

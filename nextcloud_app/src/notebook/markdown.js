/**
 * Markdown cells (and `text/markdown`, `text/latex` outputs) → sanitized DOM, with math.
 *
 * markdown-it renders CommonMark with HTML allowed (notebooks use it), code fences are
 * highlighted, and markdown-it-texmath finds the math (`$…$`, `$$…$$`, `\(…\)`, `\[…\]`,
 * `\begin{…}…\end{…}`) but writes only a placeholder holding the TeX as text. The whole HTML
 * then goes through the sanitizer; only after that does KaTeX render each placeholder (with
 * `trust: false`: no `\href`, `\url`, `\includegraphics`, no HTML extensions), so the only
 * inline styles in the result are KaTeX's own.
 */
import katex from 'katex'
import MarkdownIt from 'markdown-it'
import texmath from 'markdown-it-texmath'
import { highlight } from './highlight.js'
import { sanitize } from './sanitize.js'

function escapeHtml(text) {
	return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
		// texmath puts our placeholder into its template with String.replace, where `$&`, `$'`…
		// would be read as patterns: no `$` may reach it.
		.replace(/\$/g, '&#36;')
}

/** What texmath takes as its "engine": a placeholder instead of KaTeX's HTML. */
const placeholderEngine = {
	renderToString(tex, options) {
		const display = options?.displayMode === true
		const tag = display ? 'div' : 'span'
		return `<${tag} class="np-math-${display ? 'display' : 'inline'}">${escapeHtml(tex)}</${tag}>`
	},
}

export const KATEX_OPTIONS = Object.freeze({
	throwOnError: false,
	trust: false,
	strict: 'ignore',
	maxSize: 50,
	maxExpand: 500,
	output: 'htmlAndMathml',
})

let md = null
function markdownIt() {
	if (md) {
		return md
	}
	md = new MarkdownIt({
		html: true,
		linkify: true,
		typographer: false,
		highlight: (code, language) => highlight(code, (language || '').toLowerCase()) ?? '',
	})
	md.use(texmath, { engine: placeholderEngine, delimiters: ['dollars', 'brackets', 'beg_end'], katexOptions: {} })
	return md
}

/** KaTeX into each math placeholder of `root` (after sanitizing). */
export function renderMath(root) {
	for (const element of root.querySelectorAll('.np-math-inline, .np-math-display')) {
		const tex = element.textContent
		const displayMode = element.classList.contains('np-math-display')
		try {
			katex.render(tex, element, { ...KATEX_OPTIONS, displayMode })
		} catch {
			element.textContent = tex // throwOnError is off; a bug in KaTeX shows the source
		}
		element.classList.add('np-math-done')
	}
}

/** Markdown text → a sanitized fragment with rendered math. */
export function renderMarkdown(text, { attachments = null, remoteImages = false } = {}) {
	let html
	try {
		html = markdownIt().render(text)
	} catch {
		html = `<pre>${escapeHtml(text)}</pre>`
	}
	const { fragment } = sanitize(html, { attachments, remoteImages })
	renderMath(fragment)
	return fragment
}

/** A `text/latex` output: math as the notebook wrote it, or the whole text as display math. */
export function renderLatex(text, options = {}) {
	const trimmed = text.trim()
	const delimited = /^(\$|\\\[|\\\(|\\begin\{)/.test(trimmed)
	return renderMarkdown(delimited ? trimmed : `$$\n${trimmed}\n$$`, options)
}

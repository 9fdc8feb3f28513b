/**
 * The hostile corpus (tests/fixtures/hostile/, made by tests/fixtures/generate.mjs): every
 * notebook renders, and what it renders can run nothing and fetch nothing. Checked on the
 * rendered DOM: no element that runs or loads (script, iframe, object, embed, form, base,
 * meta, link, style, media, inline svg), no event-handler attribute, no style attribute but
 * KaTeX's and ansi_up's own, no link but http(s)/mailto/#, no image but data:image, no
 * classes borrowed from Nextcloud, and Object.prototype untouched.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { parseNotebook, NotebookError } from '../notebook/parse.js'
import { renderCell } from '../notebook/render.js'
import { ALLOWED_CLASS } from '../notebook/sanitize.js'
import { FIXTURES } from './notebook.test.js'

const HOSTILE = `${FIXTURES}hostile/`
const names = readdirSync(HOSTILE).filter((name) => name.endsWith('.ipynb')).sort()

const FORBIDDEN = 'script, iframe, frame, frameset, object, embed, applet, form, input, button, textarea, select, base, meta, link, style, video, audio, source, track, picture, template, noscript, svg, foreignObject, image, use, area, map, dialog, portal'
const KATEX_STYLE = /^[\w\s:;.,%()#-]*$/
const ANSI_STYLE = /^(?:(?:font-weight:bold|opacity:0\.7|font-style:italic|text-decoration:underline|(?:background-)?color:rgb\(\d{1,3},\d{1,3},\d{1,3}\));?)+$/

function render(text, options = {}) {
	const root = document.createElement('div')
	root.className = 'np-cells'
	document.body.append(root)
	let notebook
	try {
		notebook = parseNotebook(text)
	} catch (error) {
		expect(error).toBeInstanceOf(NotebookError) // a message, never a crash
		root.textContent = error.message
		return root
	}
	for (const cell of notebook.cells) {
		root.append(renderCell(cell, { language: notebook.language, ...options }))
	}
	return root
}

function problems(root) {
	const found = []
	for (const element of root.querySelectorAll(FORBIDDEN)) {
		if (!element.closest('.katex-mathml')) {
			found.push(`<${element.localName}>`)
		}
	}
	for (const element of root.querySelectorAll('*')) {
		const inKatex = element.closest('.katex, .katex-display') !== null
		for (const { name, value } of element.attributes) {
			if (name.startsWith('on')) {
				found.push(`${element.localName}[${name}]`)
			}
			if (['srcset', 'background', 'poster', 'formaction', 'action', 'ping', 'xlink:href', 'srcdoc', 'data', 'id', 'name', 'http-equiv'].includes(name)) {
				found.push(`${element.localName}[${name}]`)
			}
			if (name === 'style') {
				const ansi = element.localName === 'span' && element.closest('pre') !== null && ANSI_STYLE.test(value)
				if (!(inKatex && KATEX_STYLE.test(value) && !/url\(|position|fixed/i.test(value)) && !ansi) {
					found.push(`${element.localName}[style="${value}"]`)
				}
			}
			if (name === 'class' && !inKatex) {
				for (const token of value.split(/\s+/).filter(Boolean)) {
					if (!ALLOWED_CLASS.test(token) && !/^np-[\w-]+$/.test(token)) {
						found.push(`.${token}`)
					}
				}
			}
			if (name === 'class' && !inKatex && /\bnp-(?:toolbar|notebook|actions|button)\b/.test(value)) {
				found.push(`borrowed .${value}`)
			}
		}
		if (element.localName === 'a' && element.hasAttribute('href')) {
			const href = element.getAttribute('href')
			if (!/^(?:https?:\/\/|mailto:|#)/i.test(href)) {
				found.push(`a[href="${href}"]`)
			}
			if (!href.startsWith('#') && element.getAttribute('rel') !== 'noopener noreferrer nofollow') {
				found.push(`a[href="${href}"] without rel`)
			}
		}
		if (element.localName === 'img') {
			const src = element.getAttribute('src')
			if (src !== null && !/^data:image\/(?:png|jpe?g|gif|webp|bmp|svg\+xml)[;,]/i.test(src)) {
				found.push(`img[src="${src}"]`)
			}
		}
	}
	return found
}

describe('the hostile corpus', () => {
	beforeEach(() => {
		window.alert = vi.fn()
		delete window.__pwned
	})
	afterEach(() => {
		document.body.replaceChildren()
	})

	it('has at least 30 notebooks', () => {
		expect(names.length).toBeGreaterThanOrEqual(30)
	})

	it.each(names)('%s runs nothing and fetches nothing', (name) => {
		const root = render(readFileSync(`${HOSTILE}${name}`, 'utf8'))
		expect(problems(root)).toEqual([])
		for (const element of root.querySelectorAll('*')) {
			for (const { name, value } of element.attributes) {
				expect(value, `${element.localName}[${name}]`).not.toMatch(/javascript:|vbscript:|data:text\/html/i)
			}
		}
		expect(window.alert).not.toHaveBeenCalled()
		expect(window.__pwned).toBeUndefined()
		for (const key of ['polluted', 'polluted2', 'polluted3', 'cell_type', 'output_type', 'text/html', 'image/png', 'name']) {
			expect(Object.hasOwn(Object.prototype, key), key).toBe(false)
		}
		expect({}.polluted).toBeUndefined()
	})

	it('with remote images allowed, only http(s) images are added, without a referrer', () => {
		for (const name of ['16-remote-images-markdown.ipynb', '17-remote-images-html.ipynb']) {
			const root = render(readFileSync(`${HOSTILE}${name}`, 'utf8'), { remoteImages: true })
			for (const img of root.querySelectorAll('img')) {
				const src = img.getAttribute('src')
				if (src && !src.startsWith('data:')) {
					expect(src).toMatch(/^https:\/\//)
					expect(img.getAttribute('referrerpolicy')).toBe('no-referrer')
				}
			}
			expect(root.querySelector('[srcset], [background]')).toBeNull()
			expect(root.innerHTML).not.toContain('index.php/avatar')
		}
	})

	it('keeps the readable text of what it neutralises', () => {
		const links = render(readFileSync(`${HOSTILE}08-javascript-links.ipynb`, 'utf8'))
		expect(links.textContent).toContain('click')
		expect([...links.querySelectorAll('a')].every((a) => !a.hasAttribute('href'))).toBe(true)
		const js = render(readFileSync(`${HOSTILE}29-javascript-outputs.ipynb`, 'utf8'))
		expect(js.querySelectorAll('.np-placeholder').length).toBe(3)
		const weird = render(readFileSync(`${HOSTILE}33-weird-cell-types.ipynb`, 'utf8'))
		expect(weird.querySelectorAll('.np-cell').length).toBe(7)
	})
})

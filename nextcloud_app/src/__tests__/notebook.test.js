/**
 * The notebook preview's renderer against the real libraries (markdown-it, markdown-it-texmath,
 * KaTeX, highlight.js, ansi_up, DOMPurify) on jsdom, with the small notebooks of
 * tests/fixtures/: each kind of cell and output shows as nbviewer would show it.
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { collapseCarriageReturns } from '../notebook/outputs.js'
import { NotebookError, parseNotebook } from '../notebook/parse.js'
import { renderCell } from '../notebook/render.js'
import { sanitize } from '../notebook/sanitize.js'
import { fontsBase, katexStylesheet } from '../notebook/style.js'
import { downloadAllowed, jupyterButtons, mountNotebook } from '../notebook/view.js'

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../tests/fixtures/')
export const fixture = (name) => readFileSync(`${FIXTURES}${name}`, 'utf8')

/** All cells of a fixture rendered into one element. */
export function renderAll(text, options = {}) {
	const notebook = parseNotebook(text)
	const root = document.createElement('div')
	for (const cell of notebook.cells) {
		root.append(renderCell(cell, { language: notebook.language, ...options }))
	}
	document.body.append(root)
	return root
}

afterEach(() => {
	document.body.replaceChildren()
})

describe('markdown cells', () => {
	it('renders CommonMark, tables and links that open in a new tab', () => {
		const root = renderAll(fixture('markdown.ipynb'))
		const [first] = root.querySelectorAll('.np-markdown-cell')
		expect(first.querySelector('h1').textContent).toBe('Title')
		expect(first.querySelector('em').textContent).toBe('emphasis')
		expect(first.querySelector('strong').textContent).toBe('bold')
		expect(first.querySelector('table td').textContent).toBe('1')
		const link = first.querySelector('a')
		expect(link.getAttribute('href')).toBe('https://jupyter.org')
		expect(link.getAttribute('target')).toBe('_blank')
		expect(link.getAttribute('rel')).toBe('noopener noreferrer nofollow')
	})

	it('renders inline, display and \\begin{} math with KaTeX', () => {
		const cell = renderAll(fixture('markdown.ipynb')).querySelectorAll('.np-markdown-cell')[1]
		const inline = cell.querySelector('.np-math-inline .katex')
		expect(inline).not.toBeNull()
		expect(inline.querySelector('annotation').textContent).toBe('e^{i\\pi} + 1 = 0')
		const displays = cell.querySelectorAll('.np-math-display .katex-display')
		expect(displays.length).toBe(2)
		expect(displays[0].querySelector('annotation').textContent).toContain('\\int_0^1')
		expect(displays[1].querySelector('annotation').textContent).toContain('a^2 + b^2 = c^2')
		expect(cell.textContent).not.toContain('$$')
	})

	it('highlights code fences', () => {
		const cell = renderAll(fixture('markdown.ipynb')).querySelectorAll('.np-markdown-cell')[2]
		expect(cell.querySelector('pre code .hljs-keyword').textContent).toBe('def')
		expect(cell.querySelector('pre code').textContent).toBe('def f(x):\n    return x + 1\n')
	})

	it('shows attachment: images from the cell', () => {
		const cell = renderAll(fixture('markdown.ipynb')).querySelectorAll('.np-markdown-cell')[3]
		const img = cell.querySelector('img')
		expect(img.getAttribute('src')).toMatch(/^data:image\/png;base64,iVBORw0KGgo/)
		expect(img.getAttribute('alt')).toBe('plot')
	})
})

describe('code cells', () => {
	it('highlights the source in the kernel language with the execution count', () => {
		const root = renderAll(fixture('code.ipynb'))
		const [ran, never] = root.querySelectorAll('.np-code-cell')
		expect(ran.querySelector('.np-prompt-in').textContent).toBe('In [7]:')
		expect(ran.querySelector('code.language-python .hljs-keyword').textContent).toBe('import')
		expect(ran.querySelector('code .hljs-comment').textContent).toBe('# a comment')
		expect(ran.querySelector('code').textContent).toBe('import numpy as np\nx = np.arange(3)  # a comment\nprint("hello")')
		expect(ran.querySelector('.np-stream').textContent).toBe('hello\n')
		expect(never.querySelector('.np-prompt-in').textContent).toBe('In [ ]:')
		expect(never.querySelector('.np-outputs')).toBeNull()
	})
})

describe('outputs', () => {
	const outputs = () => [...renderAll(fixture('outputs.ipynb')).querySelectorAll('.np-code-cell')]

	it('stream: stdout and stderr', () => {
		const cell = outputs()[0]
		expect(cell.querySelector('.np-stdout').textContent).toBe('out\n')
		expect(cell.querySelector('.np-stderr').textContent).toBe('err\n')
	})

	it('execute_result text/plain with its Out prompt', () => {
		const cell = outputs()[1]
		expect(cell.querySelector('.np-prompt-out').textContent).toBe('Out[2]:')
		expect(cell.querySelector('.np-text').textContent).toBe('42')
	})

	it('image/png with its size, image/jpeg, image/svg+xml as an image', () => {
		const cells = outputs()
		const png = cells[2].querySelector('img')
		expect(png.getAttribute('src')).toMatch(/^data:image\/png;base64,/)
		expect([png.getAttribute('width'), png.getAttribute('height')]).toEqual(['120', '80'])
		expect(cells[3].querySelector('img').getAttribute('src')).toMatch(/^data:image\/jpeg;base64,\/9j\//)
		const svg = cells[4].querySelector('img')
		expect(svg.getAttribute('src')).toMatch(/^data:image\/svg\+xml;charset=utf-8,%3Csvg/)
		expect(cells[4].querySelector('svg')).toBeNull()
	})

	it('text/html: the table, without its <style>', () => {
		const cell = outputs()[5]
		const table = cell.querySelector('.np-html table.dataframe')
		expect(table.querySelector('td').textContent).toBe('1')
		expect(cell.querySelector('style')).toBeNull()
		expect(cell.querySelector('.np-html').textContent).not.toContain('color: red')
	})

	it('text/markdown and text/latex', () => {
		const cells = outputs()
		expect(cells[6].querySelector('.np-markdown strong').textContent).toBe('bold')
		expect(cells[7].querySelector('.np-latex .katex annotation').textContent).toBe('\\alpha + \\beta')
	})

	it('error: the traceback with its ANSI colours', () => {
		const cell = outputs()[8]
		const pre = cell.querySelector('.np-error')
		expect(pre.textContent).toContain('ZeroDivisionError: division by zero')
		const red = [...pre.querySelectorAll('.ansi-red-fg')].map((span) => span.textContent)
		expect(red).toContain('ZeroDivisionError')
		expect(pre.textContent).not.toContain('\u001b')
	})

	it('carriage returns rewrite the line, as in a terminal', () => {
		expect(collapseCarriageReturns('10%\r50%\r100%\ndone\r\n')).toBe('100%\ndone\n')
	})
})

describe('what the preview cannot show', () => {
	it('says so for widgets, JavaScript and unknown types; raw cells as text', () => {
		const root = renderAll(fixture('placeholders.ipynb'))
		const notes = [...root.querySelectorAll('.np-placeholder')].map((note) => note.textContent)
		expect(notes[0]).toContain('interactive widget')
		expect(notes[1]).toContain('JavaScript output (application/javascript)')
		expect(notes[2]).toContain('cannot show (application/x-unknown)')
		expect(root.querySelector('.np-raw').textContent).toBe('raw <b>text</b>')
		expect(root.querySelector('.np-raw b')).toBeNull()
	})

	it('refuses what is not a notebook with a message', () => {
		const cases = {
			'not-json.ipynb': 'not valid JSON',
			'json-array.ipynb': 'not a notebook',
			'no-cells.ipynb': 'no "cells"',
			'empty-file.ipynb': 'empty',
			'truncated.ipynb': 'not valid JSON',
			'old-format.ipynb': 'old format (nbformat 3)',
		}
		for (const [name, text] of Object.entries(cases)) {
			expect(() => parseNotebook(fixture(name)), name).toThrow(NotebookError)
			expect(() => parseNotebook(fixture(name)), name).toThrow(text)
		}
		expect(parseNotebook(fixture('empty.ipynb')).cells).toEqual([])
	})
})

describe('remote images', () => {
	const markdown = '{"nbformat":4,"nbformat_minor":5,"metadata":{},"cells":[{"cell_type":"markdown","metadata":{},"source":"![chart](https://img.example.org/c.png)"}]}'

	it('are replaced by a link unless the administrator allows them', () => {
		const blocked = renderAll(markdown)
		expect(blocked.querySelector('img')).toBeNull()
		const link = blocked.querySelector('a.np-remote-image')
		expect(link.getAttribute('href')).toBe('https://img.example.org/c.png')
		expect(link.textContent).toBe('[Remote image not loaded: chart]')
	})

	it('load lazily without a referrer when allowed', () => {
		const img = renderAll(markdown, { remoteImages: true }).querySelector('img')
		expect(img.getAttribute('src')).toBe('https://img.example.org/c.png')
		expect(img.getAttribute('referrerpolicy')).toBe('no-referrer')
		expect(img.getAttribute('loading')).toBe('lazy')
	})
})

describe('sanitize', () => {
	it('keeps only the preview\'s own classes', () => {
		const { fragment } = sanitize('<span class="hljs-string modal-mask np-toolbar icon-loading">x</span>')
		expect(fragment.firstChild.getAttribute('class')).toBe('hljs-string')
	})

	it('turns inline SVG into an image of it', () => {
		const { fragment } = sanitize('<p>a <svg width="2" height="2"><rect width="2" height="2"/></svg></p>')
		const img = fragment.querySelector('img')
		expect(decodeURIComponent(img.getAttribute('src'))).toContain('<rect')
		expect(fragment.querySelector('svg')).toBeNull()
	})
})

describe('KaTeX stylesheet', () => {
	it('points at the app\'s woff2 fonts only', () => {
		const css = katexStylesheet('/nc/custom_apps/nextpyter/js/fonts/')
		expect(css).toContain('url(/nc/custom_apps/nextpyter/js/fonts/KaTeX_Main-Regular.woff2) format("woff2")')
		expect(css).not.toMatch(/\.woff\)|\.ttf\)/)
		expect(fontsBase('https://cloud.example.org/nc/custom_apps/nextpyter/js/chunks/view-X.mjs')).toBe('https://cloud.example.org/nc/custom_apps/nextpyter/js/fonts/')
	})
})

describe('the view', () => {
	const config = { enabled: true, message: '', public: false, remoteImages: false }
	const file = { basename: 'a.ipynb', source: 'https://cloud.example.org/nc/remote.php/dav/files/alice/a.ipynb', fileid: 42, permissions: 'RGDNVW', ownerId: 'alice' }

	it('buttons: open own files, copy shared or read-only ones, none on share pages', () => {
		expect(jupyterButtons(file, config, 'alice')).toEqual({ open: true, copy: false })
		expect(jupyterButtons({ ...file, permissions: 'SRGDNVW', ownerId: 'bob' }, config, 'alice')).toEqual({ open: false, copy: true })
		expect(jupyterButtons({ ...file, permissions: 'RG' }, config, 'alice')).toEqual({ open: true, copy: true })
		expect(jupyterButtons({ ...file, mountType: 'external' }, config, 'alice')).toEqual({ open: false, copy: true })
		expect(jupyterButtons(file, { ...config, public: true }, 'alice')).toEqual({ open: false, copy: false })
		expect(jupyterButtons(file, config, null)).toEqual({ open: false, copy: false })
		expect(jupyterButtons(file, { ...config, enabled: false, message: '' }, 'alice')).toEqual({ open: false, copy: false })
		expect(jupyterButtons(file, { ...config, enabled: false, message: 'Ask your admin' }, 'alice')).toEqual({ open: true, copy: false })
	})

	it('a share that forbids downloads (its "download" attribute, as the Viewer and Files read it) gets no Download and no copy', async () => {
		const viewOnly = '[{"scope":"permissions","key":"download","value":false,"enabled":false}]'
		expect(downloadAllowed(file)).toBe(true)
		expect(downloadAllowed({ ...file, shareAttributes: viewOnly })).toBe(false)
		expect(downloadAllowed({ ...file, shareAttributes: JSON.parse(viewOnly) })).toBe(false)
		expect(downloadAllowed({ ...file, shareAttributes: '[{"scope":"permissions","key":"download","value":true}]' })).toBe(true)
		expect(downloadAllowed({ ...file, shareAttributes: 'not json' })).toBe(true)
		expect(downloadAllowed({ ...file, hideDownload: true })).toBe(false)
		expect(downloadAllowed({ ...file, hideDownload: 'true' })).toBe(false)
		const shared = { ...file, permissions: 'SRG', ownerId: 'bob', mountType: 'shared', shareAttributes: viewOnly }
		expect(jupyterButtons(shared, config, 'alice')).toEqual({ open: false, copy: false })
		const root = document.createElement('div')
		document.body.append(root)
		const view = mountNotebook(root, { file: shared, config, uid: 'alice', fetchText: async () => fixture('empty.ipynb') })
		await view.done
		expect(root.querySelector('.np-download, .np-copy, .np-open')).toBeNull()
	})

	it('renders every cell, first screen then the rest, and says where it is', async () => {
		const root = document.createElement('div')
		document.body.append(root)
		const phases = []
		root.addEventListener('nextpyter:notebook', (event) => phases.push(event.detail.phase))
		const view = mountNotebook(root, { file, config, uid: 'alice', fetchText: async () => fixture('outputs.ipynb') })
		expect(await view.ready).toBe(true)
		expect(await view.done).toBe(true)
		expect(phases).toEqual(['loading', 'first-screen', 'complete'])
		expect(root.querySelectorAll('.np-cell').length).toBe(9)
		expect(root.querySelector('.np-open').textContent).toBe('Open in Jupyter')
		expect(root.querySelector('.np-copy')).toBeNull()
		expect(root.querySelector('.np-download').getAttribute('href')).toBe(file.source)
		expect(root.dataset.state).toBe('complete')
	})

	it('renders thousands of cells in slices', async () => {
		const cells = Array.from({ length: 500 }, (_, i) => ({ cell_type: 'markdown', metadata: {}, source: `cell ${i}` }))
		const root = document.createElement('div')
		document.body.append(root)
		const view = mountNotebook(root, { file, config, uid: 'alice', fetchText: async () => JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells }) })
		await view.ready
		const first = root.querySelectorAll('.np-cell').length
		expect(first).toBeGreaterThan(0)
		expect(first).toBeLessThan(500)
		await view.done
		expect(root.querySelectorAll('.np-cell').length).toBe(500)
		expect(root.querySelector('.np-cell:last-child').textContent.trim()).toBe('cell 499')
	})

	it('shows a message, never a blank view, for a file that is not a notebook', async () => {
		for (const name of ['not-json.ipynb', 'json-array.ipynb', 'empty-file.ipynb']) {
			const root = document.createElement('div')
			document.body.append(root)
			const view = mountNotebook(root, { file, config, uid: 'alice', fetchText: async () => fixture(name) })
			expect(await view.ready).toBe(false)
			expect(root.dataset.state).toBe('error')
			expect(root.querySelector('[role="alert"]').textContent).toMatch(/notebook|empty/)
			expect(root.querySelector('.np-download')).not.toBeNull()
		}
	})

	it('shows the shared-file buttons and hides Download when the share hides it', async () => {
		const root = document.createElement('div')
		document.body.append(root)
		const view = mountNotebook(root, { file: { ...file, permissions: 'SRG', ownerId: 'bob', hideDownload: true }, config, uid: 'alice', fetchText: async () => fixture('empty.ipynb') })
		await view.done
		expect(root.querySelector('.np-open')).toBeNull()
		expect(root.querySelector('.np-copy').textContent).toBe('Open a copy in Jupyter')
		expect(root.querySelector('.np-download')).toBeNull()
		expect(root.textContent).toContain('This notebook has no cells.')
	})
})

/**
 * The preview of one notebook: a toolbar ("Open in Jupyter", "Open a copy in Jupyter",
 * Download), then the cells, rendered lazily: the file is parsed once, the cells that fill the
 * first screen are rendered at once, the rest in small slices while the browser is idle, so a
 * notebook of thousands of cells opens as fast as a short one and the page never freezes.
 *
 * Tells how far it got on its root element: `data-state` ("loading", "first-screen",
 * "complete", "error") and a `nextpyter:notebook` event `{phase, timings}` at each step
 * (the browser tests and `make bench` read them).
 */
import { getRequestToken } from '@nextcloud/auth'
import { addStyle, h, replaceChildren } from '../lib/dom.js'
import { t } from '../lib/l10n.js'
import { copyAndLaunch, launch, refuse } from '../lib/launcher.js'
import { NotebookError, parseNotebook } from './parse.js'
import { renderCell } from './render.js'
import { notebookCss } from './style.js'

/** Files larger than this are not previewed (they would take minutes): download or open them. */
export const MAX_BYTES = 200 * 1024 * 1024
/** The first screen: at most this many cells, or this long, before the page is handed back. */
const FIRST_CELLS = 40
const FIRST_BUDGET_MS = 250
/** Each idle slice renders cells for about this long. */
const SLICE_MS = 12

const FOREIGN_MOUNTS = new Set(['shared', 'shared-root', 'external', 'external-session', 'group', 'groupfolder'])

/**
 * Whether the person may download the file: not when the share hides downloads (`hideDownload`,
 * a public link's "Hide download"), nor when its share attributes say `permissions.download`
 * is false (a "view only" share: Nextcloud refuses its download and POST /copy refuses to copy
 * it), read as the Viewer's and Files' own canDownload read them.
 */
export function downloadAllowed(file) {
	if (file.hideDownload === true || file.hideDownload === 'true' || file.hideDownload === 1) {
		return false
	}
	let attributes = file.shareAttributes
	if (typeof attributes === 'string') {
		try {
			attributes = JSON.parse(attributes || '[]')
		} catch {
			attributes = []
		}
	}
	if (!Array.isArray(attributes)) {
		return true
	}
	return !attributes.some((attribute) => attribute?.scope === 'permissions' && attribute?.key === 'download' && attribute?.value === false)
}

/**
 * Which Jupyter buttons a file gets. `own`: in the user's own files (not shared with them, not
 * on external storage or a group folder), so "Open in Jupyter" can open it; otherwise, or when
 * it is read-only, "Open a copy in Jupyter". Nothing on a public share page.
 * `file`: the Viewer's file info (`permissions` as WebDAV letters, "RGDNVW"; `mountType`;
 * `ownerId`; `shareAttributes`); `config`: the app's `viewer-config`; `uid`: the current user, or null.
 */
export function jupyterButtons(file, config, uid) {
	if (config.public || !uid || (!config.enabled && !config.message)) {
		return { open: false, copy: false }
	}
	const permissions = file.permissions
	let shared = false
	let writable = true
	if (typeof permissions === 'string') {
		shared = /[SM]/.test(permissions)
		writable = permissions.includes('W')
	} else if (Number.isInteger(permissions)) {
		writable = (permissions & 2) !== 0
	}
	if (typeof file.mountType === 'string' && FOREIGN_MOUNTS.has(file.mountType)) {
		shared = true
	}
	if (file.ownerId !== undefined && file.ownerId !== null && file.ownerId !== '' && String(file.ownerId) !== uid) {
		shared = true
	}
	const viewOnly = !downloadAllowed({ shareAttributes: file.shareAttributes })
	return { open: !shared, copy: (shared || !writable) && !viewOnly }
}

function scheduler(win) {
	if (typeof win.requestIdleCallback === 'function') {
		return {
			next: (fn) => win.requestIdleCallback(fn, { timeout: 50 }),
			cancel: (id) => win.cancelIdleCallback(id),
		}
	}
	return { next: (fn) => win.setTimeout(() => fn(null), 0), cancel: (id) => win.clearTimeout(id) }
}

function readError(status) {
	if (status === 404) {
		return t('The notebook is not there any more. Close the preview and reload the folder.')
	}
	if (status === 401 || status === 403) {
		return t('You may not read this notebook (it may be shared for viewing only, without download).')
	}
	return t('Nextcloud could not send the notebook (HTTP {status}). Try again.', { status })
}

/**
 * Mount the preview into `root`. `file`: `{basename, source, fileid, permissions, mountType,
 * ownerId, hideDownload, shareAttributes}`; `config`: `{enabled, message, public, remoteImages}`; `uid`: the
 * user or null. Returns `{ready, done, destroy}`: `ready` resolves once the first screen shows
 * (or the message why it cannot), `done` once every cell is rendered.
 */
export function mountNotebook(root, { file, config, uid = null, fetchText = defaultFetch, win = window }) {
	addStyle('nextpyter-notebook-style', notebookCss())
	const started = win.performance.now()
	const timings = {}
	const mark = (name) => {
		timings[name] = Math.round((win.performance.now() - started) * 10) / 10
	}
	const abort = new AbortController()
	const schedule = scheduler(win)
	let pending = null
	let destroyed = false

	const status = h('p', { class: 'np-status', role: 'status' }, t('Loading the notebook…'))
	const message = h('div', { class: 'np-message', role: 'alert' })
	const cellsEl = h('div', { class: 'np-cells' })
	const buttons = toolbar(file, config, uid, (text) => {
		message.textContent = text
	})
	const body = h('div', { class: 'np-notebook' }, cellsEl)
	replaceChildren(root, h('div', { class: 'np-toolbar' }, h('span', { class: 'np-title', title: file.basename }, file.basename ?? ''), buttons), message, status, body)
	root.classList.add('nextpyter-notebook')

	const tell = (phase) => {
		root.dataset.state = phase
		root.dispatchEvent(new win.CustomEvent('nextpyter:notebook', { detail: { phase, timings: { ...timings } } }))
	}
	tell('loading')

	let resolveDone
	const done = new Promise((resolve) => {
		resolveDone = resolve
	})

	const fail = (text) => {
		status.textContent = ''
		message.textContent = text
		message.classList.add('np-error-message')
		mark('error')
		tell('error')
		resolveDone(false)
	}

	const ready = (async () => {
		let text
		try {
			text = await fetchText(file.source, abort.signal)
		} catch (error) {
			if (!destroyed) {
				fail(error instanceof NotebookError ? error.message : t('The notebook could not be loaded: {error}', { error: error?.message ?? String(error) }))
			}
			return false
		}
		mark('fetched')
		if (destroyed) {
			return false
		}
		let notebook
		try {
			notebook = parseNotebook(text)
		} catch (error) {
			fail(error instanceof NotebookError ? `${error.message} ${t('You can still download the file.')}` : t('This file could not be read as a notebook.'))
			return false
		}
		text = null
		mark('parsed')
		const options = { language: notebook.language, remoteImages: config.remoteImages === true }
		const cells = notebook.cells
		if (cells.length === 0) {
			status.textContent = t('This notebook has no cells.')
			mark('firstScreen')
			tell('first-screen')
			mark('complete')
			tell('complete')
			resolveDone(true)
			return true
		}
		let next = 0
		const renderNext = () => {
			cellsEl.append(renderCell(cells[next], options))
			next += 1
		}
		// The first screen, now.
		const viewport = root.clientHeight || win.innerHeight || 800
		while (next < cells.length && next < FIRST_CELLS) {
			renderNext()
			if (next % 4 === 0 && (win.performance.now() - started > FIRST_BUDGET_MS + (timings.parsed ?? 0) || cellsEl.getBoundingClientRect().height > viewport * 1.5)) {
				break
			}
		}
		status.textContent = next < cells.length ? t('Showing {shown} of {total} cells…', { shown: next, total: cells.length }) : ''
		mark('firstScreen')
		tell('first-screen')
		// The rest, in slices while the browser is idle.
		const slice = (deadline) => {
			pending = null
			if (destroyed) {
				return
			}
			const until = win.performance.now() + SLICE_MS
			do {
				renderNext()
			} while (next < cells.length && (deadline ? deadline.timeRemaining() > 1 : true) && win.performance.now() < until)
			if (next < cells.length) {
				status.textContent = t('Showing {shown} of {total} cells…', { shown: next, total: cells.length })
				pending = schedule.next(slice)
				return
			}
			status.textContent = ''
			mark('complete')
			tell('complete')
			resolveDone(true)
		}
		if (next < cells.length) {
			pending = schedule.next(slice)
		} else {
			mark('complete')
			tell('complete')
			resolveDone(true)
		}
		return true
	})()

	return {
		ready,
		done,
		timings,
		destroy() {
			destroyed = true
			abort.abort()
			if (pending !== null) {
				schedule.cancel(pending)
			}
			resolveDone(false)
		},
	}
}

function toolbar(file, config, uid, report) {
	const bar = h('span', { class: 'np-actions' })
	const { open, copy } = jupyterButtons(file, config, uid)
	const fileId = Number(file.fileid)
	const allowed = config.enabled
	if (open && Number.isSafeInteger(fileId)) {
		bar.append(h('button', {
			type: 'button',
			class: 'np-button np-primary np-open',
			title: t('Open this notebook in JupyterLab, in a new tab'),
			onClick: () => (allowed ? launch(fileId, undefined, { report }) : refuse(config.message)),
		}, t('Open in Jupyter')))
	}
	if (copy && Number.isSafeInteger(fileId)) {
		bar.append(h('button', {
			type: 'button',
			class: `np-button np-copy${open ? '' : ' np-primary'}`,
			title: t('Copy this notebook into your own files, then open the copy in JupyterLab'),
			onClick: () => (allowed
				? copyAndLaunch(fileId, {
					report,
					onCopied: (made) => report(t('Copied to {path} in your files.', { path: made.path ?? '' })),
				})
				: refuse(config.message)),
		}, t('Open a copy in Jupyter')))
	}
	if (downloadAllowed(file) && typeof file.source === 'string' && file.source) {
		bar.append(h('a', { class: 'np-button np-download', href: file.source, download: file.basename ?? '' }, t('Download')))
	}
	return bar
}

/** The file's text over WebDAV (the user's session, or the public share's). */
export async function defaultFetch(source, signal) {
	const headers = { Accept: 'application/x-ipynb+json, application/json;q=0.9, */*;q=0.1' }
	const token = getRequestToken()
	if (token) {
		headers.requesttoken = token
	}
	const response = await fetch(source, { credentials: 'same-origin', headers, signal })
	if (!response.ok) {
		throw new NotebookError(readError(response.status))
	}
	const length = Number(response.headers.get('Content-Length'))
	if (length > MAX_BYTES) {
		throw new NotebookError(t('This notebook is larger than {size} MB, too large to preview. Download it or open it in Jupyter.', { size: MAX_BYTES / 1024 / 1024 }))
	}
	return response.text()
}

/**
 * The notebook preview in Nextcloud's Viewer (`OCA.Viewer`), the same on Nextcloud 32, 33 and
 * 34 (Viewer 5.x, 6.x and 7.x; read from their stable32/33/34 branches):
 *
 * - `OCA.Viewer.registerHandler({id, mimes, component, group?, theme?, canCompare?})`, unchanged
 *   in all three; `theme: 'default'` follows Nextcloud's light or dark theme (the Viewer's own
 *   default is a dark backdrop, made for photos).
 * - The component is a Vue 2.7 component (every one of these Viewers bundles Vue 2.7): an
 *   options object with a render function is enough, so the app bundles no Vue of its own. The
 *   Viewer binds the file's WebDAV properties as props (`basename`, `filename`, `source` — the
 *   file's WebDAV URL, also on public share pages —, `davPath`, `fileid`, `mime`,
 *   `permissions` as WebDAV letters, `ownerId`, `mountType`, `hideDownload`, `shareAttributes`, …), plus `active`
 *   (false while it preloads the previous or next file) and `loaded` (`.sync`: the component
 *   emits `update:loaded` when it shows something). It also adds its `Mime` mixin to the
 *   component, with most of those props; the component declares the ones it reads anyway.
 * - Registration timing: the Viewer creates `OCA.Viewer` in its init script (`viewer-init`),
 *   and registers, at that moment, the handlers queued in `window._oca_viewer_handlers` (so
 *   Files' "View" action knows the MIME type on its first listing); its Vue root goes through
 *   that queue a second time on `DOMContentLoaded` (then only logging "already registered").
 *   The order of this app's init script and the Viewer's is not fixed, and earlier 32.0.x
 *   Viewers read the queue on `DOMContentLoaded` only. So: register at once when `OCA.Viewer`
 *   exists; otherwise queue, and on `DOMContentLoaded` (before the Viewer's Vue root, which
 *   listens later) register if the Viewer did not, and take the entry out of the queue.
 *   (Nextcloud loads every script as a module, so they run while `readyState` is already
 *   "interactive", before `DOMContentLoaded`.)
 *
 * The renderer (markdown, KaTeX, highlight.js, DOMPurify) is a separate chunk loaded when a
 * notebook is first opened, so the Files page does not pay for it.
 */
import { getCurrentUser } from '@nextcloud/auth'
import { loadState } from '@nextcloud/initial-state'
import { NOTEBOOK_MIME } from '../lib/nodes.js'

export const HANDLER_ID = 'nextpyter-notebook'

/** `viewer-config` from the app: `{enabled, message, public, remoteImages}`. */
export function viewerConfig() {
	const config = loadState('nextpyter', 'viewer-config', {})
	return {
		enabled: config?.enabled === true,
		message: typeof config?.message === 'string' ? config.message : '',
		public: config?.public === true,
		remoteImages: config?.remoteImages === true,
	}
}

const PROPS = ['basename', 'filename', 'source', 'davPath', 'fileid', 'mime', 'permissions', 'ownerId', 'mountType', 'hideDownload', 'shareAttributes', 'active']

/** The Vue 2 component. `loadView` loads the renderer (a dynamic import of the chunk). */
export function notebookComponent(loadView = () => import('../notebook/view.js')) {
	return {
		name: 'NextPyterNotebook',
		inheritAttrs: false,
		props: Object.fromEntries(PROPS.map((name) => [name, { default: undefined }])),
		render(createElement) {
			return createElement('div', { class: 'nextpyter-notebook-viewer', attrs: { 'data-nextpyter': 'notebook' } })
		},
		mounted() {
			this.nextpyterStarted = false
			if (this.active !== false) {
				this.nextpyterStart()
			}
		},
		watch: {
			active(now) {
				if (now) {
					this.nextpyterStart()
				}
			},
			source() {
				this.nextpyterStop()
				this.nextpyterStarted = false
				if (this.active !== false) {
					this.nextpyterStart()
				}
			},
		},
		beforeDestroy() {
			this.nextpyterStop()
		},
		methods: {
			async nextpyterStart() {
				if (this.nextpyterStarted) {
					return
				}
				this.nextpyterStarted = true
				const el = this.$el
				const file = {
					basename: this.basename ?? (this.filename ?? '').split('/').pop(),
					source: this.source ?? this.davPath,
					fileid: this.fileid,
					permissions: this.permissions,
					mountType: this.mountType,
					ownerId: this.ownerId,
					hideDownload: this.hideDownload === true || this.hideDownload === 'true',
					shareAttributes: this.shareAttributes,
				}
				let view
				try {
					const { mountNotebook } = await loadView()
					if (this.$el !== el || !this.nextpyterStarted) {
						return
					}
					view = mountNotebook(el, { file, config: viewerConfig(), uid: getCurrentUser()?.uid ?? null })
				} catch (error) {
					console.error('[nextpyter] the notebook preview could not be loaded', error)
					el.textContent = 'The notebook preview could not be loaded. Reload the page, or download the notebook.'
					this.$emit('update:loaded', true)
					return
				}
				this.nextpyterView = view
				await view.ready
				this.$emit('update:loaded', true)
			},
			nextpyterStop() {
				this.nextpyterView?.destroy()
				this.nextpyterView = null
			},
		},
	}
}

export function notebookHandler(component = notebookComponent()) {
	return {
		id: HANDLER_ID,
		mimes: [NOTEBOOK_MIME],
		component,
		theme: 'default',
		canCompare: false,
	}
}

function registered(viewer) {
	try {
		return (viewer.availableHandlers ?? []).some((handler) => handler?.id === HANDLER_ID)
	} catch {
		return false
	}
}

/**
 * Register the handler with this page's Viewer, now or once it exists (see above).
 * Returns "registered", "already", or "queued".
 */
export function registerNotebookHandler(win = window, handler = notebookHandler()) {
	const viewer = win.OCA?.Viewer
	if (viewer && typeof viewer.registerHandler === 'function') {
		if (registered(viewer)) {
			return 'already'
		}
		viewer.registerHandler(handler)
		return 'registered'
	}
	if (!Array.isArray(win._oca_viewer_handlers)) {
		win._oca_viewer_handlers = []
	}
	win._oca_viewer_handlers.push(handler)
	let settled = false
	const settle = () => {
		const now = win.OCA?.Viewer
		if (settled) {
			return
		}
		if (!now || typeof now.registerHandler !== 'function') {
			return // no Viewer on this page: the queue stays for one that comes later
		}
		settled = true
		if (!registered(now)) {
			now.registerHandler(handler)
		}
		const queue = win._oca_viewer_handlers
		if (Array.isArray(queue)) {
			const at = queue.indexOf(handler)
			if (at >= 0) {
				queue.splice(at, 1)
			}
		}
	}
	// Module and deferred scripts (as Nextcloud loads every script) run while readyState is
	// "interactive", before DOMContentLoaded; a script loaded later still gets "load".
	if (win.document.readyState === 'complete') {
		win.queueMicrotask(settle)
	} else {
		win.document.addEventListener('DOMContentLoaded', settle, { once: true })
		win.addEventListener('load', settle, { once: true })
	}
	return 'queued'
}

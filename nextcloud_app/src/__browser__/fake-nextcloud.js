/**
 * A fake Nextcloud on loopback for the browser tests and `make bench`: it serves the app's built
 * js/ as Nextcloud serves an app's scripts, a Files page with Nextcloud's globals and a fake
 * Viewer (the real Vue 2.7 runtime, as every Viewer of Nextcloud 32–34 bundles, mounting the
 * handler's component the way Viewer.vue does), notebooks over "WebDAV", and the app's routes;
 * a second server on another origin plays the sidecar's gateway. Every request is recorded.
 */
import { readFile, stat } from 'node:fs/promises'
import { createServer } from 'node:http'
import { dirname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'

export const APP_DIR = join(dirname(fileURLToPath(import.meta.url)), '../..')
export const WEBROOT = '/nc'
export const CSRF = 'csrf-token-browser'
export const DAV = `${WEBROOT}/remote.php/dav/files/alice`
export const ROUTES = `${WEBROOT}/index.php/apps/nextpyter`
export const COPY_ID = 900

function listen(handler) {
	return new Promise((resolve) => {
		const server = createServer(handler)
		server.listen(0, '127.0.0.1', () => resolve(server))
	})
}

function readBody(request) {
	return new Promise((resolve) => {
		const chunks = []
		request.on('data', (chunk) => chunks.push(chunk))
		request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
	})
}

const TYPES = { '.mjs': 'text/javascript; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.woff2': 'font/woff2', '.css': 'text/css' }

const state = (key, value) => `<input type="hidden" id="initial-state-nextpyter-${key}" value="${Buffer.from(JSON.stringify(value)).toString('base64')}">`

/**
 * The fake Viewer, as each version's init script and Vue root behave (apps/viewer stable32–34):
 * `eager`: its init script registers `_oca_viewer_handlers` at once (the current 32.0.x,
 * 33.0.x, 34.0.x); otherwise only its Vue root does, on DOMContentLoaded (earlier patch
 * releases). Its Vue root always goes through the queue on DOMContentLoaded, logging an error
 * for a handler registered already, as the real one does.
 */
function fakeViewer({ eager }) {
	return `
window.OCA = window.OCA ?? {};
(() => {
	const log = (...args) => console.error('[viewer]', ...args);
	class Viewer {
		constructor() { this._handlers = []; this._mimetypes = []; this.opened = null }
		get availableHandlers() { return this._handlers }
		get mimetypes() { return this._mimetypes }
		registerHandler(handler) {
			if (!handler.id || typeof handler.id !== 'string') return log('Could not register handler', 'no id');
			if (this._handlers.find((h) => h.id === handler.id)) return log('Could not register handler', 'The handler is already registered');
			if (!Array.isArray(handler.mimes)) return log('Could not register handler', 'no mimes');
			if (!handler.component || (typeof handler.component !== 'object' && typeof handler.component !== 'function')) return log('no component');
			this._handlers.push(handler);
			this._mimetypes.push(...handler.mimes);
		}
		open({ path, fileInfo }) {
			const info = fileInfo ?? window.fileInfos[path];
			const handler = this._handlers.find((h) => h.mimes.includes(info.mime));
			if (!handler) return log('no handler for', info.mime);
			this.close();
			const el = document.createElement('div');
			el.id = 'viewer-content';
			document.getElementById('viewer').append(el);
			const source = info.source ?? (location.origin + '${DAV}' + info.filename.split('/').map(encodeURIComponent).join('/'));
			const props = { ...info, source, davPath: source, active: true, loaded: false, canSwipe: false, fileList: [] };
			this.loaded = false;
			this.opened = new Vue({
				render: (h) => h(handler.component, { attrs: props, on: { 'update:loaded': (v) => { window.OCA.Viewer.loaded = v } } }),
			}).$mount(el);
		}
		close() { if (this.opened) { this.opened.$destroy(); this.opened.$el.remove(); this.opened = null } }
	}
	// What Viewer.vue's registerHandler adds to every component: its Mime mixin's props.
	const Mime = { inheritAttrs: false, props: { active: Boolean, basename: { type: String, required: true }, filename: { type: String, required: true }, source: String, fileid: [Number, String], mime: { type: String, required: true }, loaded: Boolean, canSwipe: Boolean, fileList: Array } };
	window.OCA.Viewer = new Viewer();
	${eager ? "(window._oca_viewer_handlers ?? []).forEach((h) => window.OCA.Viewer.registerHandler(h));" : ''}
	document.addEventListener('DOMContentLoaded', () => {
		(window._oca_viewer_handlers ?? []).forEach((h) => window.OCA.Viewer.registerHandler(h));
		for (const h of window.OCA.Viewer.availableHandlers) h.component.mixins = [...(h.component.mixins ?? []), Mime];
		window.viewerReady = true;
	});
})();`
}

/** Files' "View" action (the Viewer's), in the registry of the page's @nextcloud/files. */
const FILES_HARNESS = (api) => `
	const api = ${JSON.stringify(api)};
	const view = { id: 'files', name: 'All files' };
	const folder = { type: 'folder', fileid: 7, permissions: 31, path: '/', root: '/files/alice', basename: '' };
	const viewAction = { id: 'view', displayName: () => 'View', iconSvgInline: () => '<svg></svg>', default: 'default',
		enabled: (a) => { const nodes = api === 'v4' ? a.nodes : a; return nodes.every((n) => window.OCA.Viewer.mimetypes.includes(n.mime)) },
		exec: (a) => { const node = api === 'v4' ? a.nodes[0] : a; window.OCA.Viewer.open({ path: node.path }); return null } };
	if (api === 'v4') { window._nc_files_scope = { v4_0: { fileActions: new Map([['view', viewAction]]) } } }
	else { window._nc_fileactions = [viewAction] }
	window.actions = () => api === 'v4' ? [...window._nc_files_scope.v4_0.fileActions.values()] : window._nc_fileactions;
	// A click on a row, as FileEntryMixin does it: the first enabled action, by order, with a default.
	window.clickRow = (node) => {
		const enabled = window.actions().filter((a) => !a.enabled || (api === 'v4' ? a.enabled({ nodes: [node], view, folder, contents: [] }) : a.enabled([node], view)))
			.sort((a, b) => (a.order || 0) - (b.order || 0));
		const action = enabled.find((a) => a.default !== undefined);
		if (!action) return 'download';
		api === 'v4' ? action.exec({ nodes: [node], view, folder, contents: [] }) : action.exec(node, view, '/');
		return action.id;
	};
	window.fileInfos = {};
	window.node = (path, extra = {}) => {
		const info = { filename: path, basename: path.split('/').pop(), mime: 'application/x-ipynb+json', fileid: extra.fileid ?? 314, permissions: extra.permissions ?? 'RGDNVW', ownerId: extra.ownerId ?? 'alice', ...extra };
		window.fileInfos[path] = info;
		return { type: 'file', fileid: info.fileid, basename: info.basename, mime: info.mime, extension: '.ipynb', permissions: 31, path, root: '/files/alice' };
	};`

/**
 * Page options (query): `version` 32|33|34, `order` "app-first" or "viewer-first" (which init
 * script runs first), `eager` 1|0, `public` 1 (a public share page: viewer-config public).
 */
function filesPage(query) {
	const version = query.get('version') ?? '33'
	const api = Number(version) >= 33 ? 'v4' : 'v3'
	const viewerFirst = query.get('order') === 'viewer-first'
	const eager = query.get('eager') !== '0'
	const isPublic = query.get('public') === '1'
	const config = { version: `${version}.0.2.1`, modRewriteWorking: false }
	const viewerConfig = { enabled: true, message: null, public: isPublic, remoteImages: false }
	const app = (name) => `<script type="module" src="${WEBROOT}/custom_apps/nextpyter/js/${name}.mjs?v=1"></script>`
	const viewer = `<script type="module">${fakeViewer({ eager })}</script>`
	return `<!DOCTYPE html>
<html lang="en"><head data-requesttoken="${CSRF}" data-user="${isPublic ? '' : 'alice'}" data-user-displayname="Alice">
<meta charset="utf-8"><title>Files - Nextcloud</title>
<style>html,body{margin:0;height:100%;font:15px system-ui,sans-serif} #viewer{position:fixed;inset:40px;background:#fff;border:1px solid #ccc} #viewer-content,#viewer>div{height:100%}</style>
<script>
	window._oc_webroot = ${JSON.stringify(WEBROOT)};
	window.oc_config = ${JSON.stringify(config)};
	window.OC = { webroot: ${JSON.stringify(WEBROOT)}, config: window.oc_config, coreApps: ['core'] };
</script>
<script src="${WEBROOT}/apps/viewer/vue.runtime.js"></script>
<script>${FILES_HARNESS(api)}</script>
</head><body>
${state('files-config', { enabled: true, message: null })}
${state('viewer-config', viewerConfig)}
<div id="viewer"></div>
${viewerFirst ? viewer : ''}
${isPublic ? '' : app('nextpyter-files')}
${app('nextpyter-viewer')}
${viewerFirst ? '' : viewer}
</body></html>`
}

const json = (response, status, data) => {
	const body = JSON.stringify(data)
	response.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' })
	response.end(body)
}

/**
 * Start both servers. `files` maps a DAV path ("/hostile/01.ipynb") to a file on disk, or to
 * a Buffer/string. Returns `{origin, gateway, requests, gatewayRequests, stop()}`.
 */
export async function startFakeNextcloud({ files = {} } = {}) {
	const requests = []
	const gatewayRequests = []
	const gateway = await listen(async (request, response) => {
		const body = await readBody(request)
		if (request.url === '/favicon.ico') {
			response.writeHead(204).end()
			return
		}
		gatewayRequests.push({ method: request.method, url: request.url, body, headers: request.headers })
		response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' })
		response.end('<!DOCTYPE html><title>Starting JupyterLab</title><p>Starting your server…</p>')
	})
	const gatewayOrigin = `http://localhost:${gateway.address().port}`
	const jsDir = join(APP_DIR, 'js')
	const server = await listen(async (request, response) => {
		const url = new URL(request.url, 'http://127.0.0.1')
		const body = await readBody(request)
		requests.push({ method: request.method, path: url.pathname, search: url.search, body, headers: request.headers })
		const path = decodeURIComponent(url.pathname)
		if (path === '/favicon.ico') {
			response.writeHead(204).end() // the browser's own request, not the page's
			return
		}
		if (path === `${WEBROOT}/index.php/apps/files/`) {
			response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Referrer-Policy': 'no-referrer', 'Cache-Control': 'no-store' })
			response.end(filesPage(url.searchParams))
			return
		}
		if (path === `${WEBROOT}/apps/viewer/vue.runtime.js`) {
			response.writeHead(200, { 'Content-Type': 'text/javascript' })
			response.end(await readFile(join(APP_DIR, 'node_modules/vue/dist/vue.runtime.min.js')))
			return
		}
		if (path.startsWith(`${WEBROOT}/custom_apps/nextpyter/js/`)) {
			const target = normalize(join(jsDir, path.slice(`${WEBROOT}/custom_apps/nextpyter/js/`.length)))
			try {
				if (!target.startsWith(jsDir) || !(await stat(target)).isFile()) {
					throw new Error('no')
				}
				const ext = target.slice(target.lastIndexOf('.'))
				response.writeHead(200, { 'Content-Type': TYPES[ext] ?? 'application/octet-stream' })
				response.end(await readFile(target))
			} catch {
				response.writeHead(404).end('no such file')
			}
			return
		}
		if (path.startsWith(`${DAV}/`) && request.method === 'GET') {
			const file = files[path.slice(DAV.length)]
			if (file === undefined) {
				response.writeHead(404).end('not found')
				return
			}
			const content = typeof file === 'string' && file.startsWith('/') ? await readFile(file) : Buffer.from(file)
			response.writeHead(200, { 'Content-Type': 'application/x-ipynb+json', 'Content-Length': content.length, 'Cache-Control': 'no-store' })
			response.end(content)
			return
		}
		if (path.startsWith(`${ROUTES}/`)) {
			if (request.headers.requesttoken !== CSRF) {
				json(response, 412, { message: 'CSRF check failed' })
				return
			}
			const route = `${request.method} ${path.slice(ROUTES.length)}`
			const data = body ? JSON.parse(body) : {}
			if (route === 'POST /copy') {
				json(response, 201, { fileId: COPY_ID, path: '/shared (copy).ipynb' })
			} else if (route === 'POST /launch') {
				json(response, 200, { action: `${gatewayOrigin}/api/v1/launch`, token: `token-for-${data.fileId}` })
			} else if (route === 'POST /rescan') {
				json(response, 200, { changed: false })
			} else {
				json(response, 404, { message: `no route ${route}` })
			}
			return
		}
		response.writeHead(404).end('not found')
	})
	const origin = `http://127.0.0.1:${server.address().port}`
	const close = (s) => new Promise((resolve) => s.close(() => resolve()))
	return {
		origin,
		gatewayOrigin,
		requests,
		gatewayRequests,
		async stop() {
			server.closeAllConnections?.()
			gateway.closeAllConnections?.()
			await Promise.all([close(server), close(gateway)])
		},
	}
}

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

/**
 * Test doubles for what the browser does around an action: an axios adapter that answers like
 * the app's PHP routes and records every request, a window.open that returns a blank tab with a
 * real (jsdom) document, and form submissions captured instead of navigating.
 */
import axios from '@nextcloud/axios'
import { AxiosError } from 'axios'
import { vi } from 'vitest'

export const GATEWAY = 'https://jupyter.example.org/api/v1/launch'

/** Routes: `{'POST /nc/index.php/apps/nextpyter/launch': (body) => [status, data]}`. */
export function serveRoutes(routes) {
	const requests = []
	axios.defaults.adapter = async (config) => {
		const method = config.method.toUpperCase()
		let body = config.data
		try {
			body = typeof body === 'string' ? JSON.parse(body) : body
		} catch {
			// not JSON (a WebDAV body): kept as text
		}
		const headers = Object.fromEntries(Object.entries(config.headers.toJSON?.() ?? config.headers))
		requests.push({ method, url: config.url, body, headers })
		const route = routes[`${method} ${config.url}`]
		const [status, data] = route ? route(body) : [404, { message: `no route ${method} ${config.url}` }]
		const response = { data, status, statusText: String(status), headers: {}, config, request: {} }
		if (status >= 400) {
			throw new AxiosError(`Request failed with status code ${status}`, 'ERR_BAD_REQUEST', config, {}, response)
		}
		return response
	}
	return requests
}

/** `window.open` → a blank tab; every form submitted (anywhere) is recorded. */
export function stubBrowser({ blockPopups = false } = {}) {
	const tabs = []
	const submitted = []
	vi.spyOn(window, 'open').mockImplementation((url, name) => {
		if (blockPopups) {
			return null
		}
		const tab = {
			url,
			name,
			opener: window,
			document: document.implementation.createHTMLDocument(''),
			close: vi.fn(),
		}
		tabs.push(tab)
		return tab
	})
	vi.spyOn(HTMLFormElement.prototype, 'submit').mockImplementation(function () {
		submitted.push({
			method: this.method,
			action: this.action,
			target: this.target,
			enctype: this.enctype,
			fields: Object.fromEntries(new FormData(this)),
			document: this.ownerDocument,
		})
	})
	return { tabs, submitted }
}

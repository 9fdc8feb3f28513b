/**
 * The rescan of the folder a user opens in Files: on `files:list:updated` (what FilesList.vue
 * of Nextcloud 32–34 emits with `{view, folder, contents}`), `POST /rescan {dir}` at most once
 * per folder per 30 s, fire-and-forget; `changed: true` reloads the listing through
 * `files:node:updated` with the folder. Checked on real 3.x and 4.x Folder nodes.
 */
import { emit, subscribe, unsubscribe } from '@nextcloud/event-bus'
import * as files4 from '@nextcloud/files'
import * as files3 from 'files3'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createRescanner, folderToRescan, LIST_UPDATED, RESCAN_INTERVAL_MS, watchFolders } from '../files/rescan.js'
import { serveRoutes } from './harness.js'

const DAV = 'https://cloud.example.org/nc/remote.php/dav'
const RESCAN = 'POST /nc/index.php/apps/nextpyter/rescan'
const ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path d="M0 0h24v24H0z"/></svg>'
const flush = () => new Promise((resolve) => setTimeout(resolve, 0))

describe.each([
	['@nextcloud/files 3.x (Nextcloud 32)', files3],
	['@nextcloud/files 4.x (Nextcloud 33+)', files4],
])('%s nodes', (_, lib) => {
	const view = (id) => new lib.View({ id, name: id, icon: ICON, getContents: async () => ({}) })
	const folder = (path, { id = 7, root = '/files/alice' } = {}) => new lib.Folder({
		source: `${DAV}${root}${path === '/' ? '' : path}`, root, id, owner: 'alice', permissions: lib.Permission.ALL,
	})

	it('rescans real folders of the user\'s own files, by their path', () => {
		expect(folderToRescan({ view: view('files'), folder: folder('/') })).toBe('/')
		expect(folderToRescan({ view: view('files'), folder: folder('/Projects/2026 data') })).toBe('/Projects/2026 data')
		expect(folderToRescan({ view: view('personal'), folder: folder('/Projects') })).toBe('/Projects')
		expect(folderToRescan({ view: view('favorites'), folder: folder('/Projects/sub') })).toBe('/Projects/sub')
	})

	it('leaves out virtual roots, the trash bin, files and missing folders', () => {
		expect(folderToRescan({ view: view('favorites'), folder: folder('/', { id: 0 }) })).toBe(null)
		expect(folderToRescan({ view: view('trashbin'), folder: folder('/', { root: '/trashbin/alice' }) })).toBe(null)
		expect(folderToRescan({ view: view('files'), folder: folder('/', { root: '/trashbin/alice' }) })).toBe(null)
		const file = new lib.File({ source: `${DAV}/files/alice/a.ipynb`, root: '/files/alice', id: 9, owner: 'alice', mime: 'application/x-ipynb+json' })
		expect(folderToRescan({ view: view('files'), folder: file })).toBe(null)
		expect(folderToRescan({ view: view('files') })).toBe(null)
		expect(folderToRescan(undefined)).toBe(null)
	})

	it('asks once per folder per 30 seconds, and reloads the listing only when it changed', async () => {
		let clock = 1_000_000
		const asked = []
		const reloaded = []
		let changed = true
		const onListUpdated = createRescanner({
			rescan: async (dir) => {
				asked.push(dir)
				return changed
			},
			reload: (node) => reloaded.push(node),
			now: () => clock,
		})
		const projects = folder('/Projects', { id: 70 })
		const home = folder('/', { id: 1 })

		expect(await onListUpdated({ view: view('files'), folder: projects, contents: [] })).toBe(true)
		expect(reloaded).toEqual([projects]) // the very folder: FilesList reloads when it is the one shown
		// the reload lists the folder again: no second request
		expect(onListUpdated({ view: view('files'), folder: projects, contents: [] })).toBe(null)
		changed = false
		expect(await onListUpdated({ view: view('files'), folder: home, contents: [] })).toBe(false)
		clock += RESCAN_INTERVAL_MS - 1
		expect(onListUpdated({ view: view('files'), folder: projects, contents: [] })).toBe(null)
		clock += 1
		expect(await onListUpdated({ view: view('files'), folder: projects, contents: [] })).toBe(false)
		expect(asked).toEqual(['/Projects', '/', '/Projects'])
		expect(reloaded).toHaveLength(1)
	})
})

describe('the rescan request', () => {
	const folder = new files4.Folder({ source: `${DAV}/files/alice/Projects`, root: '/files/alice', id: 70, owner: 'alice', permissions: files4.Permission.ALL })
	const view = new files4.View({ id: 'files', name: 'All files', icon: ICON, getContents: async () => ({}) })
	let handler = null
	let reloads = []
	const onReload = (node) => reloads.push(node)

	beforeEach(() => {
		reloads = []
		subscribe('files:node:updated', onReload)
	})
	afterEach(() => {
		unsubscribe('files:node:updated', onReload)
		if (handler) {
			unsubscribe(LIST_UPDATED, handler)
			handler = null
		}
	})

	it('POSTs {dir} with the CSRF token on files:list:updated, and emits files:node:updated when changed', async () => {
		const requests = serveRoutes({ [RESCAN]: (body) => [200, { changed: body.dir === '/Projects' }] })
		handler = watchFolders({ enabled: true, message: '' })
		emit(LIST_UPDATED, { view, folder, contents: [] })
		await vi.waitFor(() => expect(reloads).toHaveLength(1))
		expect(requests.map((r) => [r.method, r.url, r.body])).toEqual([['POST', '/nc/index.php/apps/nextpyter/rescan', { dir: '/Projects' }]])
		expect(requests[0].headers.requesttoken).toBe('csrf-token-for-tests')
		expect(reloads[0]).toBe(folder)
	})

	it('never blocks navigation: the handler returns before the answer, and failures stay quiet', async () => {
		let answer
		const pending = new Promise((resolve) => {
			answer = resolve
		})
		const onListUpdated = createRescanner({ rescan: () => pending, reload: onReload })
		const result = onListUpdated({ view, folder, contents: [] })
		expect(result).toBeInstanceOf(Promise) // returned at once, not awaited by the event bus
		answer(true)
		expect(await result).toBe(true)

		const debug = vi.spyOn(console, 'debug').mockImplementation(() => {})
		serveRoutes({ [RESCAN]: () => [429, { message: 'Reached maximum request limit' }] })
		const limited = createRescanner()
		expect(await limited({ view, folder, contents: [] })).toBe(false)
		expect(debug).toHaveBeenCalled()
		expect(reloads).toHaveLength(1)
	})

	it('is not started for a user who may not use Jupyter, or without a user', async () => {
		const requests = serveRoutes({ [RESCAN]: () => [200, { changed: true }] })
		expect(watchFolders({ enabled: false, message: 'Ask your administrator.' })).toBe(null)
		expect(watchFolders({ enabled: true, message: '' }, { user: () => null })).toBe(null)
		emit(LIST_UPDATED, { view, folder, contents: [] })
		await flush()
		expect(requests).toHaveLength(0)
	})
})

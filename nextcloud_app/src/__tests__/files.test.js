/**
 * The Files integration against the real `@nextcloud/files` 3.x (Nextcloud 32) and 4.x
 * (Nextcloud 33+): registered actions are read back through each package's own getters,
 * checked on real File/Folder nodes of that package, and executed the way that version's
 * Files app calls them.
 */
import { subscribe, unsubscribe } from '@nextcloud/event-bus'
import * as files4 from '@nextcloud/files'
import * as files3 from 'files3'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { NEW_NOTEBOOK, OPEN_FOLDER, OPEN_NOTEBOOK } from '../files/actions.js'
import * as v3 from '../files/v3.js'
import * as v4 from '../files/v4.js'
import { GATEWAY, serveRoutes, stubBrowser } from './harness.js'

vi.mock('@nextcloud/dialogs', () => ({ showError: vi.fn() }))

const { showError } = await import('@nextcloud/dialogs')

const DAV = 'https://cloud.example.org/nc/remote.php/dav/files/alice'
const LAUNCH = 'POST /nc/index.php/apps/nextpyter/launch'
const NOTEBOOK = 'POST /nc/index.php/apps/nextpyter/notebook'
const ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path d="M0 0h24v24H0z"/></svg>'

/**
 * One generation of the library, with how its Files app calls actions:
 * 3.x `enabled(nodes, view)`, `exec(node, view, dir)`; 4.x one context object.
 */
const generations = [
	{
		name: '@nextcloud/files 3.x (Nextcloud 32)',
		lib: files3,
		adapter: v3,
		reset() {
			delete window._nc_fileactions
			delete window._nc_newfilemenu
		},
		enabled: (action, nodes, view, folder) => action.enabled(nodes, view),
		exec: (action, node, view, folder) => action.exec(node, view, folder.path),
	},
	{
		name: '@nextcloud/files 4.x (Nextcloud 33+)',
		lib: files4,
		adapter: v4,
		reset() {
			const scope = window._nc_files_scope.v4_0
			delete scope.fileActions
			delete scope.newFileMenu
		},
		enabled: (action, nodes, view, folder) => action.enabled({ nodes, view, folder, contents: [] }),
		exec: (action, node, view, folder) => action.exec({ nodes: [node], view, folder, contents: [] }),
	},
]

describe.each(generations)('$name', (gen) => {
	const { File, Folder, Permission, View } = gen.lib
	const view = new View({ id: 'files', name: 'All files', icon: ICON, getContents: async () => ({}) })
	const trash = new View({ id: 'trashbin', name: 'Deleted files', icon: ICON, getContents: async () => ({}) })

	const file = (path, { mime = 'application/x-ipynb+json', permissions = Permission.ALL, id = 42 } = {}) => new File({
		source: `${DAV}${path}`, root: '/files/alice', id, mime, owner: 'alice', permissions,
	})
	const folder = (path, { permissions = Permission.ALL, id = 7 } = {}) => new Folder({
		source: `${DAV}${path}`, root: '/files/alice', id, owner: 'alice', permissions,
	})
	const action = (id) => gen.lib.getFileActions().find((candidate) => candidate.id === id)

	beforeEach(() => {
		gen.reset()
		showError.mockClear()
		gen.adapter.register({ enabled: true, message: '' })
	})

	afterEach(() => {
		delete window._nc_fileactions
	})

	it('registers both actions and the New menu entry in its own registry', () => {
		const ids = gen.lib.getFileActions().map((registered) => registered.id)
		expect(ids).toEqual(expect.arrayContaining([OPEN_NOTEBOOK, OPEN_FOLDER]))
		const notebooks = folder('/Notebooks')
		const entries = gen.lib.getNewFileMenuEntries(notebooks)
		expect(entries.map((entry) => entry.id)).toContain(NEW_NOTEBOOK)
		const entry = entries.find((candidate) => candidate.id === NEW_NOTEBOOK)
		expect(entry.displayName).toBe('New notebook')
		expect(action(OPEN_NOTEBOOK).displayName(gen.adapter === v3 ? [] : { nodes: [] })).toBe('Open in Jupyter')
		expect(action(OPEN_FOLDER).displayName(gen.adapter === v3 ? [] : { nodes: [] })).toBe('Open folder in Jupyter')
		expect(action(OPEN_NOTEBOOK).default).toBe(gen.lib.DefaultType.DEFAULT)
		expect(action(OPEN_FOLDER).default).toBeUndefined()
	})

	it('is the click on a notebook only while no Viewer previews notebooks', () => {
		window.OCA = { Viewer: { mimetypes: ['image/png'] } }
		try {
			expect(action(OPEN_NOTEBOOK).default).toBe(gen.lib.DefaultType.DEFAULT)
			window.OCA.Viewer.mimetypes.push('application/x-ipynb+json') // the preview registered
			expect(action(OPEN_NOTEBOOK).default).toBeUndefined()
		} finally {
			delete window.OCA
		}
	})

	it('a 3.x action is a FileAction instance; a 4.x action a plain object', () => {
		const registered = action(OPEN_NOTEBOOK)
		if (gen.adapter === v3) {
			expect(registered).toBeInstanceOf(files3.FileAction)
		} else {
			expect(Object.getPrototypeOf(registered)).toBe(Object.prototype)
		}
	})

	it.each([
		['a notebook by MIME type', () => [file('/a.ipynb')], true, false],
		['a .ipynb with a generic MIME type', () => [file('/b.ipynb', { mime: 'application/octet-stream' })], true, false],
		['an upper-case .IPYNB', () => [file('/C.IPYNB', { mime: 'application/json' })], true, false],
		['a notebook MIME type without the extension', () => [file('/notes', { mime: 'application/x-ipynb+json' })], true, false],
		['a text file', () => [file('/a.txt', { mime: 'text/plain' })], false, false],
		['a notebook without read permission', () => [file('/a.ipynb', { permissions: Permission.NONE })], false, false],
		['two notebooks', () => [file('/a.ipynb'), file('/b.ipynb', { id: 43 })], false, false],
		['a folder', () => [folder('/Projects')], false, true],
		['a folder without read permission', () => [folder('/Projects', { permissions: Permission.NONE })], false, false],
		['two folders', () => [folder('/A'), folder('/B', { id: 8 })], false, false],
		['a folder and a notebook', () => [folder('/A'), file('/a.ipynb')], false, false],
		['nothing', () => [], false, false],
	])('on %s: notebook action %s, folder action %s', (_, nodes, notebook, dir) => {
		const current = folder('/')
		expect(gen.enabled(action(OPEN_NOTEBOOK), nodes(), view, current)).toBe(notebook)
		expect(gen.enabled(action(OPEN_FOLDER), nodes(), view, current)).toBe(dir)
	})

	it('is disabled in the trash bin', () => {
		expect(gen.enabled(action(OPEN_NOTEBOOK), [file('/a.ipynb')], trash, folder('/'))).toBe(false)
		expect(gen.enabled(action(OPEN_FOLDER), [folder('/A')], trash, folder('/'))).toBe(false)
	})

	it('"New notebook" shows only in folders where the user may create files', () => {
		const ids = (context) => gen.lib.getNewFileMenuEntries(context).map((entry) => entry.id)
		expect(ids(folder('/Mine'))).toContain(NEW_NOTEBOOK)
		expect(ids(folder('/Shared read-only', { permissions: Permission.READ }))).not.toContain(NEW_NOTEBOOK)
	})

	it('"Open in Jupyter" opens a tab at once, POSTs the file id, then posts the token form into it', async () => {
		const requests = serveRoutes({ [LAUNCH]: () => [200, { action: GATEWAY, token: 'eyJ.launch.token' }] })
		const browser = stubBrowser()
		const notebook = file('/Notebooks/analysis.ipynb', { id: 314 })

		const running = gen.exec(action(OPEN_NOTEBOOK), notebook, view, folder('/Notebooks'))
		// the tab exists before the request is answered: inside the click, as browsers require
		expect(window.open).toHaveBeenCalledTimes(1)
		expect(await running).toBe(true)

		expect(requests).toHaveLength(1)
		expect(requests[0]).toMatchObject({ method: 'POST', url: '/nc/index.php/apps/nextpyter/launch', body: { fileId: 314 } })
		expect(requests[0].headers.requesttoken).toBe('csrf-token-for-tests')

		const [tab] = browser.tabs
		expect(browser.submitted).toHaveLength(1)
		const [form] = browser.submitted
		expect(form).toMatchObject({ method: 'post', action: GATEWAY, enctype: 'application/x-www-form-urlencoded' })
		expect(form.fields).toEqual({ token: 'eyJ.launch.token' })
		expect(form.document).toBe(tab.document) // submitted inside the new tab
		expect(form.target).toBe('_self')
		expect(tab.opener).toBe(null) // the Jupyter origin cannot reach back to Nextcloud
		expect(tab.url).toBe('about:blank') // the token never travels in a URL
		expect(JSON.stringify(window.open.mock.calls)).not.toContain('eyJ')
		expect(tab.close).not.toHaveBeenCalled()
		expect(showError).not.toHaveBeenCalled()
	})

	it('"Open folder in Jupyter" launches the folder by its id', async () => {
		const requests = serveRoutes({ [LAUNCH]: () => [200, { action: GATEWAY, token: 'folder-token' }] })
		const browser = stubBrowser()
		expect(await gen.exec(action(OPEN_FOLDER), folder('/Projects', { id: 77 }), view, folder('/'))).toBe(true)
		expect(requests.map((r) => [r.url, r.body])).toEqual([['/nc/index.php/apps/nextpyter/launch', { fileId: 77 }]])
		expect(browser.submitted[0].fields).toEqual({ token: 'folder-token' })
	})

	it('a refused launch closes the empty tab and shows the server\'s message', async () => {
		const message = 'This file is shared with you. Copy it into your own files to open it in Jupyter.'
		serveRoutes({ [LAUNCH]: () => [403, { message }] })
		const browser = stubBrowser()
		expect(await gen.exec(action(OPEN_NOTEBOOK), file('/shared.ipynb'), view, folder('/'))).toBe(null)
		expect(browser.tabs[0].close).toHaveBeenCalled()
		expect(browser.submitted).toHaveLength(0)
		expect(showError).toHaveBeenCalledWith(message)
	})

	it('a blocked pop-up says so and asks for no token', async () => {
		const requests = serveRoutes({ [LAUNCH]: () => [200, { action: GATEWAY, token: 'unused' }] })
		stubBrowser({ blockPopups: true })
		expect(await gen.exec(action(OPEN_NOTEBOOK), file('/a.ipynb'), view, folder('/'))).toBe(null)
		expect(requests).toHaveLength(0)
		expect(showError.mock.calls[0][0]).toMatch(/pop-ups/)
	})

	it('"New notebook" creates a free name in the current folder, lists it and opens it', async () => {
		const requests = serveRoutes({
			[NOTEBOOK]: (body) => [201, { fileId: 99, path: `${body.dir}/${body.name}` }],
			[LAUNCH]: () => [200, { action: GATEWAY, token: 'new-token' }],
		})
		const browser = stubBrowser()
		const created = []
		const onCreated = (node) => created.push(node)
		subscribe('files:node:created', onCreated)
		try {
			const current = folder('/Notebooks')
			const entry = gen.lib.getNewFileMenuEntries(current).find((candidate) => candidate.id === NEW_NOTEBOOK)
			const contents = [file('/Notebooks/Untitled.ipynb', { id: 5 }), folder('/Notebooks/data', { id: 6 })]
			expect(await entry.handler(current, contents)).toBe(true)

			expect(requests.map((r) => [r.method, r.url, r.body])).toEqual([
				['POST', '/nc/index.php/apps/nextpyter/notebook', { dir: '/Notebooks', name: 'Untitled 2.ipynb' }],
				['POST', '/nc/index.php/apps/nextpyter/launch', { fileId: 99 }],
			])
			expect(browser.tabs).toHaveLength(1)
			expect(browser.submitted[0]).toMatchObject({ action: GATEWAY, fields: { token: 'new-token' } })

			expect(created).toHaveLength(1)
			expect(created[0]).toBeInstanceOf(File)
			const { fileid, basename, path, mime, owner } = created[0]
			expect({ fileid, basename, path, mime, owner }).toEqual({
				fileid: 99, basename: 'Untitled 2.ipynb', path: '/Notebooks/Untitled 2.ipynb', mime: 'application/x-ipynb+json', owner: 'alice',
			})
		} finally {
			unsubscribe('files:node:created', onCreated)
		}
	})

	it('"New notebook" that the server refuses closes the tab and shows why', async () => {
		serveRoutes({ [NOTEBOOK]: () => [409, { message: 'A file named Untitled.ipynb already exists.' }] })
		const browser = stubBrowser()
		const current = folder('/')
		const entry = gen.lib.getNewFileMenuEntries(current).find((candidate) => candidate.id === NEW_NOTEBOOK)
		expect(await entry.handler(current, [])).toBe(null)
		expect(browser.tabs[0].close).toHaveBeenCalled()
		expect(showError).toHaveBeenCalledWith('A file named Untitled.ipynb already exists.')
	})

	it('for a user the app refuses, the actions explain instead of opening a tab', async () => {
		gen.reset()
		gen.adapter.register({ enabled: false, message: 'Jupyter is open to the group "data" only.' })
		const requests = serveRoutes({})
		const browser = stubBrowser()
		expect(await gen.exec(action(OPEN_NOTEBOOK), file('/a.ipynb'), view, folder('/'))).toBe(null)
		expect(browser.tabs).toHaveLength(0)
		expect(requests).toHaveLength(0)
		expect(showError).toHaveBeenCalledWith('Jupyter is open to the group "data" only.')
	})
})

describe('@nextcloud/files 4.x string ids', () => {
	// 4.x keeps `fileid` for numeric ids only and has `id` as a string, ready for 64-bit ids
	const view = new files4.View({ id: 'files', name: 'All files', icon: ICON, getContents: async () => ({}) })
	const folder = new files4.Folder({ source: DAV, root: '/files/alice', id: 1, owner: 'alice', permissions: files4.Permission.ALL })
	const notebook = (id) => new files4.File({
		source: `${DAV}/n.ipynb`, root: '/files/alice', id, mime: 'application/x-ipynb+json', owner: 'alice', permissions: files4.Permission.ALL,
	})
	const context = (node) => ({ nodes: [node], view, folder, contents: [] })

	beforeEach(() => {
		const scope = window._nc_files_scope.v4_0
		delete scope.fileActions
		delete scope.newFileMenu
		v4.register({ enabled: true, message: '' })
	})

	it('launches a node whose id is a string', async () => {
		const requests = serveRoutes({ [LAUNCH]: () => [200, { action: GATEWAY, token: 't' }] })
		stubBrowser()
		const action = files4.getFileActions().find((candidate) => candidate.id === OPEN_NOTEBOOK)
		expect(notebook('1234').fileid).toBe(undefined)
		expect(action.enabled(context(notebook('1234')))).toBe(true)
		expect(await action.exec(context(notebook('1234')))).toBe(true)
		expect(requests[0].body).toEqual({ fileId: 1234 })
	})

	it('stays off for an id a JavaScript number cannot hold exactly', () => {
		const action = files4.getFileActions().find((candidate) => candidate.id === OPEN_NOTEBOOK)
		expect(action.enabled(context(notebook('18446744073709551615')))).toBe(false)
	})
})

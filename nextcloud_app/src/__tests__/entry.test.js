/**
 * The Files entry picks the registry the running Nextcloud reads: 3.x's `_nc_fileactions`
 * up to 32, 4.x's `_nc_files_scope.v4_0` from 33 on; both when the version is unknown.
 */
import { emit } from '@nextcloud/event-bus'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { filesApis, serverMajor } from '../files/version.js'
import { serveRoutes } from './harness.js'

function clearRegistries() {
	delete window._nc_fileactions
	delete window._nc_newfilemenu
	const scope = window._nc_files_scope?.v4_0
	if (scope) {
		delete scope.fileActions
		delete scope.newFileMenu
	}
	delete window._nc_initial_state
	// each load of the entry subscribes its rescan handler; the event bus (a node module) outlives
	// vi.resetModules(), so the handlers of earlier loads are dropped here
	window._nc_event_bus?.handlers?.delete('files:list:updated')
	document.querySelectorAll('input[id^="initial-state-"]').forEach((input) => input.remove())
}

async function loadEntry(version) {
	window.OC = { config: version === undefined ? {} : { version } }
	vi.resetModules()
	await import('../files.js')
	return {
		v3: (window._nc_fileactions ?? []).map((action) => action.id),
		v3Menu: window._nc_newfilemenu ? window._nc_newfilemenu.getEntries().map((entry) => entry.id) : [],
		v4: [...(window._nc_files_scope?.v4_0?.fileActions?.keys() ?? [])],
		v4Menu: window._nc_files_scope?.v4_0?.newFileMenu?.getEntries().map((entry) => entry.id) ?? [],
	}
}

function initialState(key, value) {
	const input = document.createElement('input')
	input.type = 'hidden'
	input.id = `initial-state-nextpyter-${key}`
	input.value = btoa(JSON.stringify(value))
	document.body.append(input)
}

describe('serverMajor / filesApis', () => {
	it('reads OC.config.version, or oc_config', () => {
		expect(serverMajor({ OC: { config: { version: '32.0.3.2' } } })).toBe(32)
		expect(serverMajor({ oc_config: { version: '34.0.0.1' } })).toBe(34)
		expect(serverMajor({})).toBe(null)
	})

	it('maps versions to registries', () => {
		expect(filesApis(31)).toEqual(['v3'])
		expect(filesApis(32)).toEqual(['v3'])
		expect(filesApis(33)).toEqual(['v4'])
		expect(filesApis(34)).toEqual(['v4'])
		expect(filesApis(null)).toEqual(['v3', 'v4'])
	})
})

describe('js/nextpyter-files entry', () => {
	beforeEach(clearRegistries)
	afterEach(() => {
		clearRegistries()
		window.OC = { config: { version: '32.0.3.2' } }
	})

	const both = ['nextpyter-open-notebook', 'nextpyter-open-folder']

	it('on Nextcloud 32 registers with @nextcloud/files 3.x only', async () => {
		const seen = await loadEntry('32.0.3.2')
		expect(seen.v3).toEqual(both)
		expect(seen.v3Menu).toEqual(['nextpyter-new-notebook'])
		expect(seen.v4).toEqual([])
	})

	it.each(['33.0.0.16', '34.0.1.0'])('on Nextcloud %s registers with @nextcloud/files 4.x only', async (version) => {
		const seen = await loadEntry(version)
		expect(seen.v4).toEqual(both)
		expect(seen.v4Menu).toEqual(['nextpyter-new-notebook'])
		expect(seen.v3).toEqual([])
	})

	it('without a version registers with both', async () => {
		const seen = await loadEntry(undefined)
		expect(seen.v3).toEqual(both)
		expect(seen.v4).toEqual(both)
	})

	it('registers nothing when the app is off for this user and gives no reason', async () => {
		initialState('files-config', { enabled: false })
		const seen = await loadEntry('33.0.0.0')
		expect(seen.v4).toEqual([])
		expect(seen.v4Menu).toEqual([])
	})

	it('registers when the app is off with a reason, to show it', async () => {
		initialState('files-config', { enabled: false, message: 'Ask your administrator.' })
		const seen = await loadEntry('33.0.0.0')
		expect(seen.v4).toEqual(both)
	})

	// What FilesList.vue emits when a folder is listed: {view, folder, contents}.
	const listed = async () => {
		const files = await import('@nextcloud/files')
		const folder = new files.Folder({
			source: 'https://cloud.example.org/nc/remote.php/dav/files/alice/Notebooks',
			root: '/files/alice',
			id: 7,
			owner: 'alice',
			permissions: files.Permission.ALL,
		})
		emit('files:list:updated', { view: { id: 'files' }, folder, contents: [] })
		return folder
	}

	it.each(['32.0.3.2', '33.0.0.16', '34.0.1.0'])('on Nextcloud %s rescans the folder the user opens', async (version) => {
		initialState('files-config', { enabled: true, message: null })
		const requests = serveRoutes({ 'POST /nc/index.php/apps/nextpyter/rescan': () => [200, { changed: false }] })
		await loadEntry(version)
		await listed()
		await vi.waitFor(() => expect(requests).toHaveLength(1))
		expect(requests[0]).toMatchObject({ method: 'POST', url: '/nc/index.php/apps/nextpyter/rescan', body: { dir: '/Notebooks' } })
	})

	it('does not rescan for a user the app refuses', async () => {
		initialState('files-config', { enabled: false, message: 'Ask your administrator.' })
		const requests = serveRoutes({})
		await loadEntry('33.0.0.0')
		await listed()
		await new Promise((resolve) => setTimeout(resolve, 0))
		expect(requests).toHaveLength(0)
	})
})

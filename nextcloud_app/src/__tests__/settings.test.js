/**
 * The admin and personal pages in jsdom, with the routes answered by a test adapter.
 * (tests/test_app_browser.py runs the built admin script in Chromium as well.)
 */
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { renderAdmin, splitList } from '../admin.js'
import { describeServer, personalState, renderPersonal } from '../personal.js'
import { GATEWAY, serveRoutes, stubBrowser } from './harness.js'

vi.mock('@nextcloud/dialogs', () => ({ showError: vi.fn() }))

const APP = '/nc/index.php/apps/nextpyter'
// `admin-settings` as lib/Settings/Admin.php provides it: Settings::toArray() plus the keys.
const SETTINGS = {
	sidecarUrl: 'http://sidecar:8000',
	gatewayUrl: 'https://jupyter.example.org',
	issuer: '',
	audience: 'nextpyter-sidecar',
	defaultImage: 'nextpyter/notebook:1',
	allowedImages: ['nextpyter/notebook:1', 'nextpyter/scipy:2'],
	profiles: [{ name: 'default', cpu: 1, memory: '2g', gpu: 0 }, { name: 'big', cpu: 4, memory: '16g', gpu: 1 }],
	defaultProfile: 'default',
	idleTimeout: 3600,
	maxLifetime: 86400,
	allowedGroups: ['data'],
}
const STATE = {
	...SETTINGS,
	keyId: 'k-2026-01',
	keyCreated: 1767225600,
	keys: [{ kid: 'k-2026-01', active: true, created: 1767225600, retiredAt: null, dropsAt: null }],
	issuerDefault: 'https://cloud.example.org/nc',
	jwksUrl: 'https://cloud.example.org/nc/index.php/apps/nextpyter/jwks.json',
}
// GET /admin/status as AdminController::status answers it.
const STATUS = {
	health: { status: 'ok', checks: { redis: 'ok', jwks: 'ok (1 keys)' }, message: 'The sidecar is ready.' },
	sessions: [{ user_id: 'bob smith', slug: 'bob-smith-1a2b', profile: 'big', state: 'running', created: 1767225600, detail: '' }],
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0))
const byLabel = (root, text) => root.querySelector(`#${[...root.querySelectorAll('label')].find((l) => l.textContent === text).htmlFor}`)
const type = (input, value) => {
	input.value = value
	input.dispatchEvent(new Event('input', { bubbles: true }))
}

describe('admin page', () => {
	let root
	beforeEach(() => {
		root = document.createElement('div')
		document.body.replaceChildren(root)
	})

	it('splits lists on lines and commas', () => {
		expect(splitList('a, b\n\nc,a')).toEqual(['a', 'b', 'c'])
	})

	it('renders the state, health and sessions', async () => {
		serveRoutes({ [`GET ${APP}/admin/status`]: () => [200, STATUS] })
		renderAdmin(root, STATE)
		await flush()
		expect(byLabel(root, 'Sidecar internal URL').value).toBe('http://sidecar:8000')
		expect(byLabel(root, 'Allowed images').value).toBe('nextpyter/notebook:1\nnextpyter/scipy:2')
		expect(byLabel(root, 'Idle timeout (minutes)').value).toBe('60')
		expect(byLabel(root, 'Maximum lifetime (hours)').value).toBe('24')
		expect(byLabel(root, 'Token issuer').value).toBe('')
		expect(byLabel(root, 'Token issuer').placeholder).toBe('https://cloud.example.org/nc')
		expect(byLabel(root, 'Token audience').value).toBe('nextpyter-sidecar')
		expect(byLabel(root, 'Default profile').value).toBe('default')
		expect(root.querySelectorAll('.nextpyter-profiles tbody tr')).toHaveLength(2)
		expect(root.querySelector('.nextpyter-health').textContent).toContain('Sidecar: healthy')
		expect(root.querySelector('.nextpyter-health-message').textContent).toBe('The sidecar is ready.')
		expect(root.querySelector('[data-user="bob smith"]').textContent).toContain('big')
		expect(root.querySelector('.nextpyter-sidecar-env').textContent).toBe(
			'NEXTPYTER_JWKS=https://cloud.example.org/nc/index.php/apps/nextpyter/jwks.json\nNEXTPYTER_TOKEN_ISSUER=https://cloud.example.org/nc',
		)
		expect(root.querySelector('.nextpyter-prepull').textContent).toMatch(/no pull API yet/)
	})

	it('shows what the status route says when the sidecar is not ready, and a session\'s detail', async () => {
		serveRoutes({
			[`GET ${APP}/admin/status`]: () => [200, {
				health: { status: 'unavailable', checks: { redis: 'ok', jwks: 'failed: HTTP 404' }, message: 'The sidecar runs but is not ready (jwks: failed: HTTP 404). Check its log.' },
				sessions: [{ user_id: 'carol', slug: 'carol-9f', profile: 'default', state: 'starting', created: 1767225600, detail: 'pulling image' }],
			}],
		})
		renderAdmin(root, STATE)
		await flush()
		expect(root.querySelector('.nextpyter-health').textContent).toBe('Sidecar: running, not ready (redis: ok, jwks: failed: HTTP 404)')
		expect(root.querySelector('.nextpyter-health .nextpyter-dot').className).toContain('bad')
		expect(root.querySelector('.nextpyter-health-message').textContent).toMatch(/not ready .+ Check its log\./)
		expect(root.querySelector('[data-user="carol"]').textContent).toContain('starting (pulling image)')
	})

	it('says when the sidecar is not set up (no checks, a message)', async () => {
		serveRoutes({
			[`GET ${APP}/admin/status`]: () => [200, {
				health: { status: 'not-configured', checks: [], message: 'The sidecar internal URL is not set.' },
				sessions: [],
			}],
		})
		renderAdmin(root, STATE)
		await flush()
		expect(root.querySelector('.nextpyter-health').textContent).toBe('Sidecar: not set up')
		expect(root.querySelector('.nextpyter-health-message').textContent).toBe('The sidecar internal URL is not set.')
		expect(root.querySelector('.nextpyter-sessions').textContent).toBe('No servers are running.')
	})

	it('sends the remote-images setting of notebook previews when the state has it', async () => {
		const requests = serveRoutes({
			[`GET ${APP}/admin/status`]: () => [200, STATUS],
			[`PUT ${APP}/admin/settings`]: (body) => [200, { settings: { ...SETTINGS, ...body }, sidecar: { applied: true, message: 'Saved.' } }],
		})
		renderAdmin(root, { ...STATE, remoteImages: false })
		const box = byLabel(root, 'Load remote images')
		expect(box.type).toBe('checkbox')
		expect(box.checked).toBe(false)
		box.checked = true
		root.querySelector('form').dispatchEvent(new Event('submit', { cancelable: true }))
		await flush()
		expect(requests.find((r) => r.method === 'PUT').body.remoteImages).toBe(true)

		document.body.replaceChildren()
		const older = document.createElement('div')
		document.body.append(older)
		renderAdmin(older, STATE)
		expect([...older.querySelectorAll('label')].some((label) => label.textContent === 'Load remote images')).toBe(false)
	})

	it('saves the edited values, and shows a 400 message next to the form and its fields', async () => {
		let answer = [400, {
			message: 'The settings were not saved: Profile \'gpu\': memory must be a whole number with a unit k, m, g or t, like 512m or 4g.',
			errors: { profiles: 'Profile \'gpu\': memory must be a whole number with a unit k, m, g or t, like 512m or 4g.' },
		}]
		const requests = serveRoutes({
			[`GET ${APP}/admin/status`]: () => [200, STATUS],
			[`PUT ${APP}/admin/settings`]: () => answer,
		})
		renderAdmin(root, STATE)
		type(byLabel(root, 'Public gateway URL'), 'https://lab.example.org ')
		type(byLabel(root, 'Token issuer'), 'https://cloud.example.org')
		type(byLabel(root, 'Allowed groups'), 'data, staff')
		type(byLabel(root, 'Idle timeout (minutes)'), '30')
		root.querySelector('.nextpyter-profiles tbody tr:nth-child(2) button').click() // remove "big"
		;[...root.querySelectorAll('button')].find((b) => b.textContent === 'Add profile').click()
		const row = root.querySelector('.nextpyter-profiles tbody tr:nth-child(2)')
		const [name, cpu, memory, gpu, pids] = row.querySelectorAll('input')
		expect(pids.value).toBe('1024') // a new profile starts with the default limit
		type(name, 'gpu')
		type(cpu, '8')
		type(memory, 'lots')
		type(gpu, '2')
		type(pids, '4096')
		root.querySelector('form').dispatchEvent(new Event('submit', { cancelable: true }))
		await flush()

		const put = requests.find((r) => r.method === 'PUT')
		expect(put.url).toBe(`${APP}/admin/settings`)
		expect(put.headers.requesttoken).toBe('csrf-token-for-tests')
		const sent = {
			sidecarUrl: 'http://sidecar:8000',
			gatewayUrl: 'https://lab.example.org',
			issuer: 'https://cloud.example.org',
			audience: 'nextpyter-sidecar',
			defaultImage: 'nextpyter/notebook:1',
			allowedImages: ['nextpyter/notebook:1', 'nextpyter/scipy:2'],
			// "default" was saved before profiles had a process limit: it gets the default one.
			profiles: [{ name: 'default', cpu: 1, memory: '2g', gpu: 0, pids: 1024 }, { name: 'gpu', cpu: 8, memory: 'lots', gpu: 2, pids: 4096 }],
			defaultProfile: 'default',
			idleTimeout: 1800,
			maxLifetime: 86400,
			allowedGroups: ['data', 'staff'],
		}
		expect(put.body).toEqual(sent)
		const message = root.querySelector('#nextpyter-settings-message')
		expect(message.getAttribute('role')).toBe('alert')
		expect(message.textContent).toMatch(/^The settings were not saved: Profile 'gpu': memory/)
		expect(root.querySelector('#nextpyter-profiles-error').textContent).toMatch(/^Profile 'gpu': memory/)

		// A bad field gets its message and aria-invalid; fixed, both go.
		answer = [400, { message: 'The settings were not saved: Token audience must be 1-128 visible characters.', errors: { audience: 'Token audience must be 1-128 visible characters.' } }]
		type(byLabel(root, 'Token audience'), 'two words')
		root.querySelector('form').dispatchEvent(new Event('submit', { cancelable: true }))
		await flush()
		expect(byLabel(root, 'Token audience').getAttribute('aria-invalid')).toBe('true')
		expect(root.querySelector('#nextpyter-audience-error').textContent).toBe('Token audience must be 1-128 visible characters.')
		expect(root.querySelector('#nextpyter-profiles-error').textContent).toBe('')

		// Saved: the answer's settings fill the form; the sidecar's message shows.
		type(byLabel(root, 'Token audience'), 'nextpyter-sidecar')
		answer = [200, {
			settings: { ...sent, profiles: [{ name: 'default', cpu: 1, memory: '2g', gpu: 0 }, { name: 'gpu', cpu: 8, memory: '32g', gpu: 2 }] },
			sidecar: { applied: false, message: 'Saved here, but the sidecar did not take them: it did not answer. Save again once it is reachable.' },
		}]
		root.querySelector('form').dispatchEvent(new Event('submit', { cancelable: true }))
		await flush()
		expect(message.textContent).toMatch(/^Saved here, but the sidecar did not take them/)
		expect(message.className).toContain('info')
		expect(byLabel(root, 'Token audience').hasAttribute('aria-invalid')).toBe(false)
		expect(root.querySelector('#nextpyter-audience-error').textContent).toBe('')
		expect(root.querySelector('.nextpyter-profiles tbody tr:nth-child(2) input[aria-label="Profile 2: memory"]').value).toBe('32g')

		answer = [200, { settings: sent, sidecar: { applied: true, message: 'Saved; the sidecar applies them from the next launch on.' } }]
		root.querySelector('form').dispatchEvent(new Event('submit', { cancelable: true }))
		await flush()
		expect(message.textContent).toBe('Saved; the sidecar applies them from the next launch on.')
		expect(message.className).toContain('success')
	})

	it('stops a session by user id, and rotates the key only after confirming', async () => {
		const requests = serveRoutes({
			[`GET ${APP}/admin/status`]: () => [200, STATUS],
			[`DELETE ${APP}/admin/sessions/bob%20smith`]: () => [200, { stopped: true }],
			[`POST ${APP}/admin/rotate-key`]: () => [200, {
				keyId: 'k-2026-02',
				keyCreated: 1769904000,
				keys: [
					{ kid: 'k-2026-02', active: true, created: 1769904000, retiredAt: null, dropsAt: null },
					{ kid: 'k-2026-01', active: false, created: 1767225600, retiredAt: 1769904000, dropsAt: 1769904600 },
				],
				jwksUrl: STATE.jwksUrl,
			}],
		})
		renderAdmin(root, STATE)
		await flush()
		root.querySelector('[data-user="bob smith"] button').click()
		await flush()
		expect(requests.some((r) => r.method === 'DELETE' && r.url === `${APP}/admin/sessions/bob%20smith`)).toBe(true)

		const buttons = () => [...root.querySelectorAll('button')]
		buttons().find((b) => b.textContent === 'Rotate signing key…').click()
		expect(requests.some((r) => r.url.endsWith('/rotate-key'))).toBe(false)
		buttons().find((b) => b.textContent === 'Cancel').click()
		buttons().find((b) => b.textContent === 'Rotate signing key…').click()
		buttons().find((b) => b.textContent === 'Rotate now').click()
		await flush()
		expect(requests.filter((r) => r.url.endsWith('/rotate-key'))).toHaveLength(1)
		expect(root.querySelector('.nextpyter-key').textContent).toContain('k-2026-02')
		expect(root.querySelector('.nextpyter-keys [data-kid="k-2026-01"]').textContent).toMatch(/^Key k-2026-01: replaced .+, still published until /)
	})

	it('says why a session was not stopped (404 {message})', async () => {
		serveRoutes({
			[`GET ${APP}/admin/status`]: () => [200, STATUS],
			[`DELETE ${APP}/admin/sessions/bob%20smith`]: () => [404, { message: 'bob smith has no running server (it may have stopped already). Reload the list.' }],
		})
		renderAdmin(root, STATE)
		await flush()
		root.querySelector('[data-user="bob smith"] button').click()
		await flush()
		expect(root.textContent).toContain('bob smith has no running server (it may have stopped already). Reload the list.')
	})

	it('says when the sidecar does not answer', async () => {
		serveRoutes({ [`GET ${APP}/admin/status`]: () => [502, { message: 'The sidecar at http://sidecar:8000 did not answer.' }] })
		renderAdmin(root, STATE)
		await flush()
		expect(root.querySelector('.nextpyter-health').textContent).toContain('did not answer')
	})
})

describe('personal page', () => {
	// `personal` as lib/Settings/Personal.php provides it; GET/DELETE /server as ServerController answers.
	const PERSONAL = { enabled: true, message: null, filesRootId: 12, profiles: ['default', 'big'], defaultProfile: 'default' }
	const RUNNING = { running: true, state: 'running', since: 1767225600, profile: 'big' }
	const STOPPED = { running: false, state: 'stopped', since: null, profile: null }
	const button = (root, text) => [...root.querySelectorAll('button')].find((b) => b.textContent === text)
	const line = (root) => root.querySelector('.nextpyter-server').textContent

	let root
	beforeEach(() => {
		root = document.createElement('div')
		document.body.replaceChildren(root)
	})

	it('describes the server', () => {
		expect(describeServer(null)).toBe('Checking your Jupyter server…')
		expect(describeServer(STOPPED)).toBe('Your Jupyter server is not running. Opening a notebook starts it.')
		expect(describeServer({ running: true, state: 'starting', since: 1767225600, profile: 'big' })).toBe('Your Jupyter server is starting (profile: big).')
		const text = describeServer(RUNNING)
		expect(text).toMatch(/^Your Jupyter server is running since .+ \(profile: big\)\.$/)
		expect(text).not.toMatch(/image/)
		expect(describeServer({ running: false, state: 'failed', since: null, profile: null })).toBe('Your Jupyter server is not running (state: failed).')
	})

	it('reads the initial state defensively', () => {
		expect(personalState(PERSONAL)).toEqual({ enabled: true, message: '', filesRootId: 12, profiles: ['default', 'big'], defaultProfile: 'default' })
		expect(personalState({ enabled: false, message: 'Ask your administrator.', filesRootId: null, profiles: ['a'], defaultProfile: 'gone' }))
			.toEqual({ enabled: false, message: 'Ask your administrator.', filesRootId: null, profiles: ['a'], defaultProfile: 'a' })
		expect(personalState(undefined).enabled).toBe(false)
		expect(personalState(undefined).message).toMatch(/not available/)
	})

	it('renders at once from the initial state, then shows what GET /server says', async () => {
		const requests = serveRoutes({ [`GET ${APP}/server`]: () => [200, RUNNING] })
		const axios = (await import('@nextcloud/axios')).default
		const recording = axios.defaults.adapter
		let release
		const slow = new Promise((resolve) => {
			release = resolve
		})
		axios.defaults.adapter = async (config) => {
			await slow // a slow sidecar: the page must not wait for it
			return recording(config)
		}
		try {
			const page = renderPersonal(root, PERSONAL)
			expect(root.querySelector('h2').textContent).toBe('Jupyter')
			expect(line(root)).toBe('Checking your Jupyter server…')
			expect(button(root, 'Open JupyterLab').disabled).toBe(false)
			expect(root.querySelector('.nextpyter-availability')).toBe(null)
			release()
			await page.ready
			expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual([`GET ${APP}/server`])
			expect(line(root)).toMatch(/^Your Jupyter server is running since .+ \(profile: big\)\.$/)
			expect(button(root, 'Stop server')).toBeTruthy()
		} finally {
			axios.defaults.adapter = recording
		}
	})

	it('opens JupyterLab on the files root with the running server\'s profile, and stops it with DELETE /server', async () => {
		const requests = serveRoutes({
			[`GET ${APP}/server`]: () => [200, RUNNING],
			[`DELETE ${APP}/server`]: () => [200, STOPPED],
			[`POST ${APP}/launch`]: () => [200, { action: GATEWAY, token: 'home-token' }],
		})
		const browser = stubBrowser()
		vi.useFakeTimers({ toFake: ['setTimeout'] })
		try {
			const page = renderPersonal(root, PERSONAL)
			await page.ready
			expect(line(root)).toMatch(/is running since .+ \(profile: big\)\./)
			expect(root.querySelector('#nextpyter-profile')).toBe(null) // a running server keeps its profile
			button(root, 'Open JupyterLab').click()
			await vi.waitFor(() => expect(browser.submitted).toHaveLength(1))
			expect(requests.find((r) => r.url === `${APP}/launch`).body).toEqual({ fileId: 12, profile: 'big' })
			expect(browser.submitted[0].fields).toEqual({ token: 'home-token' })
			expect(requests.some((r) => r.method === 'PROPFIND')).toBe(false) // no WebDAV look-up

			button(root, 'Stop server').click()
			await vi.waitFor(() => expect(line(root)).toMatch(/not running/))
			expect(requests.filter((r) => r.method === 'DELETE').map((r) => r.url)).toEqual([`${APP}/server`])
			expect(requests.filter((r) => r.method === 'DELETE')[0].headers.requesttoken).toBe('csrf-token-for-tests')
			expect(root.querySelector('.nextpyter-message').textContent).toBe('Your Jupyter server was stopped.')
			expect(button(root, 'Start JupyterLab')).toBeTruthy()
			expect(button(root, 'Stop server')).toBeFalsy()
		} finally {
			vi.useRealTimers()
		}
	})

	it('starts a stopped server with the profile picked, and shows a refused launch\'s message', async () => {
		let refuse = false
		const requests = serveRoutes({
			[`GET ${APP}/server`]: () => [200, STOPPED],
			[`POST ${APP}/launch`]: () => (refuse
				? [403, { message: 'Jupyter is open to members of some groups only, and you are in none of them. Ask your administrator for access.' }]
				: [200, { action: GATEWAY, token: 'start-token' }]),
		})
		const browser = stubBrowser()
		vi.useFakeTimers({ toFake: ['setTimeout'] })
		try {
			const page = renderPersonal(root, PERSONAL)
			await page.ready
			const picker = root.querySelector('#nextpyter-profile')
			expect([...picker.options].map((o) => o.value)).toEqual(['default', 'big'])
			expect(picker.value).toBe('default')
			picker.value = 'big'
			picker.dispatchEvent(new Event('change'))
			button(root, 'Start JupyterLab').click()
			await vi.waitFor(() => expect(browser.submitted).toHaveLength(1))
			expect(requests.find((r) => r.url === `${APP}/launch`).body).toEqual({ fileId: 12, profile: 'big' })

			refuse = true
			button(root, 'Start JupyterLab').click()
			await vi.waitFor(() => expect(root.querySelector('.nextpyter-message.error')).toBeTruthy())
			expect(root.querySelector('.nextpyter-message').textContent).toMatch(/^Jupyter is open to members of some groups only/)
			expect(browser.tabs[1].close).toHaveBeenCalled()
			expect(browser.submitted).toHaveLength(1)
		} finally {
			vi.useRealTimers()
		}
	})

	it('without access: shows the message, offers no Open, still shows and stops a running server', async () => {
		const requests = serveRoutes({
			[`GET ${APP}/server`]: () => [200, RUNNING],
			[`DELETE ${APP}/server`]: () => [200, STOPPED],
		})
		const message = 'Jupyter is open to members of some groups only, and you are in none of them. Ask your administrator for access.'
		const page = renderPersonal(root, { enabled: false, message, filesRootId: 12, profiles: ['default'], defaultProfile: 'default' })
		expect(root.querySelector('.nextpyter-availability').textContent).toBe(message)
		await page.ready
		expect(line(root)).toMatch(/is running/)
		expect(button(root, 'Open JupyterLab')).toBeFalsy()
		expect(button(root, 'Start JupyterLab')).toBeFalsy()
		button(root, 'Stop server').click()
		await vi.waitFor(() => expect(line(root)).toMatch(/not running/))
		expect(requests.some((r) => r.method === 'POST')).toBe(false)
	})

	it('says when the server\'s state is unknown, and when the files folder has no id', async () => {
		serveRoutes({ [`GET ${APP}/server`]: () => [502, { message: 'The sidecar failed to look up the server (HTTP 500). Try again in a minute.' }] })
		const page = renderPersonal(root, { ...PERSONAL, filesRootId: null })
		await page.ready
		expect(line(root)).toBe('The state of your Jupyter server is unknown.')
		expect(root.querySelector('.nextpyter-message').textContent).toBe('The sidecar failed to look up the server (HTTP 500). Try again in a minute.')
		expect(button(root, 'Open JupyterLab').disabled).toBe(true)
	})
})

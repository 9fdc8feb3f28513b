/**
 * The notebook preview's built scripts in headless Chromium, on a fake Nextcloud (see
 * fake-nextcloud.js): the Viewer handler registers on Nextcloud 32, 33 and 34 (each with its
 * @nextcloud/files registry, and with the Viewer's init script before or after the app's, eager
 * or not); clicking a notebook in Files opens the preview, not Jupyter; the hostile corpus
 * opens without a dialog, a console error or any request but the notebook's own and the app's
 * scripts and fonts; "Open a copy in Jupyter" posts the copy, then the launch, then the token
 * to the gateway in a new tab; a share page shows no Jupyter buttons.
 *
 * Chromium is Debian's (/usr/bin/chromium, or $CHROMIUM). Without it the tests are skipped
 * with a message, except under CI=true, where they fail.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { APP_DIR, CHROMIUM_ARGS, COPY_ID, DAV, ROUTES, WEBROOT, startFakeNextcloud } from './fake-nextcloud.js'

const EXECUTABLE = process.env.CHROMIUM ?? '/usr/bin/chromium'
const HAVE_CHROMIUM = existsSync(EXECUTABLE)
if (!HAVE_CHROMIUM && process.env.CI === 'true') {
	throw new Error(`Chromium is not installed at ${EXECUTABLE}, and CI=true: the browser tests must run (apt-get install chromium).`)
}
if (!HAVE_CHROMIUM) {
	console.warn(`[browser tests] skipped: no Chromium at ${EXECUTABLE} (apt-get install chromium, or set CHROMIUM)`)
}

const FIXTURES = join(APP_DIR, 'tests/fixtures')
const HOSTILE = readdirSync(join(FIXTURES, 'hostile')).filter((name) => name.endsWith('.ipynb')).sort()
const files = {
	'/analysis.ipynb': join(FIXTURES, 'outputs.ipynb'),
	'/Shared/shared.ipynb': join(FIXTURES, 'markdown.ipynb'),
	'/broken.ipynb': join(FIXTURES, 'not-json.ipynb'),
	...Object.fromEntries(HOSTILE.map((name) => [`/hostile/${name}`, join(FIXTURES, 'hostile', name)])),
}

describe.skipIf(!HAVE_CHROMIUM)('the notebook preview in Chromium', () => {
	let site
	let context
	let profile

	beforeAll(async () => {
		execFileSync(process.execPath, [join(APP_DIR, 'src/build.mjs')], { cwd: APP_DIR, stdio: 'pipe' })
		site = await startFakeNextcloud({ files })
		profile = mkdtempSync(join(tmpdir(), 'nextpyter-chromium-'))
		context = await chromium.launchPersistentContext(profile, { executablePath: EXECUTABLE, args: CHROMIUM_ARGS, headless: true, viewport: { width: 1200, height: 900 } })
		context.setDefaultTimeout(30_000)
	})

	afterAll(async () => {
		await context?.close()
		await site?.stop()
		if (profile) {
			rmSync(profile, { recursive: true, force: true })
		}
	})

	/** A page with everything it does recorded: requests, dialogs, console errors, page errors. */
	async function open(query) {
		const page = await context.newPage()
		const seen = { requests: [], dialogs: [], errors: [] }
		page.on('request', (request) => seen.requests.push({ method: request.method(), url: request.url() }))
		page.on('dialog', async (dialog) => {
			seen.dialogs.push(dialog.message())
			await dialog.dismiss()
		})
		page.on('console', (message) => {
			if (message.type() === 'error') {
				seen.errors.push(message.text())
			}
		})
		page.on('pageerror', (error) => seen.errors.push(String(error)))
		await page.goto(`${site.origin}${WEBROOT}/index.php/apps/files/?${new URLSearchParams(query)}`)
		await page.waitForFunction(() => window.viewerReady === true)
		return { page, seen }
	}

	async function preview(page, path, extra = {}) {
		await page.evaluate(([p, e]) => {
			window.node(p, e)
			window.OCA.Viewer.open({ path: p })
		}, [path, extra])
		await page.waitForFunction(() => ['complete', 'error'].includes(document.querySelector('.nextpyter-notebook')?.dataset.state))
		return page.evaluate(() => document.querySelector('.nextpyter-notebook').dataset.state)
	}

	/** Requests other than the page, the fake Viewer's Vue, the app's files and `allowed` DAV paths. */
	function unexpected(requests, allowed) {
		return requests.filter(({ url }) => {
			const { origin, pathname } = new URL(url)
			if (origin !== site.origin) {
				return true
			}
			return !(pathname === `${WEBROOT}/index.php/apps/files/`
				|| pathname === '/favicon.ico'
				|| pathname === `${WEBROOT}/apps/viewer/vue.runtime.js`
				|| /^\/nc\/custom_apps\/nextpyter\/js\/(?:[\w-]+\.mjs|chunks\/[\w-]+\.mjs|fonts\/KaTeX_[\w-]+\.woff2)$/.test(pathname)
				|| allowed.includes(decodeURIComponent(pathname)))
		})
	}

	it.each([
		{ version: '32', order: 'app-first', eager: '1', api: 'v3' },
		{ version: '33', order: 'viewer-first', eager: '1', api: 'v4' },
		{ version: '34', order: 'app-first', eager: '0', api: 'v4' },
		{ version: '34', order: 'viewer-first', eager: '1', api: 'v4' },
	])('Nextcloud $version ($order, eager $eager): the handler registers, and a click on a notebook opens the preview', async (query) => {
		const { page, seen } = await open(query)
		const registered = await page.evaluate(() => ({
			handlers: window.OCA.Viewer.availableHandlers.map((h) => h.id),
			mimes: window.OCA.Viewer.mimetypes,
			queue: (window._oca_viewer_handlers ?? []).length,
			theme: window.OCA.Viewer.availableHandlers.find((h) => h.id === 'nextpyter-notebook')?.theme,
			actions: window.actions().map((a) => a.id),
		}))
		expect(registered.handlers).toEqual(['nextpyter-notebook'])
		expect(registered.mimes).toEqual(['application/x-ipynb+json'])
		expect(registered.queue).toBe(0)
		expect(registered.theme).toBe('default')
		expect(registered.actions).toEqual(expect.arrayContaining(['view', 'nextpyter-open-notebook']))

		const clicked = await page.evaluate(() => window.clickRow(window.node('/analysis.ipynb', { fileid: 314 })))
		expect(clicked).toBe('view') // the preview, not a launch
		await page.waitForFunction(() => document.querySelector('.nextpyter-notebook')?.dataset.state === 'complete')
		expect(await page.locator('.np-cell').count()).toBe(9)
		expect(await page.locator('.np-open').textContent()).toBe('Open in Jupyter')
		expect(await page.locator('.np-download').getAttribute('href')).toBe(`${site.origin}${DAV}/analysis.ipynb`)
		expect(await page.locator('.katex').count()).toBeGreaterThan(0)
		expect(await page.evaluate(() => window.OCA.Viewer.loaded)).toBe(true)
		expect(seen.errors).toEqual([])
		expect(seen.dialogs).toEqual([])
		expect(unexpected(seen.requests, [`${DAV}/analysis.ipynb`])).toEqual([])
		expect(seen.requests.filter((r) => r.url.endsWith('/analysis.ipynb')).length).toBe(1)
		await page.close()
	})

	it('the hostile corpus runs nothing, fetches nothing and logs no error', async () => {
		const { page, seen } = await open({ version: '33', order: 'viewer-first' })
		const states = {}
		for (const name of HOSTILE) {
			states[name] = await preview(page, `/hostile/${name}`)
			// give anything that would load or run a moment to do it
			await page.waitForTimeout(20)
		}
		await page.evaluate(() => window.OCA.Viewer.close())
		await page.waitForTimeout(300)
		expect(Object.values(states).filter((s) => s === 'complete').length).toBeGreaterThanOrEqual(HOSTILE.length - 1)
		expect(seen.dialogs).toEqual([])
		expect(seen.errors).toEqual([])
		expect(await page.evaluate(() => window.__pwned)).toBeUndefined()
		expect(await page.evaluate(() => Object.hasOwn(Object.prototype, 'polluted'))).toBe(false)
		expect(unexpected(seen.requests, HOSTILE.map((name) => `${DAV}/hostile/${name}`))).toEqual([])
		expect(seen.requests.filter((r) => r.url.includes('evil.example'))).toEqual([])
		// The page is still Nextcloud's: nothing a notebook held covers it or navigated it.
		expect(new URL(page.url()).pathname).toBe(`${WEBROOT}/index.php/apps/files/`)
		await page.close()
	})

	it('nothing a hostile notebook holds covers the toolbar', async () => {
		const { page, seen } = await open({ version: '33', order: 'viewer-first' })
		for (const name of ['10-css-overlay-style-attr.ipynb', '35-nextcloud-classes.ipynb', '11-style-element.ipynb']) {
			await preview(page, `/hostile/${name}`)
			const onTop = await page.evaluate(() => {
				const button = document.querySelector('.np-download')
				const box = button.getBoundingClientRect()
				const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2)
				return hit === button || button.contains(hit)
			})
			expect(onTop, name).toBe(true)
			expect(await page.evaluate(() => getComputedStyle(document.body).display)).not.toBe('none')
		}
		expect(seen.errors).toEqual([])
		await page.close()
	})

	it('"Open a copy in Jupyter" posts the copy, then the launch, then the token to the gateway', async () => {
		const { page, seen } = await open({ version: '33', order: 'viewer-first' })
		expect(await preview(page, '/Shared/shared.ipynb', { fileid: 666, permissions: 'SRG', ownerId: 'bob', mountType: 'shared' })).toBe('complete')
		expect(await page.locator('.np-open').count()).toBe(0)
		const before = site.requests.length
		const posts = () => site.gatewayRequests.filter((r) => r.method === 'POST')
		const gatewayBefore = posts().length
		const [tab] = await Promise.all([
			context.waitForEvent('page'),
			page.locator('.np-copy').click(),
		])
		await tab.waitForLoadState()
		await expect.poll(() => posts().length).toBe(gatewayBefore + 1)
		const calls = site.requests.slice(before).filter((r) => r.path.startsWith(ROUTES))
		expect(calls.map((r) => `${r.method} ${r.path.slice(ROUTES.length)} ${r.body}`)).toEqual([
			'POST /copy {"fileId":666}',
			`POST /launch {"fileId":${COPY_ID}}`,
		])
		const posted = posts().at(-1)
		expect([posted.method, posted.url, posted.body]).toEqual(['POST', '/api/v1/launch', `token=token-for-${COPY_ID}`])
		expect(await page.locator('.np-message').textContent()).toContain('Copied to /shared (copy).ipynb')
		expect(seen.errors).toEqual([])
		await tab.close()
		await page.close()
	})

	it('a view-only share (download attribute false) shows the notebook without Download or Open a copy', async () => {
		const { page, seen } = await open({ version: '34', order: 'app-first' })
		const shareAttributes = '[{"scope":"permissions","key":"download","value":false}]'
		expect(await preview(page, '/Shared/shared.ipynb', { fileid: 667, permissions: 'SRG', ownerId: 'bob', mountType: 'shared', shareAttributes })).toBe('complete')
		expect(await page.locator('.np-download, .np-copy, .np-open').count()).toBe(0)
		expect(seen.errors).toEqual([])
		await page.close()
	})

	it('"Open in Jupyter" on one\'s own notebook launches it', async () => {
		const { page } = await open({ version: '32', order: 'app-first' })
		await preview(page, '/analysis.ipynb', { fileid: 314 })
		const before = site.requests.length
		const [tab] = await Promise.all([context.waitForEvent('page'), page.locator('.np-open').click()])
		await tab.waitForLoadState()
		await expect.poll(() => site.gatewayRequests.filter((r) => r.method === 'POST').at(-1)?.body).toBe('token=token-for-314')
		expect(site.requests.slice(before).filter((r) => r.path.startsWith(ROUTES)).map((r) => r.body)).toEqual(['{"fileId":314}'])
		await tab.close()
		await page.close()
	})

	it('a file that is not a notebook shows a message, not a blank view', async () => {
		const { page, seen } = await open({ version: '34', order: 'app-first' })
		expect(await preview(page, '/broken.ipynb')).toBe('error')
		expect(await page.getByRole('alert').textContent()).toContain('not valid JSON')
		expect(await page.locator('.np-download').count()).toBe(1)
		expect(seen.errors).toEqual([])
		await page.close()
	})

	it('a public share page shows the notebook and Download, no Jupyter buttons', async () => {
		const { page, seen } = await open({ version: '33', order: 'viewer-first', public: '1' })
		expect(await preview(page, '/analysis.ipynb')).toBe('complete')
		expect(await page.locator('.np-open, .np-copy').count()).toBe(0)
		expect(await page.locator('.np-download').count()).toBe(1)
		expect(seen.errors).toEqual([])
		await page.close()
	})
})

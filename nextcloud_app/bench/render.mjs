/**
 * `make bench` (in nextcloud_app/): how long the notebook preview takes on a large notebook.
 *
 * Makes a notebook of about 20 MB with 2,000 cells (markdown with math, code with output and an
 * embedded PNG each), serves it with the built js/ from the browser tests' fake Nextcloud on
 * loopback, opens it in Debian's headless Chromium through the app's Viewer handler, and
 * prints, as the median of several runs: when the first screen was rendered and painted, when
 * every cell was, and, as the floor, how long a bare `JSON.parse` of the same file takes in
 * the same page. A measurement, not a test: it fails only when something breaks.
 *
 *   node bench/render.mjs [--runs 5] [--cells 2000] [--mb 20]
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { deflateSync } from 'node:zlib'
import { chromium } from 'playwright-core'
import { CHROMIUM_ARGS, WEBROOT, startFakeNextcloud } from '../src/__browser__/fake-nextcloud.js'

const args = process.argv.slice(2)
const option = (name, fallback) => {
	const at = args.indexOf(`--${name}`)
	return at >= 0 ? Number(args[at + 1]) : fallback
}
const RUNS = option('runs', 5)
const CELLS = option('cells', 2000)
const TARGET_MB = option('mb', 20)
const EXECUTABLE = process.env.CHROMIUM ?? '/usr/bin/chromium'

function crc32(buffer) {
	let crc = -1
	for (const byte of buffer) {
		crc ^= byte
		for (let k = 0; k < 8; k++) {
			crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1))
		}
	}
	return (crc ^ -1) >>> 0
}

function chunk(type, data) {
	const length = Buffer.alloc(4)
	length.writeUInt32BE(data.length)
	const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
	const crc = Buffer.alloc(4)
	crc.writeUInt32BE(crc32(body))
	return Buffer.concat([length, body, crc])
}

/** A real PNG of noise (so it does not compress): `bytes` of image data, roughly. */
function noisePng(seed, bytes) {
	const width = 96
	const height = Math.max(1, Math.round(bytes / (width * 3)))
	let x = seed * 2654435761 >>> 0
	const raw = Buffer.alloc((width * 3 + 1) * height)
	for (let i = 0; i < raw.length; i++) {
		x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0
		raw[i] = i % (width * 3 + 1) === 0 ? 0 : x & 0xff
	}
	const header = Buffer.alloc(13)
	header.writeUInt32BE(width, 0)
	header.writeUInt32BE(height, 4)
	header.set([8, 2, 0, 0, 0], 8)
	return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', header), chunk('IDAT', deflateSync(raw, { level: 1 })), chunk('IEND', Buffer.alloc(0))])
}

export function bigNotebook(cells = CELLS, megabytes = TARGET_MB) {
	const codeCells = Math.ceil(cells / 2)
	const imageBytes = Math.round((megabytes * 1024 * 1024 * 0.96) / codeCells * 3 / 4)
	const list = []
	for (let i = 0; i < cells; i++) {
		if (i % 2 === 0) {
			list.push({ cell_type: 'markdown', metadata: {}, source: [`## Step ${i / 2}\n`, '\n', `We fit $y = a x^2 + b$ with $a = ${i}$, then plot it:\n`, '\n', '$$\\hat{y}_i = \\sum_{k=0}^{n} w_k x_i^k$$\n'] })
		} else {
			list.push({
				cell_type: 'code',
				execution_count: i,
				metadata: {},
				source: ['import numpy as np\n', 'import matplotlib.pyplot as plt\n', `x = np.linspace(0, 1, ${i})\n`, 'plt.plot(x, x ** 2)  # the curve\n', 'plt.show()'],
				outputs: [
					{ output_type: 'stream', name: 'stdout', text: [`fitted ${i} points\n`] },
					{ output_type: 'display_data', metadata: {}, data: { 'image/png': noisePng(i, imageBytes).toString('base64'), 'text/plain': ['<Figure size 640x480 with 1 Axes>'] } },
				],
			})
		}
	}
	return JSON.stringify({ cells: list, metadata: { kernelspec: { name: 'python3', language: 'python', display_name: 'Python 3' }, language_info: { name: 'python' } }, nbformat: 4, nbformat_minor: 5 })
}

const median = (values) => {
	const sorted = [...values].sort((a, b) => a - b)
	const middle = Math.floor(sorted.length / 2)
	return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

async function main() {
	if (!existsSync(EXECUTABLE)) {
		console.error(`bench: no Chromium at ${EXECUTABLE} (apt-get install chromium, or set CHROMIUM)`)
		process.exit(1)
	}
	const text = bigNotebook()
	const size = Buffer.byteLength(text)
	const site = await startFakeNextcloud({ files: { '/big.ipynb': text } })
	const profile = mkdtempSync(join(tmpdir(), 'nextpyter-bench-'))
	const context = await chromium.launchPersistentContext(profile, { executablePath: EXECUTABLE, args: CHROMIUM_ARGS, headless: true, viewport: { width: 1280, height: 900 } })
	const runs = []
	try {
		for (let run = 0; run < RUNS; run++) {
			const page = await context.newPage()
			await page.goto(`${site.origin}${WEBROOT}/index.php/apps/files/?version=33&order=viewer-first`)
			await page.waitForFunction(() => window.viewerReady === true)
			const result = await page.evaluate(() => new Promise((resolve, reject) => {
				const out = {}
				const started = performance.now()
				document.addEventListener('nextpyter:notebook', (event) => {
					const { phase, timings } = event.detail
					if (phase === 'first-screen') {
						out.firstScreen = performance.now() - started
						out.fetched = timings.fetched
						out.parsed = timings.parsed
						out.cellsFirst = document.querySelectorAll('.np-cell').length
						requestAnimationFrame(() => setTimeout(() => {
							out.firstPaint = performance.now() - started
						}, 0))
					} else if (phase === 'complete') {
						out.complete = performance.now() - started
						out.cells = document.querySelectorAll('.np-cell').length
						out.images = document.querySelectorAll('.np-output img').length
						resolve(out)
					} else if (phase === 'error') {
						reject(new Error(document.querySelector('[role=alert]')?.textContent))
					}
				}, { capture: true })
				window.node('/big.ipynb', { fileid: 5 })
				window.OCA.Viewer.open({ path: '/big.ipynb' })
			}))
			// The floor: the same file fetched and parsed, nothing rendered.
			result.jsonParse = await page.evaluate(async (url) => {
				const body = await (await fetch(url, { cache: 'no-store' })).text()
				const started = performance.now()
				JSON.parse(body)
				return performance.now() - started
			}, `${site.origin}${WEBROOT}/remote.php/dav/files/alice/big.ipynb`)
			runs.push(result)
			await page.close()
		}
	} finally {
		await context.close()
		await site.stop()
		rmSync(profile, { recursive: true, force: true })
	}
	const last = runs.at(-1)
	const fmt = (key) => `${median(runs.map((r) => r[key])).toFixed(0).padStart(6)} ms   (runs: ${runs.map((r) => r[key].toFixed(0)).join(', ')})`
	console.log(`notebook: ${(size / 1024 / 1024).toFixed(1)} MB, ${last.cells} cells, ${last.images} embedded PNGs; ${RUNS} runs in headless Chromium, medians:`)
	console.log(`  fetched (loopback)        ${fmt('fetched')}`)
	console.log(`  parsed                    ${fmt('parsed')}`)
	console.log(`  first screen rendered     ${fmt('firstScreen')}   (${last.cellsFirst} cells)`)
	console.log(`  first screen painted      ${fmt('firstPaint')}`)
	console.log(`  every cell rendered       ${fmt('complete')}`)
	console.log(`  floor: JSON.parse alone   ${fmt('jsonParse')}`)
}

await main()

/**
 * `npm run test:browser`: the built scripts (js/, rebuilt first) in Debian's headless Chromium,
 * driven by playwright-core, against a fake Nextcloud served on loopback by the test itself.
 */
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

export default defineConfig({
	root: fileURLToPath(new URL('..', import.meta.url)), // nextcloud_app/
	test: {
		environment: 'node',
		include: ['src/__browser__/**/*.test.js'],
		testTimeout: 120_000,
		hookTimeout: 180_000,
		fileParallelism: false,
	},
})

import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

export default defineConfig({
	root: fileURLToPath(new URL('..', import.meta.url)), // nextcloud_app/
	test: {
		environment: 'jsdom',
		environmentOptions: { jsdom: { url: 'https://cloud.example.org/nc/index.php/apps/files/' } },
		include: ['src/__tests__/**/*.test.js'],
		setupFiles: ['src/__tests__/setup.js'],
		restoreMocks: true,
		// KaTeX's stylesheet is imported as text (`?raw`) by the notebook preview: keep its text.
		css: { include: [/katex/] },
		// files3 (3.x) imports named exports from CommonJS packages, which bundlers allow and
		// Node's own loader refuses: let Vite transform it, as the production build does.
		server: { deps: { inline: ['files3'] } },
	},
})

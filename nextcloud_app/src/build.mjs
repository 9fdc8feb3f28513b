/**
 * `npm run build`: the browser bundles Nextcloud loads, into js/.
 *
 * ES modules (`.mjs`): Nextcloud 32–34 prefer `js/<name>.mjs` over `.js` for
 * `Util::addScript('nextpyter', '<name>')` and load it as `<script type="module" defer>`.
 * Code shared between the entries, and `@nextcloud/dialogs` (only needed to show an error),
 * go to js/chunks/ with content hashes, imported relative to the entry.
 */
import { copyFile, mkdir, readdir, readFile, rm } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import * as esbuild from 'esbuild'

const here = fileURLToPath(new URL('..', import.meta.url)) // nextcloud_app/

/**
 * `@nextcloud/dialogs` is here only for `showError`. Its file picker, conflict picker and
 * guest-name prompt are behind dynamic imports that a bundler cannot drop, and they would add
 * some 2 MiB of Vue components and date-picker locales to js/. This app never opens them, so
 * those three modules become stubs that say so if anything ever did.
 */
const unusedDialogs = {
	name: 'unused-dialogs',
	setup(build) {
		build.onResolve({ filter: /^\.\/(FilePicker|ConflictPicker|PublicAuthPrompt)\.mjs$/ }, (args) => {
			if (!args.importer.includes('/@nextcloud/dialogs/')) {
				return undefined
			}
			return { path: args.path, namespace: 'unused-dialogs' }
		})
		build.onLoad({ filter: /.*/, namespace: 'unused-dialogs' }, (args) => ({
			contents: `throw new Error(${JSON.stringify(`nextpyter: ${args.path} is not part of this build`)})`,
			loader: 'js',
		}))
	},
}
/**
 * `import css from 'katex/dist/katex.min.css?raw'`: the file's text as a string (what Vite,
 * and so vitest, does with `?raw`); the notebook preview adds it to the page itself.
 */
const rawText = {
	name: 'raw-text',
	setup(build) {
		build.onResolve({ filter: /\?raw$/ }, async (args) => {
			const resolved = await build.resolve(args.path.replace(/\?raw$/, ''), { kind: args.kind, resolveDir: args.resolveDir })
			return resolved.errors.length ? { errors: resolved.errors } : { path: resolved.path, namespace: 'raw-text' }
		})
		build.onLoad({ filter: /.*/, namespace: 'raw-text' }, async (args) => ({
			contents: await readFile(args.path, 'utf8'),
			loader: 'text',
		}))
	},
}
/** markdown-it-texmath `require`s katex (CommonJS) where the preview imports it (ESM): one copy. */
const oneKatex = {
	name: 'one-katex',
	setup(build) {
		build.onResolve({ filter: /^katex$/ }, () => ({ path: `${here}node_modules/katex/dist/katex.mjs` }))
	},
}
const outdir = `${here}js`

await rm(outdir, { recursive: true, force: true })
const result = await esbuild.build({
	absWorkingDir: here,
	entryPoints: {
		'nextpyter-files': 'src/files.js',
		'nextpyter-admin': 'src/admin.js',
		'nextpyter-personal': 'src/personal.js',
		'nextpyter-viewer': 'src/viewer.js',
	},
	outdir,
	bundle: true,
	format: 'esm',
	splitting: true,
	outExtension: { '.js': '.mjs' },
	chunkNames: 'chunks/[name]-[hash]',
	platform: 'browser',
	target: ['chrome109', 'firefox115', 'safari15.6', 'edge109'],
	minify: true,
	legalComments: 'eof',
	metafile: true,
	logLevel: 'warning',
	// Node's string_decoder, which sax inside @nextcloud/files 3.x imports.
	plugins: [unusedDialogs, rawText, oneKatex],
	alias: { string_decoder: './src/shims/string_decoder.js' },
	// Styles of @nextcloud/vue components pulled in by @nextcloud/dialogs: the Nextcloud page
	// already carries them (the server's own bundles use the same components).
	loader: { '.css': 'empty' },
	define: {
		'process.env.NODE_ENV': '"production"',
		__VUE_OPTIONS_API__: 'true',
		__VUE_PROD_DEVTOOLS__: 'false',
		__VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false',
	},
})

// KaTeX's fonts (woff2, which every browser Nextcloud supports reads), for the notebook preview.
const fonts = `${here}node_modules/katex/dist/fonts/`
await mkdir(`${outdir}/fonts`, { recursive: true })
for (const font of (await readdir(fonts)).filter((name) => name.endsWith('.woff2'))) {
	await copyFile(`${fonts}${font}`, `${outdir}/fonts/${font}`)
}

for (const [file, output] of Object.entries(result.metafile.outputs)) {
	console.log(`${file.padEnd(40)} ${(output.bytes / 1024).toFixed(1).padStart(8)} KiB`)
}

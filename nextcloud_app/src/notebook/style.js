/**
 * The preview's styles: KaTeX's stylesheet (its fonts are shipped in js/fonts/, woff2 only, and
 * load only when math shows) and the notebook's own layout, with Nextcloud's theme variables.
 *
 * The cells area is a containment box (`contain: paint`, `isolation: isolate`, `overflow`
 * clipped): even if some markup got a fixed position or a huge z-index, it stays inside the
 * cell it came from and cannot cover Nextcloud's page or its buttons.
 */
import katexCss from 'katex/dist/katex.min.css?raw'

/** Where js/fonts/ is: next to the app's scripts (this code lives in js/ or js/chunks/). */
export function fontsBase(moduleUrl = import.meta.url) {
	const at = moduleUrl.lastIndexOf('/js/')
	return at >= 0 ? `${moduleUrl.slice(0, at)}/js/fonts/` : 'fonts/'
}

/** KaTeX's CSS with each font as the app's woff2 file (the woff and ttf fallbacks dropped). */
export function katexStylesheet(base = fontsBase()) {
	return katexCss.replace(/src:url\(fonts\/([\w-]+)\.woff2\) format\("woff2"\)(?:,url\([^)]*\) format\("[\w]+"\))*/g,
		(match, name) => `src:url(${base}${name}.woff2) format("woff2")`)
}

const NOTEBOOK_CSS = `
.nextpyter-notebook { box-sizing: border-box; width: 100%; height: 100%; overflow: auto; padding: 0 16px 48px;
  background: var(--color-main-background, #fff); color: var(--color-main-text, #222); text-align: start; }
.nextpyter-notebook .np-toolbar { position: sticky; top: 0; z-index: 2; display: flex; flex-wrap: wrap; gap: 8px; align-items: center;
  justify-content: space-between; max-width: 1100px; margin: 0 auto; padding: 10px 0; background: var(--color-main-background, #fff);
  border-bottom: 1px solid var(--color-border, #ddd); }
.nextpyter-notebook .np-title { font-weight: bold; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; max-width: 50%; }
.nextpyter-notebook .np-actions { display: flex; flex-wrap: wrap; gap: 8px; }
.nextpyter-notebook .np-button { display: inline-block; padding: 6px 14px; border-radius: var(--border-radius-element, 20px); cursor: pointer;
  border: 1px solid var(--color-border-dark, #bbb); background: var(--color-main-background, #fff); color: var(--color-main-text, #222);
  font: inherit; font-weight: 600; text-decoration: none; line-height: 1.4; }
.nextpyter-notebook .np-button.np-primary { background: var(--color-primary-element, #00679e); color: var(--color-primary-element-text, #fff); border-color: transparent; }
.nextpyter-notebook .np-message, .nextpyter-notebook .np-status { max-width: 1100px; margin: 8px auto; }
.nextpyter-notebook .np-message:empty, .nextpyter-notebook .np-status:empty { display: none; }
.nextpyter-notebook .np-status { color: var(--color-text-maxcontrast, #6b6b6b); }
.nextpyter-notebook .np-message { padding: 8px 12px; border-radius: var(--border-radius, 4px); border-inline-start: 4px solid var(--color-primary-element, #0082c9);
  background: var(--color-background-hover, #f5f5f5); }
.nextpyter-notebook .np-message.np-error-message { border-color: var(--color-error, #d91812); }
.nextpyter-notebook .np-notebook { max-width: 1100px; margin: 0 auto; position: relative; isolation: isolate; contain: paint; overflow-x: hidden; }
.nextpyter-notebook .np-cell { position: relative; contain: paint; overflow: hidden; margin: 10px 0; }
.nextpyter-notebook .np-input, .nextpyter-notebook .np-output { display: grid; grid-template-columns: 7em minmax(0, 1fr); gap: 0 8px; }
.nextpyter-notebook .np-prompt { font-family: var(--font-monospace, monospace); font-size: 12px; text-align: end; padding-top: 6px;
  color: var(--color-text-maxcontrast, #6b6b6b); white-space: nowrap; overflow: hidden; }
.nextpyter-notebook .np-prompt-in { color: #303f9f; }
.nextpyter-notebook .np-prompt-out { color: #d84315; }
.nextpyter-notebook pre { margin: 0; padding: 6px 8px; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere;
  font-family: var(--font-monospace, ui-monospace, monospace); font-size: 13px; line-height: 1.45; }
.nextpyter-notebook .np-source { background: var(--color-background-dark, #f5f5f5); border: 1px solid var(--color-border, #e0e0e0); border-radius: 4px; }
.nextpyter-notebook .np-outputs { margin-top: 4px; }
.nextpyter-notebook .np-output-body { min-width: 0; overflow-x: auto; padding: 2px 0; }
.nextpyter-notebook .np-stderr { background: #fdd; color: #000; }
.nextpyter-notebook .np-error { background: #fdd; color: #000; }
.nextpyter-notebook .np-markdown-cell { padding-inline-start: calc(7em + 8px); }
.nextpyter-notebook .np-markdown { line-height: 1.55; overflow-wrap: break-word; }
.nextpyter-notebook .np-markdown h1 { font-size: 1.8em; margin: .6em 0 .4em; font-weight: bold; }
.nextpyter-notebook .np-markdown h2 { font-size: 1.45em; margin: .6em 0 .4em; font-weight: bold; }
.nextpyter-notebook .np-markdown h3 { font-size: 1.2em; margin: .5em 0 .3em; font-weight: bold; }
.nextpyter-notebook .np-markdown h4, .nextpyter-notebook .np-markdown h5, .nextpyter-notebook .np-markdown h6 { font-weight: bold; margin: .5em 0 .3em; }
.nextpyter-notebook .np-markdown p { margin: .5em 0; }
.nextpyter-notebook .np-markdown ul { list-style: disc; padding-inline-start: 2em; }
.nextpyter-notebook .np-markdown ol { list-style: decimal; padding-inline-start: 2em; }
.nextpyter-notebook .np-markdown a, .nextpyter-notebook .np-html a { color: var(--color-primary-element, #00679e); text-decoration: underline; }
.nextpyter-notebook .np-markdown blockquote { border-inline-start: 4px solid var(--color-border, #ddd); padding-inline-start: 1em; color: var(--color-text-maxcontrast, #555); }
.nextpyter-notebook .np-markdown code { font-family: var(--font-monospace, monospace); background: var(--color-background-dark, #f2f2f2); padding: 0 .2em; border-radius: 3px; }
.nextpyter-notebook .np-markdown pre code { background: none; padding: 0; }
.nextpyter-notebook .np-markdown pre { background: var(--color-background-dark, #f5f5f5); }
.nextpyter-notebook table { border-collapse: collapse; margin: .5em 0; font-size: 13px; }
.nextpyter-notebook th, .nextpyter-notebook td { border: 1px solid var(--color-border, #ddd); padding: 3px 8px; text-align: end; }
.nextpyter-notebook th { font-weight: bold; background: var(--color-background-dark, #f5f5f5); }
.nextpyter-notebook img { max-width: 100%; height: auto; }
.nextpyter-notebook .np-placeholder { padding: 6px 10px; border: 1px dashed var(--color-border-dark, #bbb); border-radius: 4px; color: var(--color-text-maxcontrast, #555); font-style: italic; }
.nextpyter-notebook .np-note { color: var(--color-text-maxcontrast, #6b6b6b); font-size: 12px; margin: 2px 0; }
.nextpyter-notebook .np-remote-image { font-style: italic; }
.nextpyter-notebook .np-raw { color: var(--color-text-maxcontrast, #555); }
.nextpyter-notebook .katex-display { overflow-x: auto; overflow-y: hidden; }
.nextpyter-notebook .hljs-keyword, .nextpyter-notebook .hljs-built_in, .nextpyter-notebook .hljs-selector-tag { color: #008000; font-weight: bold; }
.nextpyter-notebook .hljs-string, .nextpyter-notebook .hljs-regexp { color: #ba2121; }
.nextpyter-notebook .hljs-number, .nextpyter-notebook .hljs-literal { color: #080; }
.nextpyter-notebook .hljs-comment { color: #408080; font-style: italic; }
.nextpyter-notebook .hljs-title, .nextpyter-notebook .hljs-title.function_ { color: #00f; }
.nextpyter-notebook .hljs-meta { color: #aa22ff; }
.nextpyter-notebook .hljs-operator { color: #aa22ff; font-weight: bold; }
.nextpyter-notebook .hljs-attr, .nextpyter-notebook .hljs-variable, .nextpyter-notebook .hljs-params { color: #19177c; }
.nextpyter-notebook .ansi-black-fg { color: #3e424d; } .nextpyter-notebook .ansi-red-fg { color: #e75c58; }
.nextpyter-notebook .ansi-green-fg { color: #00a250; } .nextpyter-notebook .ansi-yellow-fg { color: #ddb62b; }
.nextpyter-notebook .ansi-blue-fg { color: #208ffb; } .nextpyter-notebook .ansi-magenta-fg { color: #d160c4; }
.nextpyter-notebook .ansi-cyan-fg { color: #60c6c8; } .nextpyter-notebook .ansi-white-fg { color: #c5c1b4; }
.nextpyter-notebook .ansi-bright-black-fg { color: #282c36; } .nextpyter-notebook .ansi-bright-red-fg { color: #b22b31; }
.nextpyter-notebook .ansi-bright-green-fg { color: #007427; } .nextpyter-notebook .ansi-bright-yellow-fg { color: #b27d12; }
.nextpyter-notebook .ansi-bright-blue-fg { color: #0065ca; } .nextpyter-notebook .ansi-bright-magenta-fg { color: #a03196; }
.nextpyter-notebook .ansi-bright-cyan-fg { color: #258f8f; } .nextpyter-notebook .ansi-bright-white-fg { color: #a1a6b2; }
.nextpyter-notebook .ansi-black-bg { background: #3e424d; } .nextpyter-notebook .ansi-red-bg { background: #e75c58; }
.nextpyter-notebook .ansi-green-bg { background: #00a250; } .nextpyter-notebook .ansi-yellow-bg { background: #ddb62b; }
.nextpyter-notebook .ansi-blue-bg { background: #208ffb; } .nextpyter-notebook .ansi-magenta-bg { background: #d160c4; }
.nextpyter-notebook .ansi-cyan-bg { background: #60c6c8; } .nextpyter-notebook .ansi-white-bg { background: #c5c1b4; }
`

let css = null
export function notebookCss() {
	css ??= katexStylesheet() + NOTEBOOK_CSS
	return css
}

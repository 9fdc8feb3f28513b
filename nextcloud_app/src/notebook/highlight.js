/**
 * Syntax highlighting with highlight.js's core and the languages notebooks are written in
 * (not all 190: the bundle stays small). Its output is the code, HTML-escaped, in
 * `<span class="hljs-…">`s: safe to insert as it is.
 */
import hljs from 'highlight.js/lib/core'
import bash from 'highlight.js/lib/languages/bash'
import c from 'highlight.js/lib/languages/c'
import cpp from 'highlight.js/lib/languages/cpp'
import css from 'highlight.js/lib/languages/css'
import go from 'highlight.js/lib/languages/go'
import java from 'highlight.js/lib/languages/java'
import javascript from 'highlight.js/lib/languages/javascript'
import json from 'highlight.js/lib/languages/json'
import julia from 'highlight.js/lib/languages/julia'
import latex from 'highlight.js/lib/languages/latex'
import markdown from 'highlight.js/lib/languages/markdown'
import plaintext from 'highlight.js/lib/languages/plaintext'
import python from 'highlight.js/lib/languages/python'
import r from 'highlight.js/lib/languages/r'
import rust from 'highlight.js/lib/languages/rust'
import scala from 'highlight.js/lib/languages/scala'
import shell from 'highlight.js/lib/languages/shell'
import sql from 'highlight.js/lib/languages/sql'
import typescript from 'highlight.js/lib/languages/typescript'
import xml from 'highlight.js/lib/languages/xml'
import yaml from 'highlight.js/lib/languages/yaml'

const languages = { bash, c, cpp, css, go, java, javascript, json, julia, latex, markdown, plaintext, python, r, rust, scala, shell, sql, typescript, xml, yaml }
for (const [name, language] of Object.entries(languages)) {
	hljs.registerLanguage(name, language)
}
hljs.registerAliases(['ipython', 'ipython3', 'python3', 'sage'], { languageName: 'python' })
hljs.registerAliases(['sh', 'zsh', 'console'], { languageName: 'bash' })
hljs.registerAliases(['html', 'svg'], { languageName: 'xml' })
hljs.registerAliases(['js'], { languageName: 'javascript' })
hljs.registerAliases(['ts'], { languageName: 'typescript' })
hljs.registerAliases(['tex'], { languageName: 'latex' })
hljs.registerAliases(['c++'], { languageName: 'cpp' })
hljs.registerAliases(['text', 'txt'], { languageName: 'plaintext' })
hljs.configure({ ignoreUnescapedHTML: true, throwUnescapedHTML: false })

/** Code longer than this is shown without colours: highlighting it would take too long. */
export const MAX_HIGHLIGHT = 200_000

export function knownLanguage(language) {
	return typeof language === 'string' && language !== '' && hljs.getLanguage(language) !== undefined
}

/** `code` as highlighted HTML, or `null` when the language is unknown (show it as text). */
export function highlight(code, language) {
	if (!knownLanguage(language) || code.length > MAX_HIGHLIGHT) {
		return null
	}
	try {
		return hljs.highlight(code, { language, ignoreIllegals: true }).value
	} catch {
		return null
	}
}

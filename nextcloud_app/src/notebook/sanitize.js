/**
 * Untrusted HTML (markdown cells after markdown-it, `text/html` outputs) → a DocumentFragment
 * that runs nothing and fetches nothing, with DOMPurify configured deny-by-default: an explicit
 * list of elements and attributes, everything else dropped.
 *
 * - Never kept: `script`, `style`, `iframe`, `object`, `embed`, `form` and its controls,
 *   `base`, `meta`, `link`, `svg`/`math` inline, media elements, `template`; every `on*`
 *   attribute, `style`, `id`, `name`, `srcset`, `data-*` (DOMPurify's own DOM-clobbering
 *   guard stays on as well).
 * - Classes: only those the preview's own styles know (highlighting, ANSI colours, math
 *   placeholders, pandas' `dataframe`), so a notebook cannot borrow Nextcloud's classes to
 *   cover the page.
 * - Links: `http:`, `https:`, `mailto:` and `#fragment` only, opened in a new tab with
 *   `rel="noopener noreferrer nofollow"`; `javascript:`, `data:`, relative and every other
 *   link lose their `href` (their text stays).
 * - Images: `data:image/…` and the cell's `attachment:` images; a remote (`http(s):`) image
 *   is replaced by a link to it unless the administrator allows remote images (then it loads
 *   lazily, without a referrer). Nothing else.
 * - Inline `<svg>` is turned into an `<img>` of that SVG (a data URL): SVG shown as an image
 *   never runs scripts or loads anything.
 */
import DOMPurify from 'dompurify'

export const ALLOWED_TAGS = [
	'a', 'abbr', 'b', 'bdi', 'bdo', 'blockquote', 'br', 'caption', 'center', 'cite', 'code', 'col',
	'colgroup', 'dd', 'del', 'details', 'dfn', 'div', 'dl', 'dt', 'em', 'figcaption', 'figure',
	'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'i', 'img', 'ins', 'kbd', 'li', 'mark', 'ol', 'p',
	'pre', 'q', 'rp', 'rt', 'ruby', 's', 'samp', 'small', 'span', 'strike', 'strong', 'sub',
	'summary', 'sup', 'table', 'tbody', 'td', 'tfoot', 'th', 'thead', 'time', 'tr', 'tt', 'u',
	'ul', 'var', 'wbr',
]
export const ALLOWED_ATTR = [
	'href', 'src', 'alt', 'title', 'class', 'colspan', 'rowspan', 'align', 'valign', 'width',
	'height', 'start', 'reversed', 'type', 'open', 'datetime', 'scope', 'border', 'dir', 'lang',
]
/** The classes a notebook's HTML may carry: the preview's own. */
export const ALLOWED_CLASS = /^(?:hljs(?:-[\w-]+)?|language-[\w+#.-]{1,40}|np-math-(?:inline|display)|dataframe|ansi-[\w-]{1,40}|np-remote-image|task-list-item(?:-checkbox)?)$/
const SAFE_LINK = /^(?:https?:\/\/|mailto:|#)/i
const REMOTE_IMAGE = /^https?:\/\//i
const DATA_IMAGE = /^data:image\/(?:png|jpe?g|gif|webp|bmp|svg\+xml)[;,]/i
const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/svg+xml']
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

let purifier = null
/** What the hooks need to know about the current call (sanitize() is synchronous). */
let context = { attachments: null, remoteImages: false, removedScripts: 0 }

/** A data URL of one image of a MIME bundle (base64 for bitmaps, text for SVG), or null. */
export function imageDataUrl(mime, data) {
	const value = Array.isArray(data) ? data.join('') : data
	if (typeof value !== 'string') {
		return null
	}
	if (mime === 'image/svg+xml') {
		return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(value)}`
	}
	const base64 = value.replace(/\s+/g, '')
	if (!IMAGE_TYPES.includes(mime) || !BASE64.test(base64)) {
		return null
	}
	return `data:${mime};base64,${base64}`
}

/** `attachment:name` of a markdown cell → a data URL of that attachment, or null. */
export function attachmentUrl(src, attachments) {
	if (!attachments) {
		return null
	}
	let name = src.slice('attachment:'.length)
	try {
		name = decodeURIComponent(name)
	} catch {
		// kept as written
	}
	if (!Object.hasOwn(attachments, name)) {
		return null
	}
	const bundle = attachments[name]
	if (bundle === null || typeof bundle !== 'object') {
		return null
	}
	for (const mime of IMAGE_TYPES) {
		if (Object.hasOwn(bundle, mime)) {
			const url = imageDataUrl(mime, bundle[mime])
			if (url) {
				return url
			}
		}
	}
	return null
}

function remoteImagePlaceholder(doc, img, url) {
	const link = doc.createElement('a')
	link.className = 'np-remote-image'
	link.setAttribute('href', url)
	link.setAttribute('target', '_blank')
	link.setAttribute('rel', 'noopener noreferrer nofollow')
	link.setAttribute('title', url)
	const alt = img.getAttribute('alt')
	link.textContent = alt ? `[Remote image not loaded: ${alt}]` : '[Remote image not loaded]'
	return link
}

function fixImage(img) {
	const src = (img.getAttribute('src') ?? '').trim()
	img.removeAttribute('src')
	if (DATA_IMAGE.test(src)) {
		img.setAttribute('src', src)
	} else if (src.toLowerCase().startsWith('attachment:')) {
		const url = attachmentUrl(src, context.attachments)
		if (url) {
			img.setAttribute('src', url)
		} else {
			img.setAttribute('alt', `[Missing attachment: ${src.slice(11)}]`)
		}
	} else if (REMOTE_IMAGE.test(src)) {
		if (context.remoteImages) {
			img.setAttribute('src', src)
			img.setAttribute('referrerpolicy', 'no-referrer')
			img.setAttribute('loading', 'lazy')
		} else {
			img.replaceWith(remoteImagePlaceholder(img.ownerDocument, img, src))
			return
		}
	}
	img.setAttribute('decoding', 'async')
}

function fixLink(link) {
	const href = (link.getAttribute('href') ?? '').trim()
	if (!SAFE_LINK.test(href)) {
		link.removeAttribute('href')
		if (href) {
			link.setAttribute('title', `Link not followed in the preview: ${href.slice(0, 200)}`)
		}
		return
	}
	if (!href.startsWith('#')) {
		link.setAttribute('target', '_blank')
		link.setAttribute('rel', 'noopener noreferrer nofollow')
	}
}

function fixClasses(element) {
	const classes = [...element.classList].filter((name) => ALLOWED_CLASS.test(name))
	if (classes.length) {
		element.setAttribute('class', classes.join(' '))
	} else {
		element.removeAttribute('class')
	}
}

function instance() {
	if (purifier) {
		return purifier
	}
	purifier = DOMPurify(window)
	purifier.addHook('uponSanitizeElement', (node, data) => {
		if (data.tagName === 'script') {
			context.removedScripts += 1
		}
	})
	purifier.addHook('afterSanitizeAttributes', (node) => {
		if (node.nodeType !== 1) {
			return
		}
		if (node.hasAttribute('class')) {
			fixClasses(node)
		}
		if (node.tagName === 'A') {
			fixLink(node)
		} else if (node.tagName === 'IMG') {
			fixImage(node)
		}
	})
	return purifier
}

export const CONFIG = {
	ALLOWED_TAGS,
	ALLOWED_ATTR,
	ALLOW_DATA_ATTR: false,
	ALLOW_ARIA_ATTR: false,
	ALLOW_UNKNOWN_PROTOCOLS: false,
	// URLs: absolute http(s), mailto, fragments, attachment: and data: images; relative ones
	// (which would reach Nextcloud's own routes) are dropped. The hooks narrow this per element.
	ALLOWED_URI_REGEXP: /^(?:(?:https?|mailto|attachment):|#|data:image\/)/i,
	ALLOW_SELF_CLOSE_IN_ATTR: false,
	SAFE_FOR_TEMPLATES: false,
	SANITIZE_DOM: true,
	SANITIZE_NAMED_PROPS: true,
	KEEP_CONTENT: true,
	WHOLE_DOCUMENT: false,
	RETURN_DOM_FRAGMENT: true,
	FORBID_TAGS: ['style', 'script', 'iframe', 'frame', 'frameset', 'object', 'embed', 'form', 'input', 'button', 'textarea', 'select', 'option', 'base', 'meta', 'link', 'svg', 'math', 'audio', 'video', 'source', 'track', 'picture', 'template', 'noscript', 'portal', 'applet', 'dialog'],
	FORBID_CONTENTS: ['script', 'style', 'template', 'noscript', 'textarea', 'title', 'xmp', 'noembed', 'noframes', 'iframe', 'object', 'select', 'option'],
	FORBID_ATTR: ['style', 'id', 'name', 'srcset', 'formaction', 'action', 'background', 'poster', 'xlink:href', 'ping'],
}

/**
 * Inline `<svg>` elements become `<img>` of the same SVG. Done on an inert document
 * (DOMParser's: no scripts, no loads) before DOMPurify, which drops `svg` otherwise.
 */
function svgToImages(html) {
	if (!/<svg[\s>]/i.test(html)) {
		return html
	}
	const doc = new DOMParser().parseFromString(`<body>${html}`, 'text/html')
	for (const svg of [...doc.body.querySelectorAll('svg')]) {
		if (svg.parentElement?.closest('svg')) {
			continue
		}
		if (!svg.hasAttribute('xmlns')) {
			svg.setAttribute('xmlns', 'http://www.w3.org/2000/svg')
		}
		const img = doc.createElement('img')
		img.setAttribute('src', `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg.outerHTML)}`)
		img.setAttribute('alt', 'SVG image')
		svg.replaceWith(img)
	}
	return doc.body.innerHTML
}

/** Deeper than this, HTML is not parsed at all (browsers flatten it past 512 anyway). */
export const MAX_DEPTH = 400
const VOID = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr', 'param', 'keygen'])

/**
 * How deeply `html` nests its elements, roughly (a scan of its tags, no parser): enough to
 * refuse markup made to make the sanitizer and the page's layout crawl.
 */
export function nestingDepth(html) {
	let depth = 0
	let deepest = 0
	const tag = /<(\/?)([a-zA-Z][\w:-]*)[^>]*?(\/?)>/g
	let match
	while ((match = tag.exec(html)) !== null) {
		if (match[1]) {
			depth = Math.max(0, depth - 1)
		} else if (!match[3] && !VOID.has(match[2].toLowerCase())) {
			depth += 1
			if (depth > deepest) {
				deepest = depth
				if (deepest > MAX_DEPTH) {
					break
				}
			}
		}
	}
	return deepest
}

/**
 * Sanitize `html` → `{fragment, removedScripts, tooDeep}`. Options: `attachments` (the markdown cell's,
 * for `attachment:` images), `remoteImages` (the admin's setting).
 */
export function sanitize(html, { attachments = null, remoteImages = false } = {}) {
	const purify = instance()
	const text = String(html ?? '')
	if (nestingDepth(text) > MAX_DEPTH) {
		const fragment = document.createDocumentFragment()
		fragment.append('[This content is nested too deeply to be shown safely.]')
		return { fragment, removedScripts: 0, tooDeep: true }
	}
	context = { attachments, remoteImages: remoteImages === true, removedScripts: 0 }
	try {
		const fragment = purify.sanitize(svgToImages(text), CONFIG)
		return { fragment, removedScripts: context.removedScripts, tooDeep: false }
	} finally {
		context = { attachments: null, remoteImages: false, removedScripts: 0 }
	}
}

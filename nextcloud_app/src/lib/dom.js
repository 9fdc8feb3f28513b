/**
 * A few lines instead of a framework: `h()` builds elements, text is always set as text.
 */

export function h(tag, props = {}, ...children) {
	const element = document.createElement(tag)
	for (const [key, value] of Object.entries(props ?? {})) {
		if (value === null || value === undefined || value === false) {
			continue
		}
		if (key.startsWith('on') && typeof value === 'function') {
			element.addEventListener(key.slice(2).toLowerCase(), value)
		} else if (key === 'class') {
			element.className = value
		} else if (key === 'dataset') {
			Object.assign(element.dataset, value)
		} else if (key in element && typeof value !== 'string') {
			element[key] = value
		} else {
			element.setAttribute(key, value === true ? '' : String(value))
		}
	}
	append(element, children)
	return element
}

export function append(parent, children) {
	for (const child of [children].flat(Infinity)) {
		if (child === null || child === undefined || child === false) {
			continue
		}
		parent.append(child instanceof Node ? child : String(child))
	}
	return parent
}

export function replaceChildren(parent, ...children) {
	parent.replaceChildren()
	return append(parent, children)
}

/** A stylesheet for the page, once; Nextcloud's theme variables with plain fallbacks. */
export function addStyle(id, css) {
	if (!document.getElementById(id)) {
		document.head.append(h('style', { id }, css))
	}
}

/** A moment as the person's locale writes it: epoch seconds, milliseconds or ISO text. */
export function formatMoment(value) {
	if (value === null || value === undefined || value === '') {
		return ''
	}
	let date
	if (typeof value === 'number') {
		date = new Date(value < 1e12 ? value * 1000 : value)
	} else {
		date = new Date(value)
	}
	return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString()
}

export const SHARED_CSS = `
.nextpyter-section { max-width: 900px; }
.nextpyter-section h3 { margin-top: 1.5em; font-weight: bold; }
.nextpyter-hint { color: var(--color-text-maxcontrast, #6b6b6b); margin: .25em 0 .75em; }
.nextpyter-field { display: grid; grid-template-columns: 14em minmax(0, 28em); align-items: center; gap: .25em 1em; margin: .5em 0; }
.nextpyter-field label { font-weight: 600; }
.nextpyter-field input, .nextpyter-field textarea { width: 100%; box-sizing: border-box; }
.nextpyter-field .nextpyter-hint { grid-column: 2; margin: 0; }
.nextpyter-field-error { grid-column: 2; margin: 0; color: var(--color-error-text, var(--color-error, #d91812)); }
.nextpyter-field-error:empty { display: none; }
.nextpyter-field [aria-invalid="true"] { border-color: var(--color-error, #d91812); }
.nextpyter-sidecar-env { white-space: pre-wrap; overflow-wrap: anywhere; padding: .5em .75em; border-radius: var(--border-radius, 4px); background: var(--color-background-dark, #f2f2f2); }
.nextpyter-sidecar-env:empty { display: none; }
.nextpyter-keys { margin: .25em 0; padding-inline-start: 1.25em; list-style: disc; }
.nextpyter-keys:empty { display: none; }
.nextpyter-table { border-collapse: collapse; margin: .5em 0; }
.nextpyter-table th, .nextpyter-table td { text-align: start; padding: .25em .75em .25em 0; border-bottom: 1px solid var(--color-border, #ddd); }
.nextpyter-table input { width: 8em; }
.nextpyter-table input.nextpyter-wide { width: 12em; }
.nextpyter-actions { display: flex; gap: .5em; align-items: center; flex-wrap: wrap; margin: .75em 0; }
.nextpyter-message { margin: .5em 0; padding: .5em .75em; border-radius: var(--border-radius, 4px); border-inline-start: 4px solid transparent; }
.nextpyter-message:empty { display: none; }
.nextpyter-message.error { border-color: var(--color-error, #d91812); background: var(--color-error-hover, #fbeaea); color: var(--color-main-text, #222); }
.nextpyter-message.success { border-color: var(--color-success, #2d7b41); background: var(--color-success-hover, #e8f3eb); color: var(--color-main-text, #222); }
.nextpyter-message.info { border-color: var(--color-primary-element, #0082c9); background: var(--color-primary-element-light, #e6f3fa); }
.nextpyter-dot { display: inline-block; width: .7em; height: .7em; border-radius: 50%; margin-inline-end: .4em; background: var(--color-text-maxcontrast, #888); vertical-align: middle; }
.nextpyter-dot.ok { background: var(--color-success, #2d7b41); }
.nextpyter-dot.bad { background: var(--color-error, #d91812); }
.nextpyter-confirm { padding: .5em .75em; border: 1px solid var(--color-warning, #c28900); border-radius: var(--border-radius, 4px); }
button.nextpyter-danger { color: var(--color-error, #d91812); }
`

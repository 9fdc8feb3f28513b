/**
 * Opening JupyterLab from Nextcloud: the launch token travels in a form POST to the sidecar
 * (never in a URL, which would land in logs and history), into a tab opened at click time.
 *
 * Browsers allow a new tab only while the click is being handled, so the tab is opened first,
 * synchronously, and only then is the token requested; the form is submitted into that tab
 * once the token arrives. On failure the empty tab is closed and the server's message shown.
 */
import { copyNotebook, createNotebook, errorMessage, requestLaunch } from './api.js'
import { t } from './l10n.js'

/** The error toast, loaded only when needed: `@nextcloud/dialogs` is large. */
async function showError(message) {
	try {
		const dialogs = await import('@nextcloud/dialogs')
		dialogs.showError(message)
	} catch (error) {
		console.error('[nextpyter]', message, error)
	}
}

let counter = 0

/**
 * A new tab, opened now (inside the user's click), showing a short waiting line.
 * `null` when the browser blocked it.
 */
export function openPendingTab() {
	counter += 1
	const name = `nextpyter-${Date.now().toString(36)}-${counter}`
	const tab = window.open('about:blank', name)
	if (!tab) {
		return null
	}
	try {
		tab.document.title = t('Opening Jupyter…')
		const line = tab.document.createElement('p')
		line.textContent = t('Asking Nextcloud for a launch token…')
		line.style.font = '16px system-ui, sans-serif'
		line.style.margin = '2em'
		tab.document.body.append(line)
	} catch {
		// a browser that already isolated the tab: the page stays blank until the POST
	}
	return { window: tab, name }
}

/**
 * POST `token` to `action` in the pending tab. The form is built inside the tab's own
 * (same-origin, blank) document, so no lookup by window name is needed, and the tab's link
 * back to Nextcloud (`window.opener`) is cut first: pages on the Jupyter origin run notebook
 * code and must not be able to navigate the Nextcloud tab.
 */
export function postToken(tab, action, token) {
	let doc = null
	try {
		doc = tab.window.document
		doc.body.textContent = ''
	} catch {
		doc = null
	}
	try {
		tab.window.opener = null
	} catch {
		// not ours to change any more: nothing to cut
	}
	const owner = doc ?? document
	// Nextcloud serves its pages with `Referrer-Policy: no-referrer`, which the blank tab
	// inherits; under it a browser sends `Origin: null` with a form POST, and the sidecar
	// accepts a launch form only from Nextcloud's origin (its guard against login CSRF).
	// strict-origin sends the origin (never on an https -> http downgrade) and no path.
	const policy = owner.createElement('meta')
	policy.name = 'referrer'
	policy.content = 'strict-origin'
	owner.head.append(policy)
	const form = owner.createElement('form')
	form.method = 'post'
	form.action = action
	form.target = doc ? '_self' : tab.name
	form.enctype = 'application/x-www-form-urlencoded'
	form.style.display = 'none'
	const field = owner.createElement('input')
	field.type = 'hidden'
	field.name = 'token'
	field.value = token
	form.append(field)
	owner.body.append(form)
	form.submit()
	if (!doc) {
		form.remove()
	}
	return form
}

function closeTab(tab) {
	try {
		tab.window.close()
	} catch {
		// already gone
	}
}

async function blocked(report = showError) {
	await report(t('Your browser blocked the new tab for Jupyter. Allow pop-ups for this site and try again.'))
	return null
}

/**
 * Launch JupyterLab on a file or folder (by Nextcloud file id) in a new tab.
 * Resolves `true` once the token form is posted, `null` when it failed (the message shown).
 * Options: `profile` (else the app's default profile), `report(message)` to show a failure
 * somewhere else than in a toast.
 */
export async function launch(fileId, tab = openPendingTab(), { profile, report = showError } = {}) {
	if (!tab) {
		return blocked(report)
	}
	try {
		const { action, token } = await requestLaunch(fileId, profile)
		postToken(tab, action, token)
		return true
	} catch (error) {
		closeTab(tab)
		await report(errorMessage(error, t('Jupyter could not be opened.')))
		return null
	}
}

/**
 * "New notebook": create an empty notebook in `dir`, then open it. `onCreated({fileId,
 * path, name})` tells the Files app about the new file (so it shows without a reload).
 */
export async function createAndLaunch(dir, name, onCreated = () => {}) {
	const tab = openPendingTab()
	if (!tab) {
		return blocked()
	}
	let created
	try {
		created = await createNotebook(dir, name)
	} catch (error) {
		closeTab(tab)
		await showError(errorMessage(error, t('The notebook could not be created.')))
		return null
	}
	try {
		onCreated({ ...created, name: created.path?.split('/').pop() || name })
	} catch (error) {
		console.warn('[nextpyter] the new notebook will show after a reload', error)
	}
	return launch(created.fileId, tab)
}

/**
 * "Open a copy in Jupyter": copy the notebook `fileId` (shared with the user, or read-only)
 * into the user's own files, then open the copy. The tab is opened first, inside the click.
 * Resolves `{fileId, path}` of the copy once its launch form is posted, `null` on failure (the
 * message given to `report`). `onCopied(copy)` hears of the copy as soon as it exists.
 */
export async function copyAndLaunch(fileId, { report = showError, onCopied = () => {} } = {}) {
	const tab = openPendingTab()
	if (!tab) {
		return blocked(report)
	}
	let copy
	try {
		copy = await copyNotebook(fileId)
	} catch (error) {
		closeTab(tab)
		await report(errorMessage(error, t('The notebook could not be copied into your files.')))
		return null
	}
	try {
		onCopied(copy)
	} catch (error) {
		console.warn('[nextpyter] the copy will show after a reload', error)
	}
	return (await launch(copy.fileId, tab, { report })) ? copy : null
}

/** Shown instead of launching when the app says this user cannot use it (`files-config`). */
export async function refuse(message) {
	await showError(message)
	return null
}

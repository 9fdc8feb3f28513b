/**
 * Entry of `js/nextpyter-personal.mjs`: the user's own Jupyter server on the personal settings
 * page (`#nextpyter-personal`): running or not, since when, with which profile; Open (or Start)
 * and Stop.
 *
 * The page renders at once from the initial state `personal` (`{enabled, message, filesRootId,
 * profiles, defaultProfile}`, lib/Settings/Personal.php); the server's state comes from
 * `GET /server` afterwards, so a slow sidecar never holds the page up. Open launches JupyterLab
 * on the user's files folder (`filesRootId`) through `POST /launch`; Stop is `DELETE /server`.
 */
import { loadState } from '@nextcloud/initial-state'
import { errorMessage, getServer, stopServer } from './lib/api.js'
import { addStyle, formatMoment, h, replaceChildren, SHARED_CSS } from './lib/dom.js'
import { t } from './lib/l10n.js'
import { launch, openPendingTab } from './lib/launcher.js'

/** How often, and how many times, the page looks again while a server is starting. */
const STARTING_POLL_MS = 3000
const STARTING_POLLS = 40

/** The initial state `personal`, with every field checked (a missing one: not enabled). */
export function personalState(raw) {
	const state = raw && typeof raw === 'object' ? raw : {}
	const profiles = Array.isArray(state.profiles)
		? state.profiles.filter((name) => typeof name === 'string' && name !== '')
		: []
	const enabled = state.enabled === true
	return {
		enabled,
		message: typeof state.message === 'string' && state.message.trim()
			? state.message
			: (enabled ? '' : t('Jupyter is not available to you. Ask your administrator.')),
		filesRootId: Number.isSafeInteger(state.filesRootId) && state.filesRootId > 0 ? state.filesRootId : null,
		profiles,
		defaultProfile: profiles.includes(state.defaultProfile) ? state.defaultProfile : (profiles[0] ?? ''),
	}
}

/**
 * One line about the server, from `GET /server`'s `{running, state, since, profile}`;
 * `null`: not known yet.
 */
export function describeServer(server) {
	if (!server) {
		return t('Checking your Jupyter server…')
	}
	const details = server.profile ? ` (${t('profile: {profile}', { profile: server.profile })})` : ''
	if (!server.running) {
		if (server.state && server.state !== 'stopped') {
			return t('Your Jupyter server is not running (state: {state}).', { state: server.state })
		}
		return t('Your Jupyter server is not running. Opening a notebook starts it.')
	}
	if (server.state === 'starting') {
		return `${t('Your Jupyter server is starting')}${details}.`
	}
	const since = server.since ? ` ${t('since {when}', { when: formatMoment(server.since) })}` : ''
	return `${t('Your Jupyter server is running')}${since}${details}.`
}

export function renderPersonal(root, rawState) {
	addStyle('nextpyter-style', SHARED_CSS)
	const state = personalState(rawState)
	/** `{running, state, since, profile}` once `GET /server` answered; null until then. */
	let server = null
	/** 'checking' (first answer pending), 'known', or 'unknown' (the route failed). */
	let status = 'checking'
	let chosenProfile = state.defaultProfile
	let polls = 0
	let pollTimer = null

	const line = h('p', { class: 'nextpyter-server', 'aria-live': 'polite' })
	const buttons = h('div', { class: 'nextpyter-actions' })
	const notice = h('div', { class: 'nextpyter-message' })
	const availability = state.enabled
		? null
		: h('div', { class: 'nextpyter-message info nextpyter-availability', role: 'status' }, state.message)

	function show(kind, text) {
		notice.className = `nextpyter-message ${kind}`
		notice.setAttribute('role', kind === 'error' ? 'alert' : 'status')
		notice.textContent = text
	}

	function clearNotice() {
		notice.className = 'nextpyter-message'
		notice.removeAttribute('role')
		notice.textContent = ''
	}

	/** The profile to launch with: a running server keeps its own; else the one picked here. */
	function launchProfile() {
		if (server?.running) {
			return state.profiles.includes(server.profile) ? server.profile : undefined
		}
		return chosenProfile || undefined
	}

	async function open() {
		const tab = openPendingTab() // now, inside the click: later the browser blocks it
		clearNotice()
		const opened = await launch(state.filesRootId, tab, {
			profile: launchProfile(),
			report: (message) => show('error', message),
		})
		if (opened) {
			show('success', t('JupyterLab opens in a new tab.'))
		}
		setTimeout(refresh, 2000)
	}

	async function stop(event) {
		event.target.disabled = true
		try {
			server = await stopServer()
			status = 'known'
			show('success', t('Your Jupyter server was stopped.'))
			render()
		} catch (error) {
			show('error', errorMessage(error, t('The server was not stopped.')))
			await refresh()
		}
	}

	function profilePicker() {
		if (!state.enabled || server?.running || state.profiles.length < 2) {
			return null
		}
		const select = h('select', {
			id: 'nextpyter-profile',
			onChange: (event) => {
				chosenProfile = event.target.value
			},
		}, state.profiles.map((name) => h('option', { value: name, selected: name === chosenProfile }, name)))
		return [h('label', { for: 'nextpyter-profile' }, t('Profile')), select]
	}

	function render() {
		replaceChildren(line,
			h('span', { class: `nextpyter-dot ${server?.running ? 'ok' : ''}`, 'aria-hidden': 'true' }),
			status === 'unknown' ? t('The state of your Jupyter server is unknown.') : describeServer(server),
		)
		const openButton = state.enabled
			? h('button', {
				type: 'button',
				class: 'primary',
				disabled: state.filesRootId === null,
				title: state.filesRootId === null ? t('Your files folder could not be found; ask your administrator.') : null,
				onClick: open,
			}, server && !server.running ? t('Start JupyterLab') : t('Open JupyterLab'))
			: null
		replaceChildren(buttons,
			profilePicker(),
			openButton,
			server?.running ? h('button', { type: 'button', onClick: stop }, t('Stop server')) : null,
		)
	}

	async function refresh() {
		clearTimeout(pollTimer)
		try {
			server = await getServer()
			status = 'known'
		} catch (error) {
			server = null
			status = 'unknown'
			if (state.enabled) {
				show('error', errorMessage(error, t('The state of your server is unknown.')))
			}
		}
		render()
		if (server?.state === 'starting' && polls < STARTING_POLLS) {
			polls += 1
			pollTimer = setTimeout(refresh, STARTING_POLL_MS)
		} else if (server?.state !== 'starting') {
			polls = 0
		}
	}

	render()
	replaceChildren(root, h('div', { class: 'section nextpyter-section' },
		h('h2', {}, t('Jupyter')),
		availability,
		line,
		buttons,
		notice,
	))
	const ready = refresh()
	return { refresh, ready }
}

const mount = document.getElementById('nextpyter-personal')
if (mount) {
	renderPersonal(mount, loadState('nextpyter', 'personal', {}))
}

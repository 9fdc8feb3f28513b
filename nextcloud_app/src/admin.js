/**
 * Entry of `js/nextpyter-admin.mjs`: the admin settings page, mounted into `#nextpyter-admin`.
 * State comes from the `admin-settings` initial state; changes go to the app's admin routes.
 */
import { loadState } from '@nextcloud/initial-state'
import {
	errorMessage,
	getAdminStatus,
	rotateSigningKey,
	saveAdminSettings,
	stopSession,
} from './lib/api.js'
import { addStyle, formatMoment, h, replaceChildren, SHARED_CSS } from './lib/dom.js'
import { t } from './lib/l10n.js'

const EMPTY_PROFILE = { name: '', cpu: 1, memory: '2g', gpu: 0, pids: 1024 }

/** Lines or commas to a list, without blanks or repeats. */
export function splitList(text) {
	return [...new Set(String(text).split(/[\n,]/).map((item) => item.trim()).filter(Boolean))]
}

function numberOr(value, fallback) {
	const number = Number(value)
	return value === '' || !Number.isFinite(number) ? fallback : number
}

/** Seconds (the settings' unit) shown in a larger unit, and back. */
function toUnit(seconds, unit) {
	const value = numberOr(seconds, 0) / unit
	return String(Math.round(value * 100) / 100)
}

function fromUnit(text, unit) {
	return Math.round(numberOr(text, 0) * unit)
}

/** A labelled input; `problems[key]` gets its slot for the 400's message about this field. */
function field(id, label, input, hint, problems, key) {
	input.id = id
	const problem = h('p', { class: 'nextpyter-field-error', id: `${id}-error`, role: 'alert' })
	if (problems && key) {
		problems[key] = { input, problem }
	}
	return h('div', { class: 'nextpyter-field' },
		h('label', { for: id }, label),
		input,
		hint ? h('p', { class: 'nextpyter-hint' }, hint) : null,
		problem,
	)
}

/** What the status of `GET /admin/status` means, in words. */
function healthLabel(status) {
	switch (status) {
	case 'ok':
		return t('Sidecar: healthy')
	case 'unavailable':
		return t('Sidecar: running, not ready')
	case 'unreachable':
		return t('Sidecar: unreachable')
	case 'not-configured':
		return t('Sidecar: not set up')
	default:
		return t('Sidecar: {status}', { status: status ?? t('unknown') })
	}
}

function message(element, kind, text) {
	element.className = `nextpyter-message ${kind}`
	element.setAttribute('role', kind === 'error' ? 'alert' : 'status')
	element.textContent = text
}

export function renderAdmin(root, state) {
	addStyle('nextpyter-style', SHARED_CSS)
	const settings = {
		sidecarUrl: '',
		gatewayUrl: '',
		issuer: '',
		audience: 'nextpyter-sidecar',
		defaultImage: '',
		allowedImages: [],
		profiles: [],
		defaultProfile: '',
		idleTimeout: 0,
		maxLifetime: 0,
		allowedGroups: [],
		keyId: '',
		keyCreated: null,
		keys: [],
		issuerDefault: '',
		jwksUrl: '',
		...state,
	}
	/** Field key (as `PUT /admin/settings` names it) → its input and its message slot. */
	const problems = {}
	let profiles = (settings.profiles ?? []).map((profile) => ({ ...EMPTY_PROFILE, ...profile }))
	if (profiles.length === 0) {
		profiles = [{ ...EMPTY_PROFILE, name: 'default' }]
	}

	// Status: the sidecar's health and the running sessions.
	const healthLine = h('p', { class: 'nextpyter-health', 'aria-live': 'polite' }, t('Checking the sidecar…'))
	const healthMessage = h('p', { class: 'nextpyter-hint nextpyter-health-message' })
	const sessionsBody = h('div', { class: 'nextpyter-sessions' })
	const sessionsMessage = h('div', { class: 'nextpyter-message' })

	// The form.
	const sidecarUrl = h('input', { type: 'url', value: settings.sidecarUrl, placeholder: 'http://nextpyter-sidecar:8000' })
	const gatewayUrl = h('input', { type: 'url', value: settings.gatewayUrl, placeholder: 'https://jupyter.example.org' })
	const issuer = h('input', { type: 'url', value: settings.issuer, placeholder: settings.issuerDefault || t('Nextcloud\'s base URL') })
	const audience = h('input', { type: 'text', value: settings.audience, placeholder: 'nextpyter-sidecar' })
	const imageChoices = h('datalist', { id: 'nextpyter-image-choices' })
	const defaultImage = h('input', { type: 'text', value: settings.defaultImage, placeholder: 'nextpyter/notebook:latest', list: 'nextpyter-image-choices' })
	const allowedImages = h('textarea', { rows: 3, onInput: () => listImages() })
	allowedImages.value = (settings.allowedImages ?? []).join('\n')
	function listImages() {
		replaceChildren(imageChoices, splitList(allowedImages.value).map((image) => h('option', { value: image })))
	}
	listImages()
	const idleTimeout = h('input', { type: 'number', min: '0', step: 'any', value: toUnit(settings.idleTimeout, 60) })
	const maxLifetime = h('input', { type: 'number', min: '0', step: 'any', value: toUnit(settings.maxLifetime, 3600) })
	const allowedGroups = h('input', { type: 'text', value: (settings.allowedGroups ?? []).join(', '), placeholder: t('everyone') })
	// Sent only when the app's state has it (a page of an older app version does not).
	const knowsRemoteImages = Object.hasOwn(state ?? {}, 'remoteImages')
	const remoteImages = h('input', { type: 'checkbox', checked: settings.remoteImages === true })
	const profilesBody = h('tbody')
	const profileChoices = h('datalist', { id: 'nextpyter-profile-choices' })
	const defaultProfile = h('input', { type: 'text', value: settings.defaultProfile, placeholder: t('the first profile'), list: 'nextpyter-profile-choices' })
	const profilesProblem = h('p', { class: 'nextpyter-field-error', id: 'nextpyter-profiles-error', role: 'alert' })
	const formMessage = h('div', { class: 'nextpyter-message', id: 'nextpyter-settings-message' })
	const saveButton = h('button', { type: 'submit', class: 'primary' }, t('Save'))

	function listProfiles() {
		replaceChildren(profileChoices, profiles.map((profile) => String(profile.name).trim()).filter(Boolean)
			.map((name) => h('option', { value: name })))
	}

	function renderProfiles() {
		listProfiles()
		replaceChildren(profilesBody, profiles.map((profile, index) => {
			const bind = (key, parse) => (event) => {
				profiles[index][key] = parse(event.target.value)
				if (key === 'name') {
					listProfiles()
				}
			}
			const label = (what) => t('Profile {n}: {what}', { n: index + 1, what })
			return h('tr', { dataset: { profile: String(index) } },
				h('td', {}, h('input', { type: 'text', class: 'nextpyter-wide', value: profile.name, 'aria-label': label(t('name')), required: true, pattern: '[a-z0-9_-]{1,32}', onInput: bind('name', String) })),
				h('td', {}, h('input', { type: 'number', min: '0.1', step: 'any', value: String(profile.cpu), 'aria-label': label(t('CPU cores')), onInput: bind('cpu', (v) => numberOr(v, v)) })),
				h('td', {}, h('input', { type: 'text', value: profile.memory, 'aria-label': label(t('memory')), pattern: '[1-9][0-9]{0,5}[kmgtKMGT]', onInput: bind('memory', String) })),
				h('td', {}, h('input', { type: 'number', min: '0', max: '16', step: '1', value: String(profile.gpu), 'aria-label': label(t('GPUs')), onInput: bind('gpu', (v) => numberOr(v, v)) })),
				h('td', {}, h('input', { type: 'number', min: '64', max: '1000000', step: '1', value: String(profile.pids ?? 1024), 'aria-label': label(t('processes')), onInput: bind('pids', (v) => numberOr(v, v)) })),
				h('td', {}, h('button', {
					type: 'button',
					disabled: profiles.length === 1,
					title: profiles.length === 1 ? t('At least one profile is needed') : '',
					onClick: () => {
						profiles.splice(index, 1)
						renderProfiles()
					},
				}, t('Remove'))),
			)
		}))
	}

	function collect() {
		return {
			sidecarUrl: sidecarUrl.value.trim(),
			gatewayUrl: gatewayUrl.value.trim(),
			issuer: issuer.value.trim(),
			audience: audience.value.trim(),
			defaultImage: defaultImage.value.trim(),
			allowedImages: splitList(allowedImages.value),
			profiles: profiles.map((profile) => ({
				name: String(profile.name).trim(),
				cpu: profile.cpu,
				memory: String(profile.memory).trim().toLowerCase(),
				gpu: profile.gpu,
				pids: profile.pids ?? 1024,
			})),
			defaultProfile: defaultProfile.value.trim(),
			idleTimeout: fromUnit(idleTimeout.value, 60),
			maxLifetime: fromUnit(maxLifetime.value, 3600),
			allowedGroups: splitList(allowedGroups.value),
			...(knowsRemoteImages ? { remoteImages: remoteImages.checked } : {}),
		}
	}

	/** The 400's `errors: {field: message}` next to their fields (none: all cleared). */
	function showProblems(errors = {}) {
		for (const [key, { input, problem }] of Object.entries(problems)) {
			const text = typeof errors[key] === 'string' ? errors[key] : ''
			problem.textContent = text
			if (text) {
				input.setAttribute('aria-invalid', 'true')
				input.setAttribute('aria-describedby', problem.id)
			} else {
				input.removeAttribute('aria-invalid')
				input.removeAttribute('aria-describedby')
			}
		}
		profilesProblem.textContent = typeof errors.profiles === 'string' ? errors.profiles : ''
	}

	/** The form shows the settings as saved (the server trims, lower-cases, fills defaults). */
	function fill(saved) {
		if (!saved || typeof saved !== 'object') {
			return
		}
		Object.assign(settings, saved)
		sidecarUrl.value = settings.sidecarUrl ?? ''
		gatewayUrl.value = settings.gatewayUrl ?? ''
		issuer.value = settings.issuer ?? ''
		audience.value = settings.audience ?? ''
		defaultImage.value = settings.defaultImage ?? ''
		allowedImages.value = (settings.allowedImages ?? []).join('\n')
		listImages()
		if (Array.isArray(saved.profiles) && saved.profiles.length) {
			profiles = saved.profiles.map((profile) => ({ ...EMPTY_PROFILE, ...profile }))
			renderProfiles()
		}
		defaultProfile.value = settings.defaultProfile ?? ''
		idleTimeout.value = toUnit(settings.idleTimeout, 60)
		maxLifetime.value = toUnit(settings.maxLifetime, 3600)
		allowedGroups.value = (settings.allowedGroups ?? []).join(', ')
		remoteImages.checked = settings.remoteImages === true
		renderSidecarSettings()
	}

	async function save(event) {
		event.preventDefault()
		saveButton.disabled = true
		message(formMessage, 'info', t('Saving…'))
		try {
			const answer = await saveAdminSettings(collect())
			showProblems()
			fill(answer?.settings)
			const sidecar = answer?.sidecar
			if (sidecar && typeof sidecar.message === 'string' && sidecar.message) {
				message(formMessage, sidecar.applied ? 'success' : 'info', sidecar.message)
			} else {
				message(formMessage, 'success', t('Saved.'))
			}
			refreshStatus()
		} catch (error) {
			const errors = error?.response?.data?.errors
			showProblems(errors && typeof errors === 'object' ? errors : {})
			message(formMessage, 'error', errorMessage(error, t('The settings were not saved.')))
		} finally {
			saveButton.disabled = false
		}
	}

	renderProfiles()
	const form = h('form', { class: 'nextpyter-form', novalidate: true, onSubmit: save },
		h('h3', {}, t('Connection')),
		field('nextpyter-sidecar-url', t('Sidecar internal URL'), sidecarUrl, t('Where Nextcloud reaches the sidecar (admin calls); not shown to users.'), problems, 'sidecarUrl'),
		field('nextpyter-gateway-url', t('Public gateway URL'), gatewayUrl, t('Where browsers reach JupyterLab. Use another host name or port than Nextcloud\'s.'), problems, 'gatewayUrl'),
		field('nextpyter-issuer', t('Token issuer'), issuer, t('Empty: Nextcloud\'s base URL. Must equal the sidecar\'s NEXTPYTER_TOKEN_ISSUER.'), problems, 'issuer'),
		field('nextpyter-audience', t('Token audience'), audience, t('The sidecar\'s NEXTPYTER_TOKEN_AUDIENCE (nextpyter-sidecar unless it says otherwise).'), problems, 'audience'),
		h('h3', {}, t('Images')),
		field('nextpyter-default-image', t('Default image'), defaultImage, t('One of the allowed images; used when a launch names none.'), problems, 'defaultImage'),
		imageChoices,
		field('nextpyter-allowed-images', t('Allowed images'), allowedImages, t('One image reference per line, for example repo/name:tag.'), problems, 'allowedImages'),
		h('h3', {}, t('Resource profiles')),
		h('table', { class: 'nextpyter-table nextpyter-profiles' },
			h('thead', {}, h('tr', {},
				h('th', {}, t('Name')), h('th', {}, t('CPU cores')), h('th', {}, t('Memory')), h('th', {}, t('GPUs')), h('th', { title: t('Processes and threads at once, kernels included') }, t('Processes')), h('th', {}),
			)),
			profilesBody,
		),
		h('button', {
			type: 'button',
			onClick: () => {
				profiles.push({ ...EMPTY_PROFILE })
				renderProfiles()
				profilesBody.querySelector('tr:last-child input')?.focus()
			},
		}, t('Add profile')),
		profilesProblem,
		profileChoices,
		field('nextpyter-default-profile', t('Default profile'), defaultProfile, t('One of the profiles; used when a launch names none. Empty: the first.'), problems, 'defaultProfile'),
		h('h3', {}, t('Limits and access')),
		field('nextpyter-idle-timeout', t('Idle timeout (minutes)'), idleTimeout, t('Servers idle this long are stopped; 0 keeps them.'), problems, 'idleTimeout'),
		field('nextpyter-max-lifetime', t('Maximum lifetime (hours)'), maxLifetime, t('Servers are stopped after this long whatever they do; 0 for no limit.'), problems, 'maxLifetime'),
		field('nextpyter-allowed-groups', t('Allowed groups'), allowedGroups, t('Group ids, separated by commas; empty lets every user open notebooks.'), problems, 'allowedGroups'),
		...(knowsRemoteImages
			? [
				h('h3', {}, t('Notebook previews')),
				field('nextpyter-remote-images', t('Load remote images'), remoteImages, t('Off: images a notebook links from other sites are shown as links (loading them would tell those sites who reads the notebook, and when). Nextcloud\'s Content-Security-Policy may block them still.'), problems, 'remoteImages'),
			]
			: []),
		h('div', { class: 'nextpyter-actions' }, saveButton),
		formMessage,
	)

	// Signing key.
	const keyLine = h('p', { class: 'nextpyter-key' })
	const keyMessage = h('div', { class: 'nextpyter-message' })
	const keyArea = h('div', { class: 'nextpyter-actions' })
	const retiredKeys = h('ul', { class: 'nextpyter-keys' })
	function renderKey() {
		replaceChildren(keyLine, settings.keyId
			? t('Key {id}, created {when}.', { id: settings.keyId, when: formatMoment(settings.keyCreated) || t('at an unknown time') })
			: t('No signing key yet: one is made when the app is enabled.'))
		const retired = (Array.isArray(settings.keys) ? settings.keys : []).filter((key) => key && !key.active)
		replaceChildren(retiredKeys, retired.map((key) => h('li', { dataset: { kid: String(key.kid) } },
			t('Key {id}: replaced {when}, still published until {drops} for the tokens it signed.', {
				id: key.kid,
				when: formatMoment(key.retiredAt) || t('at an unknown time'),
				drops: formatMoment(key.dropsAt) || t('an unknown time'),
			}),
		)))
		replaceChildren(keyArea, h('button', { type: 'button', onClick: askRotate }, t('Rotate signing key…')))
	}

	// What the sidecar's environment must say: the JWKS URL and the issuer.
	const sidecarSettings = h('pre', { class: 'nextpyter-sidecar-env' })
	function renderSidecarSettings() {
		const lines = []
		if (settings.jwksUrl) {
			lines.push(`NEXTPYTER_JWKS=${settings.jwksUrl}`)
		}
		const tokenIssuer = settings.issuer || settings.issuerDefault
		if (tokenIssuer) {
			lines.push(`NEXTPYTER_TOKEN_ISSUER=${tokenIssuer}`)
		}
		if (settings.audience && settings.audience !== 'nextpyter-sidecar') {
			lines.push(`NEXTPYTER_TOKEN_AUDIENCE=${settings.audience}`)
		}
		replaceChildren(sidecarSettings, lines.join('\n'))
	}
	renderSidecarSettings()
	function askRotate() {
		replaceChildren(keyArea, h('div', { class: 'nextpyter-confirm', role: 'alertdialog', 'aria-label': t('Rotate signing key') },
			h('p', {}, t('A new key signs all tokens from now on. The old key stays published until the tokens it signed have expired, so nobody is cut off.')),
			h('div', { class: 'nextpyter-actions' },
				h('button', { type: 'button', class: 'nextpyter-danger', onClick: rotate }, t('Rotate now')),
				h('button', { type: 'button', onClick: renderKey }, t('Cancel')),
			),
		))
	}
	async function rotate() {
		message(keyMessage, 'info', t('Rotating…'))
		try {
			const answer = await rotateSigningKey()
			if (answer && typeof answer === 'object') {
				settings.keyId = answer.keyId ?? settings.keyId
				settings.keyCreated = answer.keyCreated ?? settings.keyCreated
				settings.keys = Array.isArray(answer.keys) ? answer.keys : settings.keys
				settings.jwksUrl = answer.jwksUrl || settings.jwksUrl
				renderSidecarSettings()
			}
			message(keyMessage, 'success', t('The signing key was rotated.'))
		} catch (error) {
			message(keyMessage, 'error', errorMessage(error, t('The key was not rotated.')))
		}
		renderKey()
	}
	renderKey()

	function renderSessions(sessions) {
		if (!sessions.length) {
			replaceChildren(sessionsBody, h('p', { class: 'nextpyter-hint' }, t('No servers are running.')))
			return
		}
		replaceChildren(sessionsBody, h('table', { class: 'nextpyter-table' },
			h('thead', {}, h('tr', {},
				h('th', {}, t('User')), h('th', {}, t('Profile')), h('th', {}, t('State')), h('th', {}, t('Started')), h('th', {}),
			)),
			h('tbody', {}, sessions.map((session) => h('tr', { dataset: { user: session.user_id } },
				h('td', {}, session.user_id),
				h('td', {}, session.profile ?? ''),
				h('td', {}, session.state ?? '', session.detail
					? h('span', { class: 'nextpyter-hint nextpyter-detail' }, ` (${session.detail})`)
					: null),
				h('td', {}, formatMoment(session.created)),
				h('td', {}, h('button', {
					type: 'button',
					'aria-label': t('Stop the server of {user}', { user: session.user_id }),
					onClick: async (event) => {
						event.target.disabled = true
						try {
							await stopSession(session.user_id)
							message(sessionsMessage, 'success', t('Stopped the server of {user}.', { user: session.user_id }))
						} catch (error) {
							message(sessionsMessage, 'error', errorMessage(error, t('The server was not stopped.')))
						}
						refreshStatus()
					},
				}, t('Stop'))),
			))),
		))
	}

	async function refreshStatus() {
		try {
			const status = await getAdminStatus()
			const health = status?.health ?? {}
			const ok = health.status === 'ok'
			const checks = Object.entries(health.checks ?? {}).map(([name, value]) => `${name}: ${value}`).join(', ')
			replaceChildren(healthLine,
				h('span', { class: `nextpyter-dot ${ok ? 'ok' : 'bad'}`, 'aria-hidden': 'true' }),
				healthLabel(health.status),
				checks ? ` (${checks})` : '',
			)
			// what happened and what to do, e.g. a failed listing of the servers
			healthMessage.textContent = typeof health.message === 'string' ? health.message : ''
			renderSessions(Array.isArray(status?.sessions) ? status.sessions : [])
		} catch (error) {
			replaceChildren(healthLine,
				h('span', { class: 'nextpyter-dot bad', 'aria-hidden': 'true' }),
				errorMessage(error, t('Sidecar: no answer.')),
			)
			healthMessage.textContent = ''
			renderSessions([])
		}
	}

	replaceChildren(root, h('div', { class: 'section nextpyter-section' },
		h('h2', {}, t('NextPyter')),
		h('p', { class: 'nextpyter-hint' }, t('JupyterLab for your users, next to their files.')),
		healthLine,
		healthMessage,
		form,
		h('h3', {}, t('Running servers')),
		h('div', { class: 'nextpyter-actions' }, h('button', { type: 'button', onClick: refreshStatus }, t('Refresh'))),
		sessionsBody,
		sessionsMessage,
		h('h3', {}, t('Launch token signing key')),
		keyLine,
		retiredKeys,
		keyArea,
		keyMessage,
		h('h3', {}, t('Sidecar settings')),
		h('p', { class: 'nextpyter-hint' }, t('The sidecar verifies the tokens with these public keys; set in its environment:')),
		sidecarSettings,
		h('h3', {}, t('Pre-pull images')),
		h('p', { class: 'nextpyter-hint nextpyter-prepull' }, t('Pulling images ahead of the first launch, with live progress, arrives with the image-pull queue. The sidecar has no pull API yet; until then an image is pulled on its first launch.')),
	))
	refreshStatus()
	return { collect, refreshStatus }
}

const mount = document.getElementById('nextpyter-admin')
if (mount) {
	renderAdmin(mount, loadState('nextpyter', 'admin-settings', {}))
}

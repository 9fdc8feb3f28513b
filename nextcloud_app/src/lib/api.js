/**
 * The app's own routes, as the PHP controllers declare them. Every call goes through
 * `@nextcloud/axios`, which sends the CSRF `requesttoken` header Nextcloud requires.
 */
import axios from '@nextcloud/axios'
import { generateUrl } from '@nextcloud/router'
import { t } from './l10n.js'

export const url = (path) => generateUrl(`/apps/nextpyter${path}`)

/**
 * `{action, token}`: where to POST the launch token, and the token. `profile` is optional; without
 * it the app uses the default profile.
 */
export async function requestLaunch(fileId, profile) {
	const body = profile ? { fileId, profile } : { fileId }
	const { data } = await axios.post(url('/launch'), body)
	if (typeof data?.action !== 'string' || typeof data?.token !== 'string') {
		throw new Error('The server answered the launch without a token.')
	}
	return data
}

/** `{fileId, path}` of a new, empty notebook in `dir` (a path relative to the user's files). */
export async function createNotebook(dir, name) {
	const body = name ? { dir, name } : { dir }
	const { data } = await axios.post(url('/notebook'), body)
	if (!Number.isInteger(data?.fileId)) {
		throw new Error('The server did not say which notebook it created.')
	}
	return data
}

/**
 * `{fileId, path}` of a copy of the notebook `fileId` (one the user can read, such as a file
 * shared with them) in the user's own files, for "Open a copy in Jupyter".
 */
export async function copyNotebook(fileId) {
	const { data } = await axios.post(url('/copy'), { fileId })
	if (!Number.isInteger(data?.fileId)) {
		throw new Error('The server did not say which copy it made.')
	}
	return data
}

/**
 * `{changed}` of `POST /rescan` `{dir}`: the app picked up what JupyterLab wrote in that folder
 * of the user's files (not its subfolders); `true` when the listing is now different.
 */
export async function rescanFolder(dir) {
	const { data } = await axios.post(url('/rescan'), { dir })
	return data?.changed === true
}

/**
 * The user's server as `GET /server` and `DELETE /server` answer it:
 * `{running, state, since, profile}`, `state` "stopped" and nulls when none runs.
 */
export function serverState(data) {
	const server = data && typeof data === 'object' ? data : {}
	return {
		running: server.running === true,
		state: typeof server.state === 'string' && server.state ? server.state : 'stopped',
		since: server.since ?? null,
		profile: typeof server.profile === 'string' && server.profile ? server.profile : null,
	}
}

export async function getServer() {
	return serverState((await axios.get(url('/server'))).data)
}

/** Stops the user's server; resolves to the stopped state the route answers. */
export async function stopServer() {
	return serverState((await axios.delete(url('/server'))).data)
}

export async function getAdminStatus() {
	return (await axios.get(url('/admin/status'))).data
}

export async function saveAdminSettings(settings) {
	return (await axios.put(url('/admin/settings'), settings)).data
}

export async function rotateSigningKey() {
	return (await axios.post(url('/admin/rotate-key'))).data
}

export async function stopSession(userId) {
	await axios.delete(url(`/admin/sessions/${encodeURIComponent(userId)}`))
}

/**
 * The message a person can act on: the server's `message` (or RFC 9457 `detail`), else a
 * plain description of what failed, never a stack trace.
 */
export function errorMessage(error, fallback) {
	const data = error?.response?.data
	if (data && typeof data === 'object') {
		for (const key of ['message', 'detail', 'title']) {
			if (typeof data[key] === 'string' && data[key].trim()) {
				return data[key]
			}
		}
	}
	if (error?.response) {
		return `${fallback} (HTTP ${error.response.status})`
	}
	if (error?.request) {
		return `${fallback} ${t('Nextcloud did not answer; check your connection.')}`
	}
	return error?.message ? `${fallback} ${error.message}` : fallback
}

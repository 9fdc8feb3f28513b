/**
 * Which `@nextcloud/files` registry this Nextcloud reads. Nextcloud 32 ships the 3.x library
 * and reads only `window._nc_fileactions`; Nextcloud 33 moved to 4.x, whose registry is scoped
 * to the major version and which no longer reads the 3.x globals. The server's version is on
 * every page (`OC.config.version`, from `oc_config`).
 */

export function serverMajor(win = window) {
	const version = win.OC?.config?.version ?? win.oc_config?.version
	const major = Number.parseInt(String(version ?? '').split('.')[0], 10)
	return Number.isFinite(major) ? major : null
}

/**
 * `['v3']` up to Nextcloud 32, `['v4']` from 33. Unknown version: both, which is harmless
 * because each Files app reads only its own registry.
 */
export function filesApis(major) {
	if (major === null) {
		return ['v3', 'v4']
	}
	return major >= 33 ? ['v4'] : ['v3']
}

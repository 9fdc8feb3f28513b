/**
 * Files written in JupyterLab show in Files at once: when the user opens a folder of their own
 * files in the Files app, the app is asked to rescan that one folder (`POST /rescan` `{dir}` →
 * `{changed}`), and the listing is reloaded when something changed.
 *
 * The hook, in Nextcloud 32, 33 and 34 alike (apps/files/src/views/FilesList.vue): the Files app
 * emits `files:list:updated` with `{view, folder, contents}` on the global event bus
 * (`@nextcloud/event-bus`) whenever the listed folder's contents change, and so on the first
 * load and on every change of folder. `files:navigation:changed` fires only when the view (All
 * files, Favorites, …) changes, not the folder, and `@nextcloud/files`' Navigation has no
 * folder event either.
 *
 * The reload, in the same three versions: FilesList subscribes to `files:node:updated` and
 * fetches its listing again when the node is the folder it shows (`onUpdatedNode`), so emitting
 * that event with the folder from `files:list:updated` is the supported way to reload. (Files'
 * own store handles the event too; the versions of it that read `nodes[0].source` unguarded log
 * an error for a folder they do not hold, such as the root, but the listing reloads all the
 * same, since FilesList's handler is separate.) The reload emits
 * `files:list:updated` again; the per-folder interval keeps that from asking twice.
 *
 * Cheap by design: at most one request per folder per 30 seconds, fire-and-forget (the event
 * handler returns at once and never blocks navigation), failures (the route's rate limit, a
 * folder just deleted, no connection) are only logged at debug level.
 */
import { getCurrentUser } from '@nextcloud/auth'
import { emit, subscribe } from '@nextcloud/event-bus'
import { rescanFolder } from '../lib/api.js'
import { fileIdOf } from '../lib/nodes.js'

export const RESCAN_INTERVAL_MS = 30_000
export const LIST_UPDATED = 'files:list:updated'
/** Folders remembered for the interval; the oldest are forgotten beyond this. */
const REMEMBERED = 200
/** The DAV root of the user's own files (`/files/<uid>`), as Files' nodes carry it in `root`. */
const OWN_FILES_ROOT = /^\/files\/[^/]+$/

/**
 * The folder to rescan for a `files:list:updated` event, as a path in the user's files
 * ("/", "/Projects"), or `null`: only real folders of the user's own files qualify. The
 * virtual roots of Favorites, Recent, Shares and Search (and the placeholder Files shows before
 * its first listing) have the id 0; the trash bin has another root.
 */
export function folderToRescan(event) {
	const folder = event?.folder
	if (!folder || event?.view?.id === 'trashbin' || folder.type === 'file') {
		return null
	}
	if (typeof folder.root !== 'string' || !OWN_FILES_ROOT.test(folder.root.replace(/\/$/, ''))) {
		return null
	}
	if (!(fileIdOf(folder) > 0)) {
		return null
	}
	let path
	try {
		path = folder.path
	} catch {
		return null
	}
	if (typeof path !== 'string' || !path.startsWith('/')) {
		return null
	}
	return path.length > 1 ? path.replace(/\/+$/, '') : '/'
}

/**
 * The `files:list:updated` handler. Returns the pending rescan (resolving to whether the
 * listing changed) or `null` when nothing was asked; the event bus ignores either.
 */
export function createRescanner({
	rescan = rescanFolder,
	reload = (folder) => emit('files:node:updated', folder),
	now = () => Date.now(),
	interval = RESCAN_INTERVAL_MS,
} = {}) {
	const asked = new Map() // dir → when it was last asked

	return function onListUpdated(event) {
		let dir
		try {
			dir = folderToRescan(event)
		} catch {
			return null
		}
		if (dir === null) {
			return null
		}
		const time = now()
		const last = asked.get(dir)
		if (last !== undefined && time - last < interval) {
			return null
		}
		asked.delete(dir) // re-inserted last: the Map keeps the most recent at its end
		asked.set(dir, time)
		if (asked.size > REMEMBERED) {
			asked.delete(asked.keys().next().value)
		}
		const folder = event.folder
		return Promise.resolve()
			.then(() => rescan(dir))
			.then((changed) => {
				if (changed) {
					reload(folder)
				}
				return changed
			})
			.catch((error) => {
				console.debug('[nextpyter] the rescan of a folder failed; the background job catches up', dir, error)
				return false
			})
	}
}

/**
 * Start rescanning the folders the user opens: only for a logged-in user who may use Jupyter
 * (`files-config` enabled). Returns the handler, or `null` when not started.
 */
export function watchFolders(config, { on = subscribe, user = getCurrentUser, ...options } = {}) {
	if (!config?.enabled || !user()) {
		return null
	}
	const handler = createRescanner(options)
	on(LIST_UPDATED, handler)
	return handler
}

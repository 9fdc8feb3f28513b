/**
 * Entry of `js/nextpyter-files.mjs`, loaded on the Files page (all of Nextcloud 32–34):
 * registers "Open in Jupyter", "Open folder in Jupyter" and "+ New → New notebook" with the
 * `@nextcloud/files` generation this server runs, and, for a user who may use Jupyter, has the
 * folder they open rescanned so files written in JupyterLab show at once.
 */
import { filesConfig, shouldRegister } from './files/actions.js'
import { watchFolders } from './files/rescan.js'
import { register as registerV3 } from './files/v3.js'
import { register as registerV4 } from './files/v4.js'
import { filesApis, serverMajor } from './files/version.js'

const registrars = { v3: registerV3, v4: registerV4 }
const config = filesConfig()
if (shouldRegister(config)) {
	for (const api of filesApis(serverMajor())) {
		try {
			registrars[api](config)
		} catch (error) {
			console.error(`[nextpyter] could not register the Files actions (${api})`, error)
		}
	}
}
try {
	watchFolders(config)
} catch (error) {
	console.error('[nextpyter] could not watch the folders opened in Files', error)
}

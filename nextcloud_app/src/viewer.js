/**
 * Entry of `js/nextpyter-viewer.mjs`: the notebook preview in Nextcloud's Viewer, on the Files
 * page, on public share pages and wherever an app loads the Viewer. Small on purpose: the
 * renderer is loaded when a notebook is opened.
 */
import { registerNotebookHandler } from './viewer/handler.js'

try {
	registerNotebookHandler()
} catch (error) {
	console.error('[nextpyter] could not register the notebook preview with the Viewer', error)
}

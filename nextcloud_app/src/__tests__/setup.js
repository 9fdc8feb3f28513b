// What a Nextcloud page carries before any app script runs: the CSRF token and the user on
// <head>, the web root, the server's version. @nextcloud/axios reads the token when loaded.
document.head.dataset.requesttoken = 'csrf-token-for-tests'
document.head.dataset.user = 'alice'
document.head.dataset.userDisplayname = 'Alice'
window._oc_webroot = '/nc'
window.OC = { config: { version: '32.0.3.2', modRewriteWorking: false } }

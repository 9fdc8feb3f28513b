import { translate } from '@nextcloud/l10n'

/**
 * `t('nextpyter', …)` for text set with `textContent`: no HTML escaping or sanitising,
 * since nothing here is ever parsed as HTML.
 */
export function t(text, vars = {}) {
	return translate('nextpyter', text, vars, { escape: false, sanitize: false })
}

#!/bin/sh
# Run by the official Nextcloud image before Apache starts (as www-data, in /var/www/html).
# The first time only (no NextPyter settings saved yet): enable the app, let the `cron`
# service run background jobs, and point the app at this deployment's sidecar and gateway.
# Later starts change nothing, so what the admin sets on the admin page stays. The values
# come from docker-compose.yml's environment. A failure here is reported and never stops
# Nextcloud from starting (the image stops at a failing hook).
set -u
cd /var/www/html || exit 0

warn() {
	echo "nextpyter: $* (Nextcloud starts without it; see compose/README.md)" >&2
	exit 0
}

if ! php occ status --output=json 2>/dev/null | grep -q '"installed":true'; then
	warn "Nextcloud is not installed yet, so the app was not enabled; restart once it is"
fi
if php occ config:app:get nextpyter settings >/dev/null 2>&1; then
	exit 0 # configured before: the admin page owns the settings now
fi

if [ ! -f custom_apps/nextpyter/appinfo/info.xml ]; then
	warn "the app is not in custom_apps/nextpyter: run 'make appstore' in the repository, then restart"
fi
php occ app:enable nextpyter || warn "'occ app:enable nextpyter' failed (above)"
php occ background:cron || warn "'occ background:cron' failed (above)"
settings=$(php -r '
	$image = getenv("NEXTPYTER_DOCKER_IMAGE");
	echo json_encode([
		"sidecarUrl" => getenv("_NEXTPYTER_SIDECAR_URL"),
		"gatewayUrl" => getenv("NEXTPYTER_GATEWAY_URL"),
		"issuer" => getenv("NEXTPYTER_TOKEN_ISSUER"),
		"defaultImage" => $image,
		"allowedImages" => [$image],
	], JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR);
') || warn "could not write the settings"
php occ config:app:set nextpyter settings --lazy --value="$settings" ||
	warn "'occ config:app:set nextpyter settings' failed (above)"
echo "nextpyter: enabled, sidecar $_NEXTPYTER_SIDECAR_URL, gateway $NEXTPYTER_GATEWAY_URL"

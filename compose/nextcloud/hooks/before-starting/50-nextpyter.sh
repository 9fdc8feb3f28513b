#!/bin/sh
# Run by the official Nextcloud image before Apache starts (as www-data, in /var/www/html).
# The first time only (no NextPyter settings saved yet): enable the app and point it at
# this deployment's sidecar and gateway. Later starts change nothing, so what the admin
# sets on the admin page stays. The values come from docker-compose.yml's environment.
set -eu
cd /var/www/html

if ! php occ status --output=json 2>/dev/null | grep -q '"installed":true'; then
	echo "nextpyter: Nextcloud is not installed yet; finish the installation and restart"
	exit 0
fi
if php occ config:app:get nextpyter settings >/dev/null 2>&1; then
	exit 0 # configured before: the admin page owns the settings now
fi

php occ app:enable nextpyter
php occ background:cron # the `cron` service runs the background jobs
settings=$(php -r '
	$image = getenv("NEXTPYTER_IMAGE");
	echo json_encode([
		"sidecarUrl" => getenv("NEXTPYTER_SIDECAR_URL"),
		"gatewayUrl" => getenv("NEXTPYTER_GATEWAY_URL"),
		"issuer" => getenv("NEXTPYTER_TOKEN_ISSUER"),
		"defaultImage" => $image,
		"allowedImages" => [$image],
	], JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR);
')
php occ config:app:set nextpyter settings --lazy --value="$settings"
echo "nextpyter: enabled, sidecar $NEXTPYTER_SIDECAR_URL, gateway $NEXTPYTER_GATEWAY_URL"

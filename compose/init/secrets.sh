#!/bin/sh
# The deployment's secrets, made once, at the first `docker compose up` (the `secrets`
# service), into volumes each mounted only where it is needed:
#   database/postgres_password   the database and Nextcloud (their entrypoints read it as root)
#   nextcloud/admin_password     Nextcloud's first admin (read at installation)
#   sidecar/secret_key           the sidecars' NEXTPYTER_SECRET_KEY (session cookies)
# An existing secret is never replaced: delete its file (and restart) to change it.
set -eu
# compose/.env's old names (renamed: docs/configuration.md), as "UID/GID/IMAGE": set, they
# would silently not apply (the sidecar would run as another uid than the files' owner).
case "${_NEXTPYTER_RENAMED:-//}" in
//) ;;
*)
	echo "secrets: compose/.env (or the environment) sets NEXTPYTER_UID, NEXTPYTER_GID or NEXTPYTER_IMAGE, which" \
		"were renamed NEXTPYTER_DOCKER_UID, NEXTPYTER_DOCKER_GID and NEXTPYTER_DOCKER_IMAGE:" \
		"rename them there (see compose/README.md, Upgrades), then docker compose up -d again" >&2
	exit 1
	;;
esac
UID_=${NEXTPYTER_DOCKER_UID:-33}
GID_=${NEXTPYTER_DOCKER_GID:-33}

# make FILE OWNER MODE: a random secret (64 hex digits: nothing a shell or a command line
# could take for an option or a quote), unless FILE has one.
make() {
	if [ -s "$1" ]; then
		return 0
	fi
	umask 077
	python3 -c 'import secrets; print(secrets.token_hex(32))' >"$1.tmp"
	chown "$2" "$1.tmp"
	chmod "$3" "$1.tmp"
	mv "$1.tmp" "$1"
	echo "secrets: made $1"
}

make /secrets/database/postgres_password 0:0 0400
make /secrets/nextcloud/admin_password 0:0 0400
make /secrets/sidecar/secret_key "$UID_:$GID_" 0400
chmod 0755 /secrets/database /secrets/nextcloud /secrets/sidecar

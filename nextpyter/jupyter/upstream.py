"""How the gateway vouches for a request to a user's Jupyter server (one definition,
used by the sidecar, the backends and identity.py inside the server)."""

# The header nginx adds to every request it forwards to a server, with the secret
# derived by sessions.upstream_secret; a server trusts nothing else.
HEADER = "X-NextPyter-Gateway"
# Environment of the Jupyter server: the file holding that secret (removed once read),
# and the Nextcloud user id it serves (for display only). A process contract between the
# sidecar and the server, not settings: hence the leading underscore.
SECRET_FILE_ENV = "_NEXTPYTER_GATEWAY_SECRET_FILE"
USER_ENV = "_NEXTPYTER_USER_ID"

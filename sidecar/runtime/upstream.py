"""How the gateway vouches for a request to a user's Jupyter server (one definition,
used by the sidecar, the backends and runtime/jupyter_identity.py inside the server)."""

# The header nginx adds to every request it forwards to a server, with the secret
# derived by sessions.upstream_secret; a server trusts nothing else.
HEADER = "X-NextPyter-Gateway"
# Environment of the Jupyter server: the file holding that secret (removed once read),
# and the Nextcloud user id it serves (for display only).
SECRET_FILE_ENV = "NEXTPYTER_GATEWAY_SECRET_FILE"
USER_ENV = "NEXTPYTER_USER_ID"
# The IdentityProvider class the server loads (the module lives in the sidecar package on
# the local backend, and in a read-only directory mounted into containers on docker).
IDENTITY_CLASS_ENV = "NEXTPYTER_IDENTITY_CLASS"

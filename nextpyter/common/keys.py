"""Every Redis key NextPyter uses, spelled once.

Redis is shared by every sidecar replica and every pagletto worker; these keys are the
only state that is not in the runtime itself. No other module writes ``nextpyter:``.
"""

from __future__ import annotations

PREFIX = "nextpyter:"

# Dynamic configuration the Nextcloud app pushes (one JSON value).
CONFIG = PREFIX + "config"
# Automation API tokens: a hash of token id -> JSON record (secrets stored hashed).
API_TOKENS = PREFIX + "apitokens"
# The culler's lock: one pass at a time across replicas.
CULLER_LOCK = PREFIX + "culler"
# Who holds which GPU: a hash of slug -> JSON {"gpus": [...], "shared": bool} (gpus.py).
GPUS = PREFIX + "gpus"

# The pull queue (see nextpyter.pullqueue): the job stream, its dead letters, the workers.
PULL_STREAM = PREFIX + "pulls"
PULL_DEAD_STREAM = PREFIX + "pulls:dead"
PULL_WORKERS = PREFIX + "pullers"


def jti(token_id: str) -> str:
    """A launch token's id, marked used (``SET NX`` with the token's expiry)."""
    return f"{PREFIX}jti:{token_id}"


def spawn_lock(slug: str) -> str:
    """The per-user lock held while a server starts or stops."""
    return f"{PREFIX}spawn:{slug}"


def launched(slug: str) -> str:
    """When the user was last launched (the culler counts it as activity)."""
    return f"{PREFIX}launched:{slug}"


def launch_events(launch_id: str) -> str:
    """A launch's progress stream."""
    return f"{PREFIX}launch:{launch_id}"


def pull_state(image: str) -> str:
    """An image's pull, as a hash."""
    return f"{PREFIX}pull:{image}"


def pull_events(image: str) -> str:
    """A stream with an entry per change of :func:`pull_state`, for followers."""
    return f"{PREFIX}pull:{image}:events"


def signin(state_digest: str) -> str:
    """A sign-in under way (JSON: return URL, PKCE verifier, nonce), by the SHA-256 of its
    state; taken once with ``GETDEL`` by the callback, gone after ten minutes."""
    return f"{PREFIX}signin:{state_digest}"


def session_epoch(slug: str) -> str:
    """The user's session epoch (an integer, 0 when absent): every session cookie carries
    the epoch it was issued in, and one older than this is refused. Revoking every
    session of a user is ``INCR``."""
    return f"{PREFIX}epoch:{slug}"


def last_stop(slug: str) -> str:
    """Why the user's server last stopped (JSON: reason, detail, at), for the dashboard."""
    return f"{PREFIX}stopped:{slug}"

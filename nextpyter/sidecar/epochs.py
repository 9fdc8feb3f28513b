"""Session epochs: how an admin ends every session of a user at their next request.

Each session cookie (the gateway's per-server cookie and the dashboard's) carries the
user's epoch when it was issued; :meth:`SessionEpochs.revoke` increments the epoch in
Redis (``INCR``), and every check after that (the gateway's authorizer, the dashboard)
refuses the older cookies. The check is one ``GET`` of one key per request: O(1), no
scan, nothing cached on the way (a revocation is seen by the very next request).

When Redis cannot be reached, the check fails *open* for cookies that are otherwise
valid, so running notebooks keep working through a short Redis outage: it answers the
last epoch this process saw for the user (0 if none), and says so (``fresh`` is False),
so the authorizer does not renew the cookie meanwhile. A cookie is renewed only when
Redis answered; so a cookie revoked while Redis is down keeps working at most for the
idle lifetime (``NEXTPYTER_SESSION_IDLE_TIMEOUT``) after its last renewal, and never
past the absolute lifetime. After a failure the process does not ask Redis again for
:data:`RETRY_SECONDS`, so an unreachable Redis costs the hot path one connect timeout per
worker every few seconds, not one per request.
"""

from __future__ import annotations

import logging
import threading
import time

import redis

from ..common import keys

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0
KNOWN_LIMIT = 100_000  # users whose last epoch a process remembers (then it starts over)


class SessionEpochs:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._known: dict[str, int] = {}
        self._down_until = 0.0
        self._lock = threading.Lock()

    def current(self, slug: str) -> tuple[int, bool]:
        """The user's epoch, and whether Redis said so just now (else: the last epoch
        this process saw, failing open)."""
        if time.monotonic() < self._down_until:
            return self._known.get(slug, 0), False
        try:
            raw = self.client.get(keys.session_epoch(slug))
        except redis.RedisError as error:
            with self._lock:
                if time.monotonic() >= self._down_until:
                    log.warning(
                        "session epochs: Redis failed (%s); valid cookies pass unchecked for "
                        "revocation until it is back",
                        error,
                    )
                self._down_until = time.monotonic() + RETRY_SECONDS
            return self._known.get(slug, 0), False
        epoch = int(raw) if raw else 0
        if epoch:
            if len(self._known) >= KNOWN_LIMIT:
                self._known.clear()
            self._known[slug] = epoch
        return epoch, True

    def revoke(self, slug: str) -> int:
        """End every session of the user (in every browser); the new epoch. Raises
        ``redis.RedisError`` when Redis is down: a revocation must not seem to succeed."""
        epoch = int(self.client.incr(keys.session_epoch(slug)))
        self._known[slug] = epoch
        return epoch

"""What the sidecar keeps in Redis: used token ids, spawn locks, launch progress.

Redis is shared by every replica, so these are the only pieces of state that
are not in the runtime itself. The keys are spelled in :mod:`nextpyter.common.keys`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import redis

from ..common import keys
from ..common.redis import ticking
from . import progress

LAUNCH_TTL = 3600
TERMINAL_STATES = progress.TERMINAL
LOCK_TTL = 20.0  # a spawn lock's life unless renewed: how long a crashed holder blocks a user

log = logging.getLogger(__name__)


class StateUnavailable(Exception):
    """Redis, where the sidecar keeps what every replica shares, did not answer; the
    message is for the user."""

    MESSAGE = "NextPyter's Redis is unreachable; try again soon."

    def __init__(self, message: str = MESSAGE) -> None:
        super().__init__(message)


class RedisJtiStore:
    """Single use of launch-token ids: ``SET NX`` with the token's expiry."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def mark_used(self, jti: str, expires_at: int) -> bool:
        ttl = max(1, int(expires_at - time.time()) + 1)
        return bool(self.client.set(keys.jti(jti), "1", nx=True, ex=ttl))


def spawn_lock(client: redis.Redis, slug: str, wait: float = 0.0) -> Any:
    """The per-user lock that makes one spawn per user across all workers and replicas.

    It lives :data:`LOCK_TTL` seconds unless its holder keeps it alive with
    :func:`renewing`, so a sidecar that dies while holding it blocks that user for at
    most that long. ``wait``: how long ``acquire()`` waits for it.
    """
    return client.lock(
        keys.spawn_lock(slug), timeout=LOCK_TTL, blocking_timeout=wait, thread_local=False
    )


def spawn_locked(client: redis.Redis, slug: str) -> bool:
    """Whether someone holds ``slug``'s spawn lock (a start or a stop is under way). When
    Redis cannot tell, yes: a clean-up then leaves that user alone rather than guess."""
    try:
        return bool(client.exists(keys.spawn_lock(slug)))
    except redis.RedisError:
        return True


@contextlib.contextmanager
def renewing(lock: Any) -> Iterator[None]:
    """Keep a held lock alive for as long as the block runs (a start, a stop)."""

    def renew() -> bool:
        try:
            lock.extend(LOCK_TTL, replace_ttl=True)
            return True
        except redis.RedisError as error:  # lost it (expired) or Redis is gone
            log.warning("could not keep the spawn lock %s: %s", lock.name, error)
            return False

    with ticking(LOCK_TTL / 4, renew, "lock-renewal"):
        yield


def mark_launched(client: redis.Redis, slug: str) -> None:
    """Note that ``slug`` was just launched: the culler counts it as activity, since the
    browser has not reached the server yet."""
    client.set(keys.launched(slug), f"{time.time():.3f}", ex=7 * 86400)


def last_launched(client: redis.Redis, slug: str) -> float | None:
    raw = client.get(keys.launched(slug))
    try:
        return float(str(raw)) if raw else None
    except ValueError:
        return None


class LaunchEvents:
    """Progress of one launch, as a Redis stream that any replica can follow.

    Writers append events; readers block on ``XREAD`` and are told of each new
    one, so nothing polls.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    @staticmethod
    def key(launch_id: str) -> str:
        return keys.launch_events(launch_id)

    def publish(self, launch_id: str, state: str, message: str, **fields: Any) -> None:
        event: dict[Any, Any] = {"state": state, "message": message, "at": f"{time.time():.3f}"}
        event.update({k: json.dumps(v) if not isinstance(v, str) else v for k, v in fields.items()})
        pipe = self.client.pipeline()
        pipe.xadd(self.key(launch_id), event, maxlen=200, approximate=True)
        pipe.expire(self.key(launch_id), LAUNCH_TTL)
        pipe.execute()

    def latest(self, launch_id: str) -> dict[str, str] | None:
        entries: Any = self.client.xrevrange(self.key(launch_id), count=1)
        return dict(entries[0][1]) if entries else None

    def since(self, launch_id: str, last_id: str = "0") -> list[tuple[str, dict[str, str]]]:
        """The events after ``last_id``, at once (no waiting)."""
        start = "-" if last_id == "0" else f"({last_id}"
        entries: Any = self.client.xrange(self.key(launch_id), min=start, max="+", count=200)
        return [(event_id, dict(event)) for event_id, event in entries]

    def follow(
        self, launch_id: str, last_id: str = "0", block_seconds: float = 15.0
    ) -> Iterator[tuple[str, dict[str, str]] | None]:
        """Yield ``(event_id, event)`` as they come, ``None`` after each quiet
        ``block_seconds`` (for keepalives), and stop after a terminal event."""
        key = self.key(launch_id)
        while True:
            result: Any = self.client.xread(
                {key: last_id}, count=50, block=int(block_seconds * 1000)
            )
            if not result:
                yield None
                continue
            for event_id, event in result[0][1]:
                last_id = event_id
                yield event_id, event
                if event.get("state") in TERMINAL_STATES:
                    return

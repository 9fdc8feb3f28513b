"""Riding out a short outage of Redis or the runtime (the Docker engine, the Kubernetes API).

A request that needs what is down answers ``503`` with ``Retry-After`` and a message that
names it (:func:`redis_down`, :func:`runtime_down`); the gateway's cookie check needs
neither, so running notebooks keep working. Background passes (the culler, reconcile)
skip and say so once (:class:`Outage`), and say when it is over. Nothing needs a restart:
every Redis command and runtime call is made afresh on the next request or pass.
"""

from __future__ import annotations

import logging
import threading

from .problems import Problem

RETRY_AFTER = 5  # seconds: a failover or an engine restart is over in a few
WHAT = {
    "docker": "the Docker engine",
    "kubernetes": "the Kubernetes API",
    "local": "the local runtime",
}


def runtime_name(backend: str) -> str:
    return WHAT.get(backend, f"the {backend} runtime")


def redis_down() -> Problem:
    return Problem(
        503,
        "redis-unavailable",
        "Service unavailable",
        "NextPyter's Redis (where it keeps launches, locks and the administrator's settings) "
        "cannot be reached right now, so nothing was done. Notebooks that are open keep "
        f"working. Try again in {RETRY_AFTER} seconds; if it keeps failing, ask your "
        "administrator.",
        unavailable="redis",
    )


def runtime_down(backend: str, error: Exception) -> Problem:
    what = runtime_name(backend)
    return Problem(
        503,
        "runtime-unavailable",
        "Runtime unavailable",
        f"{what[0].upper()}{what[1:]} did not do what was asked: {error} Notebooks that are "
        f"open keep working. Try again in {RETRY_AFTER} seconds; if it keeps failing, ask "
        "your administrator.",
        unavailable=backend,
    )


class Outage:
    """Say once that ``what`` is down, then nothing until it is back; then say so.

    ``failed(error)`` at each failed pass (logs the first one), ``ok()`` at each pass that
    worked (logs the recovery after a failure). Thread-safe."""

    def __init__(self, log: logging.Logger, doing: str) -> None:
        self.log = log
        self.doing = doing
        self.down: str = ""  # what was down, or "" when all is well
        self.skipped = 0
        self._lock = threading.Lock()

    def failed(self, what: str, error: BaseException, retry: float) -> None:
        with self._lock:
            self.skipped += 1
            if self.down:
                return
            self.down = what
        self.log.error(
            "%s skipped: %s is unreachable (%s); trying every %g s, quiet until it is back",
            self.doing,
            what,
            error,
            retry,
        )

    def ok(self) -> None:
        with self._lock:
            if not self.down:
                return
            what, skipped = self.down, self.skipped
            self.down, self.skipped = "", 0
        self.log.warning(
            "%s resumed: %s is back (%d pass%s skipped)",
            self.doing,
            what,
            skipped,
            "" if skipped == 1 else "es",
        )

"""Stops servers that sat idle too long or outlived the maximum lifetime.

Every worker of every replica runs one culler thread, but a Redis lock lets only
one of them cull in each interval. Limits come from the run-time settings
(``idle_timeout``, ``max_lifetime``; 0 turns a limit off). Idleness is what the
Jupyter server itself reports as its last activity (kernels and API requests);
a server that is still starting, or whose user is being launched right now, is
left alone. Each pass also runs the backend's reconcile (as a worker does at start).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import redis

from ..common import keys
from .dynconfig import ConfigStore, RuntimeConfig
from .runtime import Backend, Server
from .sessions import upstream_secret
from .store import last_launched, renewing, spawn_lock, spawn_locked

log = logging.getLogger(__name__)


class Culler:
    def __init__(
        self, backend: Backend, client: redis.Redis, config: ConfigStore, secret_key: str
    ) -> None:
        self.backend = backend
        self.client = client
        self.config = config
        self.secret_key = secret_key
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def cull_once(self, now: float | None = None) -> list[tuple[str, str]]:
        """One pass; returns ``(slug, reason)`` for each server stopped."""
        now = time.time() if now is None else now
        config = self.config.get()
        if not config.idle_timeout and not config.max_lifetime:
            return []
        culled = []
        for listed in self.backend.list():
            # Decide under the user's spawn lock, on a fresh look at the server: a launch
            # may have just reused or restarted it.
            lock = spawn_lock(self.client, listed.slug)
            if not lock.acquire(blocking=False):
                continue  # a launch for this user is under way
            try:
                reason = self._reason(self.backend.status(listed.slug), config, now)
                if reason:
                    with renewing(lock):
                        self.backend.stop(listed.slug)
                    log.info("stopped the server of %s: %s", listed.slug, reason)
                    culled.append((listed.slug, reason))
            finally:
                with contextlib.suppress(redis.RedisError):
                    lock.release()
        return culled

    def _reason(self, server: Server | None, config: RuntimeConfig, now: float) -> str:
        """Why ``server`` should stop now, or "" if it should not."""
        if server is None or server.state != "running":
            return ""
        if config.max_lifetime and now - server.created > config.max_lifetime:
            return f"ran longer than {config.max_lifetime} s"
        if config.idle_timeout:
            used = self.backend.activity(server.slug, upstream_secret(self.secret_key, server.slug))
            if used is None:
                return ""  # it does not say: leave it
            last = max(used, last_launched(self.client, server.slug) or 0.0)
            if now - last > config.idle_timeout:
                return f"idle for more than {config.idle_timeout} s"
        return ""

    def run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                lock = self.client.lock(keys.CULLER_LOCK, timeout=interval * 0.9)
                if lock.acquire(blocking=False):  # held until it expires: once per interval
                    # Adopt and clean up as at start too, so an orphan (a process of a
                    # crashed launch) never outlives a culler interval.
                    self.backend.reconcile(lambda slug: spawn_locked(self.client, slug))
                    self.cull_once()
            except Exception:
                log.exception("culling failed; trying again in %s s", interval)

    def start(self, interval: float) -> threading.Thread:
        self._thread = threading.Thread(
            target=self.run, args=(interval,), name="culler", daemon=True
        )
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        """Stop the thread and wait for a pass under way to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

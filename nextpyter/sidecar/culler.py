"""Stops servers that sat idle too long or outlived the maximum lifetime.

Every worker of every replica runs one culler thread, but a Redis lock lets only
one of them cull in each interval. Limits come from the run-time settings
(``idle_timeout``, a profile's own ``idle_timeout``, ``busy_timeout``, ``max_lifetime``;
0 turns a limit off). Idleness is read from the server's kernels and terminals, not from
its own last activity, which an idle open tab keeps moving: a busy kernel keeps its server
(cullrules.py, runtime/activity.py, docs/culling.md). Why a server was stopped is
recorded for the user's next launch and the dashboard (usage.record_stop). A server
that is still starting, or whose user is being launched right now, is left alone. Each
pass also runs the backend's reconcile (as a worker does at start).

When Redis or the runtime is down, a pass is skipped and said so once, and the return
is logged (outages.py); :meth:`Culler.plan` says what a pass would stop now, and why,
without stopping anything (``GET /api/v1/cull``, ``nextpyter-admin cull --dry-run``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import redis

from ..common import keys
from . import cullrules, metrics
from .dynconfig import ConfigStore, RuntimeConfig
from .outages import Outage, runtime_name
from .runtime import Backend, BackendError, Server
from .runtime.activity import Probes
from .sessions import upstream_secret
from .store import last_launched, renewing, spawn_lock, spawn_locked
from .usage import record_stop

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
        self.outage = Outage(log, "culling")

    def cull_once(self, now: float | None = None) -> list[tuple[str, str]]:
        """One pass; returns ``(slug, reason)`` for each server stopped."""
        now = time.time() if now is None else now
        config = self.config.get()
        if not cullrules.any_limit(config):
            return []
        culled = []
        for listed in self.backend.list():
            # Decide under the user's spawn lock, on a fresh look at the server: a launch
            # may have just reused or restarted it.
            lock = spawn_lock(self.client, listed.slug)
            if not lock.acquire(blocking=False):
                continue  # a launch for this user is under way
            try:
                kind, reason = self._reason(self.backend.status(listed.slug), config, now)
                if reason:
                    with renewing(lock):
                        self.backend.stop(listed.slug)
                    log.info("stopped the server of %s: %s", listed.slug, reason)
                    # The busy limit is recorded as idleness (only a silent kernel went on).
                    recorded = "idle" if kind == cullrules.BUSY else kind
                    record_stop(self.client, listed.slug, recorded, reason)
                    metrics.count(metrics.CULLS, kind)
                    culled.append((listed.slug, reason))
            finally:
                with contextlib.suppress(redis.RedisError):
                    lock.release()
        return culled

    def plan(self, now: float | None = None) -> list[dict[str, object]]:
        """What a pass would stop now, and why, stopping nothing: each server that would go
        (``user``, ``slug``, ``reason``, ``kind``: idle or lifetime, and ``busy`` if a
        launch holds the user's lock, so this pass would leave it)."""
        now = time.time() if now is None else now
        config = self.config.get()
        if not cullrules.any_limit(config):
            return []
        out: list[dict[str, object]] = []
        for server in self.backend.list():
            kind, reason = self._reason(server, config, now)
            if reason:
                busy = spawn_locked(self.client, server.slug)
                out.append(
                    {
                        "user": server.user_id,
                        "slug": server.slug,
                        "reason": reason,
                        "kind": kind,
                        "busy": busy,
                    }
                )
        return out

    def _reason(self, server: Server | None, config: RuntimeConfig, now: float) -> tuple[str, str]:
        """Why ``server`` should stop now (its kind: idle, busy or lifetime, and the words),
        or ("", "") if it should not (the rules: cullrules.py)."""
        if server is None:
            return "", ""
        slug, secret = server.slug, upstream_secret(self.secret_key, server.slug)
        probe = self.backend.probe if isinstance(self.backend, Probes) else (lambda s, k: None)
        return cullrules.decide(
            server,
            config,
            now,
            last_launched(self.client, slug) or 0.0,
            lambda: probe(slug, secret),
            lambda: self.backend.activity(slug, secret),
        )

    def run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.pass_once(interval)

    def pass_once(self, interval: float) -> None:
        """One interval's pass (if this worker wins the culler lock): reconcile, cull. Redis
        or the runtime down skips it, said once until it is back."""
        try:
            lock = self.client.lock(keys.CULLER_LOCK, timeout=interval * 0.9)
            if lock.acquire(blocking=False):  # held until it expires: once per interval
                # Adopt and clean up as at start too, so an orphan (a process of a
                # crashed launch) never outlives a culler interval.
                self.backend.reconcile(lambda slug: spawn_locked(self.client, slug))
                self.cull_once()
            self.outage.ok()
        except redis.RedisError as error:
            metrics.safely(lambda: metrics.REDIS_ERRORS.labels("culler").inc())
            self.outage.failed("Redis", error, interval)
        except BackendError as error:
            name = self.backend.name
            metrics.safely(lambda: metrics.ENGINE_ERRORS.labels(name, "culler").inc())
            self.outage.failed(runtime_name(name), error, interval)
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

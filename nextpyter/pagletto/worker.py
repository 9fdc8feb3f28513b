"""pagletto's worker: takes pull jobs from the stream and pulls them with the engine.

One job at a time per worker; run more workers (processes, machines) to pull more
images at once. They share the stream through the consumer group:

- a new entry goes to one worker (``XREADGROUP``);
- while it pulls, the worker touches its entry (``XCLAIM … JUSTID``, which resets the
  entry's idle time without counting a delivery), so no one takes over a live pull;
- an entry left unheard of for ``claim_idle`` seconds (its worker was killed, or lost
  Redis, or gave up on a transient error) is taken over by the next worker that looks
  (``XAUTOCLAIM``), and counts one more delivery;
- a job delivered more than ``max_deliveries`` times, or failing in a way another try
  cannot fix (no such image, credentials refused, disk full, a malformed entry), goes to
  the dead-letter stream with its error, and the image's state says why;
- only a pull that put the image on the engine is acknowledged (and deleted).

This module is the loop and one job's course through it. What it builds on:
:mod:`nextpyter.pullqueue` (the keys, states and the scripts that write them only while
the entry is this worker's), :mod:`.errors` (what the engine said, for people),
:mod:`.progress` (how far a pull is) and :mod:`.stall` (cutting a pull the engine went
silent on).
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import docker
import redis
import requests

from .. import pullqueue
from ..common.engine import EngineTooOld
from ..common.jsonlog import REQUEST_ID
from ..common.redis import ticking
from . import metrics, stall
from .config import PullSettings
from .errors import Lost, PullError, classify, registry_name
from .progress import PUBLISH_EVERY, Progress

log = logging.getLogger("pagletto")


class Worker:
    """One consumer of the pull stream: :meth:`run` until stopped, or :meth:`step` for one
    job. ``engine`` connects to the Docker engine; it is called again after the engine
    was lost."""

    def __init__(
        self,
        settings: PullSettings,
        client: redis.Redis,
        engine: Callable[[], docker.DockerClient],
    ) -> None:
        self.settings = settings
        self.redis = client
        self._engine_factory = engine
        self._engine: docker.DockerClient | None = None
        self.name = settings.worker
        self._scripts = pullqueue.WorkerScripts(client)
        self._claim_from = "0-0"  # where the next look for stalled entries starts
        self._auth = docker.auth.load_config(config_dict=settings.auth) if settings.auth else {}

    @property
    def engine(self) -> docker.DockerClient:
        if self._engine is None:
            self._engine = self._engine_factory()
        return self._engine

    # -- the loop ----------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Take jobs until ``stop`` is set; Redis or the engine going away is waited out."""
        log.info("pagletto worker %s started", self.name)
        try:
            self._loop(stop)
        finally:
            with contextlib.suppress(redis.RedisError):
                pullqueue.leaving(self.redis, self.name)
            log.info("pagletto worker %s stopped", self.name)

    def _loop(self, stop: threading.Event) -> None:
        pause = 0.5
        while not stop.is_set():
            try:
                self.step(block=2.0)
                pause = 0.5
            except (redis.RedisError, OSError) as error:
                metrics.ERRORS.labels("redis").inc()
                log.warning("Redis: %s; trying again in %.0f s", error, pause)
                stop.wait(pause)
                pause = min(pause * 2, 10.0)
            except Exception:
                # A job that breaks the worker stays unacknowledged: it is taken over after
                # NEXTPYTER_PULL_CLAIM_IDLE, counted, and dead-lettered past the maximum.
                log.exception("a pull job failed unexpectedly; going on with the next")
                stop.wait(pause)
                pause = min(pause * 2, 10.0)

    def step(self, block: float = 0.0) -> bool:
        """Handle one job: a stalled one first, then a new one (waiting up to ``block``
        seconds for it). Whether there was one."""
        try:
            return self._step(block)
        except redis.ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            pullqueue.ensure_group(self.redis)  # a Redis that lost it (no persistence), or new
            return self._step(block)

    def _step(self, block: float) -> bool:
        pullqueue.seen(self.redis, self.name)
        reply: Any = self.redis.xautoclaim(
            pullqueue.STREAM,
            pullqueue.GROUP,
            self.name,
            min_idle_time=int(self.settings.claim_idle * 1000),
            start_id=self._claim_from,
            count=1,
        )
        # Redis looks at ten pending entries a call: go on from where it stopped, so that
        # a stalled entry behind ten live pulls is found too (0-0: the list is done).
        self._claim_from = str(reply[0]) if reply else "0-0"
        claimed = reply[1] if reply else []
        if claimed:
            entry, fields = claimed[0]
            self._handle(entry, fields or {}, self._deliveries(entry))
            return True
        result: Any = self.redis.xreadgroup(
            pullqueue.GROUP,
            self.name,
            {pullqueue.STREAM: ">"},
            count=1,
            block=int(block * 1000) if block else None,
        )
        if not result or not result[0][1]:
            return False
        entry, fields = result[0][1][0]
        self._handle(entry, fields or {}, 1)
        return True

    def _deliveries(self, entry: str) -> int:
        pending: Any = self.redis.xpending_range(
            pullqueue.STREAM, pullqueue.GROUP, min=entry, max=entry, count=1
        )
        return int(pending[0]["times_delivered"]) if pending else 1

    # -- one job -----------------------------------------------------------------------
    def _handle(self, entry: str, fields: dict[str, str], deliveries: int) -> None:
        try:
            job = pullqueue.Job.parse(fields)
        except ValueError as error:
            log.error("entry %s is not a pull job (%s); dead-lettered", entry, error)
            metrics.ERRORS.labels("malformed").inc()
            self._give_up(entry, fields, None, "malformed", f"Not a pull job: {error}", deliveries)
            return
        # The request that asked for it is in every line logged while this job is handled.
        token = REQUEST_ID.set(job.request_id or "-")
        metrics.BUSY.set(1)
        began = time.monotonic()
        state = "failed"
        try:
            state = self._handle_job(entry, fields, job, deliveries)
        finally:
            metrics.BUSY.set(0)
            metrics.PULLS.labels(state).inc()
            metrics.PULL_SECONDS.labels(state).observe(time.monotonic() - began)
            REQUEST_ID.reset(token)

    def _handle_job(
        self, entry: str, fields: dict[str, str], job: pullqueue.Job, deliveries: int
    ) -> str:
        """One job's course; how it ended (done, failed, retrying, lost)."""
        if deliveries > self.settings.max_deliveries:
            state = pullqueue.read_state(self.redis, job.image)
            last = state.error if state and state.entry == entry and state.error else ""
            message = (
                f"pagletto gave up pulling {job.image} after {deliveries - 1} tries"
                + (
                    f"; the last error: {last}"
                    if last
                    else ": each time the worker pulling it stopped"
                )
                + ". Ask your administrator to look at pagletto's log."
            )
            kind = (state.error_kind if state and last else "") or "worker-lost"
            metrics.ERRORS.labels(kind).inc()
            self._give_up(entry, fields, job, kind, message, deliveries)
            return "failed"
        log.info(
            "pulling %s (job %s, delivery %d, request %s)",
            job.image,
            job.job,
            deliveries,
            job.request_id or "-",
        )
        now = time.time()
        self._state(
            job.image,
            entry,
            state=pullqueue.PULLING,
            worker=self.name,
            attempt=deliveries,
            started_at=now,
            updated=now,
            error="",
            error_kind="",
        )
        try:
            with self._holding(entry) as lost:
                self._pull_with_retries(job, entry, lost)
        except Lost:
            log.warning("another worker took over the pull of %s", job.image)
            return "lost"
        except PullError as error:
            metrics.ERRORS.labels(error.kind).inc()
            if error.transient:
                # Left pending, unacknowledged: taken over after claim_idle, by any worker.
                log.warning("pull of %s failed, will be tried again: %s", job.image, error)
                self._retrying(job.image, entry, error)
                return "retrying"
            log.warning("pull of %s failed: %s", job.image, error)
            self._give_up(entry, fields, job, error.kind, str(error), deliveries)
            return "failed"
        log.info("pulled %s", job.image)
        self._finish(job, entry)
        return "done"

    def _finish(self, job: pullqueue.Job, entry: str) -> None:
        """Record the pull as done and acknowledge it, waiting for Redis if it is away (the
        image is on the engine: a lost acknowledgement would only pull it again)."""
        pause, deadline = 0.5, time.monotonic() + max(60.0, self.settings.claim_idle)
        while True:
            now = time.time()
            try:
                with self.redis.pipeline() as pipe:
                    self._state(
                        job.image,
                        entry,
                        client=pipe,
                        owner=False,  # the image is on the engine, whoever pulled it
                        state=pullqueue.DONE,
                        percent="100",
                        finished_at=now,
                        updated=now,
                        error="",
                        error_kind="",
                    )
                    pipe.xack(pullqueue.STREAM, pullqueue.GROUP, entry)
                    pipe.xdel(pullqueue.STREAM, entry)
                    pipe.execute()
                return
            except redis.RedisError as error:
                if time.monotonic() > deadline:
                    raise
                log.warning("recording the pull of %s: %s; again in %.1fs", job.image, error, pause)
                time.sleep(pause)
                pause = min(pause * 2, 5.0)

    def _pull_with_retries(self, job: pullqueue.Job, entry: str, lost: threading.Event) -> None:
        wait = self.settings.backoff
        for attempt in range(self.settings.retries + 1):
            try:
                self._pull(job, entry, lost)
                return
            except PullError as error:
                if not error.transient or attempt == self.settings.retries:
                    raise
                pause = min(wait, self.settings.backoff_max) * random.uniform(0.8, 1.2)  # noqa: S311 - jitter
                log.warning("pull of %s: %s; again in %.1f s", job.image, error, pause)
                self._retrying(job.image, entry, error)
                if lost.wait(pause):
                    raise Lost() from None
                wait *= 2
                self._state(job.image, entry, state=pullqueue.PULLING, updated=time.time())

    def _pull(self, job: pullqueue.Job, entry: str, lost: threading.Event) -> None:
        repository, tag = pullqueue.split_image(job.image)
        credentials = self._credentials(job.image)
        progress = Progress()
        last = 0.0
        try:
            with stall.watch(self.engine.api, self.settings.stall, job.image) as watch:
                stream = self.engine.api.pull(
                    repository, tag=tag, stream=True, decode=True, auth_config=credentials
                )
                try:
                    for message in watch.messages(stream):
                        if lost.is_set():
                            raise Lost()
                        if message.get("error"):
                            raise classify(job.image, str(message["error"]))
                        progress.update(message)
                        if time.monotonic() - last >= PUBLISH_EVERY:
                            last = time.monotonic()
                            self._progress(job.image, entry, progress)
                finally:
                    with contextlib.suppress(Exception):
                        stream.close()
            # On the engine now, or the pull did not work (a digest is looked up as such).
            self.engine.images.get(f"{repository}{'@' if ':' in tag else ':'}{tag}")
        except stall.Stalled:
            raise PullError(
                "registry",
                f"The download of {job.image} stalled: the engine said nothing for "
                f"{self.settings.stall:.0f} s (NEXTPYTER_PULL_STALL_TIMEOUT).",
                transient=True,
            ) from None
        except docker.errors.APIError as error:
            raise classify(job.image, str(error.explanation or error), error.status_code) from None
        except EngineTooOld as error:  # the engine answered, but cannot serve
            self._engine = None
            raise PullError("engine", str(error), transient=False) from None
        except (requests.RequestException, docker.errors.DockerException) as error:
            self._engine = None  # connect again next time
            raise PullError(
                "engine",
                f"NextPyter's Docker engine could not be reached while pulling {job.image} "
                f"({type(error).__name__}). Try again in a few minutes; if it keeps happening, "
                "ask your administrator to check the engine (DOCKER_HOST) and pagletto's log.",
                transient=True,
            ) from None
        self._progress(job.image, entry, progress)

    def _progress(self, image: str, entry: str, progress: Progress) -> None:
        """Publish how far the pull is; Redis away for a moment does not stop the pull."""
        try:
            fields: dict[str, Any] = progress.fields()
            self._state(image, entry, updated=time.time(), **fields)
        except redis.RedisError as error:
            log.warning("could not publish the progress of %s: %s", image, error)

    def _credentials(self, image: str) -> dict[str, Any]:
        """The credentials for the image's registry; an empty set (never the engine's or
        this machine's own) when there are none."""
        if not self._auth:
            return {}
        registry = registry_name(image)
        try:
            found = docker.auth.resolve_authconfig(self._auth, registry=registry)
        except docker.errors.DockerException as error:  # a credential helper failed
            raise PullError(
                "unauthorized",
                f"pagletto could not get the credentials for {registry} that "
                f"NEXTPYTER_REGISTRY_AUTH names ({type(error).__name__}: its credential "
                "helper failed). Ask your administrator to check that file and its helper.",
                transient=False,
            ) from None
        return dict(found) if found else {}

    @contextlib.contextmanager
    def _holding(self, entry: str) -> Iterator[threading.Event]:
        """Touch the entry while the block runs; the event is set if it was taken over."""
        lost = threading.Event()

        def touch() -> bool:
            try:
                pullqueue.seen(self.redis, self.name)  # busy, not gone
                still = self._scripts.touch(entry, self.name)
            except redis.RedisError as error:
                log.warning("could not touch the pull entry %s: %s", entry, error)
                return True
            if not still:
                lost.set()
            return still

        every = max(0.1, min(self.settings.claim_idle / 3, 10.0))
        with ticking(every, touch, "pagletto-touch"):
            yield lost

    # -- state -------------------------------------------------------------------------
    def _state(
        self, image: str, entry: str, client: Any = None, owner: bool = True, **fields: Any
    ) -> None:
        """Write the image's state while it is ``entry``'s and ``entry`` is this worker's
        (``owner=False``: whoever's; ``client``: a pipeline)."""
        worker = self.name if owner else ""
        self._scripts.set_state(image, entry, worker, fields, client=client)

    def _retrying(self, image: str, entry: str, error: PullError) -> None:
        self._state(
            image,
            entry,
            state=pullqueue.RETRYING,
            error=str(error),
            error_kind=error.kind,
            updated=time.time(),
        )

    def _give_up(
        self,
        entry: str,
        fields: dict[str, str],
        job: pullqueue.Job | None,
        kind: str,
        message: str,
        deliveries: int,
    ) -> None:
        now = time.time()
        # Both check, at the same moment (one transaction), that the entry is still ours:
        # a worker whose job was taken over gives up nothing.
        with self.redis.pipeline() as pipe:
            if job is not None:
                self._state(
                    job.image,
                    entry,
                    client=pipe,
                    state=pullqueue.FAILED,
                    error=message,
                    error_kind=kind,
                    finished_at=now,
                    updated=now,
                )
            self._scripts.give_up(
                entry, self.name, fields, message, kind, deliveries, failed_at=now, client=pipe
            )
            pipe.execute()

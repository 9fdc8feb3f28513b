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
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import docker
import redis
import requests
import urllib3

from .. import pullqueue
from ..common.engine import EngineTooOld
from ..common.redis import ticking
from .config import PullSettings

log = logging.getLogger("pagletto")

PUBLISH_EVERY = 0.25  # seconds between progress updates of one pull
DEAD_FIELDS = 20  # of a job's fields, at most this many go to its dead letter
DOWNLOAD_SHARE = 0.7  # of a layer's progress; extraction is the rest


class PullError(Exception):
    """A failed pull: ``kind`` (pullqueue.ERROR_KINDS), a message for people, and whether
    trying again may help."""

    def __init__(self, kind: str, message: str, transient: bool) -> None:
        super().__init__(message)
        self.kind = kind
        self.transient = transient


class Lost(Exception):
    """Another worker took the job over (this one was thought dead)."""


def _registry(image: str) -> str:
    return str(docker.auth.resolve_repository_name(pullqueue.split_image(image)[0])[0])


def _not_found(image: str, registry: str) -> PullError:
    return PullError(
        "not-found",
        f"The image {image} does not exist in {registry}: no such name or tag (or the "
        "registry hides it without credentials). Ask your administrator to check the "
        "image in NextPyter's admin settings.",
        transient=False,
    )


def classify(image: str, detail: str, status: int | None = None) -> PullError:
    """What the engine said, as an error a person can act on."""
    text = detail.lower()
    registry = _registry(image)
    short = detail.strip().splitlines()[0][:300] if detail.strip() else "no detail"
    if "no space left on device" in text or "disk quota exceeded" in text:
        return PullError(
            "disk-full",
            f"The Docker engine ran out of disk space while pulling {image}. Ask your "
            "administrator to free space on the engine (for example `docker image prune`) "
            "and open the notebook again.",
            transient=False,
        )
    # "pull access denied for x, repository does not exist or may require 'docker login'":
    # a registry that will not say which (Docker Hub) is taken at its first word.
    if "manifest unknown" in text or "repository does not exist" in text:
        return _not_found(image, registry)
    if "permission denied" in text or "read-only file system" in text:
        return PullError(
            "engine",
            f"The Docker engine could not store {image}: {short}. Ask your administrator to "
            "check the engine's data root.",
            transient=False,
        )
    if any(
        word in text
        for word in (
            "unauthorized",
            "authentication required",
            "no basic auth",
            "access denied",
            "access to the resource is denied",
            "denied:",
        )
    ):
        return PullError(
            "unauthorized",
            f"The registry {registry} refused access to {image}: the credentials pagletto "
            "has for it are wrong or missing. Ask your administrator to check "
            "NEXTPYTER_REGISTRY_AUTH (a Docker config.json) for that registry.",
            transient=False,
        )
    if status == 404 or "not found" in text or "no such image" in text:
        return _not_found(image, registry)
    if "invalid reference" in text or status == 400:
        return PullError(
            "malformed", f"The engine refused the image reference {image}: {short}", False
        )
    return PullError(
        "registry",
        f"The registry {registry} failed while pulling {image}: {short}",
        transient=True,
    )


# How far along a layer is, by the engine's word for it: a later word never goes back
# (the engine repeats "Downloading" after "Download complete" at times).
_RANK = {
    "Pulling fs layer": 0,
    "Waiting": 0,
    "Downloading": 1,
    "Retrying": 1,
    "Verifying Checksum": 2,
    "Download complete": 3,
    "Extracting": 4,
    "Pull complete": 5,
    "Already exists": 5,
}


@dataclass
class Layer:
    status: str = ""
    done: int = 0  # bytes downloaded
    total: int = 0  # compressed size, once the engine says it
    extracted: int = 0
    present: bool = False  # "Already exists": nothing to fetch

    def fraction(self) -> float:
        if self.present or self.status == "Pull complete":
            return 1.0
        if self.status in ("Download complete", "Verifying Checksum"):
            return DOWNLOAD_SHARE
        if not self.total:
            return 0.0
        if self.status == "Extracting":
            return DOWNLOAD_SHARE + (1 - DOWNLOAD_SHARE) * min(1.0, self.extracted / self.total)
        return DOWNLOAD_SHARE * min(1.0, self.done / self.total)


class Progress:
    """An image's pull, from the engine's stream of messages: bytes per layer and over
    all, and a percentage that never goes back (layers whose size is not known yet
    count as the average known one)."""

    def __init__(self) -> None:
        self.layers: dict[str, Layer] = {}
        self.percent = 0.0

    def update(self, message: dict[str, Any]) -> None:
        layer_id, status = message.get("id"), str(message.get("status", ""))
        if not layer_id or status.startswith(("Pulling from", "Digest:", "Status:")):
            return
        layer = self.layers.setdefault(str(layer_id), Layer())
        word = status.split(" in ")[0]  # "Retrying in 5 seconds"
        rank = _RANK.get(word, 0)
        if rank < _RANK.get(layer.status, 0):
            return
        layer.status = word
        detail = message.get("progressDetail") or {}
        current, total = int(detail.get("current") or 0), int(detail.get("total") or 0)
        if word == "Already exists":
            layer.present = True
        elif word == "Downloading":
            layer.total = total or layer.total
            layer.done = max(layer.done, current)
        elif word == "Extracting":
            layer.done = layer.total = max(layer.total, total)
            layer.extracted = max(layer.extracted, current)
        elif rank >= _RANK["Verifying Checksum"]:
            layer.done = layer.total
        self._recompute()

    def _recompute(self) -> None:
        fetched = [layer for layer in self.layers.values() if not layer.present]
        if not fetched:
            return
        known = [layer.total for layer in fetched if layer.total]
        average = sum(known) / len(known) if known else 1.0
        weights = [layer.total or average for layer in fetched]
        done = sum(w * layer.fraction() for w, layer in zip(weights, fetched, strict=True))
        self.percent = max(self.percent, min(99.9, 100.0 * done / sum(weights)))

    @property
    def done(self) -> int:
        return sum(layer.done for layer in self.layers.values() if not layer.present)

    @property
    def total(self) -> int:
        return sum(layer.total for layer in self.layers.values() if not layer.present)

    def fields(self) -> dict[str, str]:
        layers = {
            key: {
                "status": layer.status,
                "done": layer.done,
                "total": layer.total,
                "extracted": layer.extracted,
            }
            for key, layer in self.layers.items()
        }
        return {
            "done": str(self.done),
            "total": str(self.total),
            "percent": f"{self.percent:.1f}",
            "layers": json.dumps(layers, separators=(",", ":")),
        }


class Worker:
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
        self._touch = client.register_script(pullqueue.TOUCH)
        self._set_state = client.register_script(pullqueue.SET_STATE)
        self._dead_letter = client.register_script(pullqueue.GIVE_UP)
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
            self._give_up(entry, fields, None, "malformed", f"Not a pull job: {error}", deliveries)
            return
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
            self._give_up(entry, fields, job, kind, message, deliveries)
            return
        log.info("pulling %s (job %s, delivery %d)", job.image, job.job, deliveries)
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
        except PullError as error:
            if error.transient:
                # Left pending, unacknowledged: taken over after claim_idle, by any worker.
                log.warning("pull of %s failed, will be tried again: %s", job.image, error)
                self._retrying(job.image, entry, error)
            else:
                log.warning("pull of %s failed: %s", job.image, error)
                self._give_up(entry, fields, job, error.kind, str(error), deliveries)
        else:
            log.info("pulled %s", job.image)
            self._finish(job, entry)

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
            with self._watched(job.image) as (heard, stalled):
                stream = self.engine.api.pull(
                    repository, tag=tag, stream=True, decode=True, auth_config=credentials
                )
                try:
                    for message in stream:
                        heard()
                        if lost.is_set():
                            raise Lost()
                        if message.get("error"):
                            raise classify(job.image, str(message["error"]))
                        progress.update(message)
                        if time.monotonic() - last >= PUBLISH_EVERY:
                            last = time.monotonic()
                            self._progress(job.image, entry, progress)
                except (
                    requests.RequestException,
                    urllib3.exceptions.HTTPError,
                    ValueError,
                    OSError,
                ):
                    if not stalled.is_set():
                        raise  # (cut by the watch: a read that failed, or half a message)
                finally:
                    with contextlib.suppress(Exception):
                        stream.close()
                if stalled.is_set():
                    raise PullError(
                        "registry",
                        f"The download of {job.image} stalled: the engine said nothing for "
                        f"{self.settings.stall:.0f} s (NEXTPYTER_PULL_STALL_TIMEOUT).",
                        transient=True,
                    )
            # On the engine now, or the pull did not work (a digest is looked up as such).
            self.engine.images.get(f"{repository}{'@' if ':' in tag else ':'}{tag}")
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

    @contextlib.contextmanager
    def _watched(self, image: str) -> Iterator[tuple[Callable[[], None], threading.Event]]:
        """Cut a pull whose engine says nothing for ``stall`` seconds (a registry that stopped
        sending without closing: the engine may wait on it for ever): its response is shut
        down, which ends the blocked read, and the event is set. Yields ``heard`` (call it at
        each message) and that event."""
        session = self.engine.api
        responses: list[Any] = []

        def keep(response: Any, *_args: Any, **_kwargs: Any) -> Any:
            if "/images/create" in response.url:
                responses.append(response)
            return response

        last = [time.monotonic()]
        stalled = threading.Event()

        def heard() -> None:
            last[0] = time.monotonic()

        def watch() -> bool:
            if time.monotonic() - last[0] <= self.settings.stall or not responses:
                return True
            log.warning("the pull of %s stalled; cutting it", image)
            stalled.set()
            with contextlib.suppress(Exception):
                responses[-1].raw.shutdown()
            return False

        session.hooks["response"].append(keep)
        try:
            with ticking(min(1.0, self.settings.stall / 4), watch, "pagletto-stall"):
                yield heard, stalled
        finally:
            with contextlib.suppress(ValueError):
                session.hooks["response"].remove(keep)

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
        registry = _registry(image)
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
                still: Any = self._touch(
                    keys=[pullqueue.STREAM], args=[pullqueue.GROUP, entry, self.name]
                )
            except redis.RedisError as error:
                log.warning("could not touch the pull entry %s: %s", entry, error)
                return True
            if not still:
                lost.set()
            return bool(still)

        every = max(0.1, min(self.settings.claim_idle / 3, 10.0))
        with ticking(every, touch, "pagletto-touch"):
            yield lost

    # -- state -------------------------------------------------------------------------
    def _state(
        self, image: str, entry: str, client: Any = None, owner: bool = True, **fields: Any
    ) -> None:
        """Write the image's state while it is ``entry``'s and ``entry`` is this worker's
        (``owner=False``: whoever's; ``client``: a pipeline)."""
        self._set_state(
            keys=[pullqueue.state_key(image), pullqueue.events_key(image), pullqueue.STREAM],
            args=[
                pullqueue.GROUP,
                entry,
                self.name if owner else "",
                pullqueue.EVENTS_MAXLEN,
                pullqueue.STATE_TTL,
                *_fields(**fields),
            ],
            client=client,
        )

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
        # The entry's own fields, bounded (an entry not written by NextPyter may hold any
        # number, and a Lua script can pass on only so many).
        kept = list(fields.items())[:DEAD_FIELDS]
        dead: dict[Any, Any] = {
            **{str(k)[:100]: str(v)[:1000] for k, v in kept},
            "entry": entry,
            "error": message,
            "error_kind": kind,
            "deliveries": str(deliveries),
            "failed_at": f"{now:.3f}",
            "worker": self.name,
        }
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
            self._dead_letter(
                keys=[pullqueue.STREAM, pullqueue.DEAD_STREAM],
                args=[
                    pullqueue.GROUP,
                    entry,
                    self.name,
                    pullqueue.DEAD_MAXLEN,
                    *(str(item) for pair in dead.items() for item in pair),
                ],
                client=pipe,
            )
            pipe.execute()


def _fields(**fields: Any) -> list[str]:
    flat: list[str] = []
    for name, value in fields.items():
        flat += [name, f"{value:.3f}" if isinstance(value, float) else str(value)]
    return flat

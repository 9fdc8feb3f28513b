"""Launching a user's server: one spawn per user, progress any replica can follow.

:meth:`Launcher.launch` returns at once with a launch id; a thread takes the
user's spawn lock (Redis, shared by every worker and replica), reuses the
running server or starts one, and publishes each step to the launch's event
stream. The progress page and the API follow that stream.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis

from .. import pullqueue
from ..common.jsonlog import REQUEST_ID
from . import metrics, progress, stopnotice
from .dynconfig import ConfigStore, Profile, RuntimeConfig
from .gpus import Gpus
from .paths import PathRejected, user_files_dir
from .problems import Problem
from .pulls import Pulls, PullTimeout, describe
from .runtime import Backend, BackendError, Server, ServerSpec
from .sessions import upstream_secret
from .slugs import slug_for
from .store import (
    LaunchEvents,
    StateUnavailable,
    mark_launched,
    renewing,
    spawn_lock,
    spawn_locked,
)
from .usage import last_stop, record_stop

log = logging.getLogger(__name__)
LOCK_HEARTBEAT = 25.0  # seconds between "waiting" events while another launch holds the lock
LOCK_GRACE = 30.0  # how much longer than its own start and pull a launch waits for the lock


@dataclass(frozen=True)
class Launch:
    id: str
    user_id: str
    slug: str
    url: str


def notebook_url(slug: str, path: str, is_dir: bool) -> str:
    """Where JupyterLab shows ``path``: a file opens in an editor, a folder in the browser."""
    base = f"/user/{slug}/lab"
    if not path:
        return base
    return f"{base}/tree/{quote(path)}" if not is_dir else f"{base}/tree/{quote(path)}/"


def _running(server: Server, profile: str) -> str:
    """A running server is reused as it is: restarting it for another profile would end
    the user's kernels without asking."""
    if server.profile == profile:
        return "Your server is running"
    return (
        f"Your server is already running with the {server.profile!r} profile; stop it "
        f"(in Nextcloud's personal settings) to start one with {profile!r}"
    )


def image_not_allowed(image: str) -> Problem:
    return Problem(
        403,
        "image-not-allowed",
        "Image not allowed",
        f"The image {image!r} is not on the administrator's list of allowed images. "
        "Ask your administrator to choose a default image in NextPyter's admin settings.",
    )


class Launcher:
    def __init__(
        self,
        backend: Backend,
        client: redis.Redis,
        secret_key: str,
        data_dir: Path,
        start_timeout: float,
        config: ConfigStore | None = None,
        default_image: str = "",
        pull_timeout: float = 1800.0,
        gpus: Gpus | None = None,
    ) -> None:
        self.backend = backend
        self.gpus = gpus  # the GPU bookkeeping, with an inventory (NEXTPYTER_GPUS)
        self.config = config
        self.default_image = default_image
        self.client = client
        self.events = LaunchEvents(client)
        self.secret_key = secret_key
        self.data_dir = data_dir
        self.start_timeout = start_timeout
        self.pulls = Pulls(client)
        self.pull_timeout = pull_timeout

    def launch(self, user_id: str, path: str, profile: str) -> Launch:
        slug = slug_for(user_id)
        try:
            files = user_files_dir(self.data_dir, user_id)
        except PathRejected as error:
            raise Problem(403, "files-refused", "Files folder refused", str(error)) from None
        if not files.is_dir():
            raise Problem(
                404,
                "no-files-folder",
                "No files folder",
                f"NextPyter found no files folder for the user {user_id!r}. Log in to Nextcloud "
                "once so that it is created, or ask your administrator to check "
                "NEXTPYTER_DATA_DIR.",
            )
        try:
            is_dir = bool(path) and (files / path).is_dir()
        except OSError:  # a name too long for the file system, a folder we may not read
            is_dir = False
        url = notebook_url(slug, path, is_dir)
        spec = self._spec(user_id, slug, profile, files)
        launch = Launch(id=secrets.token_urlsafe(18), user_id=user_id, slug=slug, url=url)
        self.events.publish(launch.id, progress.QUEUED, "Preparing your server", slug=slug, url=url)
        mark_launched(self.client, slug)
        # Reuse a running server at once, under the user's lock so that the culler cannot
        # stop it between our look and the answer; if the lock is taken (a start, a stop,
        # the culler), the thread below waits for it and looks again.
        lock = spawn_lock(self.client, slug)
        if lock.acquire(blocking=False):
            try:
                # The runtime down: 503 with Retry-After now, not a launch that fails later.
                server = self.backend.status(slug)
                if server is not None and server.state == "running":
                    message = _running(server, profile)
                    self.events.publish(
                        launch.id, progress.READY, message, url=url, percent=progress.DONE
                    )
                    self._count("reused")
                    return launch
            finally:
                with contextlib.suppress(redis.RedisError):
                    lock.release()
        self._check_gpus(spec)  # none free: refused now (409), not a launch that fails later
        # The thread runs in a copy of this request's context: its log lines, and the pull
        # it may ask for, carry the request's id.
        context = contextvars.copy_context()
        threading.Thread(
            target=context.run, args=(self._run, launch, spec), name=f"launch-{slug}", daemon=True
        ).start()
        return launch

    def _gpu_terms(self, spec: ServerSpec) -> tuple[RuntimeConfig, bool] | None:
        """The settings and the profile's sharing, when ``spec`` gets GPUs by name."""
        if self.gpus is None or not spec.gpu or self.config is None:
            return None
        runtime = self.config.get()
        profile = runtime.profiles.get(spec.profile, Profile())
        return runtime, profile.gpu_shared

    def _check_gpus(self, spec: ServerSpec) -> None:
        terms = self._gpu_terms(spec)
        if terms is not None and self.gpus is not None:
            self.gpus.check(
                self.backend,
                terms[0],
                spec.slug,
                spec.gpu,
                terms[1],
                lambda slug: spawn_locked(self.client, slug),
            )

    def _assign_gpus(self, spec: ServerSpec) -> ServerSpec:
        """``spec`` with the GPUs assigned to it (under the user's lock); BackendError with
        the refusal's words if too few are free."""
        terms = self._gpu_terms(spec)
        if terms is None or self.gpus is None:
            return spec
        try:
            chosen = self.gpus.assign(
                self.backend,
                terms[0],
                spec.slug,
                spec.gpu,
                terms[1],
                lambda slug: spawn_locked(self.client, slug),
            )
        except Problem as refused:
            raise BackendError(refused.detail) from None
        return dataclasses.replace(spec, gpu_ids=chosen)

    def _count(self, outcome: str) -> None:
        backend = self.backend.name
        metrics.safely(lambda: metrics.LAUNCHES.labels(outcome, backend).inc())

    def images(self, runtime: RuntimeConfig | None = None) -> tuple[str, tuple[str, ...]]:
        """The default image and the allowed ones: the administrator's run-time settings,
        or the sidecar's NEXTPYTER_DOCKER_IMAGE."""
        if runtime is None and self.config is not None:
            runtime = self.config.get()
        default = (runtime.default_image if runtime else "") or self.default_image
        allowed = (runtime.allowed_images if runtime else ()) or (self.default_image,)
        return default, tuple(i for i in allowed if i)

    def _spec(self, user_id: str, slug: str, profile: str, files: Path) -> ServerSpec:
        """What to start for this launch: the profile's limits, and the image, which must be
        on the administrator's allowed list (refused before anything happens)."""
        runtime = self.config.get() if self.config else None
        limits = runtime.profiles.get(profile, Profile()) if runtime else Profile()
        image = ""
        if self.backend.uses_images:
            image, allowed = self.images(runtime)
            # Compared as pulled, recorded and run: "x" and "x:latest" are one image.
            if not image or pullqueue.normalize_image(image) not in {
                pullqueue.normalize_image(i) for i in allowed
            }:
                raise image_not_allowed(image)
            image = pullqueue.normalize_image(image)
        return ServerSpec(
            user_id=user_id,
            slug=slug,
            profile=profile,
            files_dir=files,
            secret=upstream_secret(self.secret_key, slug),
            image=image,
            cpu=limits.cpu,
            memory=limits.memory,
            pids=limits.pids,
            gpu=limits.gpu,
        )

    def _run(self, launch: Launch, spec: ServerSpec) -> None:
        with metrics.Timer("total"):
            state = self._run_timed(launch, spec)
        self._count(state)
        log.info("launch of %s: %s", spec.slug, state)

    def _run_timed(self, launch: Launch, spec: ServerSpec) -> str:
        """The launch under the user's lock; its last state (ready or failed)."""
        publish = self.events.publish
        lock = spawn_lock(self.client, spec.slug)
        began = time.monotonic()
        try:
            if not lock.acquire(blocking=False):
                # Another launch (which may wait for a long pull) holds it: say so now and
                # again every LOCK_HEARTBEAT seconds, so the progress stream stays open.
                deadline = time.monotonic() + self.start_timeout + self.pull_timeout + LOCK_GRACE
                while True:
                    publish(
                        launch.id, progress.WAITING, "Another launch of your server is under way"
                    )
                    # (At least two tries each time: redis-py tries every 0.1 s.)
                    wait = max(0.25, min(LOCK_HEARTBEAT, deadline - time.monotonic()))
                    if lock.acquire(blocking_timeout=wait):
                        break
                    if time.monotonic() >= deadline:
                        publish(
                            launch.id,
                            progress.FAILED,
                            "Another launch of your server is still running. Try again in a "
                            "minute.",
                        )
                        return progress.FAILED
        except redis.RedisError as error:
            log.error("spawn lock for %s: %s", spec.slug, error)
            metrics.safely(lambda: metrics.REDIS_ERRORS.labels("launch").inc())
            with contextlib.suppress(redis.RedisError):
                publish(launch.id, progress.FAILED, StateUnavailable.MESSAGE)
            return progress.FAILED
        waited = time.monotonic() - began
        metrics.safely(lambda: metrics.LAUNCH_SECONDS.labels("lock").observe(waited))
        # The last event goes out after the lock is released: whoever hears "ready" or
        # "failed" (a browser, a stop, the culler) finds the user's lock free.
        try:
            with renewing(lock):
                last = self._start(launch, spec)
        finally:
            with contextlib.suppress(redis.RedisError):
                lock.release()  # if it expired or Redis is gone, it frees itself
        try:
            publish(launch.id, **last)
        except redis.RedisError as error:  # the follower's stream ends with its own message
            log.error("the last event of the launch of %s was lost: %s", spec.slug, error)
            metrics.safely(lambda: metrics.REDIS_ERRORS.labels("launch").inc())
        return str(last["state"])

    def _start(self, launch: Launch, spec: ServerSpec) -> dict[str, Any]:
        """Start or reuse the server (under the user's lock); the launch's last event."""
        publish = self.events.publish
        try:
            # Again, now under the lock: the folder must still be the user's own (no link
            # put in its place since the launch was checked).
            if user_files_dir(self.data_dir, spec.user_id) != spec.files_dir:
                raise PathRejected("The user's files folder changed during the launch.")
            server = self.backend.status(spec.slug)
            pulled = False
            if server is None:
                self._why_stopped(launch, spec.slug)
                if spec.image and not self.backend.has_image(spec.image):
                    with metrics.Timer("pull"):
                        self._pull(launch, spec.image)
                    pulled = True
                publish(
                    launch.id,
                    progress.STARTING,
                    "Starting your Jupyter server",
                    percent=progress.starting_server(pulled),
                )
                spec = self._assign_gpus(spec)
                with metrics.Timer("start"):
                    server = self.backend.start(spec)
            publish(
                launch.id,
                progress.STARTING,
                "Waiting for Jupyter to answer",
                percent=progress.waiting_for_jupyter(pulled),
            )
            percent = progress.waiting_for_jupyter(pulled)

            def said(message: str) -> None:  # what the runtime says meanwhile (pod events)
                publish(launch.id, progress.STARTING, message, percent=percent)

            with metrics.Timer("ready"):
                server = self.backend.wait_ready(spec.slug, self.start_timeout, said)
            return {
                "state": progress.READY,
                "message": _running(server, spec.profile),
                "url": launch.url,
                "percent": progress.DONE,
            }
        except (BackendError, PathRejected, StateUnavailable) as error:
            log.warning("launch of %s failed: %s", spec.slug, error)
            if isinstance(error, StateUnavailable):
                metrics.safely(lambda: metrics.REDIS_ERRORS.labels("launch").inc())
            elif isinstance(error, BackendError):
                name = self.backend.name
                metrics.safely(lambda: metrics.ENGINE_ERRORS.labels(name, "launch").inc())
            try:
                self.backend.stop(spec.slug)
            except Exception:  # the failure is reported below; the culler cleans up later
                log.exception("cleaning up the failed launch of %s", spec.slug)
            with contextlib.suppress(Exception):  # best effort: the failure is said below
                record_stop(self.client, spec.slug, "failed", str(error))
                if self.gpus is not None:
                    self.gpus.release(spec.slug)
            return {"state": progress.FAILED, "message": str(error)}
        except Exception:
            log.exception("launch of %s failed", spec.slug)
            return {
                "state": progress.FAILED,
                "message": "The server could not be started because of an internal error. "
                "Ask your administrator to look at the sidecar's log.",
            }

    def _why_stopped(self, launch: Launch, slug: str) -> None:
        """Say why the user's server last stopped, if it is known (the culler, an admin, a
        failure wrote it): the event's ``notice``, which the progress page keeps shown."""
        try:  # a courtesy, never the launch's failure
            stop = last_stop(self.client, slug)
            if stop is not None:
                notice = f"{stopnotice.sentence(stop)}; starting it again"
                self.events.publish(launch.id, progress.STARTING, notice, notice=notice, percent=5)
        except Exception as error:
            log.info("why %s's server stopped is not said: %s", slug, error)

    def _pull(self, launch: Launch, image: str) -> None:
        """Have pagletto pull ``image`` (or join the pull under way) and pass its progress
        on: the launch's percentage goes from progress.PULL_FIRST to progress.PULL_LAST while
        the image downloads."""
        try:
            requested = self.pulls.request(image, f"launch:{launch.slug}", REQUEST_ID.get())
        except redis.RedisError as error:
            log.error("queueing the pull of %s: %s", image, error)
            raise StateUnavailable() from None
        queued = "true" if requested.queued else "false"
        metrics.safely(lambda: metrics.PULL_REQUESTS.labels("launch", queued).inc())
        log.info(
            "pull of %s: job %s (%s)", image, requested.job, "new" if requested.queued else "joined"
        )
        try:
            for state in self.pulls.follow(requested, self.pull_timeout):
                if state.state in pullqueue.FINAL:
                    metrics.count(metrics.PULLS, state.state)
                if state.state == pullqueue.FAILED:
                    raise BackendError(state.error or f"The pull of {image} failed.")
                pull = {
                    "job": state.job,
                    "state": state.state,
                    "percent": state.percent,
                    "done": state.done,
                    "total": state.total,
                    "image": state.image,
                }
                if state.state == pullqueue.DONE:
                    message = describe(state)
                    self.events.publish(
                        launch.id, progress.PULLING, message, percent=progress.PULL_LAST, pull=pull
                    )
                    return
                self.events.publish(
                    launch.id,
                    progress.PULLING,
                    describe(state),
                    percent=progress.pulling(state.percent),
                    pull=pull,
                )
        except PullTimeout as error:
            raise BackendError(str(error)) from None
        raise BackendError(f"The pull of {image} ended without a result.")  # not reached

"""The sidecar's side of the pull queue: ask pagletto for an image and follow its pull.

The queue, its keys and fields are defined once, in :mod:`nextpyter.pullqueue`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import redis

from .. import pullqueue
from ..pullqueue import PullState, Requested

log = logging.getLogger(__name__)

FOLLOW_BLOCK = 5.0  # seconds a follower waits for news before it reads the state again
ALIVE = pullqueue.ALIVE  # a worker seen within this many seconds counts as running
NO_WORKER_GRACE = 30.0  # how long a launch waits for a worker to turn up


class PullTimeout(Exception):
    pass


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def describe(state: PullState) -> str:
    """The state as a sentence for the progress page."""
    image = state.image
    if state.state == pullqueue.QUEUED:
        return f"Waiting for the image puller to start downloading {image}"
    if state.state == pullqueue.RETRYING:
        return f"Downloading {image} failed ({state.error}); trying again"
    if state.state == pullqueue.DONE:
        return f"Downloaded {image}"
    if state.state == pullqueue.FAILED:
        return state.error
    if state.total:
        return (
            f"Downloading {image}: {_megabytes(state.done)} of {_megabytes(state.total)} "
            f"({state.percent:.0f} %)"
        )
    return f"Downloading {image}"


class Pulls:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def request(self, image: str, requested_by: str, request_id: str = "") -> Requested:
        return pullqueue.request_pull(self.client, image, requested_by, request_id=request_id)

    def state(self, image: str) -> PullState | None:
        return pullqueue.read_state(self.client, pullqueue.normalize_image(image))

    def follow(
        self, requested: Requested, timeout: float, every: float = 30.0
    ) -> Iterator[PullState]:
        """Yield the pull's state at once, at every change and at least every ``every``
        seconds, until it is done or failed.

        Followers block on the image's events stream, so any number of them (launches on
        any replica) see the same progress without polling. If the record is lost (Redis
        restarted without persistence) the pull is asked for again; if Redis is away for
        a moment, the follower waits for it. :class:`PullTimeout` after ``timeout``.
        """
        image, key = requested.image, pullqueue.events_key(requested.image)
        began = time.monotonic()
        deadline = began + timeout
        last_id, seen, said = "0-0", None, 0.0
        while True:
            try:
                newest: Any = self.client.xrevrange(key, count=1)
                if newest:
                    last_id = newest[0][0]
                state = pullqueue.read_state(self.client, image)
                if state is None:
                    log.warning("the pull record of %s is gone; asking again", image)
                    requested = self.request(image, "follower")
                    continue
                mark = (state.state, state.job, state.percent, state.done, state.error)
                if mark != seen or time.monotonic() - said >= every:
                    seen, said = mark, time.monotonic()
                    yield state
                if state.state in pullqueue.FINAL:
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PullTimeout(self._why_slow(image))
                news: Any = self.client.xread(
                    {key: last_id},
                    count=1,
                    block=max(1, int(min(remaining, FOLLOW_BLOCK) * 1000)),  # 0: forever
                )
                if news:
                    continue
                # Quiet for a while, and no worker to take the job on or go on with it
                # (the only one died): say so now; the job stays queued for when one starts.
                if time.monotonic() - began > min(NO_WORKER_GRACE, timeout / 2) and not (
                    pullqueue.live_workers(self.client, ALIVE)
                ):
                    raise PullTimeout(self._why_slow(image))
                if state.entry and not self.client.xrange(
                    pullqueue.STREAM, state.entry, state.entry
                ):
                    # Its job's entry is gone (trimmed or deleted by hand): ask again, which
                    # queues a new job only if this one was lost, not if it has ended.
                    log.warning("the pull job of %s is gone; asking again", image)
                    requested = pullqueue.request_pull(
                        self.client, image, "follower", only_if_lost=True
                    )
            except redis.RedisError as error:
                if time.monotonic() > deadline:
                    raise PullTimeout(
                        f"NextPyter lost its Redis while waiting for {image} ({error})."
                    ) from None
                log.warning("following the pull of %s: %s", image, error)
                time.sleep(1.0)

    def _why_slow(self, image: str) -> str:
        try:
            alive = pullqueue.live_workers(self.client, ALIVE)
        except redis.RedisError:
            alive = []
        if not alive:
            return (
                f"The image {image} is not on NextPyter's Docker engine and no image puller "
                "(pagletto) is running to download it. Ask your administrator to start "
                "pagletto."
            )
        return (
            f"The image {image} was not downloaded in time. Try again later, or ask your "
            "administrator to pre-pull it from NextPyter's admin settings."
        )

    def states(self, images: list[str]) -> dict[str, PullState | None]:
        with self.client.pipeline(transaction=False) as pipe:
            for image in images:
                pipe.hgetall(pullqueue.state_key(image))
            raws: list[Any] = pipe.execute()
        return {
            image: PullState.from_hash(image, raw) if raw else None
            for image, raw in zip(images, raws, strict=True)
        }

"""The stall watchdog: a pull whose engine says nothing for too long is cut.

A registry that stops sending without closing the connection leaves the engine waiting
on it, and pagletto's read of the engine's reply blocks with it: docker-py reads a pull's
reply with no timeout at all. So a thread watches how long ago the engine last said
something, and when that is more than the timeout it shuts the reply down (urllib3's
``HTTPResponse.shutdown``), which ends the blocked read from the side.

Guarantees, for a block run under :func:`watch`:

- only the engine's replies to pulls (``/images/create``) sent through that client while
  the block runs are cut, and only the last one;
- :meth:`Watch.messages` raises :class:`Stalled` after a cut, in place of whatever the cut
  read raised (a failed read, or half a message); any other error goes through as it is;
- when the block ends, the watching thread is joined and the client is as it was.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import docker
import requests
import urllib3

from ..common.redis import ticking

__all__ = ["Stalled", "Watch", "watch"]

log = logging.getLogger("pagletto")

PULL_PATH = "/images/create"  # the engine's pull, in the reply's URL

# What a read raises when its reply is shut down under it.
_CUT_READ_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, ValueError, OSError)


class Stalled(Exception):
    """The engine said nothing for the watch's timeout, and its reply was cut."""


class Watch:
    """One pull's watch: how long ago the engine last said something, and whether the
    reply was cut for it."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.stalled = threading.Event()
        self._heard_at = time.monotonic()

    def messages(self, stream: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """The engine's messages from ``stream``, each counted as the engine being heard;
        :class:`Stalled` once the reply was cut."""
        try:
            for message in stream:
                self._heard_at = time.monotonic()
                yield message
        except _CUT_READ_ERRORS:
            if not self.stalled.is_set():
                raise
        # Also after a stream that just ended: a cut between two messages may end it cleanly.
        if self.stalled.is_set():
            raise Stalled()

    def silent_for(self) -> float:
        """Seconds since the engine last said something (or since the watch began)."""
        return time.monotonic() - self._heard_at


@contextlib.contextmanager
def watch(api: docker.APIClient, timeout: float, image: str) -> Iterator[Watch]:
    """Cut the pull that the block makes through ``api`` (the engine's low-level client)
    when the engine says nothing for ``timeout`` seconds; read its messages through the
    yielded :meth:`Watch.messages`. ``image`` is for the log."""
    watched = Watch(timeout)
    # The reply is only known once the request is sent, inside the block: a response hook
    # of the client's session catches it.
    replies: list[requests.Response] = []

    def keep(reply: requests.Response, *_args: Any, **_kwargs: Any) -> requests.Response:
        if PULL_PATH in reply.url:
            replies.append(reply)
        return reply

    def check() -> bool:
        if watched.silent_for() <= timeout or not replies:
            return True
        log.warning("the pull of %s stalled; cutting it", image)
        watched.stalled.set()
        with contextlib.suppress(Exception):  # already closed, or an older urllib3
            replies[-1].raw.shutdown()
        return False

    api.hooks["response"].append(keep)
    try:
        with ticking(min(1.0, timeout / 4), check, "pagletto-stall"):
            yield watched
    finally:
        with contextlib.suppress(ValueError):
            api.hooks["response"].remove(keep)

"""The Redis connection both services use, and a helper for work that must be kept
alive while a block runs (a lock's renewal, a pull's touch, a stall watch)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

import redis

READ_TIMEOUT = 45.0  # longer than any blocking command we send


def connect(url: str) -> redis.Redis:
    # A reply may take as long as the longest blocking read (the progress stream's XREAD
    # blocks up to 15 s); redis-py 8's default of 5 s would cut it.
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=5,
        socket_timeout=READ_TIMEOUT,
        health_check_interval=30,
    )


@contextlib.contextmanager
def ticking(every: float, tick: Callable[[], bool], name: str) -> Iterator[None]:
    """Call ``tick`` every ``every`` seconds in a thread of its own while the block runs,
    until it returns False; the thread is joined when the block ends."""
    done = threading.Event()

    def run() -> None:
        while not done.wait(every):
            if not tick():
                return

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()

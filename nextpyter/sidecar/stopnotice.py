"""The words a user reads about why their server last stopped, from the one record
``usage.record_stop`` keeps per user (``keys.last_stop``): on the next launch's progress
page ("Your server stopped at 14:02: idle for 60 min; starting it again") and wherever
else it is shown."""

from __future__ import annotations

import time

from .usage import REASONS, Stop


def when(at: float, now: float | None = None) -> str:
    """14:02 today, else 3 May 14:02 (the sidecar's local time)."""
    now = time.time() if now is None else now
    stamp, today = time.localtime(at), time.localtime(now)
    clock = time.strftime("%H:%M", stamp)
    if stamp[:3] == today[:3]:
        return clock
    return f"{stamp.tm_mday} {time.strftime('%b', stamp)} {clock}"


def sentence(stop: Stop, now: float | None = None) -> str:
    """The sentence "Your server stopped at 14:02: idle for 60 min" (the detail if any, else
    what the reason means)."""
    why = stop.detail or REASONS.get(stop.reason, stop.reason)
    return f"Your server stopped at {when(stop.at, now)}: {why}"

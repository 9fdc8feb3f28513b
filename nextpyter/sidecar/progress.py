"""A launch's progress as its event stream tells it: the states, the progress bar's
percentage at each phase, and the name of the server-sent event.

The progress page (templates/progress.html) and API clients follow these; the
OpenAPI document describes them.
"""

from __future__ import annotations

EVENT = "progress"  # the server-sent event of each step (what the page listens for)

# The states of a launch's events, in the order they come.
QUEUED = "queued"  # accepted; the launch thread is about to take the user's lock
WAITING = "waiting"  # another launch of the same user holds the lock
PULLING = "pulling"  # the image is being downloaded (by pagletto)
STARTING = "starting"  # the server is being started, then asked whether it answers
READY = "ready"  # the server answers: open the notebook
FAILED = "failed"  # with a message for the user
TERMINAL = frozenset({READY, FAILED})

# The progress bar, in percent, phase by phase; a launch that pulls an image first spends
# PULL_FIRST..PULL_LAST on the download and starts later on the bar.
PULL_FIRST = 5
PULL_LAST = 60
STARTING_SERVER = 30
STARTING_SERVER_AFTER_PULL = 65
WAITING_FOR_JUPYTER = 70
WAITING_FOR_JUPYTER_AFTER_PULL = 80
DONE = 100


def pulling(pull_percent: float) -> int:
    """The launch's percentage while its image's pull is ``pull_percent`` done."""
    return PULL_FIRST + round((PULL_LAST - PULL_FIRST) / 100 * pull_percent)


def starting_server(pulled: bool) -> int:
    return STARTING_SERVER_AFTER_PULL if pulled else STARTING_SERVER


def waiting_for_jupyter(pulled: bool) -> int:
    return WAITING_FOR_JUPYTER_AFTER_PULL if pulled else WAITING_FOR_JUPYTER

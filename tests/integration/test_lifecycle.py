"""Building the app does no start-up work; lifecycle.start (gunicorn's worker hook) does:
the backend's reconcile, then the culler thread."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from nextpyter.sidecar import lifecycle
from nextpyter.sidecar.config import Settings


def _cullers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "culler" and t.is_alive()]


def test_the_factory_starts_nothing_and_lifecycle_starts_the_worker(
    make_app: Any, settings: Settings
) -> None:
    # What a crashed start left: a server directory no process owns, older than the grace.
    leftover = settings.runtime_dir / "servers" / "ghost"
    leftover.mkdir(parents=True)
    old = time.time() - 3600
    os.utime(leftover, (old, old))
    before = len(_cullers())

    app = make_app(cull_interval=3600.0)
    assert leftover.exists() and len(_cullers()) == before  # no reconcile, no thread

    culler = lifecycle.start(app)
    try:
        assert not leftover.exists()  # reconciled
        assert culler is not None and len(_cullers()) == before + 1
    finally:
        assert culler is not None
        culler.stop()


def test_without_a_cull_interval_no_culler_starts(make_app: Any) -> None:
    assert lifecycle.start(make_app(cull_interval=0.0)) is None

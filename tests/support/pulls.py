"""What the pull-queue tests share: a digest, a megabyte, an engine factory that must never be
reached (:class:`NoEngine`), and helpers that hand entries to a worker and read states."""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import redis as redis_lib

from nextpyter import pullqueue
from nextpyter.pagletto.config import PullSettings

DIGEST = "sha256:" + "0123456789abcdef" * 4


class NoEngine:
    """An engine factory for a worker that must not reach the engine: it counts its calls
    and hands out a real client of an engine that is not there (its socket does not
    exist), which fails as an unreachable engine does."""

    def __init__(self) -> None:
        self.calls = 0
        self.socket = Path(tempfile.gettempdir()) / f"no-engine-{uuid.uuid4().hex}.sock"

    def __call__(self) -> docker.DockerClient:
        self.calls += 1
        return docker.DockerClient(base_url=f"unix://{self.socket}", version="1.41", timeout=5)


def deliver(client: redis_lib.Redis, worker: str) -> None:
    """Hand the queued entries to ``worker``, as its XREADGROUP would: a worker writes an
    image's state only while the job's entry is its own."""
    client.xreadgroup(pullqueue.GROUP, worker, {pullqueue.STREAM: ">"})


def pull_settings(**changes: Any) -> PullSettings:
    base = PullSettings(
        redis_url="unix:///not/used",
        worker="test-worker",
        claim_idle=0.1,
        max_deliveries=3,
        retries=0,
        backoff=0.0,
        backoff_max=0.0,
        stall=300.0,
        auth={},
        auth_file="",
    )
    return replace(base, **changes)


def state_of(client: redis_lib.Redis, image: str) -> pullqueue.PullState:
    found = pullqueue.read_state(client, pullqueue.normalize_image(image))
    assert found is not None, f"no pull state for {image}"
    return found


MB = 1_000_000

"""A launch whose image must be pulled, when Redis fails as the pull is queued: the
launch fails with the Redis message (not as a runtime failure)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from nextpyter.sidecar.launches import Launch, Launcher
from nextpyter.sidecar.runtime.base import Backend, Server, ServerSpec
from nextpyter.sidecar.store import StateUnavailable


class ImageBackend(Backend):
    """Runs images, has none, runs nothing; records what it is asked to stop."""

    name = "images"
    uses_images = True

    def __init__(self) -> None:
        self.stopped: list[str] = []

    def has_image(self, image: str) -> bool:
        return False

    def start(self, spec: ServerSpec) -> Server:
        raise AssertionError("nothing may start without its image")

    def wait_ready(self, slug: str, timeout: float) -> Server:
        raise AssertionError("nothing may start without its image")

    def status(self, slug: str) -> Server | None:
        return None

    def stop(self, slug: str) -> bool:
        self.stopped.append(slug)
        return False

    def list(self) -> list[Server]:
        return []

    def reconcile(self, busy: Callable[[str], bool] = lambda slug: False) -> None:
        pass

    def activity(self, slug: str, secret: str) -> float | None:
        return None

    def upstream(self, slug: str) -> str:
        return "unix:/nowhere:"


def test_redis_failing_as_the_pull_is_queued_fails_the_launch_with_its_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = tmp_path / "ann" / "files"
    files.mkdir(parents=True)
    backend = ImageBackend()
    launcher = Launcher(
        backend, redis.Redis.from_url("unix:///nonexistent/redis.sock"), "k" * 40, tmp_path, 5.0
    )

    def unreachable(*args: Any) -> Any:
        raise redis.ConnectionError("Error 2 connecting to unix socket")

    monkeypatch.setattr(launcher.pulls, "request", unreachable)
    launch = Launch(id="l1", user_id="ann", slug="ann", url="/user/ann/lab")
    spec = ServerSpec(
        user_id="ann", slug="ann", profile="default", files_dir=files.resolve(), secret="s",
        image="jupyter/lab:4",
    )  # fmt: skip
    with pytest.raises(StateUnavailable, match="Redis is unreachable"):
        launcher._pull(launch, spec.image)
    assert launcher._start(launch, spec) == {
        "state": "failed",
        "message": "NextPyter's Redis is unreachable; try again soon.",
    }
    assert backend.stopped == ["ann"]  # cleaned up as after any failed start

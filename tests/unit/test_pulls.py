"""The sidecar's words for each pull state (nextpyter/sidecar/pulls.py describe)."""

from __future__ import annotations

from nextpyter import pullqueue
from nextpyter.sidecar.pulls import describe


def test_describe_each_state() -> None:
    image = "team/notebook:1"
    state = pullqueue.PullState
    assert "Waiting for the image puller" in describe(state(image, state="queued"))
    assert describe(state(image, state="pulling")) == f"Downloading {image}"
    assert (
        describe(state(image, state="pulling", done=2_500_000, total=10_000_000, percent=24.6))
        == f"Downloading {image}: 2.5 MB of 10.0 MB (25 %)"
    )
    retrying = describe(state(image, state="retrying", error="connection refused"))
    assert image in retrying and "connection refused" in retrying and "trying again" in retrying
    assert describe(state(image, state="done")) == f"Downloaded {image}"
    assert describe(state(image, state="failed", error="It failed.")) == "It failed."

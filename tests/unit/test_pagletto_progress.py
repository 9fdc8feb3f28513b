"""Pull progress (pagletto's Progress) over the engine's messages: it never goes back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nextpyter.pagletto.progress import DOWNLOAD_SHARE, Progress
from tests.support.pulls import DIGEST, MB

PRESENT, BIG, SMALL, TINY = "a1b2c3d4e5f6", "0f1e2d3c4b5a", "99887766aabb", "deadbeef0001"


def _m(
    layer: str, status: str, current: int | None = None, total: int | None = None
) -> dict[str, Any]:
    detail = {} if current is None else {"current": current, "total": total}
    message: dict[str, Any] = {"status": status, "progressDetail": detail, "id": layer}
    if current is not None:
        message["progress"] = f"[=>    ] {current / MB:.1f}MB/{(total or 0) / MB:.1f}MB"
    return message


# As the engine streams a pull of team/notebook:2024-06 (one layer on the engine already,
# a tiny layer whose size is never said before it is downloaded), with a checkpoint name
# where the test looks closer.
PULL_MESSAGES: list[tuple[dict[str, Any], str]] = [
    ({"status": "Pulling from team/notebook", "id": "2024-06"}, ""),
    (_m(PRESENT, "Already exists"), ""),
    (_m(BIG, "Pulling fs layer"), ""),
    (_m(SMALL, "Pulling fs layer"), ""),
    (_m(TINY, "Pulling fs layer"), ""),
    (_m(TINY, "Waiting"), "nothing-known"),
    (_m(BIG, "Downloading", 524_288, 10 * MB), ""),
    (_m(SMALL, "Downloading", 100_000, 2 * MB), ""),
    (_m(BIG, "Downloading", 5 * MB, 10 * MB), ""),
    (_m(SMALL, "Retrying in 5 seconds"), "retrying"),
    (_m(SMALL, "Downloading", 1 * MB, 2 * MB), ""),
    (_m(SMALL, "Verifying Checksum"), ""),
    (_m(SMALL, "Download complete"), "small-downloaded"),
    # The engine repeats a "Downloading" after "Download complete" at times.
    (_m(SMALL, "Downloading", 1_500_000, 2 * MB), "late-downloading"),
    (_m(BIG, "Downloading", 10 * MB, 10 * MB), ""),
    (_m(BIG, "Verifying Checksum"), ""),
    (_m(BIG, "Download complete"), ""),
    (_m(BIG, "Extracting", 32_768, 10 * MB), ""),
    (_m(BIG, "Extracting", 10 * MB, 10 * MB), ""),
    (_m(BIG, "Pull complete"), ""),
    (_m(SMALL, "Extracting", 2 * MB, 2 * MB), ""),
    (_m(SMALL, "Pull complete"), ""),
    (_m(TINY, "Verifying Checksum"), ""),
    (_m(TINY, "Download complete"), ""),
    (_m(TINY, "Extracting", 1_200, 1_200), ""),
    (_m(TINY, "Pull complete"), "all-complete"),
    ({"status": "Digest: " + DIGEST}, ""),
    ({"status": "Status: Downloaded newer image for team/notebook:2024-06"}, "end"),
]


def test_progress_over_a_real_pull_never_goes_back() -> None:
    progress = Progress()
    percents: list[float] = []
    at: dict[str, tuple[float, int, int, dict[str, Any]]] = {}
    for message, checkpoint in PULL_MESSAGES:
        progress.update(message)
        percents.append(progress.percent)
        fields = progress.fields()
        assert 0.0 <= progress.percent < 100.0, message
        assert 0 <= progress.done <= progress.total or progress.total == 0, message
        assert int(fields["done"]) == progress.done and int(fields["total"]) == progress.total
        if checkpoint:
            at[checkpoint] = (
                progress.percent,
                progress.done,
                progress.total,
                json.loads(fields["layers"]),
            )
    assert percents == sorted(percents), "the percentage went back"
    assert percents[-1] > percents[0]

    # Nothing downloaded yet: nothing counted, the present layer is not a layer to fetch.
    percent, done, total, layers = at["nothing-known"]
    assert (percent, done, total) == (0.0, 0, 0)
    assert layers[PRESENT]["status"] == "Already exists"
    assert "2024-06" not in layers  # "Pulling from" names the tag, not a layer

    percent, done, total, layers = at["retrying"]
    assert layers[SMALL]["status"] == "Retrying"
    assert (done, total) == (5 * MB + 100_000, 12 * MB)

    # The tiny layer's size is unknown: no bytes of it, but it weighs as the average layer.
    percent, done, total, layers = at["small-downloaded"]
    assert (done, total) == (7 * MB, 12 * MB)
    average = (10 * MB + 2 * MB) / 2
    expected = DOWNLOAD_SHARE * (5 * MB + 2 * MB) / (10 * MB + 2 * MB + average)
    assert percent == pytest.approx(100 * expected, abs=0.01)
    assert percent < 100 * DOWNLOAD_SHARE * done / total  # the unknown layer holds it back

    # The repeated "Downloading" changes nothing.
    late = at["late-downloading"]
    assert late[:3] == at["small-downloaded"][:3]
    assert late[3][SMALL]["status"] == "Download complete"

    percent, done, total, layers = at["all-complete"]
    assert (done, total) == (12 * MB + 1_200, 12 * MB + 1_200)
    assert 99.0 <= percent < 100.0  # 100 only once the image is on the engine
    assert {layer["status"] for key, layer in layers.items() if key != PRESENT} == {"Pull complete"}
    assert at["end"][:3] == at["all-complete"][:3]  # "Digest:" and "Status:" are no layers


def test_progress_of_a_pull_with_every_layer_present_counts_no_bytes() -> None:
    progress = Progress()
    for message in (
        {"status": "Pulling from team/notebook", "id": "1"},
        _m(PRESENT, "Already exists"),
        _m(BIG, "Already exists"),
        {"status": "Digest: " + DIGEST},
        {"status": "Status: Image is up to date for team/notebook:1"},
    ):
        progress.update(message)
    assert (progress.done, progress.total, progress.percent) == (0, 0, 0.0)
    assert set(json.loads(progress.fields()["layers"])) == {PRESENT, BIG}


def test_progress_with_sizes_unknown_moves_by_layer_count() -> None:
    progress = Progress()
    for layer in (BIG, SMALL):
        progress.update(_m(layer, "Pulling fs layer"))
    progress.update(_m(BIG, "Download complete"))  # no size ever said
    assert progress.total == 0
    assert progress.percent == pytest.approx(100 * DOWNLOAD_SHARE / 2, abs=0.01)
    progress.update(_m(BIG, "Downloading", 1, 10))  # late, and smaller: ignored
    assert progress.percent == pytest.approx(100 * DOWNLOAD_SHARE / 2, abs=0.01)

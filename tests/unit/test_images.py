"""Image references (nextpyter/common/images.py): Docker's grammar, normalization and splitting."""

from __future__ import annotations

import pytest

from nextpyter import pullqueue
from tests.support.pulls import DIGEST


@pytest.mark.parametrize(
    ("given", "normalized", "split"),
    [
        ("notebook", "notebook:latest", ("notebook", "latest")),
        ("notebook:latest", "notebook:latest", ("notebook", "latest")),
        ("team/notebook:2024-06", "team/notebook:2024-06", ("team/notebook", "2024-06")),
        # A registry's port is not a tag: the tag is looked for in the last component only.
        ("host:5000/x", "host:5000/x:latest", ("host:5000/x", "latest")),
        ("host:5000/team/x:1.2", "host:5000/team/x:1.2", ("host:5000/team/x", "1.2")),
        ("quay.io/jupyter/scipy-notebook", "quay.io/jupyter/scipy-notebook:latest", None),
        (f"x@{DIGEST}", f"x@{DIGEST}", ("x", DIGEST)),
        (f"host:5000/x@{DIGEST}", f"host:5000/x@{DIGEST}", ("host:5000/x", DIGEST)),
    ],
)
def test_normalize_and_split_image(
    given: str, normalized: str, split: tuple[str, str] | None
) -> None:
    assert pullqueue.normalize_image(given) == normalized
    assert pullqueue.normalize_image(normalized) == normalized  # idempotent
    if split is not None:
        assert pullqueue.split_image(normalized) == split


@pytest.mark.parametrize(
    ("given", "needle"),
    [
        ("", "is not an image reference"),
        ("Notebook", "is not an image reference"),  # repository names are lowercase
        ("team/NoteBook:1", "is not an image reference"),
        ("note book", "is not an image reference"),
        (" notebook", "is not an image reference"),
        ("notebook\n", "is not an image reference"),
        ("-notebook", "is not an image reference"),
        (".notebook", "is not an image reference"),
        ("x" * 256, "is not an image reference"),
        ("x@sha256:abc", "malformed digest"),
        ("x@md5:" + "0" * 32, "malformed digest"),
        ("x@", "malformed digest"),
        (f"x@{DIGEST}0", "malformed digest"),
        (f"x@{DIGEST}@{DIGEST}", "malformed digest"),
    ],
)
def test_normalize_image_refuses_odd_references(given: str, needle: str) -> None:
    with pytest.raises(pullqueue.InvalidImage, match=needle) as caught:
        pullqueue.normalize_image(given)
    assert isinstance(caught.value, ValueError)
    assert len(str(caught.value)) < 300  # a long reference is not echoed whole


def test_normalize_image_refuses_what_is_not_a_string() -> None:
    for value in (None, 3, b"notebook", ["notebook"]):
        with pytest.raises(pullqueue.InvalidImage):
            pullqueue.normalize_image(value)  # type: ignore[arg-type]


def test_the_longest_reference_accepted_is_255_characters() -> None:
    name = "x" * 248  # with ":latest", 255
    assert pullqueue.normalize_image(name) == f"{name}:latest"
    assert pullqueue.normalize_image("x" * 255) == "x" * 255 + ":latest"


@pytest.mark.parametrize(
    "given", ["team/../notebook", "a..b", "team//notebook", "notebook/", "notebook:", "x:1:2"]
)
def test_normalize_image_refuses_references_the_engine_refuses(given: str) -> None:
    with pytest.raises(pullqueue.InvalidImage):
        pullqueue.normalize_image(given)

"""Image references as the engine takes them: the one grammar the sidecar's settings,
the admin API and the pull queue check against (the Nextcloud app's PHP checks the same;
a contract test runs both on the same samples)."""

from __future__ import annotations

import re

# An image reference as the engine takes it (the distribution project's grammar):
# [domain[:port]/]path[:tag][@sha256:digest], path components in lower case.
# A first component is a registry only with a dot or a port, or as localhost (as Docker
# reads it): "team/notebook" is on Docker Hub.
_HOST = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_PORT = r"(?::[0-9]{1,5})"
_DOMAIN = rf"(?:localhost{_PORT}?|{_HOST}(?:\.{_HOST})+{_PORT}?|{_HOST}{_PORT})"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_RE = re.compile(
    rf"(?P<name>(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)
MAX_IMAGE = 255


class InvalidImage(ValueError):
    pass


def is_image(image: object) -> bool:
    """Whether ``image`` is an image reference the engine takes."""
    return isinstance(image, str) and len(image) <= MAX_IMAGE and bool(IMAGE_RE.fullmatch(image))


def normalize_image(image: str) -> str:
    """The reference under which an image is queued, recorded and run: with its tag
    (``latest`` when it names neither tag nor digest), so that ``x`` and ``x:latest`` are one
    pull; by digest alone when it has one (``x:1@sha256:…`` is ``x@sha256:…``)."""
    if not is_image(image):
        if isinstance(image, str) and "@" in image and is_image(image.partition("@")[0]):
            raise InvalidImage(f"{image[:80]!r} has a malformed digest (expected sha256:<64 hex>)")
        raise InvalidImage(
            f"{str(image)[:80]!r} is not an image reference (like registry.example.com/team/"
            "notebook:2024-06 or quay.io/jupyter/scipy-notebook:latest)"
        )
    match = IMAGE_RE.fullmatch(image)
    assert match is not None
    if match["digest"] is not None:  # the engine pulls by digest; a tag beside it is moot
        return f"{match['name']}@{match['digest']}"
    if match["tag"] is None:
        return f"{image}:latest"
    return image


def split_image(image: str) -> tuple[str, str]:
    """``(repository, tag or digest)`` of a normalized reference, as the engine's pull
    takes them (a reference with both pulls by digest)."""
    match = IMAGE_RE.fullmatch(image)
    if match is None:
        raise InvalidImage(f"{image[:80]!r} is not an image reference")
    return match["name"], match["digest"] or match["tag"] or "latest"

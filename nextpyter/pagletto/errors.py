"""What went wrong with a pull, as an error a person can act on.

Pure: no Redis, no engine, no I/O. :func:`classify` turns what the engine said (an error
message in its pull stream, or an API error's explanation and status) into a
:class:`PullError` whose ``kind`` is one of :data:`nextpyter.pullqueue.ERROR_KINDS`, whose
message tells the person who launched the notebook what to ask for, and whose
``transient`` says whether trying again may help. Every message names the image, and
quotes at most the first line (300 characters) of the engine's own words.
"""

from __future__ import annotations

import docker

from ..common.images import split_image

__all__ = ["Lost", "PullError", "classify", "registry_name"]


class PullError(Exception):
    """A failed pull: ``kind`` (pullqueue.ERROR_KINDS), a message for people, and whether
    trying again may help."""

    def __init__(self, kind: str, message: str, transient: bool) -> None:
        super().__init__(message)
        self.kind = kind
        self.transient = transient


class Lost(Exception):
    """Another worker took the job over (this one was thought dead)."""


def registry_name(image: str) -> str:
    """The registry ``image`` is pulled from, as Docker names it (``docker.io`` for
    ``team/notebook``): the key of its credentials, and the name the messages give."""
    return str(docker.auth.resolve_repository_name(split_image(image)[0])[0])


def _not_found(image: str, registry: str) -> PullError:
    return PullError(
        "not-found",
        f"The image {image} does not exist in {registry}: no such name or tag (or the "
        "registry hides it without credentials). Ask your administrator to check the "
        "image in NextPyter's admin settings.",
        transient=False,
    )


# Words by which a registry refuses credentials (or wants some); each registry has its own.
_REFUSED = (
    "unauthorized",
    "authentication required",
    "no basic auth",
    "access denied",
    "access to the resource is denied",
    "denied:",
)


def classify(image: str, detail: str, status: int | None = None) -> PullError:
    """What the engine said, as an error a person can act on."""
    text = detail.lower()
    registry = registry_name(image)
    short = detail.strip().splitlines()[0][:300] if detail.strip() else "no detail"
    if "no space left on device" in text or "disk quota exceeded" in text:
        return PullError(
            "disk-full",
            f"The Docker engine ran out of disk space while pulling {image}. Ask your "
            "administrator to free space on the engine (for example `docker image prune`) "
            "and open the notebook again.",
            transient=False,
        )
    # "pull access denied for x, repository does not exist or may require 'docker login'":
    # a registry that will not say which (Docker Hub) is taken at its first word.
    if "manifest unknown" in text or "repository does not exist" in text:
        return _not_found(image, registry)
    # Before the refusals: "permission denied" is the engine's own disk, not credentials.
    if "permission denied" in text or "read-only file system" in text:
        return PullError(
            "engine",
            f"The Docker engine could not store {image}: {short}. Ask your administrator to "
            "check the engine's data root.",
            transient=False,
        )
    if any(word in text for word in _REFUSED):
        return PullError(
            "unauthorized",
            f"The registry {registry} refused access to {image}: the credentials pagletto "
            "has for it are wrong or missing. Ask your administrator to check "
            "NEXTPYTER_REGISTRY_AUTH (a Docker config.json) for that registry.",
            transient=False,
        )
    if status == 404 or "not found" in text or "no such image" in text:
        return _not_found(image, registry)
    if "invalid reference" in text or status == 400:
        return PullError(
            "malformed", f"The engine refused the image reference {image}: {short}", False
        )
    return PullError(
        "registry",
        f"The registry {registry} failed while pulling {image}: {short}",
        transient=True,
    )

"""What administrators manage: the run-time settings (``/config``) and the images
(``/images``: the allowed ones, whether each is on the engine, pre-pulls). Every view
needs the ``admin`` scope."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from ... import pullqueue
from ..dynconfig import parse as parse_config
from ..launches import image_not_allowed
from ..problems import Problem
from ..runtime import BackendError
from ..services import services
from . import api
from .bearer import require_scope
from .schema import checked_body

MAX_PULLS = 50


@api.get("/config")
@require_scope("admin")
def get_config() -> Response:
    return jsonify(services().config.get().to_dict())


@api.put("/config")
@require_scope("admin")
def put_config() -> Response:
    """Replace the run-time settings; every replica applies them at its next launch."""
    config = parse_config(
        checked_body(
            "config-invalid",
            "Invalid settings",
            'the settings as JSON, like {"profiles": {"default": {"cpu": 1, "memory": "2g"}}}',
        )
    )
    services().config.put(config)
    return jsonify(config.to_dict())


def _image_list(body: Any) -> list[str]:
    images = body.get("images") if isinstance(body, dict) else None
    if (
        not isinstance(images, list)
        or not 1 <= len(images) <= MAX_PULLS
        or not all(isinstance(i, str) for i in images)
    ):
        raise Problem(
            400,
            "invalid-request",
            "Invalid request",
            f'Send JSON like {{"images": ["registry.example.com/team/notebook:2024-06"]}}: '
            f"a list of 1 to {MAX_PULLS} image references from the allowed list.",
        )
    try:
        return list(dict.fromkeys(pullqueue.normalize_image(i) for i in images))
    except pullqueue.InvalidImage as error:
        raise Problem(400, "invalid-image", "Invalid image reference", f"{error}.") from None


def _images_backend() -> None:
    if not services().backend.uses_images:
        raise Problem(
            409,
            "no-images",
            "This backend runs no images",
            f"The {services().backend.name!r} backend starts Jupyter from the sidecar's own "
            "Python, so there is nothing to pull. Images are used with NEXTPYTER_BACKEND=docker "
            "or kubernetes.",
        )


def _image_report(image: str, default: str, state: pullqueue.PullState | None) -> dict[str, Any]:
    try:
        present: bool | None = services().backend.has_image(image)
    except BackendError:
        present = None  # the engine did not answer; the pull state still says something
    return {
        "image": image,
        "default": image == default,
        "present": present,
        "pull": state.to_dict() if state else None,
    }


@api.get("/images")
@require_scope("admin")
def list_images() -> Response:
    """The allowed images: whether each is on the engine, and its last or current pull."""
    _images_backend()
    svc = services()
    default, allowed = svc.launcher.images()
    images = list(dict.fromkeys(pullqueue.normalize_image(i) for i in allowed))
    states = svc.launcher.pulls.states(images)
    default = pullqueue.normalize_image(default) if default else ""
    if svc.backend.node_pulls:  # Kubernetes: on how many nodes each image is ready
        nodes = svc.backend.image_report(images)
        return jsonify(
            {
                "images": [
                    {
                        "image": i,
                        "default": i == default,
                        "present": bool(n and n["nodes"] and n["ready"] == n["nodes"]),
                        "nodes": n,
                    }
                    for i, n in nodes.items()
                ]
            }
        )
    return jsonify({"images": [_image_report(i, default, states[i]) for i in images]})


@api.post("/images/pulls")
@require_scope("admin")
def pull_images() -> Response:
    """Pre-pull images from the allowed list (each joins its pull if one is under way)."""
    _images_backend()
    svc = services()
    images = _image_list(
        checked_body(
            "invalid-request",
            "Invalid request",
            f'JSON like {{"images": ["registry.example.com/team/notebook:2024-06"]}}: a list of '
            f"1 to {MAX_PULLS} image references from the allowed list",
        )
    )
    _, allowed = svc.launcher.images()
    allowed_set = {pullqueue.normalize_image(i) for i in allowed}
    refused = [i for i in images if i not in allowed_set]
    if refused:
        raise image_not_allowed(refused[0])
    if svc.backend.node_pulls:  # Kubernetes: a pre-pull DaemonSet per image
        nodes = svc.backend.prepull(images)
        response = jsonify({"pulls": [{"image": i, "nodes": n} for i, n in nodes.items()]})
        response.status_code = 202
        return response
    pulls = []
    for image in images:
        requested = svc.launcher.pulls.request(image, "admin")
        state = svc.launcher.pulls.state(image)
        pulls.append(
            {
                "image": image,
                "job": requested.job,
                "queued": requested.queued,
                "pull": state.to_dict() if state else None,
            }
        )
    response = jsonify({"pulls": pulls})
    response.status_code = 202
    return response

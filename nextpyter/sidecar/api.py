"""REST API v1. The OpenAPI document (``/api/v1/openapi.json``) is the reference."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any, TypeVar, cast

import redis
from flask import Blueprint, Response, jsonify, render_template, request, stream_with_context

from .. import pullqueue
from .apitokens import ApiToken
from .app import services
from .authorize import same_origin
from .dynconfig import parse as parse_config
from .launches import Launch, image_not_allowed
from .paths import PathRejected, validate_relative_path
from .problems import Problem
from .runtime import BackendError
from .slugs import InvalidUserId, slug_for, validate_user_id
from .store import TERMINAL_STATES, renewing, spawn_lock
from .tokens import AdminToken

api = Blueprint("api", __name__)
log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
KEEPALIVE_SECONDS = 15.0
MAX_PULLS = 50
EVENT_ID_RE = re.compile(r"0|[0-9]{1,20}-[0-9]{1,20}")


def _bearer() -> ApiToken | AdminToken:
    """The caller: an API token (``npt_…``), or an admin token signed by Nextcloud."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Problem(
            401,
            "auth-required",
            "Authentication required",
            "Send an API token as 'Authorization: Bearer <token>'. An administrator "
            "creates one with 'nextpyter-admin token create'.",
        )
    value = value.strip()
    if not value.startswith("npt_") and value.count(".") == 2:
        return services().verifier.verify_admin(value)
    token = services().api_tokens.check(value)
    if token is None:
        raise Problem(
            401,
            "auth-invalid",
            "API token not valid",
            "The API token is unknown or was revoked. Ask an administrator for a new one.",
        )
    return token


def require_scope(scope: str) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            _require(_bearer(), scope)
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


def _user(user_id: str) -> str:
    try:
        return validate_user_id(user_id)
    except InvalidUserId as error:
        raise Problem(
            400, "invalid-user", "Invalid user id", f"{user_id[:80]!r}: {error}."
        ) from None


def _launch_json(launch: Launch) -> dict[str, Any]:
    return {
        "id": launch.id,
        "user": launch.user_id,
        "slug": launch.slug,
        "url": launch.url,
        "status": f"/api/v1/launches/{launch.id}",
        "events": f"/api/v1/launches/{launch.id}/events",
    }


@api.post("/launch")
def launch() -> Response:
    """Browser form POST (``token`` field) or JSON: ``{"token": …}``, or a bearer API
    token with ``sessions:write`` and ``{"user", "path", "profile"}``."""
    svc = services()
    if not request.is_json:
        return _launch_from_browser()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Problem(
            400,
            "body-invalid",
            "Malformed request",
            'The body must be a JSON object: {"token": "<launch token>"}.',
        )
    # A JSON body cannot be sent across origins without CORS (which the sidecar never
    # grants), so this path needs no Origin check.
    session = "token" in body
    if session:
        token = svc.verifier.verify(body["token"])
        user_id, path, profile = token.user_id, token.path, token.profile
    else:
        _require(_bearer(), "sessions:write")
        user = body.get("user")
        user_id = _user(user if isinstance(user, str) else "")
        try:
            path = validate_relative_path(body.get("path", ""))
        except PathRejected as error:
            raise Problem(400, "path-refused", "Path refused", f"{error}.") from None
        config = svc.config.get()
        profile = body.get("profile", config.default_profile)
        if not isinstance(profile, str) or profile not in config.profiles:
            raise Problem(
                400,
                "profile-unknown",
                "Unknown profile",
                f"Offered profiles: {', '.join(config.profiles)}.",
            )
    started = svc.launcher.launch(user_id, path, profile)
    response = jsonify(_launch_json(started))
    response.status_code = 202
    response.headers["Location"] = f"/api/v1/launches/{started.id}"
    response.headers["Cache-Control"] = "no-store"
    if session:
        # Only a launch token (the user's own click in Nextcloud) opens a browser session;
        # an API token launches and stops servers but never gets into one.
        svc.cookies.set_on(response, started.user_id, started.slug)
    return response


def _launch_from_browser() -> Response:
    """The form POST of Nextcloud's "Open in Jupyter": answered with the progress page."""
    svc = services()
    origin = request.headers.get("Origin")
    from_dev_launcher = svc.settings.dev_signing_key is not None and same_origin(
        origin or "null", request.host
    )
    if origin not in svc.settings.launch_origins and not from_dev_launcher:
        # Login CSRF: a page elsewhere posting its owner's token would put the visitor's
        # browser into the owner's server, whose pages share this origin with the visitor's.
        raise Problem(
            403,
            "launch-origin",
            "Launch refused",
            "A notebook can only be opened from Nextcloud. Open it again from Nextcloud "
            "Files; if this keeps happening, ask your administrator to check "
            "NEXTPYTER_LAUNCH_ORIGINS.",
        )
    token = svc.verifier.verify(request.form.get("token"))
    started = svc.launcher.launch(token.user_id, token.path, token.profile)
    response = Response(render_template("progress.html", launch=started), mimetype="text/html")
    svc.cookies.set_on(response, started.user_id, started.slug)
    response.headers["Cache-Control"] = "no-store"
    return response


def _require(token: ApiToken | AdminToken, scope: str) -> None:
    if not token.allows(scope):
        raise Problem(
            403,
            "scope-missing",
            "Not allowed",
            f"This API token lacks the '{scope}' scope. Ask an administrator for a token with it.",
        )


def _launch_state(launch_id: str) -> dict[str, str]:
    if len(launch_id) > 64 or not launch_id.replace("-", "").replace("_", "").isalnum():
        raise Problem(404, "launch-unknown", "Unknown launch", "There is no launch with this id.")
    event = services().events.latest(launch_id)
    if event is None:
        raise Problem(
            404,
            "launch-unknown",
            "Unknown launch",
            "There is no launch with this id (launches are kept for an hour). "
            "Open the notebook again from Nextcloud.",
        )
    return event


@api.get("/launches/<launch_id>")
def launch_status(launch_id: str) -> Response:
    return jsonify(_launch_state(launch_id))


@api.get("/launches/<launch_id>/events")
def launch_events(launch_id: str) -> Response:
    """Server-sent events: one ``progress`` event per step, until ready or failed."""
    _launch_state(launch_id)
    svc = services()
    # The stream ends when the launch has said nothing for this long (a launch waiting
    # for a pull says how it goes at least every 30 s, however long the pull takes).
    quiet = svc.settings.progress_timeout
    deadline = time.monotonic() + quiet
    last_id = request.headers.get("Last-Event-ID", "0") or "0"
    if not EVENT_ID_RE.fullmatch(last_id) or any(int(part) >= 2**64 for part in last_id.split("-")):
        raise Problem(
            400,
            "event-id-invalid",
            "Malformed Last-Event-ID",
            "Last-Event-ID must be an id this stream sent (like 1700000000000-0); leave it "
            "out to get every event.",
        )

    def sse(fields: dict[str, str], event_id: str = "") -> str:
        head = f"id: {event_id}\n" if event_id else ""
        return f"{head}event: progress\ndata: {json.dumps(fields)}\n\n"

    def failed(why: str) -> str:
        return sse({"state": "failed", "message": f"{why} Open the notebook again from Nextcloud."})

    def stream() -> Iterator[str]:
        nonlocal deadline
        yield "retry: 1000\n\n"
        if not svc.stream_slots.acquire(blocking=False):
            # Every stream slot of this worker is taken: send what is new and end; the
            # browser's EventSource comes back in a second (polling, not holding a thread
            # that short requests such as the gateway's authorizer need).
            for event_id, fields in svc.events.since(launch_id, last_id):
                yield sse(fields, event_id)
            return
        try:
            for item in svc.events.follow(launch_id, last_id, block_seconds=KEEPALIVE_SECONDS):
                if item is None:
                    if time.monotonic() > deadline:
                        yield failed("The launch is taking too long.")
                        return
                    yield ": keepalive\n\n"
                    continue
                event_id, fields = item
                deadline = time.monotonic() + quiet
                yield sse(fields, event_id)
                if fields.get("state") in TERMINAL_STATES:
                    return
        except redis.RedisError as error:  # Redis gone mid-stream: say so, end cleanly
            log.error("progress stream of %s: %s", launch_id, error)
            yield failed("NextPyter lost track of the launch.")
        finally:
            svc.stream_slots.release()

    response = Response(stream_with_context(stream()), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    return response


@api.get("/sessions")
@require_scope("admin")
def list_sessions() -> Response:
    return jsonify({"sessions": [s.to_dict() for s in services().backend.list()]})


@api.get("/sessions/<user_id>")
@require_scope("sessions:read")
def session_status(user_id: str) -> Response:
    server = services().backend.status(slug_for(_user(user_id)))
    if server is None:
        raise Problem(
            404,
            "no-server",
            "No server",
            f"{user_id!r} has no running server. Launch one from Nextcloud Files.",
        )
    return jsonify(server.to_dict())


@api.delete("/sessions/<user_id>")
@require_scope("sessions:write")
def stop_session(user_id: str) -> Response:
    svc = services()
    slug = slug_for(_user(user_id))
    # Not in the middle of a start: wait for the user's spawn lock (a start holds it).
    lock = spawn_lock(svc.redis, slug)
    if not lock.acquire(blocking_timeout=svc.settings.start_timeout + 5):
        raise Problem(
            409,
            "launch-in-progress",
            "Launch in progress",
            "The server is being started right now; try stopping it again in a minute.",
        )
    try:
        with renewing(lock):
            found = svc.backend.stop(slug)
    finally:
        with contextlib.suppress(redis.RedisError):
            lock.release()
    if not found:
        raise Problem(404, "no-server", "No server", f"{user_id!r} has no running server.")
    return Response(status=204)


@api.get("/config")
@require_scope("admin")
def get_config() -> Response:
    return jsonify(services().config.get().to_dict())


@api.put("/config")
@require_scope("admin")
def put_config() -> Response:
    """Replace the run-time settings; every replica applies them at its next launch."""
    config = parse_config(request.get_json(silent=True))
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
            "Python, so there is nothing to pull. Images are used with NEXTPYTER_BACKEND=docker.",
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
    return jsonify({"images": [_image_report(i, default, states[i]) for i in images]})


@api.post("/images/pulls")
@require_scope("admin")
def pull_images() -> Response:
    """Pre-pull images from the allowed list (each joins its pull if one is under way)."""
    _images_backend()
    svc = services()
    images = _image_list(request.get_json(silent=True))
    _, allowed = svc.launcher.images()
    allowed_set = {pullqueue.normalize_image(i) for i in allowed}
    refused = [i for i in images if i not in allowed_set]
    if refused:
        raise image_not_allowed(refused[0])
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


@api.get("/health")
def health() -> Response:
    return jsonify({"status": "ok"})


@api.get("/ready")
def ready() -> Response:
    svc = services()
    checks: dict[str, str] = {}
    try:
        svc.redis.ping()
        checks["redis"] = "ok"
    except Exception as error:
        checks["redis"] = f"unreachable: {type(error).__name__}"
    try:
        svc.keys.ensure_loaded()
        count = len(svc.keys.kids())
        checks["jwks"] = f"ok ({count} keys)" if count else "no usable Ed25519 keys"
    except Exception as error:
        checks["jwks"] = f"unavailable: {type(error).__name__}"
    ok = all(v.startswith("ok") for v in checks.values())
    response = jsonify({"status": "ok" if ok else "unavailable", "checks": checks})
    response.status_code = 200 if ok else 503
    return response


@api.get("/openapi.json")
def openapi() -> Response:
    text = resources.files("nextpyter.sidecar").joinpath("openapi.json").read_text(encoding="utf-8")
    return Response(text, mimetype="application/json")

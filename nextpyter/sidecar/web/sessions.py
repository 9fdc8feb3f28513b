"""Users' servers: list them, look at one, stop one."""

from __future__ import annotations

import contextlib

import redis
from flask import Response, jsonify

from ..problems import Problem
from ..services import services
from ..slugs import InvalidUserId, slug_for, validate_user_id
from ..store import renewing, spawn_lock
from ..usage import record_stop
from . import api
from .bearer import require_scope
from .schema import check_path


def valid_user(user_id: object) -> str:
    """``user_id`` if it is a Nextcloud user id; else 400."""
    try:
        return validate_user_id(user_id)
    except InvalidUserId as error:
        shown = user_id[:80] if isinstance(user_id, str) else user_id
        raise Problem(
            400,
            "invalid-user",
            "Invalid user id",
            f"{shown!r}: {error}. Use the user's Nextcloud user id (as in Nextcloud's user "
            "list), URL-encoded in a path.",
        ) from None


def _checked_user(user_id: str) -> str:
    """The path's user id, by the OpenAPI document's rule for it and then the code's."""
    check_path(
        "user_id",
        user_id,
        400,
        "invalid-user",
        "Invalid user id",
        "Use the user's Nextcloud user id (as in Nextcloud's user list), URL-encoded.",
    )
    return valid_user(user_id)


@api.get("/sessions")
@require_scope("admin")
def list_sessions() -> Response:
    return jsonify({"sessions": [s.to_dict() for s in services().backend.list()]})


@api.get("/sessions/<user_id>")
@require_scope("sessions:read")
def session_status(user_id: str) -> Response:
    server = services().backend.status(slug_for(_checked_user(user_id)))
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
    slug = slug_for(_checked_user(user_id))
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
    record_stop(svc.redis, slug, "admin")  # said on the user's next launch, and the dashboard
    return Response(status=204)

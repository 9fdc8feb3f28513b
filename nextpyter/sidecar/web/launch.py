"""Launches: ``POST /launch`` (Nextcloud's form, a launch token as JSON, or an API token),
and a launch's progress: its last event, and all of them as server-sent events."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import redis
from flask import Response, jsonify, render_template, request, stream_with_context

from .. import progress
from ..launches import Launch
from ..paths import PathRejected, validate_relative_path
from ..problems import Problem
from ..services import services
from . import api
from .bearer import bearer, require
from .body import read_form
from .origins import check_launch_origin
from .schema import check_path, checked_body
from .sessions import valid_user

log = logging.getLogger(__name__)
KEEPALIVE_SECONDS = 15.0
EVENT_ID_RE = re.compile(r"0|[0-9]{1,20}-[0-9]{1,20}")


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
    body = checked_body(
        "body-invalid",
        "Malformed request",
        '{"token": "<launch token>"}, or {"user", "path", "profile"} with an API token',
    )
    # A JSON body cannot be sent across origins without CORS (which the sidecar never
    # grants), so this path needs no Origin check.
    session = "token" in body
    if session:
        token = svc.verifier.verify(body["token"])
        user_id, path, profile = token.user_id, token.path, token.profile
    else:
        require(bearer(), "sessions:write")
        user_id = valid_user(body["user"])
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
    check_launch_origin()
    token = svc.verifier.verify(read_form().get("token"))
    started = svc.launcher.launch(token.user_id, token.path, token.profile)
    page = render_template("progress.html", launch=started, event=progress.EVENT)
    response = Response(page, mimetype="text/html")
    svc.cookies.set_on(response, started.user_id, started.slug)
    response.headers["Cache-Control"] = "no-store"
    return response


def _launch_state(launch_id: str) -> dict[str, str]:
    check_path(
        "launch_id",
        launch_id,
        404,
        "launch-unknown",
        "Unknown launch",
        "There is no launch with this id: use the id (or the status and events addresses) "
        "that POST /api/v1/launch answered.",
    )
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
        return f"{head}event: {progress.EVENT}\ndata: {json.dumps(fields)}\n\n"

    def failed(why: str) -> str:
        message = f"{why} Open the notebook again from Nextcloud."
        return sse({"state": progress.FAILED, "message": message})

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
                if fields.get("state") in progress.TERMINAL:
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

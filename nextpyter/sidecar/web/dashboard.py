"""The user's dashboard, ``/hub/`` on the gateway's origin (``/`` leads there).

One's own server: state, image, profile, since when, CPU and memory in use (usage.py),
why it last stopped; start it (with a profile one's groups allow), open it, stop it; a
link to one's files in Nextcloud. Server-rendered, in the progress page's look, with its
CSP; forms are POSTs with the session's CSRF token and a same-origin ``Origin``.

Which profiles a user may start: the run-time settings' default profile always, and a
profile whose name is one of the user's groups (as the sign-in service or Nextcloud's
user API names them) to that group's members. A session without group information (a
launch from Nextcloud, a provider without a groups claim) offers the default only.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from urllib.parse import quote

import redis
from flask import Blueprint, Response, render_template, request

from .. import progress
from ..problems import Problem
from ..services import services
from ..sessions import SessionClaims, SessionInvalid
from ..store import renewing, spawn_lock
from ..usage import last_stop, record_stop, usage
from .signin import check_form, go_to, hub_session

log = logging.getLogger(__name__)
pages = Blueprint("dashboard", __name__)


def allowed_profiles(groups: tuple[str, ...] | None) -> list[str]:
    """The profiles a user of ``groups`` may start, the default first."""
    config = services().config.get()
    mine = [config.default_profile]
    for name in config.profiles:
        if groups and name in groups and name not in mine:
            mine.append(name)
    return mine


def _session_or_redirect() -> SessionClaims | Response:
    try:
        return hub_session()
    except SessionInvalid:
        if services().signin is None:
            raise Problem(
                401,
                "session-required",
                "Session needed",
                'Open a notebook from Nextcloud Files ("Open in Jupyter") first; that '
                "opens your dashboard in this browser too.",
            ) from None
        response = go_to(f"/hub/login?next={quote(request.path, safe='/')}", code=302)
        response.headers["Cache-Control"] = "no-store"
        return response


def _page(html: str, claims: SessionClaims) -> Response:
    svc = services()
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    # The forms' POSTs must carry this origin in Origin (checked), so not "no-referrer".
    response.headers["Referrer-Policy"] = "same-origin"
    if svc.cookies.needs_renewal(claims):
        svc.cookies.set_hub(response, claims)  # the idle lifetime starts again
    return response


def _when(stamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(stamp, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


@pages.get("/")
def root() -> Response:
    return go_to("/hub/", code=302)


@pages.get("/hub/")
def dashboard() -> Response:
    found = _session_or_redirect()
    if isinstance(found, Response):
        return found
    claims = found
    svc = services()
    server = svc.backend.status(claims.slug)
    used = usage(svc.backend, claims.slug) if server and server.state == "running" else None
    stopped = None if server else last_stop(svc.redis, claims.slug)
    nextcloud = svc.settings.token_issuer.rstrip("/")
    html = render_template(
        "dashboard.html",
        user=claims.user_id,
        slug=claims.slug,
        server=server,
        image=server.detail if server and svc.backend.uses_images else "",
        since=_when(server.created) if server and server.created else "",
        usage=used,
        memory_mb=round(used.memory_bytes / 2**20) if used else 0,
        stopped=stopped,
        stopped_at=_when(stopped.at) if stopped and stopped.at else "",
        profiles=allowed_profiles(claims.groups),
        csrf=svc.cookies.csrf_token(claims),
        files_url=f"{nextcloud}/apps/files/" if nextcloud.startswith("http") else "",
        lab_url=f"/user/{claims.slug}/lab",
        signin=svc.signin is not None,
    )
    return _page(html, claims)


@pages.post("/hub/start")
def start() -> Response:
    found = _session_or_redirect()
    if isinstance(found, Response):
        return found
    claims = found
    check_form(claims)
    svc = services()
    profiles = allowed_profiles(claims.groups)
    profile = request.form.get("profile", profiles[0])
    if profile not in profiles:
        raise Problem(
            403,
            "profile-not-allowed",
            "Profile not allowed",
            f"You may start: {', '.join(profiles)}.",
        )
    started = svc.launcher.launch(claims.user_id, "", profile)
    log.info("dashboard: %s starts a server (%s)", claims.slug, profile)
    page = render_template("progress.html", launch=started, event=progress.EVENT)
    response = _page(page, claims)
    # The per-server cookie, at the session's epoch, for the server it is about to open.
    response.headers.add("Set-Cookie", svc.cookies.renewal(claims))
    return response


@pages.post("/hub/stop")
def stop() -> Response:
    found = _session_or_redirect()
    if isinstance(found, Response):
        return found
    claims = found
    check_form(claims)
    svc = services()
    lock = spawn_lock(svc.redis, claims.slug)
    if not lock.acquire(blocking_timeout=svc.settings.start_timeout + 5):
        raise Problem(
            409,
            "launch-in-progress",
            "Launch in progress",
            "Your server is being started right now; try stopping it again in a minute.",
        )
    try:
        with renewing(lock):
            if svc.backend.stop(claims.slug):
                record_stop(svc.redis, claims.slug, "user")
                log.info("dashboard: %s stopped their server", claims.slug)
    finally:
        with contextlib.suppress(redis.RedisError):
            lock.release()
    response = go_to("/hub/", code=303)
    response.headers["Cache-Control"] = "no-store"
    return response

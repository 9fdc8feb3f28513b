"""Sign-in, sign-out and the gateway's "no session" answer (``/hub/…``), and an admin's
revocation of every session of a user (``DELETE /api/v1/sessions/{user}/logins``).

* ``GET /hub/login?next=…`` starts a sign-in with the provider (oidc.py) and binds its
  state to this browser: a signed cookie, ``nextpyter_signin``, Path ``/hub/callback``,
  holding the states this browser started (a few, for tabs signing in at once);
* ``GET /hub/callback`` finishes it: any refusal is a page saying what happened (and is
  logged without secrets), and sets no cookie; a success sets the session's cookies
  (the same as a launch's, sessions.py) and goes back to ``next``, starting the user's
  server first when ``next`` is in it and it is not running;
* ``POST /hub/logout`` ends the session in this browser and offers the provider's
  end-session page;
* ``/internal/unauthorized`` is what the gateway shows for a request to ``/user/…``
  without a valid cookie: a redirect to sign-in for a browser's page load (when sign-in
  is set up), else 401, as a page or a problem.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from urllib.parse import quote

from flask import Blueprint, Response, render_template, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from .. import progress
from ..oidc import CALLBACK_PATH, TRANSACTION_SECONDS, SignIn, SignInRefused, valid_next
from ..problems import Problem
from ..services import services
from ..sessions import COOKIE_NAME, HUB_COOKIE, SessionClaims, SessionInvalid
from ..slugs import slug_for
from . import api
from .bearer import require_scope
from .origins import same_origin
from .problems import problem_response, wants_html
from .sessions import valid_user

log = logging.getLogger(__name__)
pages = Blueprint("signin", __name__)

BINDING_COOKIE = "nextpyter_signin"
MAX_PENDING = 4  # sign-ins one browser may have under way at once


def go_to(url: str, code: int = 302) -> Response:
    """A redirect to a path of this origin (or the provider), never cached."""
    response = Response(status=code, headers={"Location": url})
    response.headers["Cache-Control"] = "no-store"
    return response


def _binding() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(services().settings.secret_key, salt="nextpyter-signin-state")


def _pending() -> tuple[str, ...]:
    """The states of the sign-ins this browser started (and has not finished)."""
    try:
        states = _binding().loads(
            request.cookies.get(BINDING_COOKIE, ""), max_age=TRANSACTION_SECONDS
        )
    except BadSignature:
        return ()
    if isinstance(states, list):
        return tuple(str(s) for s in states[-MAX_PENDING:])
    return ()


def _set_pending(response: Response, states: tuple[str, ...]) -> None:
    secure = services().settings.cookie_secure
    if not states:
        response.delete_cookie(
            BINDING_COOKIE, path=CALLBACK_PATH, secure=secure, httponly=True, samesite="Lax"
        )
        return
    response.set_cookie(
        BINDING_COOKIE,
        _binding().dumps(list(states[-MAX_PENDING:])),
        max_age=TRANSACTION_SECONDS,
        path=CALLBACK_PATH,
        secure=secure,
        httponly=True,
        samesite="Lax",
    )


def _signin() -> SignIn:
    signin = services().signin
    if signin is None:
        raise Problem(
            404,
            "signin-off",
            "Sign-in is not set up",
            'This NextPyter is opened from Nextcloud Files only ("Open in Jupyter").',
        )
    return signin


def refused_page(refused: SignInRefused) -> Response:
    log.warning("sign-in refused (%s): %s", refused.code, refused.logged)
    page = render_template("signin_error.html", refused=refused)
    response = Response(page, status=refused.status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@pages.get("/hub/login")
def login() -> Response:
    signin = _signin()
    next_url = valid_next(request.args.get("next"))
    try:
        url, state = signin.begin(next_url)
    except SignInRefused as refused:
        return refused_page(refused)
    response = go_to(url, code=302)
    response.headers["Cache-Control"] = "no-store"
    _set_pending(response, (*_pending(), state))
    return response


@pages.get(CALLBACK_PATH)
def callback() -> Response:
    svc = services()
    signin = _signin()
    pending = _pending()
    try:
        identity, next_url = signin.finish(request.args, pending)
    except SignInRefused as refused:
        return refused_page(refused)
    slug = slug_for(identity.user_id)
    log.info("signed in %s (%s) through %s", slug, identity.user_id, signin.settings.kind)
    next_url = valid_next(next_url)
    response = _onward(identity.user_id, slug, next_url, identity.groups)
    svc.cookies.set_on(
        response, identity.user_id, slug, groups=identity.groups, via=signin.settings.kind
    )
    state = request.args.get("state", "")
    _set_pending(response, tuple(s for s in pending if s != state))
    return response


def _onward(user_id: str, slug: str, next_url: str, groups: tuple[str, ...] | None) -> Response:
    """Where a signed-in browser goes: ``next_url``, or, when that is in the user's own
    server and it is not running, the progress page of its start, which goes there."""
    svc = services()
    own = next_url.startswith(f"/user/{slug}/")
    if next_url.startswith("/user/") and not own:
        # Another user's server: no session of this browser opens it (and going there
        # would only come back here); say so instead of going round.
        raise Problem(
            403,
            "not-your-server",
            "Not allowed",
            "This notebook server belongs to another user. Your own is on your dashboard, /hub/.",
        )
    if own and svc.backend.status(slug) is None:
        from .dashboard import allowed_profiles

        profiles = allowed_profiles(groups)
        started = svc.launcher.launch(user_id, "", profiles[0])
        page = render_template(
            "progress.html", launch=replace(started, url=next_url), event=progress.EVENT
        )
        response = Response(page, mimetype="text/html")
    else:
        response = go_to(next_url, code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


def hub_session() -> SessionClaims:
    """The dashboard's session (cookie valid, epoch current); else :class:`SessionInvalid`."""
    svc = services()
    claims = svc.cookies.read_hub(request.cookies.get(HUB_COOKIE))
    epoch, _ = svc.epochs.current(claims.slug)
    if claims.epoch < epoch:
        raise SessionInvalid("the session was ended by an administrator")
    return claims


def check_form(claims: SessionClaims) -> None:
    """A dashboard form's POST: same origin (``Origin`` must say so) and the session's
    CSRF token; else 403."""
    import hmac

    origin = request.headers.get("Origin")
    token = request.form.get("csrf", "")
    expected = services().cookies.csrf_token(claims)
    if (
        origin is None
        or not same_origin(origin, request.host)
        or not hmac.compare_digest(token, expected)
    ):
        raise Problem(
            403,
            "form-refused",
            "Request refused",
            "This form did not come from your NextPyter page. Reload the page and try again.",
        )


@pages.post("/hub/logout")
def logout() -> Response:
    svc = services()
    try:
        claims: SessionClaims | None = hub_session()
    except SessionInvalid:
        claims = None
    if claims is not None:
        check_form(claims)
    end_session = svc.signin.end_session_url() if svc.signin else ""
    page = render_template("signed_out.html", end_session=end_session)
    response = Response(page, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    if claims is not None:
        log.info("signed out %s in one browser", claims.slug)
        svc.cookies.clear_on(response, claims.slug)
    return response


@pages.route("/internal/unauthorized", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unauthorized() -> Response:
    """The gateway's answer for ``/user/…`` without a valid session (its 401)."""
    svc = services()
    original = request.headers.get("X-NextPyter-Original-URI", "")
    browser = wants_html() and request.headers.get("X-NextPyter-Original-Method", "GET") in {
        "GET",
        "HEAD",
    }
    if svc.signin is not None and browser:
        target = valid_next(original, default="/hub/")
        response = go_to(f"/hub/login?next={quote(target, safe='/')}", code=302)
        response.headers["Cache-Control"] = "no-store"
        return response
    detail = (
        "Your notebook session has ended or was never opened here. "
        + ("Sign in again at /hub/login, or open" if svc.signin else "Open")
        + ' the notebook again from Nextcloud Files ("Open in Jupyter"); that starts a new '
        "session in this browser."
    )
    response = problem_response(Problem(401, "session-required", "Session needed", detail))
    return response


@api.delete("/sessions/<user_id>/logins")
@require_scope("admin")
def revoke_logins(user_id: str) -> Response:
    """End every session of a user, in every browser, at their next request."""
    slug = slug_for(valid_user(user_id))
    epoch = services().epochs.revoke(slug)
    log.info("revoked every session of %s (epoch %d)", slug, epoch)
    return Response(status=204)


__all__ = ["COOKIE_NAME", "check_form", "hub_session", "pages"]

"""The gateway's ``auth_request``: may this browser reach ``/user/<slug>/``?

nginx asks on every HTTP request to a notebook server (websocket frames pass
without asking), so this is the hot path: the cookie is checked in memory and
the upstream is derived from the slug, with no Redis or runtime call. nginx
only understands 2xx, 401 and 403 here, so those are the only answers.

Besides the signature, the cookie's two lifetimes and its slug, one Redis ``GET``: the
user's session epoch (epochs.py), so an admin's revocation ends a session at its next
request. If Redis is down, a valid cookie passes (fail open, so running notebooks keep
working) but is not renewed, so it lasts at most the idle lifetime from its last renewal.
A cookie older than a minute is renewed on the way: ``X-NextPyter-Set-Cookie``, which
the gateway hands the browser as ``Set-Cookie``.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from ..services import services
from ..sessions import COOKIE_NAME, SessionInvalid, upstream_secret
from ..slugs import is_slug
from .origins import same_origin

authorize = Blueprint("authorize", __name__)


@authorize.get("/authorize")
def check() -> Response:
    slug = request.headers.get("X-NextPyter-Slug", "")
    if not is_slug(slug):
        return Response("no such server\n", status=403, mimetype="text/plain")
    svc = services()
    try:
        claims = svc.cookies.read(request.cookies.get(COOKIE_NAME))
    except SessionInvalid as error:
        return Response(f"{error}\n", status=401, mimetype="text/plain")
    if claims.slug != slug:
        return Response("this server belongs to another user\n", status=403, mimetype="text/plain")
    epoch, fresh = svc.epochs.current(slug)
    if claims.epoch < epoch:
        return Response("the session was ended\n", status=401, mimetype="text/plain")
    if not same_origin(request.headers.get("Origin"), request.headers.get("X-NextPyter-Host", "")):
        # A page of another origin (even of the same site) driving the user's server with
        # the user's cookie: the browser says so in Origin (fetch, forms, websockets).
        return Response("request from another origin\n", status=403, mimetype="text/plain")
    response = Response(status=200)
    response.headers["X-NextPyter-Upstream"] = svc.backend.upstream(slug)
    response.headers["X-NextPyter-Upstream-Secret"] = upstream_secret(svc.settings.secret_key, slug)
    response.headers["Cache-Control"] = "no-store"
    if fresh and svc.cookies.needs_renewal(claims):
        response.headers["X-NextPyter-Set-Cookie"] = svc.cookies.renewal(claims)
    return response

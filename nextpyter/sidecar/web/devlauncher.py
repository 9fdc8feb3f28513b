"""The development launcher, a page a person sees that is not part of the API.

``/dev/open`` exists only when ``NEXTPYTER_DEV_SIGNING_KEY`` is set (``make demo``
sets it): it mints a fresh launch token with the development key and posts it to
the launch endpoint, as Nextcloud's Files action would, so one bookmarkable URL
keeps opening the demo notebook. Never set that variable in production.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request

from ..paths import PathRejected, validate_relative_path
from ..problems import Problem
from ..services import services
from ..signing import load_key, mint_launch_token
from ..slugs import InvalidUserId, validate_user_id

pages = Blueprint("pages", __name__)  # (its name: the endpoint stays pages.dev_open)


@pages.get("/dev/open")
def dev_open() -> Response:
    svc = services()
    if svc.settings.dev_signing_key is None:
        abort(404)
    try:
        user_id = validate_user_id(request.args.get("user", ""))
        path = validate_relative_path(request.args.get("path", ""))
    except (InvalidUserId, PathRejected) as error:
        raise Problem(400, "dev-open-invalid", "Cannot open", f"{error}.") from None
    token = mint_launch_token(
        load_key(svc.settings.dev_signing_key),
        issuer=svc.settings.token_issuer,
        audience=svc.settings.token_audience,
        user_id=user_id,
        path=path,
        profile=svc.config.get().default_profile,
    )
    response = Response(render_template("dev_open.html", token=token), mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response

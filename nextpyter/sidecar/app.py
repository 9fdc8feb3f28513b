"""The sidecar's Flask application factory.

It builds the services (services.py), puts the web layer on the app (web/), and sets
what every answer carries. It does no I/O beyond what building the services needs and
starts no thread: what a serving worker does at start (reconcile, the culler) is
lifecycle.py's, called by gunicorn's worker hook.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, Response

from . import web
from .config import Settings, load_settings
from .oidc import load_signin
from .services import EXTENSION, build_services, csp_nonce
from .sessions import idle_timeout


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    if settings is None:
        settings = load_settings()
        # Sign-in and the sessions' idle lifetime, from the same environment.
        overrides.setdefault("signin", load_signin(os.environ, settings.clock_skew))
        overrides.setdefault("session_idle", idle_timeout(os.environ, settings.session_max_age))
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024, JSON_SORT_KEYS=False)
    app.extensions[EXTENSION] = build_services(settings, **overrides)
    web.register(app)

    @app.context_processor
    def _nonce() -> dict[str, Any]:
        return {"csp_nonce": csp_nonce}

    app.after_request(_security_headers)
    return app


def _security_headers(response: Response) -> Response:
    if response.mimetype == "text/html":
        # Pages run only their own inline script (by nonce), talk only to this origin,
        # and post forms only here.
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; script-src 'nonce-{csp_nonce()}'; "
            "style-src 'unsafe-inline'; connect-src 'self'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'"
        )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response

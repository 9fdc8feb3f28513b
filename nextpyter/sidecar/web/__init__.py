"""The sidecar's web layer, one module per resource.

REST API v1 under ``/api/v1`` (the OpenAPI document, ``/api/v1/openapi.json``, is the
reference): launch.py (launches and their progress), sessions.py (users' servers),
admin.py (run-time settings, images), health.py (health, readiness, the document).
They share one blueprint, :data:`api`, so that every endpoint keeps its name
(``api.<view>``). Besides: authorize.py (the gateway's ``auth_request``, under
``/internal``), devlauncher.py (``/dev/open``, development only), signin.py (sign-in with
an OpenID Connect provider or Nextcloud, sign-out, ``/hub/…``; an admin's revocation of a
user's sessions, in the API), dashboard.py (the user's dashboard, ``/hub/``); and what the
views share: bearer.py (API and admin tokens, scopes), origins.py (same-origin checks),
problems.py (errors as RFC 9457 problem details), outages.py (503 with Retry-After when
Redis or the runtime is down); metrics.py (``/metrics``, Prometheus) and requests.py (the
request id). :func:`register` puts it all on an app.
"""

from __future__ import annotations

from flask import Blueprint, Flask

api = Blueprint("api", __name__)


def register(app: Flask) -> None:
    """The blueprints and the error handlers, on ``app``."""
    # Importing admin, health, launch and sessions adds their views to `api` (once).
    from . import (  # noqa: F401
        admin,
        authorize,
        cull,
        dashboard,
        devlauncher,
        health,
        launch,
        metrics,
        outages,
        problems,
        requests,
        sessions,
        signin,
    )

    app.register_blueprint(api, url_prefix="/api/v1")
    app.register_blueprint(authorize.authorize, url_prefix="/internal")
    app.register_blueprint(devlauncher.pages)
    app.register_blueprint(signin.pages)
    app.register_blueprint(dashboard.pages)
    app.register_blueprint(metrics.pages)
    problems.register(app)
    outages.register(app)  # after problems: its Redis and runtime answers replace theirs
    requests.register(app)

"""The sidecar's Flask application factory."""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass
from typing import Any

import redis
from flask import Flask, current_app, g

from ..common.redis import connect
from . import problems
from .apitokens import ApiTokens
from .config import Settings, load_settings
from .culler import Culler
from .dynconfig import ConfigStore
from .launches import Launcher
from .runtime import Backend, BackendError, make_backend
from .sessions import SessionCookies
from .store import LaunchEvents, RedisJtiStore, spawn_locked
from .tokens import KeySet, LaunchTokenVerifier

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a request handler needs, built once per process."""

    settings: Settings
    redis: redis.Redis
    backend: Backend
    keys: KeySet
    verifier: LaunchTokenVerifier
    launcher: Launcher
    events: LaunchEvents
    cookies: SessionCookies
    api_tokens: ApiTokens
    config: ConfigStore
    # Progress streams this worker holds open at once (see NEXTPYTER_MAX_STREAMS).
    stream_slots: threading.BoundedSemaphore


def csp_nonce() -> str:
    """This response's nonce for inline scripts, made on first use."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return str(g.csp_nonce)


def services() -> Services:
    svc: Services = current_app.extensions["nextpyter"]
    return svc


def build_services(settings: Settings, backend: Backend | None = None) -> Services:
    client = connect(settings.redis_url)
    backend = backend or make_backend(settings)
    keys = KeySet(settings.jwks, refresh_interval=settings.jwks_refresh_interval)
    config = ConfigStore(client, settings)
    return Services(
        settings=settings,
        redis=client,
        backend=backend,
        keys=keys,
        verifier=LaunchTokenVerifier(
            keys,
            issuer=settings.token_issuer,
            audience=settings.token_audience,
            jti_store=RedisJtiStore(client),
            profiles=config.profiles,
            clock_skew=settings.clock_skew,
        ),
        launcher=Launcher(
            backend,
            client,
            settings.secret_key,
            settings.data_dir,
            settings.start_timeout,
            config=config,
            default_image=settings.docker.image if settings.docker else "",
            pull_timeout=settings.pull_timeout,
        ),
        events=LaunchEvents(client),
        cookies=SessionCookies(
            settings.secret_key, settings.session_max_age, settings.cookie_secure
        ),
        api_tokens=ApiTokens(client),
        config=config,
        stream_slots=threading.BoundedSemaphore(settings.max_streams),
    )


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024, JSON_SORT_KEYS=False)
    svc = build_services(settings, **overrides)
    app.extensions["nextpyter"] = svc
    try:
        svc.backend.reconcile(lambda slug: spawn_locked(svc.redis, slug))
    except BackendError as error:  # the engine is down: start anyway, say so, retry later
        log.error("could not reconcile the %s backend at start: %s", settings.backend, error)
    if settings.cull_interval:
        Culler(svc.backend, svc.redis, svc.config, settings.secret_key).start(
            settings.cull_interval
        )

    from .api import api
    from .authorize import authorize
    from .pages import pages

    app.register_blueprint(api, url_prefix="/api/v1")
    app.register_blueprint(authorize, url_prefix="/internal")
    app.register_blueprint(pages)
    problems.register(app)

    @app.context_processor
    def _nonce() -> dict[str, Any]:
        return {"csp_nonce": csp_nonce}

    @app.after_request
    def _security_headers(response):  # type: ignore[no-untyped-def]
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

    log.info("sidecar ready: backend %s, data %s", settings.backend, settings.data_dir)
    return app

"""What a request handler works with: the per-app services, built once per process.

The leaf of the web layer: the factory (app.py) builds the services and keeps them in
``app.extensions``; the blueprints (web/) reach them with :func:`services`, and import
nothing from the factory.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

import redis
from flask import Flask, current_app, g

from ..common.redis import connect
from .apitokens import ApiTokens
from .config import Settings
from .dynconfig import ConfigStore
from .epochs import SessionEpochs
from .gpus import Gpus, parse_inventory
from .launches import Launcher
from .oidc import SignIn, SignInSettings
from .runtime import Backend, make_backend
from .sessions import SessionCookies
from .store import LaunchEvents, RedisJtiStore
from .tokens import KeySet, LaunchTokenVerifier

EXTENSION = "nextpyter"  # the key of the services in app.extensions


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
    epochs: SessionEpochs  # revocation of a user's sessions (epochs.py)
    signin: SignIn | None  # None: sign-in is off (NEXTPYTER_SIGNIN_PROVIDER)
    # Progress streams this worker holds open at once (see NEXTPYTER_MAX_STREAMS).
    stream_slots: threading.BoundedSemaphore


def build_services(
    settings: Settings,
    backend: Backend | None = None,
    signin: SignInSettings | None = None,
    session_idle: int | None = None,
) -> Services:
    """The services of ``settings``; no I/O beyond what making the backend needs (the
    Redis connection is made at its first use). ``signin``: sign-in's settings (None:
    off); ``session_idle``: the sessions' idle lifetime (None: their absolute one)."""
    client = connect(settings.redis_url)
    backend = backend or make_backend(settings)
    keys = KeySet(settings.jwks, refresh_interval=settings.jwks_refresh_interval)
    config = ConfigStore(client, settings)
    epochs = SessionEpochs(client)
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
            default_image=settings.image,
            pull_timeout=settings.pull_timeout,
            gpus=gpu_bookkeeping(settings, backend, client),
        ),
        events=LaunchEvents(client),
        cookies=SessionCookies(
            settings.secret_key,
            settings.session_max_age,
            settings.cookie_secure,
            idle=session_idle,
            epoch_of=lambda slug: epochs.current(slug)[0],
        ),
        api_tokens=ApiTokens(client),
        config=config,
        epochs=epochs,
        signin=SignIn(signin, client) if signin else None,
        stream_slots=threading.BoundedSemaphore(settings.max_streams),
    )


def gpu_bookkeeping(settings: Settings, backend: Backend, client: redis.Redis) -> Gpus | None:
    """The GPU assignment (gpus.py), with an inventory and a backend that needs one (on
    Kubernetes the device plugin assigns GPUs); ``auto`` asks nvidia-smi once, here."""
    if not settings.gpus or backend.name not in {"local", "docker"}:
        return None
    return Gpus(client, parse_inventory(settings.gpus))


def services_of(app: Flask) -> Services:
    svc: Services = app.extensions[EXTENSION]
    return svc


def services() -> Services:
    """The services of the app handling this request."""
    return services_of(current_app)


def csp_nonce() -> str:
    """This response's nonce for inline scripts, made on first use."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return str(g.csp_nonce)

"""What a sidecar worker does once it serves, apart from building its app: reconcile the
backend (adopt what runs, clean up what a crash left) and start the culler thread.

gunicorn calls :func:`post_worker_init` in each worker after loading the app (see
cli.serve_main); whatever else runs an app to serve (not just to answer test requests)
calls :func:`start` itself. Building the app (app.create_app) does neither.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from .culler import Culler
from .runtime import BackendError
from .services import services_of
from .store import spawn_locked

log = logging.getLogger(__name__)


def reconcile(app: Flask) -> None:
    """The backend's reconcile, leaving alone the users whose start or stop is under way;
    an engine that is down is logged (the culler's passes try again)."""
    svc = services_of(app)
    try:
        svc.backend.reconcile(lambda slug: spawn_locked(svc.redis, slug))
    except BackendError as error:  # the engine is down: start anyway, say so, retry later
        log.error("could not reconcile the %s backend at start: %s", svc.settings.backend, error)


def start(app: Flask) -> Culler | None:
    """Reconcile, then start the culler (unless NEXTPYTER_CULL_INTERVAL is 0); the culler."""
    svc = services_of(app)
    settings = svc.settings
    reconcile(app)
    culler = None
    if settings.cull_interval:
        culler = Culler(svc.backend, svc.redis, svc.config, settings.secret_key)
        culler.start(settings.cull_interval)
    log.info("sidecar ready: backend %s, data %s", settings.backend, settings.data_dir)
    return culler


def post_worker_init(worker: Any) -> None:
    """gunicorn's hook, in each worker once it has loaded the app (``worker.wsgi``)."""
    start(worker.wsgi)

"""The answers to a request that met Redis or the runtime down: ``503`` problem details
with ``Retry-After`` and what is down (nextpyter/sidecar/outages.py). Registered after
web/problems.py's handlers, whose Redis and runtime handlers these replace; counted in
``nextpyter_redis_errors_total`` and ``nextpyter_engine_errors_total``."""

from __future__ import annotations

import logging

import redis
from flask import Flask, Response, request

from .. import metrics
from ..outages import RETRY_AFTER, redis_down, runtime_down
from ..runtime import BackendError
from ..services import services
from ..store import StateUnavailable
from .problems import problem_response

log = logging.getLogger(__name__)


def _answer(response: Response) -> Response:
    response.headers["Retry-After"] = str(RETRY_AFTER)
    return response


def register(app: Flask) -> None:
    @app.errorhandler(redis.RedisError)
    @app.errorhandler(StateUnavailable)
    def _redis(error: Exception) -> Response:
        log.error("Redis failed on %s %s: %s", request.method, request.path, error)
        metrics.safely(lambda: metrics.REDIS_ERRORS.labels("request").inc())
        return _answer(problem_response(redis_down()))

    @app.errorhandler(BackendError)
    def _runtime(error: BackendError) -> Response:
        backend = services().backend.name
        log.error(
            "the %s runtime failed on %s %s: %s", backend, request.method, request.path, error
        )
        metrics.safely(lambda: metrics.ENGINE_ERRORS.labels(backend, "request").inc())
        return _answer(problem_response(runtime_down(backend, error)))

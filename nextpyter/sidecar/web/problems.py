"""The one place that renders errors: :class:`~nextpyter.sidecar.problems.Problem`, HTTP
errors, Redis and runtime failures, and anything unexpected, as RFC 9457 problem details
(``application/problem+json``), or as a short HTML page for a browser that asked for HTML
(a form POST from Nextcloud, say)."""

from __future__ import annotations

import json
import logging

import redis
from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException

from ..problems import Problem
from ..runtime import BackendError
from ..store import StateUnavailable
from .body import limit as body_limit
from .body import too_large

log = logging.getLogger(__name__)

# Headers of an HTTP error that are its own, not its body's: kept on the problem answer
# (a 405's Allow, a 401's WWW-Authenticate, a 429's Retry-After...).
_BODY_HEADERS = {"content-type", "content-length"}


def wants_html() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return (
        best == "text/html"
        and request.accept_mimetypes[best] > request.accept_mimetypes["application/json"]
    )


def problem_response(problem: Problem) -> Response:
    if wants_html():
        html = render_template("error.html", problem=problem)
        response = Response(html, status=problem.status, mimetype="text/html")
    else:
        response = Response(
            json.dumps(problem.to_dict()),
            status=problem.status,
            mimetype="application/problem+json",
        )
    response.headers["Cache-Control"] = "no-store"
    return response


def register(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _problem(error: Problem) -> Response:
        return problem_response(error)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        status = error.code or 500
        detail = {
            404: "There is nothing at this address. Check the URL against the API documentation "
            "at /api/v1/openapi.json.",
            405: f"{request.method} is not allowed here; see /api/v1/openapi.json for the "
            "methods this address takes.",
        }.get(status, error.description or "The request could not be handled.")
        if status == 413:
            return problem_response(too_large(body_limit()))
        response = problem_response(
            Problem(status, (error.name or "error").lower().replace(" ", "-"), error.name, detail)
        )
        for name, value in error.get_headers(request.environ):
            if name.lower() not in _BODY_HEADERS:
                response.headers[name] = value
        return response

    @app.errorhandler(redis.RedisError)
    @app.errorhandler(StateUnavailable)
    def _redis(error: Exception) -> Response:
        log.error("Redis failed on %s %s: %s", request.method, request.path, error)
        return problem_response(
            Problem(
                503,
                "redis-unavailable",
                "Service unavailable",
                "NextPyter cannot reach its Redis right now, so nothing was started. Try again "
                "in a minute; if it keeps failing, ask your administrator.",
            )
        )

    @app.errorhandler(BackendError)
    def _runtime(error: BackendError) -> Response:
        log.error("the runtime failed on %s %s: %s", request.method, request.path, error)
        return problem_response(
            Problem(503, "runtime-unavailable", "Runtime unavailable", str(error))
        )

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return problem_response(
            Problem(
                500,
                "internal-error",
                "Internal error",
                "Something went wrong in NextPyter. Try again; if it keeps failing, ask your "
                "administrator to look at the sidecar's log.",
            )
        )

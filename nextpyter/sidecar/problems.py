"""Errors as RFC 9457 problem details, and the one place that renders them.

Raise :class:`Problem` anywhere in a request; the handlers registered by
:func:`register` turn it (and any stray HTTP error) into
``application/problem+json``, or into a short HTML page for a browser that
asked for HTML (a form POST from Nextcloud, say). Every ``detail`` is written
for the person who sees it: what happened and what to do.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis
from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException

from .runtime.base import BackendError

log = logging.getLogger(__name__)

PROBLEM_TYPE = "urn:nextpyter:problem:"


class Problem(Exception):
    """An error a client can act on. ``code`` is stable; ``detail`` is for people."""

    def __init__(self, status: int, code: str, title: str, detail: str, **extra: Any) -> None:
        super().__init__(f"{code}: {detail}")
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        body.update(self.extra)
        return body


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
            413: "The request is too large.",
        }.get(status, error.description or "The request could not be handled.")
        return problem_response(
            Problem(status, (error.name or "error").lower().replace(" ", "-"), error.name, detail)
        )

    @app.errorhandler(redis.RedisError)
    def _redis(error: redis.RedisError) -> Response:
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

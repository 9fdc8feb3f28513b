"""The request id: an incoming ``X-Request-Id`` (if sane) or a new one, in every log line
of the request (nextpyter/common/jsonlog.py) and on the answer."""

from __future__ import annotations

import contextlib

from flask import Flask, Response, g, request

from ...common.jsonlog import REQUEST_ID, REQUEST_ID_HEADER, accept_request_id


def register(app: Flask) -> None:
    @app.before_request
    def _request_id() -> None:
        g.request_id = accept_request_id(request.headers.get(REQUEST_ID_HEADER))
        g.request_id_token = REQUEST_ID.set(g.request_id)

    @app.after_request
    def _answer_id(response: Response) -> Response:
        if "request_id" in g:
            response.headers[REQUEST_ID_HEADER] = g.request_id
        return response

    @app.teardown_request
    def _forget(_error: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            with contextlib.suppress(ValueError):  # set in another context: nothing to undo
                REQUEST_ID.reset(token)

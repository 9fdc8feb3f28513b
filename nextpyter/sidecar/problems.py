"""Errors a client can act on, as RFC 9457 problem details.

Raise :class:`Problem` anywhere in a request (a handler, a launch, the token check);
the handlers of :mod:`nextpyter.sidecar.web.problems` turn it (and any stray HTTP
error) into ``application/problem+json``, or into a short HTML page for a browser that
asked for HTML (a form POST from Nextcloud, say). Every ``detail`` is written for the
person who sees it: what happened and what to do.
"""

from __future__ import annotations

from typing import Any

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

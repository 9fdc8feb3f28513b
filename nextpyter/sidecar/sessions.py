"""The gateway's session cookie, and the Jupyter server token derived per user.

At launch the sidecar sets one cookie for the gateway origin, scoped to
``/user/<slug>/``; nginx asks the authorizer (``/internal/authorize``, see
web/authorize.py) on every request to a notebook server, which reads it with
:meth:`SessionCookies.read`. The check is an HMAC in memory (itsdangerous, SHA-256):
no Redis, no runtime call, so it stays cheap on the hot path.

The secret the gateway shows a user's Jupyter server (``X-NextPyter-Gateway``, see
nextpyter/jupyter/identity.py) is derived from the secret key and the slug, so any
replica, or a restarted one, knows it without a table; the browser never sees it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from flask import Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

COOKIE_NAME = "nextpyter_session"


@dataclass(frozen=True)
class SessionClaims:
    user_id: str
    slug: str


class SessionInvalid(Exception):
    """No usable session cookie (missing, forged, expired)."""


class SessionCookies:
    def __init__(self, secret_key: str, max_age: int, secure: bool) -> None:
        self.max_age = max_age
        self.secure = secure
        self._serializer = URLSafeTimedSerializer(
            secret_key,
            salt="nextpyter-gateway-session",
            signer_kwargs={"digest_method": hashlib.sha256},
        )

    def issue(self, user_id: str, slug: str) -> str:
        return self._serializer.dumps({"u": user_id, "s": slug})

    def read(self, value: str | None) -> SessionClaims:
        if not value:
            raise SessionInvalid("no session cookie")
        try:
            data = self._serializer.loads(value, max_age=self.max_age)
        except SignatureExpired:
            raise SessionInvalid("the session has expired") from None
        except BadSignature:
            raise SessionInvalid("the session cookie is not valid") from None
        if not isinstance(data, dict) or not {"u", "s"} <= data.keys():
            raise SessionInvalid("the session cookie is not valid")
        return SessionClaims(user_id=str(data["u"]), slug=str(data["s"]))

    def set_on(self, response: Response, user_id: str, slug: str) -> None:
        response.set_cookie(
            COOKIE_NAME,
            self.issue(user_id, slug),
            max_age=self.max_age,
            path=f"/user/{slug}/",
            secure=self.secure,
            httponly=True,
            samesite="Lax",
        )


def upstream_secret(secret_key: str, slug: str) -> str:
    """What the gateway shows ``slug``'s Jupyter server; only the sidecar and gateway know it."""
    return hmac.new(
        secret_key.encode("utf-8"), b"nextpyter-upstream-secret:" + slug.encode(), hashlib.sha256
    ).hexdigest()

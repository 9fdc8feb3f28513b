"""The gateway's session cookie, and the Jupyter server token derived per user.

At launch the sidecar sets one cookie for the gateway origin, scoped to
``/user/<slug>/``; nginx asks the authorizer (``/internal/authorize``, see
web/authorize.py) on every request to a notebook server, which reads it with
:meth:`SessionCookies.read`. The check is an HMAC in memory (itsdangerous, SHA-256):
no Redis, no runtime call, so it stays cheap on the hot path.

Every session cookie carries the user's session epoch (epochs.py: an admin's revocation
raises it; the authorizer's one Redis ``GET``) and two times: when the session began
(``a``, for the absolute lifetime, ``NEXTPYTER_SESSION_MAX_AGE``) and when the cookie was
last issued (itsdangerous's timestamp, for the idle lifetime,
``NEXTPYTER_SESSION_IDLE_TIMEOUT``): the authorizer renews a cookie older than
:data:`RENEW_AFTER` on the way (nginx passes its ``Set-Cookie`` on). Beside the
per-server cookie, a launch or a sign-in sets the dashboard's cookie (:data:`HUB_COOKIE`,
Path ``/hub/``) for the same user and epoch, so one session serves both ways in.

The secret the gateway shows a user's Jupyter server (``X-NextPyter-Gateway``, see
nextpyter/jupyter/identity.py) is derived from the secret key and the slug, so any
replica, or a restarted one, knows it without a table; the browser never sees it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from flask import Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from werkzeug.http import dump_cookie

from ..common.env import ConfigError
from ..common.settings import integer

COOKIE_NAME = "nextpyter_session"
HUB_COOKIE = "nextpyter_hub"  # the dashboard's (and sign-out's), Path /hub/
HUB_PATH = "/hub/"
RENEW_AFTER = 60  # s: a cookie older than this is issued again when it is used


@dataclass(frozen=True)
class SessionClaims:
    user_id: str
    slug: str
    epoch: int = 0
    started: float = 0.0  # when the session began (sign-in or launch)
    issued: float = 0.0  # when this cookie was issued (renewed)
    # The dashboard's cookie only: the session's id (its CSRF token is derived from it),
    # the groups the sign-in service named (None: it named none) and how the user came in.
    sid: str = ""
    groups: tuple[str, ...] | None = None
    via: str = "launch"


class SessionInvalid(Exception):
    """No usable session cookie (missing, forged, expired)."""


class SessionCookies:
    """``max_age``: the absolute lifetime of a session; ``idle``: how long a cookie
    lives unused (at most ``max_age``); ``epoch_of``: the user's current epoch (by slug)."""

    def __init__(
        self,
        secret_key: str,
        max_age: int,
        secure: bool,
        idle: int | None = None,
        epoch_of: Callable[[str], int] = lambda slug: 0,
    ) -> None:
        self.max_age = max_age
        self.idle = min(idle or max_age, max_age)
        self.secure = secure
        self.epoch_of = epoch_of
        self._secret_key = secret_key
        self._serializer = self._make(secret_key, "nextpyter-gateway-session")
        self._hub = self._make(secret_key, "nextpyter-hub-session")

    @staticmethod
    def _make(secret_key: str, salt: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(
            secret_key, salt=salt, signer_kwargs={"digest_method": hashlib.sha256}
        )

    def issue(self, user_id: str, slug: str, epoch: int = 0, started: float | None = None) -> str:
        started = time.time() if started is None else started
        return self._serializer.dumps({"u": user_id, "s": slug, "e": epoch, "a": int(started)})

    def _load(self, serializer: URLSafeTimedSerializer, value: str | None) -> tuple[dict, float]:  # type: ignore[type-arg]
        if not value:
            raise SessionInvalid("no session cookie")
        try:
            data, stamp = serializer.loads(value, max_age=self.idle, return_timestamp=True)
        except SignatureExpired:
            raise SessionInvalid("the session has expired") from None
        except BadSignature:
            raise SessionInvalid("the session cookie is not valid") from None
        if not isinstance(data, dict) or not {"u", "s"} <= data.keys():
            raise SessionInvalid("the session cookie is not valid")
        issued = stamp.timestamp()
        started = data.get("a", issued)
        if not isinstance(started, int | float) or time.time() - started > self.max_age:
            raise SessionInvalid("the session has expired")
        return data, issued

    def read(self, value: str | None) -> SessionClaims:
        """The per-server cookie's claims; :class:`SessionInvalid` when missing, forged,
        idle too long or past its absolute lifetime (the epoch is the caller's check)."""
        data, issued = self._load(self._serializer, value)
        epoch = data.get("e", 0)
        return SessionClaims(
            user_id=str(data["u"]),
            slug=str(data["s"]),
            epoch=epoch if isinstance(epoch, int) else -1,
            started=float(data.get("a", issued)),
            issued=issued,
        )

    def read_hub(self, value: str | None) -> SessionClaims:
        """The dashboard cookie's claims (as :meth:`read`)."""
        data, issued = self._load(self._hub, value)
        epoch, groups = data.get("e", 0), data.get("g")
        return SessionClaims(
            user_id=str(data["u"]),
            slug=str(data["s"]),
            epoch=epoch if isinstance(epoch, int) else -1,
            started=float(data.get("a", issued)),
            issued=issued,
            sid=str(data.get("n", "")),
            groups=tuple(str(g) for g in groups) if isinstance(groups, list) else None,
            via=str(data.get("v", "launch")),
        )

    def needs_renewal(self, claims: SessionClaims) -> bool:
        return time.time() - claims.issued > RENEW_AFTER

    def _left(self, started: float) -> int:
        return max(0, int(started + self.max_age - time.time()))

    def renewal(self, claims: SessionClaims) -> str:
        """A ``Set-Cookie`` value that renews the per-server cookie of ``claims``."""
        return dump_cookie(
            COOKIE_NAME,
            self.issue(claims.user_id, claims.slug, claims.epoch, claims.started),
            max_age=self._left(claims.started),
            path=f"/user/{claims.slug}/",
            secure=self.secure,
            httponly=True,
            samesite="Lax",
        )

    def set_on(
        self,
        response: Response,
        user_id: str,
        slug: str,
        *,
        groups: tuple[str, ...] | None = None,
        via: str = "launch",
        epoch: int | None = None,
    ) -> None:
        """A new session: the per-server cookie and the dashboard's, at the user's
        current epoch."""
        epoch = self.epoch_of(slug) if epoch is None else epoch
        started = time.time()
        response.set_cookie(
            COOKIE_NAME,
            self.issue(user_id, slug, epoch, started),
            max_age=self.max_age,
            path=f"/user/{slug}/",
            secure=self.secure,
            httponly=True,
            samesite="Lax",
        )
        hub = SessionClaims(user_id, slug, epoch, started, started, secrets.token_urlsafe(18))
        self.set_hub(response, replace(hub, groups=groups, via=via))

    def set_hub(self, response: Response, claims: SessionClaims) -> None:
        """The dashboard's cookie for ``claims`` (a new session's, or a renewal)."""
        data: dict[str, object] = {
            "u": claims.user_id,
            "s": claims.slug,
            "e": claims.epoch,
            "a": int(claims.started),
            "n": claims.sid,
            "v": claims.via,
        }
        if claims.groups is not None:
            data["g"] = list(claims.groups)
        response.set_cookie(
            HUB_COOKIE,
            self._hub.dumps(data),
            max_age=self._left(claims.started),
            path=HUB_PATH,
            secure=self.secure,
            httponly=True,
            samesite="Lax",
        )

    def clear_on(self, response: Response, slug: str) -> None:
        """End the session in this browser: both cookies go."""
        for name, path in ((COOKIE_NAME, f"/user/{slug}/"), (HUB_COOKIE, HUB_PATH)):
            response.delete_cookie(
                name, path=path, secure=self.secure, httponly=True, samesite="Lax"
            )

    def csrf_token(self, claims: SessionClaims) -> str:
        """The dashboard's forms' token: bound to the session, known to no other page."""
        return hmac.new(
            self._secret_key.encode("utf-8"),
            b"nextpyter-csrf:" + claims.sid.encode("utf-8"),
            hashlib.sha256,
        ).hexdigest()


def idle_timeout(env: Mapping[str, str], max_age: int) -> int:
    """``NEXTPYTER_SESSION_IDLE_TIMEOUT``: how long a session cookie lives unused (the
    table's range and default, and never longer than the absolute lifetime,
    ``NEXTPYTER_SESSION_MAX_AGE``)."""
    value = integer(env, "SESSION_IDLE_TIMEOUT")
    if env.get("NEXTPYTER_SESSION_IDLE_TIMEOUT") and value > max_age:
        raise ConfigError(
            f"NEXTPYTER_SESSION_IDLE_TIMEOUT={value} is longer than "
            f"NEXTPYTER_SESSION_MAX_AGE={max_age}; make it at most that"
        )
    return min(value, max_age)


def upstream_secret(secret_key: str, slug: str) -> str:
    """What the gateway shows ``slug``'s Jupyter server; only the sidecar and gateway know it."""
    return hmac.new(
        secret_key.encode("utf-8"), b"nextpyter-upstream-secret:" + slug.encode(), hashlib.sha256
    ).hexdigest()

"""Who calls the API: an API token (``npt_…``) or an admin token signed by Nextcloud,
sent as ``Authorization: Bearer``; and what it may do (its scopes)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import request

from ..apitokens import ApiToken
from ..problems import Problem
from ..services import services
from ..tokens import AdminToken

F = TypeVar("F", bound=Callable[..., Any])


def bearer() -> ApiToken | AdminToken:
    """The caller: an API token (``npt_…``), or an admin token signed by Nextcloud."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Problem(
            401,
            "auth-required",
            "Authentication required",
            "Send an API token as 'Authorization: Bearer <token>'. An administrator "
            "creates one with 'nextpyter-admin token create'.",
        )
    value = value.strip()
    if not value.startswith("npt_") and value.count(".") == 2:
        return services().verifier.verify_admin(value)
    token = services().api_tokens.check(value)
    if token is None:
        raise Problem(
            401,
            "auth-invalid",
            "API token not valid",
            "The API token is unknown or was revoked. Ask an administrator for a new one.",
        )
    return token


def require(token: ApiToken | AdminToken, scope: str) -> None:
    if not token.allows(scope):
        raise Problem(
            403,
            "scope-missing",
            "Not allowed",
            f"This API token lacks the '{scope}' scope. Ask an administrator for a token with it.",
        )


def require_scope(scope: str) -> Callable[[F], F]:
    """A view only for callers whose token has ``scope``."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            require(bearer(), scope)
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate

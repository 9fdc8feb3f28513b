"""Where a browser's request comes from: the gateway's own origin, or a launch form of
Nextcloud's (NEXTPYTER_LAUNCH_ORIGINS)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import request

from ..problems import Problem
from ..services import services


def same_origin(origin: str | None, host: str) -> bool:
    """Whether a request's ``Origin`` (if the browser sent one) is the gateway itself.

    Host and port are compared with the Host the browser asked for; the scheme is
    not, so a TLS-terminating proxy in front of the gateway changes nothing.
    """
    if origin is None:
        return True  # navigations and same-origin GETs carry no Origin
    try:
        sent, wanted = urlsplit(origin), urlsplit("//" + host)
        default = {"http": 80, "https": 443}.get(sent.scheme)
        if default is None or not sent.hostname or sent.username or sent.password:
            return False  # "null" (sandboxed frames, file:), user info (never a browser's)
        return sent.hostname == wanted.hostname and (sent.port or default) == (
            wanted.port or default
        )
    except ValueError:
        return False


def check_launch_origin() -> None:
    """A launch form must come from Nextcloud (or, with a development signing key, from
    the development launcher on the gateway's own origin); else 403."""
    svc = services()
    origin = request.headers.get("Origin")
    from_dev_launcher = svc.settings.dev_signing_key is not None and same_origin(
        origin or "null", request.host
    )
    if origin not in svc.settings.launch_origins and not from_dev_launcher:
        # Login CSRF: a page elsewhere posting its owner's token would put the visitor's
        # browser into the owner's server, whose pages share this origin with the visitor's.
        raise Problem(
            403,
            "launch-origin",
            "Launch refused",
            "A notebook can only be opened from Nextcloud. Open it again from Nextcloud "
            "Files; if this keeps happening, ask your administrator to check "
            "NEXTPYTER_LAUNCH_ORIGINS.",
        )

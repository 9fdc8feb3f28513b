"""Who may use a NextPyter Jupyter server: whoever the gateway lets through.

Loaded inside the Jupyter server (``ServerApp.identity_provider_class``); it depends
on ``jupyter_server`` and upstream.py only: the docker backend copies this package into
every container as it is.

The gateway adds ``X-NextPyter-Gateway: <secret>`` to every request it forwards
after the sidecar has checked the user's session cookie; a request with the right
secret is the server's owner, any other is refused. There is no Jupyter token and
no login page, so nothing secret is ever put into a page, and requests are not
"token-authenticated": Jupyter's own XSRF and Origin checks stay on.

The secret comes in a file (``_NEXTPYTER_GATEWAY_SECRET_FILE``), read once at start
and then removed, so neither kernels (whose environment is the server's) nor a
later look at the file system find it.
"""

from __future__ import annotations

import contextlib
import hmac
import os
from typing import Any

from jupyter_server.auth.identity import IdentityProvider, User

from .upstream import HEADER, SECRET_FILE_ENV, USER_ENV


class GatewayIdentityProvider(IdentityProvider):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._secret = ""
        path = os.environ.pop(SECRET_FILE_ENV, "")
        if path:
            with open(path, encoding="ascii") as handle:
                self._secret = handle.read().strip()
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._user = User(username=os.environ.get(USER_ENV, "user"))
        self.token = ""  # no token at all: nothing to leak into pages or kernels

    def get_user(self, handler: Any) -> User | None:
        given = handler.request.headers.get(HEADER, "")
        if self._secret and given and hmac.compare_digest(given, self._secret):
            return self._user
        return None

    @property
    def login_available(self) -> bool:
        return False

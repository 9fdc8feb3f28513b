"""Talking to a Jupyter server over its unix socket, as the sidecar does on every backend
whose servers listen on one (local processes, Docker containers): readiness and activity."""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ...jupyter.upstream import HEADER as GATEWAY_HEADER
from ..slugs import is_slug
from . import activity
from .base import BackendError

# What a server's directory holds: the socket it listens on, and the secret it is handed
# at start (removed by the server once read; see nextpyter/jupyter/identity.py).
SOCKET = "jupyter.sock"
SECRET_FILE = "gateway-secret"
# The longest path a unix socket may have (sun_path holds 108 bytes, with the final NUL).
MAX_SOCKET_PATH = 107


def fitting(path: Path) -> Path:
    """``path`` if a unix socket can live there; else a message for the administrator."""
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise BackendError(
            f"The server's socket path ({path}) is longer than the {MAX_SOCKET_PATH} bytes "
            "a unix socket may have. Ask your administrator to set a shorter "
            "NEXTPYTER_RUNTIME_DIR (the default /run/nextpyter fits every user)."
        )
    return path


class SocketDirs:
    """Backends whose servers listen on ``<servers_dir>/<slug>/jupyter.sock``: the gateway's
    upstream is derived from the slug alone, with no I/O."""

    servers_dir: Path

    def _dir(self, slug: str) -> Path:
        if not is_slug(slug):
            raise BackendError(f"{slug!r} is not a server name")
        return self.servers_dir / slug

    def socket_path(self, slug: str) -> Path:
        return fitting(self._dir(slug) / SOCKET)

    def upstream(self, slug: str) -> str:
        return f"unix:{self.socket_path(slug)}:"

    def probe(self, slug: str, secret: str) -> activity.Activity | None:
        """The server's kernels and terminals, for the culler (see runtime/activity.py)."""
        sock = self.socket_path(slug)
        return activity.read(lambda path: get_over_socket(sock, f"/user/{slug}{path}", 5.0, secret))


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def get_over_socket(sock: Path, path: str, timeout: float, secret: str = "") -> tuple[int, bytes]:
    """One HTTP GET to a server over its unix socket."""
    connection = _UnixHTTPConnection(str(sock), timeout=timeout)
    try:
        headers = {GATEWAY_HEADER: secret} if secret else {}
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_answering(
    sock: Path,
    slug: str,
    timeout: float,
    check: Callable[[], None],
    check_every: float = 0.0,
    bound: Callable[[], bool] | None = None,
) -> None:
    """Block until the server on ``sock`` answers HTTP.

    The socket file appears when the server binds it and takes connections a moment later,
    when it listens; a request made then waits in the backlog until the server's loop runs
    and is answered. So: look every 10 ms (a constant, no back-off) until one request gets
    in. ``bound()`` says whether the socket is there to try (by default: ``sock`` exists);
    ``check`` raises :class:`BackendError` when the server is gone (it is called every
    ``check_every`` seconds, every round when 0).
    """
    deadline = time.monotonic() + timeout
    next_check = 0.0
    while True:
        if bound() if bound is not None else sock.exists():
            try:
                get_over_socket(sock, f"/user/{slug}/api", max(0.1, deadline - time.monotonic()))
                return
            except (ConnectionRefusedError, FileNotFoundError):
                pass  # bound, not listening yet
            except OSError as error:
                raise BackendError(f"The Jupyter server does not answer: {error}") from None
        now = time.monotonic()
        if now >= next_check:
            check()
            next_check = now + check_every
        if now > deadline:
            raise BackendError(f"The Jupyter server did not start within {timeout:.0f} s.")
        time.sleep(0.01)


def last_activity(sock: Path, slug: str, secret: str) -> float | None:
    """When the server was last used, as it says itself; None when it does not answer.
    (/api/status does not count as activity itself: jupyter_server does not track it.)"""
    try:
        status, body = get_over_socket(sock, f"/user/{slug}/api/status", 5.0, secret)
        if status != 200:
            return None
        stamp = json.loads(body)["last_activity"]
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except (OSError, ValueError, KeyError, TypeError):
        return None

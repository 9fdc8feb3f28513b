"""What counts as a user's activity on a Jupyter server, for the idle culler.

The server's own ``last_activity`` (``/api/status``) is not used: every authenticated API
request moves it, and an idle open JupyterLab tab polls ``/api/kernels``,
``/api/sessions``, ``/api/terminals``, ``/api/contents`` and the kernel specs every few
seconds, so a forgotten tab would keep a server alive for days. Instead the culler reads
the kernels and the terminals (see docs/culling.md):

- a kernel whose ``execution_state`` is ``busy`` is in use *now*, however long it has
  printed nothing (a silent five-hour training cell keeps its server);
- each kernel's ``last_activity``: jupyter_server moves it on the kernel's messages that
  a user causes (code sent to run, its replies, comms such as widgets), and not on what an
  idle tab exchanges (kernel_info and comm_info requests, status, heartbeats);
- each terminal's ``last_activity`` (typing, or output of what runs in it).

A launch counts too (the culler adds it from Redis), and so does the server's start.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Activity:
    """What a server says of its kernels and terminals."""

    last: float  # the latest kernel or terminal activity (Unix time); 0.0 with none
    busy: bool  # some kernel is executing
    kernels: int = 0
    terminals: int = 0


@runtime_checkable
class Probes(Protocol):
    """A backend that can read :class:`Activity` from its servers."""

    def probe(self, slug: str, secret: str) -> Activity | None: ...


def _stamp(value: object) -> float:
    if not isinstance(value, str):
        return 0.0
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def from_listings(kernels: object, terminals: object) -> Activity | None:
    """:class:`Activity` from the JSON of ``/api/kernels`` and ``/api/terminals`` (the
    latter may be None: terminals turned off); None when ``kernels`` is not a listing."""
    if not isinstance(kernels, list):
        return None
    last, busy = 0.0, False
    for kernel in kernels:
        if isinstance(kernel, dict):
            last = max(last, _stamp(kernel.get("last_activity")))
            busy = busy or kernel.get("execution_state") == "busy"
    listed = terminals if isinstance(terminals, list) else []
    for terminal in listed:
        if isinstance(terminal, dict):
            last = max(last, _stamp(terminal.get("last_activity")))
    return Activity(last=last, busy=busy, kernels=len(kernels), terminals=len(listed))


def read(get: Callable[[str], tuple[int, bytes]]) -> Activity | None:
    """Ask a server: ``get(path)`` is one GET of ``path`` under the server's base URL
    (``/api/kernels``); None when it does not answer as a Jupyter server does."""
    try:
        status, body = get("/api/kernels")
        if status != 200:
            return None
        kernels = json.loads(body)
        status, body = get("/api/terminals")
        terminals = json.loads(body) if status == 200 else None
    except (OSError, ValueError, http.client.HTTPException):
        return None
    return from_listings(kernels, terminals)

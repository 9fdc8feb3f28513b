"""A pytest plugin for unit tests: a test that opens a socket (Redis, HTTP, a unix socket)
or starts a process fails, naming what it tried. So the unit folder stays what
`make test-fast` promises: no process, socket or Redis."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest


class IsolationBreach(AssertionError):
    pass


@pytest.fixture(autouse=True)
def no_sockets_or_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(what: str) -> Any:
        def refused(*args: Any, **kwargs: Any) -> Any:
            raise IsolationBreach(
                f"a unit test may not {what}; move it to tests/integration/ or tests/system/"
            )

        return refused

    # socketpair() stays allowed: it reaches nothing (asyncio and some libraries use it).
    monkeypatch.setattr(socket.socket, "connect", refuse("connect a socket"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect a socket"))
    monkeypatch.setattr(socket.socket, "bind", refuse("bind a socket"))
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("start a process"))
    yield

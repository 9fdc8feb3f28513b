"""The local backend's start protocol, against a server that is slow between bind and
listen (a real race: CI once saw 'Connection refused' from a server that had bound its
socket file but was not listening yet)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from nextpyter.sidecar.runtime import ServerSpec
from nextpyter.sidecar.runtime.local import LocalBackend

# Binds the socket named by --ServerApp.sock=, waits, then listens and answers every
# request with 200, as a Jupyter server does once its loop runs.
SLOW_LISTENER = """\
import socket, sys, time
path = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("--ServerApp.sock="))
server = socket.socket(socket.AF_UNIX)
server.bind(path)
time.sleep(0.5)
server.listen(8)
while True:
    connection, _ = server.accept()
    connection.recv(65536)
    connection.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n"
                       b"Connection: close\\r\\n\\r\\n{}")
    connection.close()
"""


def test_wait_ready_survives_the_gap_between_bind_and_listen(tmp_path: Path) -> None:
    python = tmp_path / "slow-python"
    python.write_text(f"#!{sys.executable}\n{SLOW_LISTENER}")
    python.chmod(0o755)
    files = tmp_path / "files"
    files.mkdir()
    backend = LocalBackend(tmp_path / "run", python=str(python))
    spec = ServerSpec(user_id="sam", slug="sam", profile="default", files_dir=files, secret="s")
    try:
        backend.start(spec)
        server = backend.wait_ready("sam", timeout=20)
        assert server.state == "running"
    finally:
        assert backend.stop("sam")
    assert backend.status("sam") is None


def test_a_socket_path_too_long_for_unix_sockets_is_a_message() -> None:
    """sun_path holds 107 bytes: a long NEXTPYTER_RUNTIME_DIR and a long user id (slugs
    have up to 42 characters) do not fit; that is said, not an obscure failure later."""
    base = Path(tempfile.mkdtemp(prefix="np-", dir="/tmp"))
    deep = base / ("d" * (70 - len(str(base)) - 1))  # 70 bytes: short names fit, long ones not
    try:
        backend = LocalBackend(deep)
        _check_lengths(backend, deep)
    finally:
        shutil.rmtree(base)


def _check_lengths(backend: LocalBackend, deep: Path) -> None:
    from nextpyter.sidecar.runtime import BackendError
    from nextpyter.sidecar.slugs import slug_for

    long_slug = slug_for("a" * 64)
    with pytest.raises(BackendError, match="shorter NEXTPYTER_RUNTIME_DIR"):
        backend.upstream(long_slug)
    # A short name in the same directory fits.
    assert backend.upstream("bob") == f"unix:{deep}/servers/bob/jupyter.sock:"

"""The ``local`` backend: one Jupyter server process per user on this machine.

For development and single-user installs: servers run as the sidecar's own
system user, so users are separated by nothing more than the files the server
is rooted at (say so to anyone who asks for more; that is what the docker and
kubernetes backends are for).

Each server has a directory ``<runtime_dir>/servers/<slug>/`` (mode 0700) with
its unix socket ``jupyter.sock`` (the gateway's upstream), ``server.json``
(pid, process start time, owner) and ``server.log``. Every process it starts
carries ``_NEXTPYTER_SERVER=<installation>:<slug>:<nonce>`` in its environment,
kernels included, so the process table tells which processes belong to which
server: a restarted sidecar adopts what runs and kills what no state file
claims. The installation part (a hash of the runtime directory) keeps two
installations on one machine (a demo beside the tests, say) from touching each
other's servers.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ... import jupyter
from ...jupyter.upstream import SECRET_FILE_ENV, USER_ENV
from ..slugs import is_slug
from .base import ORPHAN_GRACE, Backend, BackendError, Server, ServerSpec
from .sockets import SECRET_FILE, SOCKET, SocketDirs, last_activity, wait_answering

MARKER = "_NEXTPYTER_SERVER"  # a process contract, not a setting
# nextpyter/jupyter/config.py, from the folder that holds the nextpyter package.
CONFIG_FILE = Path(jupyter.__file__).parents[2] / jupyter.CONFIG_FILE
STOP_GRACE = 10.0


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of ``pid``, or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def _alive(pid: int, start_ticks: int | None) -> bool:
    stat = _proc_stat(pid)
    if stat is None:
        return False
    state, ticks = stat
    if state in {"Z", "X"}:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
        return False
    return start_ticks is None or ticks == start_ticks


def _age(start_ticks: int) -> float:
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


def _marked_processes(installation: str) -> list[tuple[int, str, str]]:
    """(pid, slug, nonce) of every process of ``installation`` that we may read."""
    found = []
    needle = f"{MARKER}={installation}:".encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            environ = Path(entry.path, "environ").read_bytes()
        except OSError:
            continue
        for item in environ.split(b"\0"):
            if item.startswith(needle):
                slug, _, nonce = item[len(needle) :].decode("ascii", "replace").partition(":")
                found.append((int(entry.name), slug, nonce))
                break
    return found


def build_process_spec(
    spec: ServerSpec, directory: Path, python: str, marker: str
) -> tuple[list[str], dict[str, str]]:
    """The command line and the whole environment of ``spec``'s Jupyter server, whose
    state lives in ``directory``: a pure function (no I/O), tested as a whole."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "HOME": str(directory / "home"),
        "JUPYTER_RUNTIME_DIR": str(directory / "runtime"),
        "JUPYTER_DATA_DIR": str(directory / "data"),
        "JUPYTER_CONFIG_DIR": str(directory / "config"),
        "IPYTHONDIR": str(directory / "home" / ".ipython"),
        SECRET_FILE_ENV: str(directory / SECRET_FILE),
        USER_ENV: spec.user_id,
        "PYTHONUNBUFFERED": "1",
        MARKER: marker,
    }
    if spec.gpu_ids:  # the GPUs the sidecar assigned (gpus.py); CUDA sees only these
        env["CUDA_VISIBLE_DEVICES"] = ",".join(spec.gpu_ids)
    command = [
        python, "-m", "jupyter_server",
        f"--config={CONFIG_FILE}",
        f"--ServerApp.sock={directory / SOCKET}",
        "--ServerApp.sock_mode=0600",
        f"--ServerApp.base_url={spec.base_url}",
        f"--ServerApp.root_dir={spec.files_dir}",
        *(["--allow-root"] if os.geteuid() == 0 else []),
    ]  # fmt: skip
    return command, env


class LocalBackend(SocketDirs, Backend):
    name = "local"

    def __init__(self, runtime_dir: Path, python: str = ""):
        self.servers_dir = runtime_dir / "servers"
        self.servers_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.servers_dir, 0o711)  # noqa: S103 - traverse only; each server dir is 0700
        self.installation = hashlib.sha256(str(self.servers_dir.resolve()).encode()).hexdigest()[
            :12
        ]
        self.python = python or sys.executable
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    # -- paths and state ---------------------------------------------------------------
    def _read_state(self, slug: str) -> dict[str, Any] | None:
        try:
            data = json.loads((self._dir(slug) / "server.json").read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and isinstance(data.get("pid"), int) else None

    def _write_state(self, slug: str, state: dict[str, Any]) -> None:
        path = self._dir(slug) / "server.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, path)

    def _server(self, slug: str, state: dict[str, Any]) -> Server:
        ready = self.socket_path(slug).exists()
        return Server(
            user_id=state["user_id"],
            slug=slug,
            profile=state["profile"],
            state="running" if ready else "starting",
            created=state["created"],
            gpus=tuple(state.get("gpus", ())),
        )

    def _live_state(self, slug: str) -> dict[str, Any] | None:
        state = self._read_state(slug)
        if state and _alive(state["pid"], state.get("start_ticks")):
            return state
        return None

    # -- the interface -----------------------------------------------------------------
    def status(self, slug: str) -> Server | None:
        state = self._live_state(slug)
        return self._server(slug, state) if state else None

    def list(self) -> list[Server]:
        servers = []
        for entry in sorted(self.servers_dir.iterdir()):
            if is_slug(entry.name) and (server := self.status(entry.name)):
                servers.append(server)
        return servers

    def start(self, spec: ServerSpec) -> Server:
        """Start the server; the caller holds the user's spawn lock."""
        existing = self._live_state(spec.slug)
        if existing:
            return self._server(spec.slug, existing)
        directory = self._dir(spec.slug)
        if directory.exists():
            self._kill_marked(spec.slug)
            shutil.rmtree(directory)
        directory.mkdir(mode=0o700)
        for sub in ("home", "runtime", "data", "config"):
            (directory / sub).mkdir(mode=0o700)
        nonce = secrets.token_hex(8)
        # The server reads its gateway secret from this file at start and removes it.
        fd = os.open(directory / SECRET_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(spec.secret)
        command, env = build_process_spec(
            spec, directory, self.python, f"{self.installation}:{spec.slug}:{nonce}"
        )
        with open(directory / "server.log", "ab") as log:
            try:
                process = subprocess.Popen(
                    command,
                    env=env,
                    cwd=spec.files_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as error:
                shutil.rmtree(directory, ignore_errors=True)
                raise BackendError(f"The Jupyter server could not be started: {error}") from None
        self._children[spec.slug] = process
        stat = _proc_stat(process.pid)
        state = {
            "pid": process.pid,
            "start_ticks": stat[1] if stat else None,
            "nonce": nonce,
            "user_id": spec.user_id,
            "profile": spec.profile,
            "created": time.time(),
            "gpus": list(spec.gpu_ids),
        }
        self._write_state(spec.slug, state)
        return self._server(spec.slug, state)

    def wait_ready(
        self, slug: str, timeout: float, progress: Callable[[str], None] | None = None
    ) -> Server:
        state = self._read_state(slug)
        if state is None:
            raise BackendError("The server is not running.")

        def check() -> None:
            if not _alive(state["pid"], state.get("start_ticks")):
                raise BackendError(
                    f"The Jupyter server stopped while starting (its log ends: "
                    f"{self._log_tail(slug)}). If this keeps happening, show this message to "
                    "your administrator."
                )

        wait_answering(self.socket_path(slug), slug, timeout, check)
        return self._server(slug, state)

    def activity(self, slug: str, secret: str) -> float | None:
        return last_activity(self.socket_path(slug), slug, secret)

    def stop(self, slug: str) -> bool:
        state = self._read_state(slug)
        directory = self._dir(slug)
        if state is None and not directory.exists():
            return False
        found = False
        if state and _alive(state["pid"], state.get("start_ticks")):
            found = True
            self._terminate(state["pid"], state.get("start_ticks"))
        self._kill_marked(slug)
        child = self._children.pop(slug, None)
        if child is not None:
            with contextlib.suppress(Exception):
                child.wait(timeout=1)
        shutil.rmtree(directory, ignore_errors=True)
        return found

    def reconcile(self, busy: Callable[[str], bool] = lambda slug: False) -> None:
        owners: dict[str, str] = {}
        for entry in list(self.servers_dir.iterdir()):
            if not is_slug(entry.name) or busy(entry.name):
                continue
            state = self._live_state(entry.name)
            if state:
                owners[entry.name] = state["nonce"]
            elif time.time() - entry.stat().st_mtime > ORPHAN_GRACE:
                shutil.rmtree(entry, ignore_errors=True)  # dead or half-created
        for pid, slug, nonce in _marked_processes(self.installation):
            if owners.get(slug) == nonce:
                continue
            stat = _proc_stat(pid)
            if stat and _age(stat[1]) > ORPHAN_GRACE:
                self._terminate(pid, stat[1], grace=2.0)

    # -- helpers -----------------------------------------------------------------------
    def _terminate(self, pid: int, start_ticks: int | None, grace: float = STOP_GRACE) -> None:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
            if not _alive(pid, start_ticks):
                return
            with contextlib.suppress(ProcessLookupError, PermissionError):
                try:
                    os.killpg(pid, sig)
                except ProcessLookupError:
                    os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and _alive(pid, start_ticks):
                time.sleep(0.02)

    def marked_processes(self) -> builtins.list[tuple[int, str, str]]:
        """(pid, slug, nonce) of every process of this installation's servers, kernels too."""
        return _marked_processes(self.installation)

    def _kill_marked(self, slug: str) -> None:
        """SIGKILL every process still carrying ``slug``'s marker (kernels of a server that
        is gone run in sessions of their own)."""
        for pid, marked_slug, _ in _marked_processes(self.installation):
            if marked_slug == slug:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def _log_tail(self, slug: str, lines: int = 5) -> str:
        try:
            text = (self._dir(slug) / "server.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"

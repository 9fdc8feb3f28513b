"""A private Docker engine on this machine, for the tests, the demo and the benchmarks
(the images it runs are in images.py, its namespace in netns.py, its TLS in tls.py).

- :func:`start_engine` runs Debian's ``dockerd`` as a private instance: its own data
  root (kept between runs, so images are built once per machine), exec root, pid file
  and unix socket, and ``--iptables=false --ip-forward=false --ip-masq=false
  --bridge=none`` so the machine's firewall and network stay as they are.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import docker
import docker.errors

from nextpyter.sidecar.runtime import egress

from .netns import NetNS, make_netns
from .services import CACHE, DevDockerError, terminate
from .tls import make_certificates

REGISTRY_RANGE = "10.213.0.0/16"


@dataclass
class Engine:
    """A private ``dockerd`` started by us; stopped by its pid."""

    socket: Path
    process: subprocess.Popen[bytes]
    log: Path
    exec_root: Path
    lock: IO[str] | None = None
    tls_url: str = ""  # tcp://127.0.0.1:<port> when started with TLS
    cert_path: Path | None = None  # the client's ca.pem, cert.pem, key.pem
    netns: NetNS | None = None  # the engine's own network namespace (isolated engines)

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def client(self, timeout: int = 120) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.url, version="auto", timeout=timeout)

    def stop(self, timeout: float = 30.0) -> None:
        terminate(self.process, timeout)
        shutil.rmtree(self.exec_root, ignore_errors=True)
        if self.netns is not None:
            self.netns.remove()
            self.netns = None
        if self.lock is not None:
            self.lock.close()  # frees the data root for the next engine
            self.lock = None

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"


def _stop_stale(pidfile: Path, data_root: Path) -> None:
    """A dockerd of ours left running on this data root (a run killed before it could stop
    it) would keep a new one from starting; stop it, but only if it is that one."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return
    if not cmdline or not cmdline[0].endswith(b"dockerd") or str(data_root).encode() not in cmdline:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _take(lock: IO[str], data_root: Path, wait: float = 1800) -> None:
    """The data root's lock: at once, or after saying who waits for what."""
    deadline = time.monotonic() + wait
    said = False
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if not said:
                print(
                    f"waiting for the Docker engine on {data_root}: another run (tests, a "
                    "benchmark or make demo-docker) uses it; stop that one to go on",
                    file=sys.stderr,
                    flush=True,
                )
                said = True
            if time.monotonic() > deadline:
                lock.close()
                raise DevDockerError(f"the Docker engine on {data_root} stayed busy") from None
            time.sleep(0.5)


def start_engine(
    data_root: Path | None = None,
    extra_options: list[str] | None = None,
    timeout: float = 60,
    tls_port: int | None = None,
    isolated: bool = False,
) -> Engine:
    """Start a private dockerd (as root); its data root outlives it, so images stay.

    With ``tls_port`` it also listens on ``tls_port`` with TLS, requiring client
    certificates (``engine.tls_url`` and ``engine.cert_path``), as Docker-in-Docker does.

    ``isolated``: the engine runs in a network namespace of its own (``engine.netns``)
    with its firewall rules on, as an engine's host would (Docker-in-Docker): networks
    with inter-container traffic off are enforced, and NextPyter's egress rules
    (runtime/egress.py) are applied. Without it, the engine shares this machine's network
    and leaves its firewall alone (--iptables=false), so neither is enforced.
    """
    dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
    if not Path(dockerd).exists():
        raise DevDockerError("dockerd is not installed (Debian's docker.io; run `make deps`)")
    if os.geteuid() != 0:
        raise DevDockerError("a private dockerd needs root")
    data_root = data_root or CACHE / "docker"
    data_root.mkdir(parents=True, exist_ok=True)
    # One engine per data root at a time (the tests and a benchmark take turns): the lock
    # is held until the engine stops, or freed by the kernel if its holder dies.
    lock = open(data_root.parent / f"{data_root.name}.lock", "w")  # noqa: SIM115 - held
    _take(lock, data_root)
    pidfile = data_root.parent / f"{data_root.name}.pid"
    _stop_stale(pidfile, data_root)  # only ours can be there, and its owner is gone
    # A short path: containerd's sockets live under the exec root, and a unix socket's
    # path may not exceed 107 bytes.
    exec_root = Path(
        tempfile.mkdtemp(prefix="npd-", dir="/run" if os.access("/run", os.W_OK) else None)
    )
    socket = exec_root / "docker.sock"
    log = data_root.parent / f"{data_root.name}.log"
    options = list(extra_options or [])
    netns = make_netns(data_root.parent / f"{data_root.name}.netns") if isolated else None
    prefix = netns.enter if netns else []
    address = netns.ns_ip if netns else "127.0.0.1"
    if netns:
        options += ["--iptables=true", "--ip-forward=true", "--ip-masq=true"]
        # This machine's ends of the engines' namespaces, where a test registry serves
        # plain HTTP (as a registry on a deployment's internal network might).
        options += [f"--insecure-registry={REGISTRY_RANGE}"]
    else:
        options += ["--iptables=false", "--ip-forward=false", "--ip-masq=false"]
    cert_path = None
    if tls_port:
        server, cert_path = make_certificates(exec_root / "tls", host=address)
        options += [
            f"--host=tcp://{address}:{tls_port}",
            "--tlsverify",
            f"--tlscacert={server / 'ca.pem'}",
            f"--tlscert={server / 'cert.pem'}",
            f"--tlskey={server / 'key.pem'}",
        ]
    command = [
        *prefix,
        dockerd,
        f"--data-root={data_root}",
        f"--exec-root={exec_root}",
        f"--pidfile={pidfile}",
        f"--host=unix://{socket}",
        # Its own containerd namespaces: a system Docker (which installing docker.io starts
        # on a machine with systemd) may share the system containerd with it.
        "--containerd-namespace=nextpyter-dev",
        "--containerd-plugins-namespace=nextpyter-dev-plugins",
        "--bridge=none",
        "--ip6tables=false",
        *options,
    ]
    with open(log, "ab") as handle:
        process = subprocess.Popen(
            command,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    engine = Engine(socket, process, log, exec_root, lock, netns=netns)
    if tls_port and cert_path:
        engine.tls_url, engine.cert_path = f"tcp://{address}:{tls_port}", cert_path
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            engine.stop()
            raise DevDockerError(f"dockerd exited at start:\n{engine.log_tail()}")
        if socket.exists():
            with contextlib.suppress(Exception):
                client = engine.client(timeout=5)
                try:
                    if client.ping():
                        if netns:
                            egress.apply(prefix=netns.enter)
                        return engine
                finally:
                    client.close()
        time.sleep(0.05)
    engine.stop()
    raise DevDockerError(f"dockerd did not answer within {timeout} s:\n{engine.log_tail()}")

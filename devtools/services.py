"""Start and stop the real services on this machine: Redis, the sidecar, the gateway.

One definition used by `make demo`, the tests and the benchmarks. Every service
listens on a private unix socket or a free loopback port, keeps its files in a
work directory, and is stopped by the pid we started, never by name.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
GATEWAY_TEMPLATE = REPO / "gateway" / "nextpyter.conf.template"
# The Nextcloud of the demo and the tests. Its origin is where launch forms may come from;
# *.localhost never leaves the machine (browsers resolve it to loopback themselves).
ISSUER = "http://nextcloud.localhost"


# What the tests and benchmarks keep between runs on one machine (images, registry storage).
CACHE = Path(os.environ.get("NEXTPYTER_DEV_CACHE", "/var/cache/nextpyter-dev"))


class DevDockerError(RuntimeError):
    """A development engine, image, registry or namespace could not be made."""


class ServiceError(RuntimeError):
    pass


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    address: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 10.0) -> None:
        terminate(self.process, timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def terminate(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM a process we started, SIGKILL it if it is still there after ``timeout``."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(what: str, ready: Callable[[], bool], service: Service, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise ServiceError(f"{what} exited at start:\n{service.log_tail()}")
        with contextlib.suppress(Exception):
            if ready():
                return
        time.sleep(0.02)
    service.stop()
    raise ServiceError(f"{what} did not become ready in {timeout} s:\n{service.log_tail()}")


def spawn(
    name: str,
    command: list[str],
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Service:
    binary = shutil.which(command[0]) or (command[0] if Path(command[0]).exists() else None)
    if binary is None:
        raise ServiceError(f"{command[0]} is not installed (run `make deps` as root)")
    handle = open(log, "ab")  # noqa: SIM115 - the child keeps it
    process = subprocess.Popen(
        command, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=cwd
    )
    handle.close()
    return Service(name, process, log)


def start_redis(workdir: Path, persistent: bool = False) -> Service:
    """Redis on a private unix socket; no persistence, or ``persistent``: the append-only
    file a deployment configures (``appendonly yes``, ``appendfsync everysec``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    sock = workdir / "redis.sock"
    service = spawn(
        "redis",
        [
            "redis-server",
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--dir",
            str(workdir),
            "--save",
            "",
            "--appendonly",
            "yes" if persistent else "no",
            "--appendfsync",
            "everysec",
            "--daemonize",
            "no",
        ],
        workdir / "redis.log",
    )
    service.address = f"unix://{sock}"

    def ready() -> bool:
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(1)
            client.connect(str(sock))
            client.sendall(b"PING\r\n")
            return client.recv(16).startswith(b"+PONG")

    wait_ready("redis-server", ready, service, 15)
    return service


def make_keys(workdir: Path) -> tuple[Path, Path]:
    """A development signing key (private PEM) and the JWKS with its public half."""
    from nextpyter.sidecar.signing import generate_key

    pem, jwks = workdir / "keys" / "dev.pem", workdir / "keys" / "jwks.json"
    if not pem.exists():
        pem, jwks = generate_key(workdir / "keys")
    return pem, jwks


def sidecar_env(
    workdir: Path, redis_url: str, data_dir: Path, jwks: Path, **overrides: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXTPYTER_")}
    env.update(
        {
            "NEXTPYTER_SECRET_KEY": secrets.token_urlsafe(48),
            "NEXTPYTER_DATA_DIR": str(data_dir),
            "NEXTPYTER_RUNTIME_DIR": str(workdir / "run"),
            "NEXTPYTER_JWKS": str(jwks),
            "NEXTPYTER_TOKEN_ISSUER": ISSUER,
            "NEXTPYTER_REDIS_URL": redis_url,
            "NEXTPYTER_COOKIE_SECURE": "true",
        }
    )
    env.update(overrides)
    return env


def start_sidecar(
    workdir: Path, env: dict[str, str], port: int | None = None, workers: int = 2, threads: int = 32
) -> Service:
    port = port or free_port()
    bindir = Path(sys.executable).parent
    service = spawn(
        "sidecar",
        [
            str(bindir / "nextpyter-sidecar"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
        ],
        workdir / "sidecar.log",
        env=env,
    )
    service.address = f"127.0.0.1:{port}"
    url = f"http://{service.address}/api/v1/health"
    wait_ready("the sidecar", lambda: requests.get(url, timeout=1).ok, service, 60)
    return service


def render_gateway(values: dict[str, str]) -> str:
    text = GATEWAY_TEMPLATE.read_text()

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ServiceError(f"the gateway template needs {name}")
        return values[name]

    return re.sub(r"\$\{(NEXTPYTER_[A-Z_]+)\}", substitute, text)


def start_gateway(workdir: Path, sidecar_addr: str, port: int | None = None) -> Service:
    """Stock nginx with the shipped gateway include, as its own instance under ``workdir``."""
    port = port or free_port()
    prefix = workdir / "nginx"
    for sub in ("temp", "logs"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    (prefix / "nextpyter.conf").write_text(
        render_gateway(
            {
                "NEXTPYTER_GATEWAY_LISTEN": f"127.0.0.1:{port}",
                "NEXTPYTER_SIDECAR_ADDR": sidecar_addr,
            }
        )
    )
    user = "root" if os.geteuid() == 0 else ""
    (prefix / "nginx.conf").write_text(
        # Workers run as the sidecar's user: with the local backend they must open the
        # servers' unix sockets, which are private to that user.
        (f"user {user};\n" if user else "")
        + f"worker_processes 2;\npid {prefix}/nginx.pid;\nerror_log {prefix}/logs/error.log warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"  client_body_temp_path {prefix}/temp/body;\n  proxy_temp_path {prefix}/temp/proxy;\n"
        f"  fastcgi_temp_path {prefix}/temp/fastcgi;\n  uwsgi_temp_path {prefix}/temp/uwsgi;\n"
        f"  scgi_temp_path {prefix}/temp/scgi;\n"
        f"  access_log off;\n  include {prefix}/nextpyter.conf;\n"
        "}\n"
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    service = spawn(
        "gateway",
        [
            nginx,
            "-p",
            str(prefix),
            "-c",
            str(prefix / "nginx.conf"),
            "-e",
            str(prefix / "logs" / "error.log"),
            "-g",
            "daemon off;",
        ],
        prefix / "logs" / "nginx.out",
    )
    service.address = f"127.0.0.1:{port}"
    url = f"http://{service.address}/api/v1/health"
    wait_ready("nginx", lambda: requests.get(url, timeout=1).ok, service, 20)
    return service


def make_user(data_dir: Path, user_id: str, files: dict[str, str] | None = None) -> Path:
    """A user laid out as Nextcloud lays them out: ``<datadir>/<uid>/files/…``."""
    root = data_dir / user_id / "files"
    root.mkdir(parents=True, exist_ok=True)
    for name, content in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    return root


def start_pagletto(
    workdir: Path, redis_address: str, docker_host: str, name: str, **overrides: str
) -> Service:
    """A pagletto worker (``python -m nextpyter.pagletto``) named ``name`` on that Redis and engine;
    ready once it has joined the consumer group."""
    import redis as redis_lib

    from nextpyter import pullqueue

    workdir.mkdir(parents=True, exist_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("NEXTPYTER_", "DOCKER_"))},
        "NEXTPYTER_REDIS_URL": redis_address,
        "DOCKER_HOST": docker_host,
        "NEXTPYTER_PULL_WORKER_NAME": name,
        **overrides,
    }
    service = spawn(
        f"pagletto-{name}",
        [sys.executable, "-m", "nextpyter.pagletto"],
        workdir / f"pagletto-{name}.log",
        env,
    )
    client = redis_lib.Redis.from_url(redis_address, decode_responses=True)

    def joined() -> bool:
        return name in pullqueue.live_workers(client)

    try:
        wait_ready(f"pagletto {name}", joined, service, 30)
    finally:
        client.close()
    return service

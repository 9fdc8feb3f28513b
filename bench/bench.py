"""NextPyter benchmark: cold-launch overhead over a bare Jupyter server, and the
throughput of the gateway's per-request authorization (``make bench``).

It starts its own Redis, sidecar (gunicorn) and gateway (nginx) in a temporary
directory with :mod:`devtools.services`, talks to them over loopback only, stops
every process it started by pid, prints a report and writes it as JSON
(``bench/results.json`` by default).

Measurements (the hot paths of docs/architecture.md):

* floor: spawn ``python -m jupyter_server`` exactly as the ``local`` backend does
  (same arguments, config file and environment) and time it to the first 200 from
  ``<base_url>api/status`` on its unix socket;
* cold launch: POST a launch token to the gateway, follow the progress events to
  ``ready``, then time the first 200 from ``/user/<slug>/api/status`` through the
  gateway with the session cookie; the user's server is stopped between runs;
* warm launch: the same POST while the server runs, to the ``ready`` event;
* authorize throughput: ``wrk`` against gunicorn's ``/internal/authorize`` and
  ``/api/v1/health`` (Flask's floor), and end to end through the gateway to a
  Jupyter server's ``api/status``, next to a plain nginx proxy to the same server
  without ``auth_request`` (the gateway's floor).

Floor and cold-launch runs alternate (ABBA order), and so do the wrk rounds, so
that noise from elsewhere on the machine hits every measurement alike.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import http.cookiejar
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devtools import services as devstack
from nextpyter.sidecar.runtime import ServerSpec
from nextpyter.sidecar.runtime.local import MARKER, SECRET_FILE, LocalBackend, build_process_spec
from nextpyter.sidecar.runtime.sockets import get_over_socket
from nextpyter.sidecar.sessions import COOKIE_NAME, upstream_secret
from nextpyter.sidecar.signing import load_key, mint_launch_token
from nextpyter.sidecar.slugs import slug_for

REPO = devstack.REPO
DEFAULT_OUTPUT = REPO / "bench" / "results.json"
TARGET_OVERHEAD_MS = 300.0
POLL_INTERVAL = 0.005  # readiness polling, constant: it must not inflate the floor
START_TIMEOUT = 60.0  # one Jupyter start, floor or launch
STOP_TIMEOUT = 15.0
USER_ID = "bench"
USER_SLUG = slug_for(USER_ID)
OTHER_SLUG = "someone-else"  # a valid slug that is not the user's
NOTEBOOK = "bench.ipynb"
EMPTY_NOTEBOOK = json.dumps(
    {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1
)
TERMINAL = {"ready", "failed"}
BOOT_PHASE = "Jupyter boot (wait_ready)"
Log = Callable[[str], None]


class BenchError(RuntimeError):
    """The benchmark cannot measure what it claims to: stop with this message."""


# -- statistics --------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(values_ms: list[float]) -> dict[str, Any]:
    return {
        "n": len(values_ms),
        "median_ms": round(statistics.median(values_ms), 1),
        "p95_ms": round(percentile(values_ms, 95), 1),
        "min_ms": round(min(values_ms), 1),
        "max_ms": round(max(values_ms), 1),
        "mean_ms": round(statistics.fmean(values_ms), 1),
        "stdev_ms": round(statistics.stdev(values_ms), 1) if len(values_ms) > 1 else 0.0,
        "samples_ms": [round(v, 1) for v in values_ms],
    }


# -- floor: a bare Jupyter server, started as the local backend starts it -----------------------
def floor_process(
    directory: Path, files: Path, user: str, secret: str
) -> tuple[list[str], dict[str, str]]:
    """The command and environment ``LocalBackend.start`` uses (the same builder), with a
    marker no sidecar claims."""
    spec = ServerSpec(
        user_id=user, slug=slug_for(user), profile="default", files_dir=files, secret=secret
    )
    return build_process_spec(spec, directory, sys.executable, "floor:bench:0")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process we started, wait, SIGKILL if it does not go."""
    devstack.terminate(process, STOP_TIMEOUT)


def wait_answer(sock: Path, path: str, token: str, process: subprocess.Popen[bytes]) -> int:
    """Poll ``sock`` every POLL_INTERVAL until GET ``path`` answers 200; return the attempts.

    Once the server listens, a request waits in the socket's backlog and is answered as
    soon as the server's loop runs, so the measured time is not quantised by the interval.
    """
    deadline = time.monotonic() + START_TIMEOUT
    attempts = 0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"the bare Jupyter server exited with {process.returncode}")
        if sock.exists():
            attempts += 1
            with contextlib.suppress(OSError):  # bound but not listening yet
                timeout = max(0.1, deadline - time.monotonic())
                if get_over_socket(sock, path, timeout, token)[0] == 200:
                    return attempts
        time.sleep(POLL_INTERVAL)
    raise BenchError(f"the bare Jupyter server did not answer within {START_TIMEOUT:.0f} s")


@dataclass
class FloorRun:
    seconds: float
    attempts: int


def floor_run(root: Path, files: Path, slug: str, index: int) -> FloorRun:
    """One bare start, from spawn to the first 200 from ``api/status``; stopped by pid."""
    directory = root / f"run-{index}"
    directory.mkdir(mode=0o700, parents=True)
    for sub in ("home", "runtime", "data", "config"):
        (directory / sub).mkdir(mode=0o700)
    token = secrets.token_hex(32)
    (directory / SECRET_FILE).write_text(token)  # as the backend hands it over
    (directory / SECRET_FILE).chmod(0o600)
    command, env = floor_process(directory, files, slug, token)
    with open(directory / "server.log", "ab") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            env=env,
            cwd=files,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        attempts = wait_answer(
            directory / "jupyter.sock", f"/user/{slug}/api/status", token, process
        )
        elapsed = time.perf_counter() - started
    except BenchError as error:
        tail = (directory / "server.log").read_text(errors="replace")[-2000:]
        raise BenchError(f"{error}\n{tail}") from None
    finally:
        stop_process(process)
    shutil.rmtree(directory, ignore_errors=True)
    return FloorRun(elapsed, attempts)


# -- launches through the gateway -------------------------------------------------------------
@dataclass
class LaunchRun:
    seconds: float  # POST to the first 200 (cold) or to the ready event (warm)
    post_seconds: float  # the POST's answer
    ready_seconds: float  # POST to the ready event
    status_attempts: int  # GETs of api/status until a 200 (cold only)
    phases_ms: dict[str, float] = field(default_factory=dict)


class Gateway:
    """A browser's part of the launch flow, against the gateway."""

    def __init__(self, url: str, key: Ed25519PrivateKey, user_id: str = USER_ID) -> None:
        self.url = url
        self.key = key
        self.user_id = user_id
        self.http = requests.Session()
        # The session cookie is Secure, so we send it by hand; the jar keeps nothing.
        self.http.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))

    def close(self) -> None:
        self.http.close()

    def token(self, path: str = NOTEBOOK) -> str:
        return mint_launch_token(
            self.key,
            issuer=devstack.ISSUER,
            audience="nextpyter-sidecar",
            user_id=self.user_id,
            path=path,
        )

    def post_launch(self, token: str) -> tuple[str, dict[str, Any]]:
        response = self.http.post(f"{self.url}/api/v1/launch", json={"token": token}, timeout=30)
        if response.status_code != 202:
            raise BenchError(f"launch answered {response.status_code}: {response.text[:300]}")
        cookie = response.headers.get("Set-Cookie", "").split(";", 1)[0]
        if not cookie.startswith(f"{COOKIE_NAME}="):
            raise BenchError(f"the launch set no session cookie: {response.headers}")
        return cookie, response.json()

    def follow(self, events_path: str, deadline: float) -> list[dict[str, Any]]:
        """The launch's server-sent events up to a terminal one, each with ``seen`` (wall)."""
        events: list[dict[str, Any]] = []
        with self.http.get(f"{self.url}{events_path}", stream=True, timeout=(5, 30)) as response:
            if response.status_code != 200:
                raise BenchError(f"the event stream answered {response.status_code}")
            for line in response.iter_lines(decode_unicode=True):
                if line.startswith("data: "):
                    event = json.loads(line[6:])
                    event["seen"] = time.time()
                    events.append(event)
                    if event.get("state") in TERMINAL:
                        break
                if time.monotonic() > deadline:
                    raise BenchError("the launch did not finish in time")
        if not events or events[-1].get("state") != "ready":
            raise BenchError(f"the launch did not become ready: {events[-1:] or 'no events'}")
        return events

    def status(self, slug: str, cookie: str) -> requests.Response:
        return self.http.get(
            f"{self.url}/user/{slug}/api/status", headers={"Cookie": cookie}, timeout=10
        )

    def launch(self, cold: bool) -> tuple[LaunchRun, str, str]:
        """One launch; returns the run, the session cookie and the slug."""
        token = self.token()
        wall = time.time()
        started = time.perf_counter()
        deadline = time.monotonic() + START_TIMEOUT + 30
        cookie, body = self.post_launch(token)
        posted = time.perf_counter()
        events = self.follow(body["events"], deadline)
        ready = time.perf_counter()
        attempts = 0
        if cold:
            while True:
                attempts += 1
                if self.status(body["slug"], cookie).status_code == 200:
                    break
                if time.monotonic() > deadline:
                    raise BenchError("api/status through the gateway never answered 200")
                time.sleep(POLL_INTERVAL)
        done = time.perf_counter()
        run = LaunchRun(
            seconds=(done if cold else ready) - started,
            post_seconds=posted - started,
            ready_seconds=ready - started,
            status_attempts=attempts,
            phases_ms=launch_phases(wall, events, done - ready if cold else None),
        )
        return run, cookie, body["slug"]


def launch_phases(
    wall: float, events: list[dict[str, Any]], first_ok: float | None
) -> dict[str, float]:
    """Where a launch's time goes, from the sidecar's event timestamps (``at``, wall clock).

    The phases follow nextpyter/sidecar/launches.py: ``queued`` when the POST is handled, a first
    ``starting`` before the spawn, a last ``starting`` once the process runs (then
    ``wait_ready``), and ``ready``. A warm launch has only ``queued`` and ``ready``.
    """
    at = [(e["state"], float(e["at"])) for e in events]
    queued = next((t for s, t in at if s == "queued"), None)
    starting = [t for s, t in at if s == "starting"]
    ready_at = next((t for s, t in at if s == "ready"), None)
    phases: dict[str, float] = {}
    if queued is not None:
        phases["POST handled (token, Redis, files) -> queued"] = queued - wall
    if queued is not None and starting:
        phases["queued -> spawn begins (thread, lock)"] = starting[0] - queued
    if len(starting) > 1:
        phases["spawn (backend.start: a process, or create+start)"] = starting[-1] - starting[0]
    if starting and ready_at is not None:
        phases[BOOT_PHASE] = ready_at - starting[-1]
    if ready_at is not None:
        phases["ready published -> client has it"] = events[-1]["seen"] - ready_at
    if first_ok is not None:
        phases["ready -> first 200 via gateway"] = first_ok
    return {name: round(seconds * 1000, 1) for name, seconds in phases.items()}


# -- wrk -----------------------------------------------------------------------------------------
_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}
_TIME = r"([\d.]+)(us|ms|s|m|h)"


def _ms(number: str, unit: str) -> float:
    return round(float(number) * _UNITS_MS[unit], 3)


def parse_wrk(output: str) -> dict[str, Any]:
    """The figures of ``wrk --latency``'s text report."""
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(rf"^\s*(\d+) requests in {_TIME}", output, re.M)
    if not rate or not total:
        raise BenchError(f"cannot parse wrk's output:\n{output}")
    result: dict[str, Any] = {
        "requests_per_s": float(rate.group(1)),
        "requests": int(total.group(1)),
        "duration_s": _ms(total.group(2), total.group(3)) / 1000,
    }
    if stats := re.search(rf"^\s*Latency\s+{_TIME}\s+{_TIME}\s+{_TIME}", output, re.M):
        groups = stats.groups()
        result["latency_avg_ms"] = _ms(groups[0], groups[1])
        result["latency_stdev_ms"] = _ms(groups[2], groups[3])
        result["latency_max_ms"] = _ms(groups[4], groups[5])
    for pct, number, unit in re.findall(rf"^\s*(\d+)%\s+{_TIME}\s*$", output, re.M):
        result[f"latency_p{pct}_ms"] = _ms(number, unit)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    result["socket_errors"] = sum(int(n) for n in errors.groups()) if errors else 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result["non_2xx"] = int(non_2xx.group(1)) if non_2xx else 0
    return result


@dataclass(frozen=True)
class WrkSettings:
    threads: int
    connections: int
    duration: int
    warmup: int  # seconds of unmeasured load before the first round's runs
    rounds: int

    def command(self, url: str, headers: dict[str, str], duration: int) -> list[str]:
        wrk = shutil.which("wrk")
        if wrk is None:
            raise BenchError("wrk is not installed (run `make deps` as root)")
        flags = [item for name, value in headers.items() for item in ("-H", f"{name}: {value}")]
        return [
            wrk, f"-t{self.threads}", f"-c{self.connections}", f"-d{duration}s",
            "--timeout", "5s", "--latency", *flags, url,
        ]  # fmt: skip

    def run(self, url: str, headers: dict[str, str], warm_up: bool) -> dict[str, Any]:
        if warm_up and self.warmup:  # connections, caches, gunicorn threads: not measured
            subprocess.run(
                self.command(url, headers, self.warmup),
                capture_output=True,
                timeout=self.warmup + 30,
                check=False,
            )
        done = subprocess.run(
            self.command(url, headers, self.duration),
            capture_output=True,
            text=True,
            timeout=self.duration + 30,
            check=False,
        )
        if done.returncode != 0:
            raise BenchError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
        result = parse_wrk(done.stdout)
        if result["non_2xx"] or result["socket_errors"]:
            raise BenchError(
                f"wrk saw failures against {url}, not a valid measurement:\n{done.stdout}"
            )
        return result


@dataclass(frozen=True)
class WrkTarget:
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    jupyter: bool = False  # the requests reach the user's Jupyter server


def run_rounds(
    wrk: WrkSettings,
    targets: dict[str, WrkTarget],
    fresh_server: Callable[[], Callable[[], bool]],
    log: Log,
) -> dict[str, dict[str, Any]]:
    """Every target once per round, the order reversed every other round (ABCD DCBA ...),
    so that noise from elsewhere on the machine spreads over all of them; for each target
    the figures of its median round by requests/s (the upper one for an even count).

    ``fresh_server`` runs before each run that reaches Jupyter and returns a check that
    the same server still runs after it.
    """
    measured: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    for round_ in range(wrk.rounds):
        order = list(targets) if round_ % 2 == 0 else list(reversed(targets))
        for name in order:
            target = targets[name]
            still_running = fresh_server() if target.jupyter else None
            log(f"  wrk round {round_ + 1}/{wrk.rounds} {name}: {target.url}")
            measured[name].append(wrk.run(target.url, target.headers, warm_up=round_ == 0))
            if still_running is not None and not still_running():
                raise BenchError(
                    "the user's Jupyter server was stopped by someone else during the wrk run "
                    "(another sidecar's reconcile on this machine?): not a valid measurement"
                )
    results = {}
    for name, runs in measured.items():
        ranked = sorted(runs, key=lambda run: float(run["requests_per_s"]))
        results[name] = ranked[len(ranked) // 2] | {
            "url": targets[name].url,
            "rounds_requests_per_s": [run["requests_per_s"] for run in runs],
        }
    return results


# -- checks: the benchmark measures the real path ----------------------------------------------
def check_paths(sidecar: str, gateway: str, slug: str, cookie: str) -> dict[str, int]:
    """The answers the benchmark relies on: refuse to measure an error path."""
    authorize, status = f"{sidecar}/internal/authorize", f"{gateway}/user/{slug}/api/status"
    cases = [
        ("authorize with the cookie", authorize, {"Cookie": cookie, "X-NextPyter-Slug": slug}, 200),
        ("authorize for another slug", authorize,
         {"Cookie": cookie, "X-NextPyter-Slug": OTHER_SLUG}, 403),
        ("authorize without a cookie", authorize, {"X-NextPyter-Slug": slug}, 401),
        ("gateway to the own server", status, {"Cookie": cookie}, 200),
        ("gateway to another user's server", f"{gateway}/user/{OTHER_SLUG}/api/status",
         {"Cookie": cookie}, 403),
        ("gateway without a cookie", status, {}, 401),
    ]  # fmt: skip
    answers: dict[str, requests.Response] = {}
    for what, url, headers, expected in cases:
        response = requests.get(url, headers=headers, timeout=5)
        if response.status_code != expected:
            raise BenchError(
                f"{what}: expected {expected}, got {response.status_code} {response.text[:200]!r}"
            )
        answers[what] = response
    if not answers["authorize with the cookie"].headers.get("X-NextPyter-Upstream"):
        raise BenchError("authorize answered 200 without an upstream")
    if "started" not in answers["gateway to the own server"].json():
        raise BenchError("api/status through the gateway is not Jupyter's")
    return {what: response.status_code for what, response in answers.items()}


def compare_with_backend(
    backend: LocalBackend, slug: str, files: Path, floor_dir: Path
) -> list[str]:
    """Differences between the floor's command and environment and the backend's real ones."""
    state = json.loads((backend.servers_dir / slug / "server.json").read_text())
    proc = Path(f"/proc/{state['pid']}")
    argv = proc.joinpath("cmdline").read_bytes().rstrip(b"\0").decode().split("\0")
    environ = dict(
        item.split("=", 1)
        for item in proc.joinpath("environ").read_bytes().decode().split("\0")
        if "=" in item
    )
    server_dir = backend.servers_dir / slug
    ours, floor_env = floor_process(floor_dir, files, state["user_id"], "")
    theirs = [arg.replace(str(server_dir), str(floor_dir)) for arg in argv]
    problems = []
    if Path(theirs[0]).resolve() != Path(ours[0]).resolve():
        problems.append(f"interpreter: backend {argv[0]}, floor {ours[0]}")
    if theirs[1:] != ours[1:]:
        problems.append(f"arguments: backend {argv[1:]}, floor {ours[1:]}")
    their_env = {k: v.replace(str(server_dir), str(floor_dir)) for k, v in environ.items()}
    their_env.pop(MARKER, None)
    floor_env.pop(MARKER, None)
    if set(their_env) != set(floor_env):
        problems.append(
            f"environment names: backend {sorted(their_env)}, floor {sorted(floor_env)}"
        )
    for name, value in floor_env.items():
        if their_env.get(name, value) != value:
            problems.append(f"environment {name}: backend {their_env[name]!r}, floor {value!r}")
    return problems


# -- a gateway floor: nginx to the same Jupyter server, without auth_request --------------------
PLAIN_PROXY = """\
{user}worker_processes 2;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
  client_body_temp_path {prefix}/temp/body;
  proxy_temp_path {prefix}/temp/proxy;
  fastcgi_temp_path {prefix}/temp/fastcgi;
  uwsgi_temp_path {prefix}/temp/uwsgi;
  scgi_temp_path {prefix}/temp/scgi;
  access_log off;
  server {{
    listen {listen};
    location /user/{slug}/ {{
      # The gateway's /user/ location (gateway/nextpyter.conf.template) minus auth_request.
      set $upstream "unix:{sock}:";
      proxy_pass http://$upstream;
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
      proxy_set_header Connection "";
      proxy_set_header X-NextPyter-Gateway "{token}";
      proxy_set_header Authorization "";
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_buffering off;
      proxy_request_buffering off;
    }}
  }}
}}
"""


def start_plain_proxy(prefix: Path, slug: str, sock: Path, token: str) -> devstack.Service:
    """An nginx that proxies ``/user/<slug>/`` to the server as the gateway does, unasked."""
    for sub in ("temp", "logs"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    listen = f"127.0.0.1:{devstack.free_port()}"
    user = "user root;\n" if os.geteuid() == 0 else ""  # as devstack: workers open the socket
    config = PLAIN_PROXY.format(
        user=user, prefix=prefix, listen=listen, slug=slug, sock=sock, token=token
    )
    (prefix / "nginx.conf").write_text(config)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    log = prefix / "logs" / "nginx.out"
    with open(log, "ab") as handle:
        command = [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                   "-e", str(prefix / "logs" / "error.log"), "-g", "daemon off;"]  # fmt: skip
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    service = devstack.Service("plain-proxy", process, log, address=listen)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"http://{listen}/user/{slug}/api/status", timeout=1).ok:
                return service
        time.sleep(0.05)
    service.stop()
    raise BenchError(f"the plain nginx proxy did not answer:\n{service.log_tail()}")


# -- the run -----------------------------------------------------------------------------------
def versions() -> dict[str, str]:
    found = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": str(os.cpu_count()),
    }
    for package in ("jupyter_server", "jupyterlab", "tornado", "gunicorn", "flask", "redis"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[package] = metadata.version(package)
    probes = {
        "nginx": [shutil.which("nginx") or "/usr/sbin/nginx", "-v"],
        "wrk": [shutil.which("wrk") or "wrk", "--version"],
        "redis-server": [shutil.which("redis-server") or "redis-server", "--version"],
        "commit": ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
    }
    for name, command in probes.items():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
            lines = (done.stdout + done.stderr).strip().splitlines()
            found[name] = lines[0].split(" Copyright")[0].strip() if lines else ""
    return found


@dataclass
class Stack:
    workdir: Path
    env: dict[str, str]
    sidecar: devstack.Service
    gateway: devstack.Service
    key: Ed25519PrivateKey
    files: Path

    @property
    def backend(self) -> LocalBackend:
        return LocalBackend(Path(self.env["NEXTPYTER_RUNTIME_DIR"]))


@contextlib.contextmanager
def running_stack(workdir: Path, workers: int, threads: int) -> Iterator[Stack]:
    """Redis, sidecar and gateway under ``workdir``; every process stopped by pid after."""
    services: list[devstack.Service] = []
    env: dict[str, str] = {}
    try:
        redis = devstack.start_redis(workdir / "redis")
        services.append(redis)
        pem, jwks = devstack.make_keys(workdir)
        data = workdir / "data"
        data.mkdir()
        files = devstack.make_user(data, USER_ID, {NOTEBOOK: EMPTY_NOTEBOOK})
        env = devstack.sidecar_env(workdir, redis.address, data, jwks)
        sidecar = devstack.start_sidecar(workdir, env, workers=workers, threads=threads)
        services.append(sidecar)
        gateway = devstack.start_gateway(workdir, sidecar.address)
        services.append(gateway)
        yield Stack(workdir, env, sidecar, gateway, load_key(pem), files)
    finally:
        if env:  # the users' Jupyter servers, by the pids in their state files
            backend = LocalBackend(Path(env["NEXTPYTER_RUNTIME_DIR"]))
            for server in backend.list():
                backend.stop(server.slug)
        for service in reversed(services):
            service.stop()


def measure_launches(stack: Stack, runs: int, log: Log) -> dict[str, Any]:
    slug = USER_SLUG
    backend = stack.backend
    gateway = Gateway(f"http://{stack.gateway.address}", stack.key)
    floor_root = stack.workdir / "floor"
    floor: list[FloorRun] = []
    cold: list[LaunchRun] = []
    warm: list[LaunchRun] = []
    try:
        # One untimed round of each: imports, page cache, first connections.
        floor_run(floor_root, stack.files, slug, 0)
        gateway.launch(cold=True)
        mismatches = compare_with_backend(backend, slug, stack.files, floor_root / "run-0")
        backend.stop(slug)
        for index in range(1, runs + 1):
            order = ("floor", "launch") if index % 4 in (1, 0) else ("launch", "floor")
            for kind in order:
                if kind == "floor":
                    floor.append(floor_run(floor_root, stack.files, slug, index))
                    continue
                if backend.status(slug) is not None:
                    raise BenchError("the user's server still runs: this would not be cold")
                run, _, _ = gateway.launch(cold=True)
                cold.append(run)
                warm.append(gateway.launch(cold=False)[0])
                if not backend.stop(slug):
                    raise BenchError("the launched server was not running when stopped")
            log(
                f"  run {index}/{runs}: floor {floor[-1].seconds * 1000:.0f} ms, "
                f"launch {cold[-1].seconds * 1000:.0f} ms, warm {warm[-1].seconds * 1000:.0f} ms"
            )
    finally:
        gateway.close()
    figures = launch_figures([r.seconds * 1000 for r in floor], cold, warm)
    launch = figures["launch"]
    launch["post_answered"] = summarize([r.post_seconds * 1000 for r in cold])
    launch["status_attempts"] = [r.status_attempts for r in cold]
    # Each run minus its own Jupyter boot: what the sidecar, gateway and client add. Less
    # noisy than the difference of medians, as a slow boot cancels out within the run.
    launch["minus_boot"] = summarize(
        [r.seconds * 1000 - r.phases_ms[BOOT_PHASE] for r in cold if BOOT_PHASE in r.phases_ms]
    )
    figures["floor"]["readiness_attempts"] = [r.attempts for r in floor]
    figures["warm_launch"]["post_answered"] = summarize([r.post_seconds * 1000 for r in warm])
    figures["floor_matches_backend"] = not mismatches
    figures["floor_mismatches"] = mismatches
    return figures


def launch_figures(
    floor_ms: list[float], cold: list[LaunchRun], warm: list[LaunchRun]
) -> dict[str, Any]:
    """Cold launches against their floor (run for run, in the same order), and warm ones:
    summaries, the overhead (of medians, and the median of paired differences), the ratio,
    and where a cold launch's time went (median per phase). Both benchmarks report these."""
    cold_ms = [r.seconds * 1000 for r in cold]
    overhead = statistics.median(cold_ms) - statistics.median(floor_ms)
    phase_names = list(dict.fromkeys(name for r in cold for name in r.phases_ms))
    launch = summarize(cold_ms)
    launch["to_ready_event"] = summarize([r.ready_seconds * 1000 for r in cold])
    launch["phases_median_ms"] = {
        name: round(statistics.median(r.phases_ms[name] for r in cold if name in r.phases_ms), 1)
        for name in phase_names
    }
    paired = statistics.median(c - f for c, f in zip(cold_ms, floor_ms, strict=True))
    return {
        "floor": summarize(floor_ms),
        "launch": launch,
        "warm_launch": summarize([r.seconds * 1000 for r in warm]),
        "overhead_median_ms": round(overhead, 1),
        "overhead_paired_median_ms": round(paired, 1),
        "ratio_median": round(statistics.median(cold_ms) / statistics.median(floor_ms), 3),
        "target_overhead_ms": TARGET_OVERHEAD_MS,
        "target_met": overhead <= TARGET_OVERHEAD_MS,
    }


def measure_throughput(stack: Stack, wrk: WrkSettings, log: Log) -> dict[str, Any]:
    backend, slug = stack.backend, USER_SLUG
    gateway = Gateway(f"http://{stack.gateway.address}", stack.key)

    def server_pid() -> int | None:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            return int(json.loads((backend.servers_dir / slug / "server.json").read_text())["pid"])
        return None

    def fresh_server() -> Callable[[], bool]:
        """A newly launched server for each run that reaches Jupyter: any other sidecar on
        this machine reconciles away local servers older than 30 s that it does not own
        (see the report), so none lives that long here."""
        backend.stop(slug)
        gateway.launch(cold=True)
        pid = server_pid()
        return lambda: pid is not None and server_pid() == pid and backend.status(slug) is not None

    sidecar = f"http://{stack.sidecar.address}"
    gateway_url = f"http://{stack.gateway.address}"
    try:
        _, cookie, _ = gateway.launch(cold=True)
        results: dict[str, Any] = {"checks": check_paths(sidecar, gateway_url, slug, cookie)}
        plain = start_plain_proxy(
            stack.workdir / "plain-proxy",
            slug,
            backend.socket_path(slug),
            upstream_secret(stack.env["NEXTPYTER_SECRET_KEY"], slug),
        )
        try:
            targets = {
                "health": WrkTarget(f"{sidecar}/api/v1/health"),
                "authorize": WrkTarget(
                    f"{sidecar}/internal/authorize", {"Cookie": cookie, "X-NextPyter-Slug": slug}
                ),
                "plain_proxy": WrkTarget(
                    f"http://{plain.address}/user/{slug}/api/status", jupyter=True
                ),
                "gateway": WrkTarget(
                    f"{gateway_url}/user/{slug}/api/status", {"Cookie": cookie}, jupyter=True
                ),
            }
            results |= run_rounds(wrk, targets, fresh_server, log)
        finally:
            plain.stop()
    finally:
        gateway.close()
        backend.stop(slug)
    results["authorize_vs_health"] = compare_rates(results["authorize"], results["health"])
    results["gateway_vs_plain_proxy"] = compare_rates(results["gateway"], results["plain_proxy"])
    return results


def compare_rates(measured: dict[str, Any], floor: dict[str, Any]) -> dict[str, float]:
    """How much ``measured`` costs over ``floor`` under the same load."""
    return {
        "throughput_ratio": round(measured["requests_per_s"] / floor["requests_per_s"], 3),
        "extra_us_per_request": round(
            1e6 / measured["requests_per_s"] - 1e6 / floor["requests_per_s"], 1
        ),
        "p50_extra_ms": round(measured["latency_p50_ms"] - floor["latency_p50_ms"], 3),
    }


# -- the report --------------------------------------------------------------------------------
def save_results(output: Path, result: dict[str, Any], text: str) -> None:
    """Write a benchmark's results (JSON) and print its table."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(text)
    print(f"\n(results in {output}; took {result['elapsed_s']:.0f} s)")


def _stats_row(label: str, stats: dict[str, Any]) -> str:
    figures = (stats[k] for k in ("median_ms", "p95_ms", "min_ms", "max_ms"))
    return f"  {label:<46}" + "".join(f"{value:>7.0f} ms" for value in figures)


def _wrk_row(label: str, result: dict[str, Any]) -> str:
    latencies = (result.get(f"latency_{p}_ms", math.nan) for p in ("p50", "p90", "p99"))
    rounds = result["rounds_requests_per_s"]
    spread = f"{min(rounds):.0f}-{max(rounds):.0f}" if len(rounds) > 1 else ""
    return f"  {label:<44}{result['requests_per_s']:>7.0f} {spread:^13}" + "".join(
        f"{value:>7.2f}ms" for value in latencies
    )


def _cost(label: str, cost: dict[str, float]) -> str:
    return (
        f"  {label}: {cost['throughput_ratio'] * 100:.0f} % of the throughput, "
        f"{cost['extra_us_per_request']:+.0f} us per request (1/rate), "
        f"{cost['p50_extra_ms'] * 1000:+.0f} us at p50"
    )


def report(result: dict[str, Any]) -> str:
    launch, wrk = result["launches"], result["throughput"]
    v, s = result["versions"], result["settings"]
    cold = launch["launch"]
    title = f"Cold start ({s['runs']} runs each, interleaved)"
    lines = [
        f"NextPyter benchmark  {result['date']}  commit {v.get('commit', '?')}",
        f"  {v['cpus']} CPUs, Python {v['python']}, jupyter_server {v.get('jupyter_server')}, "
        f"jupyterlab {v.get('jupyterlab')}, tornado {v.get('tornado')}",
        f"  gunicorn {v.get('gunicorn')} ({s['workers']} workers x {s['threads']} threads), "
        f"{v.get('nginx', 'nginx').removeprefix('nginx version: ')}, {v.get('wrk', 'wrk')}",
        f"  load average (1 min) at start {result['load'][0]:.2f}, at the end "
        f"{result['load'][1]:.2f}: other work on the machine adds noise",
        "",
        f"{title:<48}{'median':>10}{'p95':>10}{'min':>10}{'max':>10}",
        _stats_row("floor: bare jupyter_server -> api/status", launch["floor"]),
        _stats_row("launch: token POST -> first 200 via gateway", cold),
        _stats_row("  of which token POST -> ready event", cold["to_ready_event"]),
        _stats_row("warm launch: token POST -> ready event", launch["warm_launch"]),
        "",
        f"  overhead (launch median - floor median) {launch['overhead_median_ms']:>8.0f} ms"
        f"   (median of paired runs: {launch['overhead_paired_median_ms']:.0f} ms)"
        + ("; below 0: noise exceeds it" if launch["overhead_median_ms"] < 0 else ""),
        f"  ratio launch / floor (medians)          {launch['ratio_median']:>8.2f}",
        f"  launch minus its own Jupyter boot phase {cold['minus_boot']['median_ms']:>8.0f} ms"
        f"   (p95 {cold['minus_boot']['p95_ms']:.0f} ms; the part that is NextPyter's)",
        f"  target: overhead <= {launch['target_overhead_ms']:.0f} ms at the median: "
        + ("MET" if launch["target_met"] else "NOT MET"),
        "",
        "  where a cold launch's time goes (medians; sidecar event timestamps, wall clock):",
        *(f"    {name:<48}{ms:>8.1f} ms" for name, ms in cold["phases_median_ms"].items()),
    ]
    if launch["floor_matches_backend"]:
        lines.append("  the floor's command and environment match the backend's (checked)")
    else:
        lines.append("  WARNING: the floor does not start Jupyter as the backend does:")
        lines += [f"    {problem}" for problem in launch["floor_mismatches"]]
    lines += [
        "",
        f"Authorize throughput: wrk -t{s['wrk_threads']} -c{s['wrk_connections']} "
        f"-d{s['wrk_duration']}s, keep-alive, loopback (wrk shares the {v['cpus']} CPUs);",
        (
            f"  each row is the median of {s['wrk_rounds']} interleaved rounds "
            "(min-max: req/s over the rounds)"
            if s["wrk_rounds"] > 1
            else "  one round each"
        ),
        f"  {'':<44}{'req/s':>7} {'min-max':^13}{'p50':>9}{'p90':>9}{'p99':>9}",
        _wrk_row("gunicorn /api/v1/health (Flask floor)", wrk["health"]),
        _wrk_row("gunicorn /internal/authorize (cookie check)", wrk["authorize"]),
        _wrk_row("nginx -> Jupyter api/status, no auth_request", wrk["plain_proxy"]),
        _wrk_row("gateway: nginx -> authorize -> Jupyter", wrk["gateway"]),
        _cost("authorize vs health", wrk["authorize_vs_health"]),
        _cost("gateway vs plain proxy", wrk["gateway_vs_plain_proxy"]),
        "  checked first: authorize answers 200 with the cookie, 403 for another slug and 401",
        "  without one; the gateway likewise, and its api/status is Jupyter's",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=10, help="cold starts of each kind (10)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke check: 3 runs, one round of 3 s wrk runs"
    )
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--wrk-connections", type=int, default=32)
    parser.add_argument("--wrk-duration", type=int, default=10, help="seconds per wrk run (10)")
    parser.add_argument("--wrk-rounds", type=int, default=3, help="interleaved wrk rounds (3)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument("--threads", type=int, default=32, help="threads per worker (32)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.wrk_duration, args.wrk_rounds = 3, 3, 1
    if not 1 <= args.runs <= 100:
        parser.error("--runs must be between 1 and 100")
    if not 1 <= args.wrk_duration <= 120:
        parser.error("--wrk-duration must be between 1 and 120 seconds")
    if not 1 <= args.wrk_rounds <= 9:
        parser.error("--wrk-rounds must be between 1 and 9")
    return args


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through every finally: processes get stopped


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    workdir = Path(tempfile.mkdtemp(prefix="nextpyter-bench-"))
    began = time.monotonic()
    load_before = os.getloadavg()[0]

    def log(message: str) -> None:
        print(f"[{time.monotonic() - began:6.1f}s] {message}", file=sys.stderr, flush=True)

    wrk = WrkSettings(
        args.wrk_threads,
        args.wrk_connections,
        args.wrk_duration,
        warmup=1 if args.wrk_duration >= 3 else 0,
        rounds=args.wrk_rounds,
    )
    ok = False
    try:
        log(f"starting Redis, sidecar and gateway in {workdir}")
        with running_stack(workdir, args.workers, args.threads) as stack:
            log(f"cold starts: 1 warm-up + {args.runs} runs of floor and launch, interleaved")
            launches = measure_launches(stack, args.runs, log)
            log("authorize throughput")
            throughput = measure_throughput(stack, wrk, log)
        ok = True
    except (
        BenchError,
        devstack.ServiceError,
        requests.RequestException,
        OSError,
        subprocess.SubprocessError,
    ) as error:
        log(f"benchmark failed: {error}")
        log(f"logs kept in {workdir}")
        return 1
    finally:
        if ok and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions(),
        "settings": {
            "runs": args.runs,
            "poll_interval_ms": POLL_INTERVAL * 1000,
            "workers": args.workers,
            "threads": args.threads,
            "wrk_threads": wrk.threads,
            "wrk_connections": wrk.connections,
            "wrk_duration": wrk.duration,
            "wrk_warmup": wrk.warmup,
            "wrk_rounds": wrk.rounds,
        },
        "launches": launches,
        "throughput": throughput,
        "load": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "elapsed_s": round(time.monotonic() - began, 1),
    }
    save_results(args.output, result, report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

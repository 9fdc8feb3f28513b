"""NextPyter benchmark, docker backend: launch time against a bare container start, and many
users launching at once.

Run with ``make bench`` (after the local-backend benchmark) or ``python bench/bench_docker.py``
(``--quick`` for a smoke run). As root: it starts its own dockerd (see devtools/engine.py),
Redis, the sidecar with the docker backend, and the gateway, and stops them by pid.

- Floor: the same container the backend would create (``build_container_spec``, the very
  same arguments: image, command, mounts, limits, hardening), created and started with one
  SDK call and polled over its unix socket every 5 ms until Jupyter answers. What remains
  between it and a launch is NextPyter's: token, Redis, lock, engine calls, events, gateway.
- Bare run: `docker run` (the CLI) of the same image, command and environment with none of
  the hardening, limits or network: the plainest start of this server, for comparison.
- Launch: token POST to the sidecar through the gateway, the server-sent events to
  ``ready``, then the first 200 from the server's ``api/status`` through the gateway with
  the session cookie (as bench.py does for the local backend).
- The three kinds rotate their order from run to run, so noise from elsewhere hits all alike.
- Concurrency: N users (20) post their launch tokens at the same moment; the total time
  until the last has its first 200 through the gateway, each user's time, and failures.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import requests

# Run as a script, this directory is first on sys.path: bench is bench/bench.py.
from bench import (
    POLL_INTERVAL,
    BenchError,
    Gateway,
    LaunchRun,
    Log,
    _stats_row,
    launch_figures,
    save_results,
    summarize,
    versions,
)
from devtools import services as devstack
from devtools.engine import start_engine
from devtools.images import jupyter_image
from devtools.services import DevDockerError
from nextpyter.sidecar.config import DockerSettings
from nextpyter.sidecar.runtime import ServerSpec
from nextpyter.sidecar.runtime.docker import DockerBackend, build_container_spec
from nextpyter.sidecar.runtime.sockets import SOCKET, get_over_socket
from nextpyter.sidecar.signing import load_key
from nextpyter.sidecar.slugs import slug_for

REPO = devstack.REPO
DEFAULT_OUTPUT = REPO / "bench" / "results-docker.json"
UID = 33
USER_ID = "bench"
START_TIMEOUT = 90.0
# What ends a benchmark with "benchmark failed: …" (and its files kept), not a traceback.
FAILURES = (
    BenchError,
    devstack.ServiceError,
    DevDockerError,
    docker.errors.DockerException,
    requests.RequestException,
    OSError,
)


@dataclass
class DockerStack:
    workdir: Path
    env: dict[str, str]
    sidecar: devstack.Service
    gateway: devstack.Service
    backend: DockerBackend
    key: Any
    data: Path
    image: str
    engine_url: str

    @property
    def url(self) -> str:
        return f"http://{self.gateway.address}"

    def user(self, user_id: str) -> Path:
        files = devstack.make_user(self.data, user_id, {"bench.ipynb": "{}"})
        for path in (files.parent, files, *files.iterdir()):
            os.chown(path, UID, UID)
        return files


@contextlib.contextmanager
def docker_stack(workdir: Path, log: Log) -> Iterator[DockerStack]:
    services: list[devstack.Service] = []
    # As the tests run it: its own network namespace, its firewall on, egress rules applied.
    engine = start_engine(isolated=True)
    client = engine.client()
    backend: DockerBackend | None = None
    try:
        log("building (or finding) the Jupyter image")
        image = jupyter_image(client)
        redis = devstack.start_redis(workdir / "redis")
        services.append(redis)
        pem, jwks = devstack.make_keys(workdir)
        data = workdir / "data"
        data.mkdir()
        env = devstack.sidecar_env(
            workdir,
            redis.address,
            data,
            jwks,
            NEXTPYTER_BACKEND="docker",
            NEXTPYTER_DOCKER_IMAGE=image,
            NEXTPYTER_CULL_INTERVAL="0",
            DOCKER_HOST=engine.url,
        )
        sidecar = devstack.start_sidecar(workdir, env)
        services.append(sidecar)
        gateway = devstack.start_gateway(workdir, sidecar.address)
        services.append(gateway)
        backend = DockerBackend(
            DockerSettings(image=image), Path(env["NEXTPYTER_RUNTIME_DIR"]), client
        )
        yield DockerStack(
            workdir, env, sidecar, gateway, backend, load_key(pem), data, image, engine.url
        )
    finally:
        for service in reversed(services):
            service.stop()
        for container in client.containers.list(all=True):
            container.remove(force=True)
        client.close()
        engine.stop()


def _prepared(stack: DockerStack, files: Path, slug: str) -> tuple[dict[str, Any], str, Path]:
    """The backend's own container arguments for ``slug``, with its socket directory and
    secret file made as the backend makes them."""
    run_dir = stack.workdir / "floor" / slug
    run_dir.mkdir(parents=True, mode=0o711)
    secret = secrets.token_urlsafe(32)
    (run_dir / "gateway-secret").write_text(secret)
    os.chown(run_dir / "gateway-secret", UID, UID)
    os.chmod(run_dir / "gateway-secret", 0o600)
    os.chown(run_dir, UID, UID)
    spec = ServerSpec(USER_ID, slug, "default", files, secret, image=stack.image)
    arguments = build_container_spec(
        spec, stack.backend.settings, run_dir, stack.backend.share_dir, "bench-floor", time.time()
    )
    return arguments, secret, run_dir


def _answered(sock: Path, slug: str, secret: str, logs: Any) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if sock.exists():
            with contextlib.suppress(ConnectionRefusedError, FileNotFoundError):
                if get_over_socket(sock, f"/user/{slug}/api/status", 10, secret)[0] == 200:
                    return
        if time.monotonic() > deadline:
            raise BenchError(f"the floor container never answered: {logs()!r}")
        time.sleep(POLL_INTERVAL)


def floor_run(stack: DockerStack, files: Path, index: int) -> float:
    """Seconds from the create call to Jupyter's first answer, for the backend's own
    container arguments started with bare SDK calls (no sidecar, no gateway)."""
    slug = f"floor-{index}"
    arguments, secret, run_dir = _prepared(stack, files, slug)
    started = time.perf_counter()
    container = stack.backend.client.containers.run(**arguments)
    try:
        _answered(run_dir / SOCKET, slug, secret, lambda: container.logs()[-500:])
        return time.perf_counter() - started
    finally:
        container.remove(force=True)
        shutil.rmtree(run_dir, ignore_errors=True)


def bare_run(stack: DockerStack, files: Path, index: int) -> float:
    """Seconds from `docker run` (the CLI) to Jupyter's first answer, for the same image,
    command and environment but none of the hardening, limits or network: the plainest
    way to start this server."""
    slug = f"bare-{index}"
    arguments, secret, run_dir = _prepared(stack, files, slug)
    name = f"nextpyter-bare-{index}"
    environment = {**arguments["environment"], "HOME": "/tmp"}
    mounts = [
        f"--mount=type=bind,src={files},dst={stack.backend.settings.workdir}",
        f"--mount=type=bind,src={run_dir},dst=/run/nextpyter",
        f"--mount=type=bind,src={stack.backend.share_dir},dst=/opt/nextpyter,readonly",
    ]
    command = [
        shutil.which("docker") or "docker", "-H", stack.engine_url, "run", "-d", "--rm",
        f"--name={name}", f"--user={UID}:{UID}", "--network=none", *mounts,
        *(f"--env={key}={value}" for key, value in environment.items()),
        stack.image, *arguments["command"],
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    try:
        _answered(run_dir / SOCKET, slug, secret, lambda: "(see docker logs)")
        return time.perf_counter() - started
    finally:
        subprocess.run(
            [command[0], "-H", stack.engine_url, "rm", "-f", name], check=False, capture_output=True
        )
        shutil.rmtree(run_dir, ignore_errors=True)


def measure_launches(stack: DockerStack, runs: int, log: Log) -> dict[str, Any]:
    files = stack.user(USER_ID)
    slug = slug_for(USER_ID)
    gateway = Gateway(stack.url, stack.key, USER_ID)
    floor: list[float] = []
    bare: list[float] = []
    cold: list[LaunchRun] = []
    warm: list[LaunchRun] = []
    try:
        floor_run(stack, files, 0)  # warm-up: page cache, first engine calls
        bare_run(stack, files, 0)
        gateway.launch(cold=True)
        stack.backend.stop(slug)
        kinds = ("bare", "floor", "launch")
        for index in range(1, runs + 1):
            order = kinds[index % 3 :] + kinds[: index % 3]  # each kind takes each place
            for kind in order:
                if kind == "floor":
                    floor.append(floor_run(stack, files, index))
                    continue
                if kind == "bare":
                    bare.append(bare_run(stack, files, index))
                    continue
                if stack.backend.status(slug) is not None:
                    raise BenchError("the user's server still runs: this would not be cold")
                cold.append(gateway.launch(cold=True)[0])
                warm.append(gateway.launch(cold=False)[0])
                if not stack.backend.stop(slug):
                    raise BenchError("the launched server was not there when stopped")
            log(
                f"  run {index}/{runs}: bare {bare[-1] * 1000:.0f} ms, floor "
                f"{floor[-1] * 1000:.0f} ms, "
                f"launch {cold[-1].seconds * 1000:.0f} ms, warm {warm[-1].seconds * 1000:.0f} ms"
            )
    finally:
        gateway.close()
    figures = launch_figures([s * 1000 for s in floor], cold, warm)
    bare_ms = [s * 1000 for s in bare]
    figures["bare_docker_run"] = summarize(bare_ms)
    figures["overhead_vs_bare_median_ms"] = round(
        statistics.median(r.seconds * 1000 for r in cold) - statistics.median(bare_ms), 1
    )
    return figures


def concurrent_floor(stack: DockerStack, users: int, files: Path) -> float:
    """Milliseconds until ``users`` bare container runs started at once all answer: what
    the machine itself needs to boot that many servers side by side."""
    barrier = threading.Barrier(users)
    errors: list[str] = []

    def one(index: int) -> None:
        try:
            barrier.wait(30)
            floor_run(stack, files, 1000 + index)
        except (BenchError, docker.errors.DockerException, threading.BrokenBarrierError) as error:
            errors.append(str(error)[:300])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(users)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(START_TIMEOUT * 3)
    if errors:
        raise BenchError(f"the concurrent floor failed: {errors[0]}")
    return (time.perf_counter() - started) * 1000


def measure_concurrency(stack: DockerStack, users: int, log: Log) -> dict[str, Any]:
    """``users`` users post their launch tokens at the same moment, against as many bare
    container runs at once (the floor), in alternation."""
    names = [f"crowd-{i:02d}" for i in range(users)]
    for name in names:
        stack.user(name)
    floor_ms = concurrent_floor(stack, users, stack.user(USER_ID))
    log(f"  floor: {users} bare container runs at once all answered after {floor_ms:.0f} ms")
    barrier = threading.Barrier(users)
    results: dict[str, float] = {}
    failures: dict[str, str] = {}

    def one(name: str) -> None:
        gateway = Gateway(stack.url, stack.key, name)
        try:
            barrier.wait(30)
            results[name] = gateway.launch(cold=True)[0].seconds * 1000
        except (BenchError, requests.RequestException, threading.BrokenBarrierError) as error:
            failures[name] = str(error)[:300]
        finally:
            gateway.close()

    threads = [threading.Thread(target=one, args=(name,)) for name in names]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(START_TIMEOUT * 3)
    total = (time.perf_counter() - started) * 1000
    running = len([s for s in stack.backend.list() if s.slug.startswith("crowd-")])
    log(f"  {len(results)} of {users} ready in {total:.0f} ms, {len(failures)} failed")
    for name in names:
        stack.backend.stop(slug_for(name))
    return {
        "users": users,
        "floor_total_ms": round(floor_ms, 1),
        "ratio": round(total / floor_ms, 3),
        "total_ms": round(total, 1),
        "each": summarize(list(results.values())) if results else {},
        "failures": len(failures),
        "failure_messages": failures,
        "containers_running_after": running,
    }


def report(result: dict[str, Any]) -> str:
    launch, crowd, v = result["launches"], result["concurrency"], result["versions"]
    cold = launch["launch"]

    lines = [
        f"NextPyter benchmark, docker backend  {result['date']}  commit {v.get('commit', '?')}",
        f"  {v['cpus']} CPUs, Docker engine {result['engine']}, image {result['image']}",
        "",
        f"{'Cold start (' + str(result['runs']) + ' runs each, interleaved)':<48}"
        f"{'median':>10}{'p95':>10}{'min':>10}{'max':>10}",
        _stats_row("bare `docker run` (no hardening) -> answer", launch["bare_docker_run"]),
        _stats_row("floor: same container, bare SDK run -> answer", launch["floor"]),
        _stats_row("launch: token POST -> first 200 via gateway", cold),
        _stats_row("  of which token POST -> ready event", cold["to_ready_event"]),
        _stats_row("warm launch: token POST -> ready event", launch["warm_launch"]),
        "",
        f"  overhead (launch median - floor median) {launch['overhead_median_ms']:>8.0f} ms"
        f"   (median of paired runs: {launch['overhead_paired_median_ms']:.0f} ms)",
        f"  ratio launch / floor (medians)          {launch['ratio_median']:>8.2f}",
        f"  launch median - bare docker run median  {launch['overhead_vs_bare_median_ms']:>8.0f} ms"
        "   (the hardening, limits and network, plus NextPyter)",
        f"  target: overhead <= {launch['target_overhead_ms']:.0f} ms at the median: "
        + ("MET" if launch["target_met"] else "NOT MET"),
        "  where a cold launch's time goes (medians):",
        *(f"    {name:<48}{ms:>8.1f} ms" for name, ms in cold["phases_median_ms"].items()),
        "",
        f"{crowd['users']} users launching at once: all ready after {crowd['total_ms']:.0f} ms, "
        f"{crowd['failures']} failures",
        f"  floor: {crowd['users']} bare container runs at once, all answering after "
        f"{crowd['floor_total_ms']:.0f} ms; ratio {crowd['ratio']:.2f}",
    ]
    if crowd["each"]:
        lines.append(_stats_row("  each user's launch -> first 200", crowd["each"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=10, help="cold starts of each kind (10)")
    parser.add_argument("--users", type=int, default=20, help="simultaneous launches (20)")
    parser.add_argument("--quick", action="store_true", help="3 runs, 5 users")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.users = 3, 5
    workdir = Path(tempfile.mkdtemp(prefix="nextpyter-bench-docker-"))
    began = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - began:6.1f}s] {message}", file=sys.stderr, flush=True)

    try:
        with docker_stack(workdir, log) as stack:
            engine = stack.backend.client.version().get("Version", "?")
            log(f"cold starts: 1 warm-up + {args.runs} runs of floor and launch, interleaved")
            launches = measure_launches(stack, args.runs, log)
            log(f"{args.users} users at once")
            concurrency = measure_concurrency(stack, args.users, log)
            image = stack.image
    except FAILURES as error:
        log(f"benchmark failed: {error}; files kept in {workdir}")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions(),
        "engine": engine,
        "image": image,
        "runs": args.runs,
        "launches": launches,
        "concurrency": concurrency,
        "elapsed_s": round(time.monotonic() - began, 1),
    }
    save_results(args.output, result, report(result))
    return 0 if concurrency["failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

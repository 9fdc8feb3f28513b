"""NextPyter benchmark, pulls: what the pull queue (pagletto) adds to getting an image onto
the engine, and a launch of an image the engine does not have against `docker pull` plus
the same container.

Run with ``make bench`` (after the docker benchmark) or ``python bench/bench_pull.py``
(``--quick`` for a smoke run). As root. It starts, and stops by pid:

- the default dev engine (devtools/engine.py), which builds or finds the Jupyter image
  and pushes it to
- a registry of the benchmark's own (Debian's docker-registry, on that engine's end of its
  network namespace; storage in /var/cache/nextpyter-dev/registry-bench, kept, so that the
  Jupyter layers are pushed once per machine);
- a second engine on a fresh data root (removed at the end), in a network namespace of
  its own: it starts with no layer of any image, and reaches the registry through this
  machine;
- Redis, one pagletto worker and the sidecar (docker backend), both on the second engine,
  and the gateway.

Measurements:

- Queue overhead: N pulls (20) of an image of one 1 MB layer, queued as the sidecar
  queues them (``pullqueue.request_pull``) while the worker idle-waits on the stream
  (``XREADGROUP`` blocking), at a random moment of its loop. From the call to the worker's
  start (its ``started_at``), and to when a follower blocking on the image's events
  stream (the sidecar's own ``Pulls.follow``) hears of it; at the end, from the engine
  having the image (its ``pull`` event) to the state ``done`` (``finished_at``) and to the
  follower hearing it.
- Cold launch against its floor, the image on no layer of the engine: floor is `docker
  pull` (the CLI) followed by the same container the backend creates, run with one SDK
  call and polled over its unix socket until Jupyter answers (bench_docker.py's floor);
  launch is token POST through the gateway, the events to ``ready`` (the sidecar queues
  the pull, pagletto pulls, the sidecar starts the server), then the first 200 from
  ``api/status`` through the gateway. Every image and container is removed from the engine
  before each run, and the registry's log shows each run fetched every blob; the order of
  the two kinds alternates from run to run.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import redis as redis_lib
import requests

# Run as a script, this directory is first on sys.path: bench_docker is bench/bench_docker.py,
# and bench is bench/bench.py.
from bench_docker import FAILURES, USER_ID, DockerStack, floor_run

from bench import (
    BenchError,
    Gateway,
    LaunchRun,
    Log,
    _stats_row,
    _terminate,
    launch_figures,
    save_results,
    summarize,
    versions,
)
from devtools import services as devstack
from devtools.engine import _stop_stale, start_engine
from devtools.images import jupyter_image
from devtools.netns import NetNS
from devtools.registry import Registry, push, pushed_image, start_registry
from devtools.services import CACHE
from nextpyter import pullqueue
from nextpyter.pullqueue import PullState
from nextpyter.sidecar.config import DockerSettings
from nextpyter.sidecar.pulls import Pulls
from nextpyter.sidecar.runtime.docker import DockerBackend
from nextpyter.sidecar.signing import load_key
from nextpyter.sidecar.slugs import slug_for

REPO = devstack.REPO
DEFAULT_OUTPUT = REPO / "bench" / "results-pull.json"
REGISTRY_STORAGE = CACHE / "registry-bench"
COLD_PREFIX = "docker-bench-pull-"  # the second engine's data root, under the cache
SMALL_REPOSITORY = "nextpyter-bench"  # the queue's 1 MB images (deleted at the end)
SMALL_MEGABYTES = 1
WORKER = "bench-puller"
PULL_TIMEOUT = 300.0
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.oci.image.manifest.v1+json"
)


@dataclass
class PullStack:
    services: DockerStack  # the sidecar, gateway and an in-process backend, on the cold engine
    redis: redis_lib.Redis
    registry: Registry
    small: list[str]  # 1 MB images in the registry, one per queue run

    @property
    def client(self) -> docker.DockerClient:
        return self.services.backend.client

    @property
    def image(self) -> str:
        return self.services.image


# -- the engines and the registry -------------------------------------------------------------
def _remove_cold_root(data_root: Path) -> None:
    """A stopped engine's data root, and what start_engine keeps next to it: lock, pid file,
    log and the record of its network namespace (removed with the engine)."""
    shutil.rmtree(data_root, ignore_errors=True)
    for ext in ("lock", "pid", "log", "netns"):
        data_root.with_name(f"{data_root.name}.{ext}").unlink(missing_ok=True)


def _keep_log(log_file: Path, workdir: Path) -> None:
    if log_file.exists():
        shutil.move(log_file, workdir / log_file.name)


def _remove_containers(client: docker.DockerClient) -> None:
    for container in client.containers.list(all=True):
        container.remove(force=True)


def sweep_stale(log: Log) -> None:
    """Second engines of runs that were killed before they could clean up (their lock is free
    again): stop their dockerd, if it is still ours on that data root, and remove it all."""
    for data_root in sorted(CACHE.glob(f"{COLD_PREFIX}*")):
        if not data_root.is_dir():
            continue
        with open(data_root.with_name(f"{data_root.name}.lock"), "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # another run of this benchmark is using it
            log(f"removing {data_root}, left by a run that was killed")
            _stop_stale(data_root.with_name(f"{data_root.name}.pid"), data_root)
            with contextlib.suppress(OSError, ValueError):  # its namespace, if still there
                record = data_root.with_name(f"{data_root.name}.netns").read_text()
                name, host_if = record.split()
                NetNS(name, host_if, "", "", "").remove()
            _remove_cold_root(data_root)


def reachable(netns: NetNS, address: str) -> None:
    """The registry answers from inside the engine's network namespace."""
    probe = subprocess.run(
        [
            *netns.enter,
            sys.executable,
            "-c",
            "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)",
            f"http://{address}/v2/",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        raise BenchError(
            f"the second engine's namespace {netns.name} cannot reach the registry at "
            f"{address}: {probe.stderr.strip().splitlines()[-1:]}"
        )


def empty_engine(client: docker.DockerClient) -> None:
    """No container, no image, no layer: the next pull fetches everything."""
    _remove_containers(client)
    client.images.prune(filters={"dangling": False})
    left = client.images.list(all=True)
    layers = client.df().get("LayersSize", 0)
    if left or layers:
        raise BenchError(f"the engine still has images {left} ({layers} bytes of layers)")


@contextlib.contextmanager
def pull_stack(workdir: Path, small: int, log: Log) -> Iterator[PullStack]:
    with contextlib.ExitStack() as exits:
        log("starting the default engine (it builds or finds the Jupyter image)")
        primary = start_engine(isolated=True)
        exits.callback(primary.stop)
        builder = primary.client()
        exits.callback(builder.close)
        base = jupyter_image(builder)
        assert primary.netns is not None
        registry = start_registry(workdir / "registry", primary.netns.host_ip, REGISTRY_STORAGE)

        def remove_registry() -> None:
            registry.stop()
            repositories = REGISTRY_STORAGE / "docker/registry/v2/repositories"
            shutil.rmtree(repositories / SMALL_REPOSITORY, ignore_errors=True)
            registry.collect_garbage()

        exits.callback(remove_registry)
        image = f"{registry.address}/{base}"
        log(f"pushing the Jupyter image and {small} images of {SMALL_MEGABYTES} MB to the registry")
        push(builder, base, image)
        exits.callback(builder.images.remove, image)  # the tag, not the image
        small_images = [
            pushed_image(
                builder,
                "scratch",
                f"{registry.address}/{SMALL_REPOSITORY}/q{uuid.uuid4().hex[:10]}:v1",
                SMALL_MEGABYTES,
            )[0]
            for _ in range(small)
        ]

        sweep_stale(log)
        data_root = Path(tempfile.mkdtemp(prefix=COLD_PREFIX, dir=CACHE))
        exits.callback(_remove_cold_root, data_root)
        log(f"starting the second engine on the fresh data root {data_root}")
        # Its log outlives it in the work directory (kept if the run fails).
        exits.callback(_keep_log, data_root.with_name(f"{data_root.name}.log"), workdir)
        engine = start_engine(data_root=data_root, isolated=True)
        exits.callback(engine.stop)
        client = engine.client()
        exits.callback(client.close)
        exits.callback(_remove_containers, client)
        assert engine.netns is not None
        reachable(engine.netns, registry.address)
        log(
            f"the second engine's namespace ({engine.netns.ns_ip}) reaches the registry on "
            f"the first one's end ({registry.address}) through this machine"
        )

        redis = devstack.start_redis(workdir / "redis")
        exits.callback(redis.stop)
        rclient = redis_lib.Redis.from_url(redis.address, decode_responses=True)
        exits.callback(rclient.close)
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
        exits.callback(sidecar.stop)
        gateway = devstack.start_gateway(workdir, sidecar.address)
        exits.callback(gateway.stop)
        worker = devstack.start_pagletto(workdir / "pagletto", redis.address, engine.url, WORKER)
        exits.callback(worker.stop)
        backend = DockerBackend(
            DockerSettings(image=image), Path(env["NEXTPYTER_RUNTIME_DIR"]), client
        )
        stack = DockerStack(
            workdir, env, sidecar, gateway, backend, load_key(pem), data, image, engine.url
        )
        yield PullStack(stack, rclient, registry, small_images)


def manifest_size(registry: Registry, image: str) -> tuple[int, int]:
    """(layers, their compressed bytes) from the registry's manifest."""
    repository, tag = pullqueue.split_image(image.removeprefix(f"{registry.address}/"))
    answer = requests.get(
        f"http://{registry.address}/v2/{repository}/manifests/{tag}",
        headers={"Accept": MANIFEST_TYPES},
        timeout=10,
    )
    answer.raise_for_status()
    manifest = answer.json()
    layers = [int(layer["size"]) for layer in manifest["layers"]]
    return len(layers), sum(layers)


def blobs_fetched(registry: Registry, image: str) -> int:
    repository = pullqueue.split_image(image.removeprefix(f"{registry.address}/"))[0]
    return registry.requests("GET", f"/v2/{repository}/blobs/")


# -- queue overhead -----------------------------------------------------------------------------
@dataclass
class QueueRun:
    request_ms: float  # request_pull's call
    started_ms: float  # enqueue -> the worker's started_at
    heard_started_ms: float | None  # enqueue -> the follower sees state pulling
    pull_ms: float  # started_at -> finished_at
    present_to_done_ms: float | None  # the engine's pull event -> finished_at
    present_to_heard_ms: float | None  # the engine's pull event -> the follower sees done
    heard_done_ms: float  # enqueue -> the follower sees done
    total: int  # the state's bytes


def pulled_at(client: docker.DockerClient, image: str, since: float) -> float | None:
    """When the engine logged the pull of ``image`` (its ``pull`` event), wall clock."""
    events = client.events(
        since=f"{since:.6f}",
        until=f"{time.time():.6f}",
        filters={"type": "image", "event": "pull"},
        decode=True,
    )
    try:
        for event in events:
            if event.get("Actor", {}).get("ID") == image or event.get("id") == image:
                return int(event["timeNano"]) / 1e9
    finally:
        events.close()
    return None


def queue_run(stack: PullStack, image: str) -> QueueRun:
    pulls = Pulls(stack.redis)
    began = time.time()
    requested = pullqueue.request_pull(stack.redis, image, "bench")
    returned = time.time()
    heard_started: float | None = None
    heard_done = 0.0
    for state in pulls.follow(requested, PULL_TIMEOUT):
        now = time.time()
        if state.state == pullqueue.FAILED:
            raise BenchError(f"the pull of {image} failed: {state.error}")
        if state.state == pullqueue.PULLING and heard_started is None:
            heard_started = now
        if state.state == pullqueue.DONE:
            heard_done = now
    final = pullqueue.read_state(stack.redis, image)
    if final is None or final.state != pullqueue.DONE or final.job != requested.job:
        raise BenchError(f"the pull of {image} ended as {final}")
    present = pulled_at(stack.client, image, began - 1)
    return QueueRun(
        request_ms=(returned - began) * 1000,
        started_ms=(final.started_at - began) * 1000,
        heard_started_ms=None if heard_started is None else (heard_started - began) * 1000,
        pull_ms=(final.finished_at - final.started_at) * 1000,
        present_to_done_ms=None if present is None else (final.finished_at - present) * 1000,
        present_to_heard_ms=None if present is None else (heard_done - present) * 1000,
        heard_done_ms=(heard_done - began) * 1000,
        total=final.total,
    )


def measure_queue(stack: PullStack, runs: int, log: Log) -> dict[str, Any]:
    measured: list[QueueRun] = []
    idle_ping: list[float] = []
    for index, image in enumerate(stack.small):  # the first is a warm-up
        # For scale: one Redis round trip after as long a quiet time (waking an idle process
        # on this machine is part of every figure below).
        time.sleep(random.uniform(0.2, 2.2))
        began = time.perf_counter()
        stack.redis.ping()
        idle_ping.append((time.perf_counter() - began) * 1000)
        # The worker blocks up to 2 s per XREADGROUP, then loops (group, heartbeat, stalled
        # entries): the job arrives at a random moment of that loop.
        time.sleep(random.uniform(0.2, 2.2))
        run = queue_run(stack, image)
        stack.client.images.remove(image, force=True)
        if index == 0:
            continue
        measured.append(run)
        log(
            f"  run {index}/{runs}: worker started {run.started_ms:.1f} ms after the enqueue, "
            f"follower heard {_ms(run.heard_started_ms)}, pull {run.pull_ms:.0f} ms, "
            f"engine had it -> follower heard done {_ms(run.present_to_heard_ms)}"
        )

    def figures(values: Sequence[float | None]) -> dict[str, Any]:
        found = [v for v in values if v is not None]
        return {**summarize(found), "missing": len(values) - len(found)} if found else {}

    return {
        "runs": len(measured),
        "image_megabytes": SMALL_MEGABYTES,
        "idle_redis_ping": figures(idle_ping[1:]),
        "request_call": figures([r.request_ms for r in measured]),
        "enqueue_to_started": figures([r.started_ms for r in measured]),
        "enqueue_to_follower_heard_started": figures([r.heard_started_ms for r in measured]),
        "pull": figures([r.pull_ms for r in measured]),
        "present_to_done": figures([r.present_to_done_ms for r in measured]),
        "present_to_follower_heard_done": figures([r.present_to_heard_ms for r in measured]),
        "enqueue_to_follower_heard_done": figures([r.heard_done_ms for r in measured]),
        "total_bytes": [r.total for r in measured],
    }


def _ms(value: float | None) -> str:
    return "(missed)" if value is None else f"{value:.1f} ms"


# -- cold launches --------------------------------------------------------------------------------
class EventsGateway(Gateway):
    """The browser's part, keeping the last launch's events (for the pull's phases)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.events: list[dict[str, Any]] = []

    def follow(self, events_path: str, deadline: float) -> list[dict[str, Any]]:
        self.events = super().follow(events_path, deadline)
        return self.events


@dataclass
class FloorPull:
    seconds: float  # docker pull + container run -> answer
    pull_seconds: float


def floor_pull_run(stack: PullStack, files: Path, index: int) -> FloorPull:
    """`docker pull` (the CLI) of the image, then bench_docker.py's floor: the backend's own
    container arguments run with one SDK call, polled until Jupyter answers."""
    docker_cli = shutil.which("docker") or "docker"
    started = time.perf_counter()
    pulled = subprocess.run(
        [docker_cli, "-H", stack.services.engine_url, "pull", stack.image],
        capture_output=True,
        text=True,
        check=False,
    )
    pull_seconds = time.perf_counter() - started
    if pulled.returncode != 0:
        raise BenchError(f"docker pull failed: {pulled.stderr.strip()[-500:]}")
    return FloorPull(pull_seconds + floor_run(stack.services, files, index), pull_seconds)


def launch_phases(
    run: LaunchRun, events: list[dict[str, Any]], state: PullState
) -> dict[str, float]:
    """bench.py's phases, with the one that holds the pull split by the pull's own times."""
    at = [(e["state"], float(e["at"]), e.get("pull")) for e in events]
    queued = next(t for s, t, _ in at if s == "queued")
    starting = next(t for s, t, _ in at if s == "starting")
    heard = next(
        (t for s, t, p in at if s == "pulling" and p and json.loads(p)["state"] == "pulling"),
        None,
    )
    pull = {
        "  queued -> pull queued (lock, engine asked for the image)": state.queued_at - queued,
        "  pull queued -> worker starts": state.started_at - state.queued_at,
        "  worker starts -> the launch says so": heard and heard - state.started_at,
        "  worker pulls (download, extract)": state.finished_at - state.started_at,
        "  pull done -> spawn begins (the sidecar hears it)": starting - state.finished_at,
    }
    phases: dict[str, float] = {}
    for name, ms in run.phases_ms.items():
        if name.startswith("queued -> spawn begins"):
            phases["queued -> spawn begins (with the pull)"] = ms
            phases |= {k: round(s * 1000, 1) for k, s in pull.items() if s is not None}
        else:
            phases[name] = ms
    return phases


def measure_cold(stack: PullStack, runs: int, log: Log) -> dict[str, Any]:
    files = stack.services.user(USER_ID)
    slug = slug_for(USER_ID)
    layers, size = manifest_size(stack.registry, stack.image)
    blobs = layers + 1  # and the config
    gateway = EventsGateway(stack.services.url, stack.services.key, USER_ID)
    floor: list[FloorPull] = []
    cold: list[LaunchRun] = []
    warm: list[LaunchRun] = []
    states: list[PullState] = []
    fetched: dict[str, list[int]] = {"floor": [], "launch": []}

    def launch() -> None:
        if stack.services.backend.status(slug) is not None:
            raise BenchError("the user's server still runs: this would not be cold")
        run = gateway.launch(cold=True)[0]
        state = pullqueue.read_state(stack.redis, stack.image)
        if (
            state is None
            or state.state != pullqueue.DONE
            or (states and state.job == states[-1].job)
        ):
            raise BenchError(f"the launch did not pull the image anew: {state}")
        if not any(e["state"] == "pulling" for e in gateway.events):
            raise BenchError("the launch did not wait for a pull")
        run.phases_ms = launch_phases(run, gateway.events, state)
        cold.append(run)
        states.append(state)
        warm.append(gateway.launch(cold=False)[0])
        if not stack.services.backend.stop(slug):
            raise BenchError("the launched server was not there when stopped")

    try:
        log("  warm-up: one launch and one floor")  # the users' network, first engine calls
        empty_engine(stack.client)
        launch()
        empty_engine(stack.client)
        floor_pull_run(stack, files, 0)
        del cold[:], warm[:]
        kinds = ("floor", "launch")
        for index in range(1, runs + 1):
            for kind in kinds[index % 2 :] + kinds[: index % 2]:
                empty_engine(stack.client)
                before = blobs_fetched(stack.registry, stack.image)
                if kind == "floor":
                    floor.append(floor_pull_run(stack, files, index))
                else:
                    launch()
                fetched[kind].append(blobs_fetched(stack.registry, stack.image) - before)
                if fetched[kind][-1] < blobs:
                    raise BenchError(
                        f"the {kind} fetched {fetched[kind][-1]} of the image's {blobs} blobs"
                    )
            log(
                f"  run {index}/{runs}: floor {floor[-1].seconds * 1000:.0f} ms (docker pull "
                f"{floor[-1].pull_seconds * 1000:.0f} ms), launch {cold[-1].seconds * 1000:.0f} "
                f"ms (worker pull {states[-1].finished_at - states[-1].started_at:.1f} s)"
            )
    finally:
        gateway.close()
    states = states[-runs:]  # not the warm-up's
    figures = launch_figures([r.seconds * 1000 for r in floor], cold, warm)
    docker_pull = [r.pull_seconds * 1000 for r in floor]
    worker_pull = [(s.finished_at - s.started_at) * 1000 for s in states]
    figures["floor"]["docker_pull"] = summarize(docker_pull)
    figures["launch"]["worker_pull"] = summarize(worker_pull)
    # The download's time varies by a second from pull to pull, more than what NextPyter
    # adds; without it (each run minus its own pull), the rest compares more closely.
    floor_rest = [r.seconds * 1000 - ms for r, ms in zip(floor, docker_pull, strict=True)]
    launch_rest = [r.seconds * 1000 - ms for r, ms in zip(cold, worker_pull, strict=True)]
    figures["floor"]["minus_pull"] = summarize(floor_rest)
    figures["launch"]["minus_pull"] = summarize(launch_rest)
    figures["overhead_minus_pull_median_ms"] = round(
        statistics.median(launch_rest) - statistics.median(floor_rest), 1
    )
    figures["worker_pull_minus_docker_pull_median_ms"] = round(
        statistics.median(worker_pull) - statistics.median(docker_pull), 1
    )
    figures["image"] = {
        "reference": stack.image,
        "layers": layers,
        "compressed_bytes": size,
        "pull_total_bytes": [s.total for s in states],
        "pull_done_bytes": [s.done for s in states],
        "blobs_fetched": fetched,
    }
    return figures


# -- the report -------------------------------------------------------------------------------
def _fine_row(label: str, stats: dict[str, Any]) -> str:
    if not stats:
        return f"  {label:<54}(never seen)"
    figures = (stats[k] for k in ("median_ms", "p95_ms", "min_ms", "max_ms"))
    missing = f"  ({stats['missing']} missed)" if stats.get("missing") else ""
    return f"  {label:<54}" + "".join(f"{value:>8.1f} ms" for value in figures) + missing


def report(result: dict[str, Any]) -> str:
    queue, launches, v = result["queue"], result["cold"], result["versions"]
    cold, image = launches["launch"], launches["image"]
    megabytes = statistics.median(image["pull_total_bytes"]) / 1e6
    queue_title = f"Queue overhead ({queue['runs']} pulls of a {queue['image_megabytes']} MB image)"
    lines = [
        f"NextPyter benchmark, pulls  {result['date']}  commit {v.get('commit', '?')}",
        f"  {v['cpus']} CPUs, Docker engine {result['engine']} (a second one, fresh data root, "
        f"own network namespace), registry: {result['registry']}",
        "",
        f"{queue_title:<56}{'median':>11}{'p95':>11}{'min':>11}{'max':>11}",
        _fine_row("for scale: a Redis PING after as long idle", queue["idle_redis_ping"]),
        _fine_row("request_pull returns", queue["request_call"]),
        _fine_row("enqueue -> worker starts (started_at)", queue["enqueue_to_started"]),
        _fine_row(
            "enqueue -> a follower hears it started", queue["enqueue_to_follower_heard_started"]
        ),
        _fine_row("worker's pull (started_at -> finished_at)", queue["pull"]),
        _fine_row("engine has the image (pull event) -> done", queue["present_to_done"]),
        _fine_row(
            "engine has the image -> a follower hears done", queue["present_to_follower_heard_done"]
        ),
        _fine_row("enqueue -> a follower hears done", queue["enqueue_to_follower_heard_done"]),
        "",
        f"  image {image['reference']}: {image['layers']} layers, "
        f"{image['compressed_bytes'] / 1e6:.1f} MB compressed (registry manifest), pagletto "
        f"counted {megabytes:.1f} MB per pull (its state's total)",
        f"  blobs fetched per run (registry log): floor {image['blobs_fetched']['floor']}, "
        f"launch {image['blobs_fetched']['launch']}",
        "",
        f"{'Cold start, image not on the engine (' + str(result['runs']) + ' runs each)':<48}"
        f"{'median':>10}{'p95':>10}{'min':>10}{'max':>10}",
        _stats_row("floor: docker pull + container run -> answer", launches["floor"]),
        _stats_row("  of which docker pull (CLI)", launches["floor"]["docker_pull"]),
        _stats_row("launch: token POST -> first 200 via gateway", cold),
        _stats_row("  of which the worker's pull", cold["worker_pull"]),
        _stats_row("  of which token POST -> ready event", cold["to_ready_event"]),
        _stats_row("warm launch: token POST -> ready event", launches["warm_launch"]),
        "",
        f"  overhead (launch median - floor median) {launches['overhead_median_ms']:>8.0f} ms"
        f"   (median of paired runs: {launches['overhead_paired_median_ms']:.0f} ms)",
        f"  ratio launch / floor (medians)          {launches['ratio_median']:>8.2f}",
        f"  {'the same, each run minus its own pull':<40}"
        f"{round(launches['overhead_minus_pull_median_ms']):>+8d} ms   (launch "
        f"{cold['minus_pull']['median_ms']:.0f} ms, floor "
        f"{launches['floor']['minus_pull']['median_ms']:.0f} ms)",
        f"  {'worker pull - docker pull (medians)':<40}"
        f"{round(launches['worker_pull_minus_docker_pull_median_ms']):>+8d} ms"
        "   (the same download; pull times vary by a second)",
        "  where a cold launch's time goes (medians; event and pull-state timestamps):",
        *(f"    {name:<56}{ms:>8.1f} ms" for name, ms in cold["phases_median_ms"].items()),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="cold starts of each kind (5)")
    parser.add_argument("--queue-runs", type=int, default=20, help="pulls of 1 MB images (20)")
    parser.add_argument("--quick", action="store_true", help="2 cold starts, 5 queue runs")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.queue_runs = 2, 5
    if not 1 <= args.runs <= 50 or not 1 <= args.queue_runs <= 500:
        parser.error("--runs must be 1-50 and --queue-runs 1-500")
    signal.signal(signal.SIGTERM, _terminate)
    workdir = Path(tempfile.mkdtemp(prefix="nextpyter-bench-pull-"))
    began = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - began:6.1f}s] {message}", file=sys.stderr, flush=True)

    try:
        with pull_stack(workdir, args.queue_runs + 1, log) as stack:
            engine = stack.client.version().get("Version", "?")
            log(f"queue overhead: 1 warm-up + {args.queue_runs} pulls of a 1 MB image")
            queue = measure_queue(stack, args.queue_runs, log)
            log(f"cold starts: 1 warm-up + {args.runs} runs of floor and launch, alternating")
            cold = measure_cold(stack, args.runs, log)
            registry = f"docker-registry on {stack.registry.address}"
            log("stopping everything")
    except (*FAILURES, redis_lib.RedisError) as error:
        log(f"benchmark failed: {error}; files kept in {workdir}")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions(),
        "engine": engine,
        "registry": registry,
        "runs": args.runs,
        "queue": queue,
        "cold": cold,
        "elapsed_s": round(time.monotonic() - began, 1),
    }
    save_results(args.output, result, report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Every Prometheus metric of the sidecar, defined once, and the ``/metrics`` exposition.

Counters and histograms are counted where things happen (launches.py, culler.py, the
authorizer, the error handlers) and, under gunicorn, kept per worker in
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode; nextpyter-sidecar
sets it to a private directory, emptied at start, and gunicorn's ``child_exit`` marks a
dead worker's files): ``/metrics`` adds every worker's up. What is a state rather than a
count (the running servers, the GPUs they hold, the pull queue's depth and oldest entry)
is read at scrape time from the runtime and Redis, once per scrape, whatever the worker.

The names are the contract with deploy/grafana/nextpyter.json (tests/unit/test_metrics.py
checks that the dashboard shows every one).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .metrics_setup import MULTIPROC_ENV

log = logging.getLogger(__name__)

PHASES = ("lock", "pull", "start", "ready", "total")  # a launch's phases, timed

LAUNCHES = Counter(
    "nextpyter_launches_total",
    "Launches by how they ended (ready, failed, reused) and backend.",
    ["outcome", "backend"],
)
LAUNCH_SECONDS = Histogram(
    "nextpyter_launch_phase_seconds",
    "How long each phase of a launch took: waiting for the user's lock, the image's pull, "
    "starting the server, Jupyter answering, and all of it.",
    ["phase"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800),
)
PULL_REQUESTS = Counter(
    "nextpyter_pull_requests_total",
    "Pulls the sidecar asked pagletto for, by who asked (launch, admin) and whether a new "
    "job was queued or a pull under way joined.",
    ["requester", "queued"],
)
PULLS = Counter(
    "nextpyter_pulls_total",
    "Pulls a launch or an admin followed to their end, by final state (done, failed).",
    ["state"],
)
CULLS = Counter(
    "nextpyter_culls_total",
    "Servers the culler stopped, by reason (idle, lifetime).",
    ["reason"],
)
AUTHORIZE = Counter(
    "nextpyter_authorize_requests_total",
    "The gateway's auth_request checks, by answer (200, 401, 403).",
    ["status"],
)
AUTHORIZE_SECONDS = Histogram(
    "nextpyter_authorize_seconds",
    "How long an auth_request check took.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
REDIS_ERRORS = Counter(
    "nextpyter_redis_errors_total",
    "Redis failures met, by where (request, launch, culler).",
    ["where"],
)
ENGINE_ERRORS = Counter(
    "nextpyter_engine_errors_total",
    "Runtime failures met (the engine or the Kubernetes API did not answer or refused), "
    "by backend and where (request, launch, culler).",
    ["backend", "where"],
)

# Read at scrape time (see :class:`LiveCollector`); named here so that each is written once.
SERVERS = "nextpyter_servers_running"
GPUS = "nextpyter_gpus_assigned"
QUEUE_DEPTH = "nextpyter_pull_queue_depth"
QUEUE_PENDING = "nextpyter_pull_queue_pending"
QUEUE_OLDEST = "nextpyter_pull_queue_oldest_seconds"
DEAD_LETTERS = "nextpyter_pull_dead_letters"
SCRAPE_ERRORS = "nextpyter_scrape_errors"

COUNTED = (
    LAUNCHES,
    LAUNCH_SECONDS,
    PULL_REQUESTS,
    PULLS,
    CULLS,
    AUTHORIZE,
    AUTHORIZE_SECONDS,
    REDIS_ERRORS,
    ENGINE_ERRORS,
)
LIVE = (SERVERS, GPUS, QUEUE_DEPTH, QUEUE_PENDING, QUEUE_OLDEST, DEAD_LETTERS, SCRAPE_ERRORS)


def names() -> list[str]:
    """Every metric family's name as Prometheus sees it (a counter's with ``_total``)."""
    out = []
    for metric in COUNTED:
        name = metric._name
        out.append(name + "_total" if isinstance(metric, Counter) else name)
    return [*out, *LIVE]


class Timer:
    """``with Timer(phase):`` observes the block's duration into the launch histogram."""

    def __init__(self, phase: str) -> None:
        self.phase = phase
        self.start = 0.0

    def __enter__(self) -> Timer:
        self.start = time.monotonic()
        return self

    def __exit__(self, *_: Any) -> None:
        LAUNCH_SECONDS.labels(self.phase).observe(time.monotonic() - self.start)


def safely(count: Callable[[], None]) -> None:
    """Count without ever failing what is being counted."""
    try:
        count()
    except Exception:  # a metric is never worth a failed launch
        log.debug("counting a metric failed", exc_info=True)


def count(counter: Counter, *labels: str) -> None:
    """``counter.labels(*labels).inc()``, never failing the caller."""
    safely(lambda: counter.labels(*labels).inc())


class LiveCollector(Collector):
    """The states read at scrape time: ``servers`` lists (profile, image, gpus) of each
    running server, ``queue`` the pull queue's (depth, pending, oldest age, dead letters).
    A source that fails is left out of this scrape and counted in ``nextpyter_scrape_errors``
    (labelled by source)."""

    def __init__(
        self,
        servers: Callable[[], Iterable[tuple[str, str, int]]],
        queue: Callable[[], tuple[int, int, float, int]] | None,
    ) -> None:
        self.servers = servers
        self.queue = queue

    def collect(self) -> Iterator[Metric]:
        errors = GaugeMetricFamily(
            SCRAPE_ERRORS, "Sources this scrape could not read (1), by source.", labels=["source"]
        )
        try:
            counts: dict[tuple[str, str], int] = {}
            gpus = 0
            for profile, image, gpu in self.servers():
                counts[(profile, image)] = counts.get((profile, image), 0) + 1
                gpus += gpu
            running = GaugeMetricFamily(
                SERVERS, "Running servers by profile and image.", labels=["profile", "image"]
            )
            for (profile, image), count in sorted(counts.items()):
                running.add_metric([profile, image], count)
            yield running
            yield GaugeMetricFamily(GPUS, "GPUs the running servers' profiles give them.", gpus)
            errors.add_metric(["runtime"], 0)
        except Exception as error:
            log.warning("metrics: the runtime's servers could not be listed: %s", error)
            errors.add_metric(["runtime"], 1)
        if self.queue is not None:
            try:
                depth, pending, oldest, dead = self.queue()
                yield GaugeMetricFamily(QUEUE_DEPTH, "Entries in the pull stream.", depth)
                yield GaugeMetricFamily(
                    QUEUE_PENDING, "Entries a pagletto worker holds (being pulled).", pending
                )
                yield GaugeMetricFamily(
                    QUEUE_OLDEST, "Age of the oldest entry in the pull stream (s).", oldest
                )
                yield GaugeMetricFamily(DEAD_LETTERS, "Entries in the dead-letter stream.", dead)
                errors.add_metric(["redis"], 0)
            except Exception as error:
                log.warning("metrics: the pull queue could not be read: %s", error)
                errors.add_metric(["redis"], 1)
        yield errors


class _ThisProcess(Collector):
    """This process's own counts (no multiprocess directory: in-process tests)."""

    def collect(self) -> Iterator[Metric]:
        for metric in COUNTED:
            yield from metric.collect()


def exposition(live: Collector | None = None) -> tuple[bytes, str]:
    """The text exposition of every worker's counts (multiprocess mode, when the
    directory is set; this process's otherwise) and of ``live``."""
    registry = CollectorRegistry()
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ThisProcess())
    if live is not None:
        registry.register(live)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """gunicorn's ``child_exit``: a dead worker's live gauges go (its counts stay)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]

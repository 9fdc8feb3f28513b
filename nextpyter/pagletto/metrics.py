"""pagletto's Prometheus metrics, defined once, and their HTTP endpoint.

``NEXTPYTER_PULL_METRICS_ADDR`` (``host:port``; off by default) serves them at
``/metrics`` from the worker's process (one process: no multiprocess mode). Bind it to an
internal address only: the metrics are not secret, but nothing checks who asks.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from ..common.env import PREFIX, ConfigError

log = logging.getLogger("pagletto")

PULLS = Counter(
    "pagletto_pulls_total",
    "Pull jobs this worker handled, by how they ended: done, failed (dead-lettered), "
    "retrying (a transient error, tried again), lost (taken over by another worker).",
    ["state"],
)
PULL_SECONDS = Histogram(
    "pagletto_pull_seconds",
    "How long a pull took, by how it ended.",
    ["state"],
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)
ERRORS = Counter(
    "pagletto_errors_total",
    "Failed pulls by kind (not-found, auth, disk-full, network, engine, stalled, ...) and "
    "Redis failures (kind redis).",
    ["kind"],
)
BUSY = Gauge("pagletto_pulling", "1 while this worker pulls an image.")

NAMES = (
    "pagletto_pulls_total",
    "pagletto_pull_seconds",
    "pagletto_errors_total",
    "pagletto_pulling",
)


def parse_address(raw: str) -> tuple[str, int] | None:
    """``host:port`` (``[::1]:9101`` for IPv6), or None for "" (off)."""
    if not raw:
        return None
    host, sep, port = raw.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"{PREFIX}PULL_METRICS_ADDR={raw[:60]!r} is not host:port (like 127.0.0.1:9101)"
        )
    return host, int(port)


def serve(address: tuple[str, int] | None) -> None:
    if address is None:
        return
    host, port = address
    start_http_server(port, addr=host)
    log.info("metrics at http://%s:%d/metrics", host, port)

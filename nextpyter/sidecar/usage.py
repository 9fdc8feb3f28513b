"""What a user's server uses now (CPU, memory), for the dashboard, and why it last stopped.

Per backend: ``local`` sums the server's process tree (the server and its kernels, by
parent pid) from ``/proc``: resident memory, and CPU over a short sample; ``docker`` asks
the engine for the container's stats (one snapshot: memory in use without the page cache,
CPU against the previous sample the engine keeps); other backends report nothing (the
dashboard says "not reported").

Why a server stopped is written, one key per user (``keys.last_stop``), by whoever
stopped it: the culler (idle, lifetime), an admin through the API or the CLI, the user
on the dashboard, a launch that failed.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from ..common import keys
from .runtime import Backend

REASONS = {
    "idle": "stopped after being idle too long",
    "lifetime": "stopped when it reached its maximum lifetime",
    "admin": "stopped by an administrator",
    "user": "stopped by you",
    "failed": "failed to start",
}
KEEP_SECONDS = 30 * 24 * 3600
SAMPLE_SECONDS = 0.2


@dataclass(frozen=True)
class Usage:
    cpu_percent: float  # of one CPU
    memory_bytes: int


@dataclass(frozen=True)
class Stop:
    reason: str
    detail: str
    at: float

    @property
    def text(self) -> str:
        return REASONS.get(self.reason, self.reason)


def record_stop(client: redis.Redis, slug: str, reason: str, detail: str = "") -> None:
    """Remember why ``slug``'s server stopped (best effort: a Redis failure is ignored)."""
    value = json.dumps({"reason": reason, "detail": detail[:300], "at": time.time()})
    with contextlib.suppress(redis.RedisError):
        client.set(keys.last_stop(slug), value, ex=KEEP_SECONDS)


def last_stop(client: redis.Redis, slug: str) -> Stop | None:
    try:
        raw = client.get(keys.last_stop(slug))
        data = json.loads(raw) if raw else None
    except (redis.RedisError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return Stop(str(data.get("reason", "")), str(data.get("detail", "")), float(data.get("at", 0)))


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _ticks_and_rss(pids: list[int]) -> tuple[int, int]:
    ticks = rss = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime + stime
        rss += int(fields[21]) * page
    return ticks, rss


def _local(backend: Any, slug: str) -> Usage | None:
    state = backend._read_state(slug)
    if not state:
        return None
    pids = _tree(int(state["pid"]))
    before, _ = _ticks_and_rss(pids)
    time.sleep(SAMPLE_SECONDS)
    after, rss = _ticks_and_rss(pids)
    hertz = os.sysconf("SC_CLK_TCK")
    return Usage(100.0 * (after - before) / hertz / SAMPLE_SECONDS, rss)


def _docker(backend: Any, slug: str) -> Usage | None:
    container = backend._container(slug)
    if container is None:
        return None
    stats = container.stats(stream=False)
    memory = stats.get("memory_stats", {})
    used = int(memory.get("usage", 0)) - int(memory.get("stats", {}).get("inactive_file", 0))
    cpu, pre = stats.get("cpu_stats", {}), stats.get("precpu_stats", {})
    delta = cpu.get("cpu_usage", {}).get("total_usage", 0) - pre.get("cpu_usage", {}).get(
        "total_usage", 0
    )
    system = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    online = cpu.get("online_cpus") or 1
    percent = 100.0 * delta / system * online if system > 0 and delta >= 0 else 0.0
    return Usage(percent, max(used, 0))


def usage(backend: Backend, slug: str) -> Usage | None:
    """What ``slug``'s server uses now, or None when the backend does not say."""
    reader = {"local": _local, "docker": _docker}.get(backend.name)
    if reader is None:
        return None
    try:
        return reader(backend, slug)
    except Exception:  # a dashboard figure, never an error page
        return None

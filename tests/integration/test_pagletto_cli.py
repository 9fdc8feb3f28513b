"""`pagletto status`, `requeue` and `health` as processes on a real Redis."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import redis as redis_lib

from nextpyter import pullqueue


def _pagletto(redis_url: str, *args: str) -> Any:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEXTPYTER_", "DOCKER_"))}
    env["NEXTPYTER_REDIS_URL"] = redis_url
    return subprocess.run(
        [sys.executable, "-m", "nextpyter.pagletto", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_pagletto_status_and_requeue(redis_service: Any, redis_client: redis_lib.Redis) -> None:
    pullqueue.request_pull(redis_client, "team/queued:1", "test")
    pullqueue.seen(redis_client, "worker-a")
    dead_id = redis_client.xadd(
        pullqueue.DEAD_STREAM,
        {"job": uuid.uuid4().hex, "image": "team/dead:2", "error": "gone", "error_kind": "x"},
    )
    status = _pagletto(redis_service.address, "status")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["queued"] == 1 and report["pending"] == 0
    assert [w["name"] for w in report["workers"]] == ["worker-a"]
    assert [(d["entry"], d["image"]) for d in report["dead"]] == [(dead_id, "team/dead:2")]
    # A dead letter's image goes back on the queue; an unknown entry is a clear refusal.
    again = _pagletto(redis_service.address, "requeue", dead_id)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["image"] == "team/dead:2"
    state = pullqueue.read_state(redis_client, "team/dead:2")
    assert state is not None and state.state == pullqueue.QUEUED
    assert redis_client.xlen(pullqueue.STREAM) == 2
    unknown = _pagletto(redis_service.address, "requeue", "1-1")
    assert unknown.returncode != 0 and "no dead letter '1-1'" in unknown.stderr
    garbage = _pagletto(redis_service.address, "requeue", "../x")
    assert garbage.returncode != 0 and "is not an entry id" in garbage.stderr
    assert redis_client.xlen(pullqueue.STREAM) == 2
    assert "Traceback" not in unknown.stderr + garbage.stderr


def test_pagletto_health_is_this_hosts_worker_being_seen(
    redis_service: Any, redis_client: redis_lib.Redis
) -> None:
    """`pagletto health`, the container's healthcheck: a worker of this host name (any pid)
    said it runs within 20 s; another host's worker does not count."""
    import socket

    redis_client.delete(pullqueue.WORKERS)
    pullqueue.seen(redis_client, "elsewhere-7")
    sick = _pagletto(redis_service.address, "health")
    assert sick.returncode != 0 and f"({socket.gethostname()}-*)" in sick.stderr
    assert "Traceback" not in sick.stderr
    pullqueue.seen(redis_client, f"{socket.gethostname()}-1")
    well = _pagletto(redis_service.address, "health")
    assert well.returncode == 0, well.stderr
    assert well.stdout.strip() == f"ok: {socket.gethostname()}-1"
    # Seen too long ago: not healthy any more.
    redis_client.zadd(pullqueue.WORKERS, {f"{socket.gethostname()}-1": 1.0})
    assert _pagletto(redis_service.address, "health").returncode != 0
    redis_client.delete(pullqueue.WORKERS)


def test_pagletto_refuses_bad_settings_with_the_variable_named(redis_service: Any) -> None:
    bad = _pagletto("ftp://nowhere", "status")
    assert bad.returncode != 0
    assert "NEXTPYTER_REDIS_URL must start with redis://" in bad.stderr
    away = _pagletto("redis://:hunter2@127.0.0.1:1/0", "status")
    assert away.returncode != 0 and "Redis (NEXTPYTER_REDIS_URL) failed" in away.stderr
    assert "hunter2" not in away.stderr
    assert "Traceback" not in bad.stderr + away.stderr

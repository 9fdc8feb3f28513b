"""Redis high availability: the sidecar (gunicorn, the local backend) and the pull queue on
a master, a replica and three real Sentinels (Debian's redis-sentinel); the master is
killed (SIGKILL, by pid) in the middle of a run of launches and pulls.

What must hold (docs/architecture.md, "Redis high availability"): launches after the
failover succeed without restarting anything; every launch ends (ready, or failed with a
message; none hangs); what was lost is at most what the old master acknowledged in its
last second, and each lost pull job is asked for again by its follower.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nextpyter import pullqueue
from nextpyter.common.redis import connect
from nextpyter.sidecar.pulls import Pulls
from tests.support.need import require
from tests.support.sentinel import SentinelCluster, start_cluster
from tests.support.stack import Stack, start_stack, wait_until


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SentinelCluster]:
    require("redis-sentinel")
    require("redis-server")
    running = start_cluster(tmp_path / "ha")
    yield running
    running.stop()


@pytest.fixture
def ha_stack(
    tmp_path: Path,
    cluster: SentinelCluster,
    keys: tuple[Path, Path],
    signing_key: Ed25519PrivateKey,
) -> Iterator[Stack]:
    env = cluster.env()
    running = start_stack(
        tmp_path / "stack",
        env.pop("NEXTPYTER_REDIS_URL"),
        keys[1],
        signing_key,
        NEXTPYTER_CULL_INTERVAL="2",
        **env,
    )
    yield running
    running.close()


def _launch(stack: Stack, user: str) -> dict[str, Any]:
    """A launch's course: its answer's status, and its last event (or the error)."""
    stack.user(user, {"nb.ipynb": "{}"})
    try:
        answer = requests.post(
            f"{stack.url}/api/v1/launch", json={"token": stack.token(user)}, timeout=30
        )
    except requests.RequestException as error:
        return {"user": user, "status": 0, "error": str(error)}
    out: dict[str, Any] = {"user": user, "status": answer.status_code}
    if answer.status_code == 202:
        out["last"] = stack.wait(answer.json(), timeout=60)
    else:
        out["problem"] = answer.json()
        out["retry_after"] = answer.headers.get("Retry-After")
    return out


def test_the_sidecar_and_the_queue_follow_a_failover_without_a_restart(
    cluster: SentinelCluster, ha_stack: Stack
) -> None:
    sidecar_pid = ha_stack.sidecar.pid
    # Before: a launch works through the sentinels' master.
    before = _launch(ha_stack, "before")
    assert before["status"] == 202 and before["last"]["state"] == "ready", before

    client = connect("redis://sentinel/0", cluster.env())
    pulls = Pulls(client)
    acknowledged: dict[str, float] = {}  # job → when the master acknowledged it
    results: list[dict[str, Any]] = []
    stop = threading.Event()

    def queue_pulls() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            with contextlib.suppress(Exception):  # in the failover: not acknowledged, not lost
                requested = pulls.request(f"registry.example/ha/img{n}:1", "test", "req-ha-test-1")
                acknowledged[requested.job] = time.time()
            time.sleep(0.02)

    def launches(prefix: str, count: int) -> None:
        for i in range(count):
            results.append(_launch(ha_stack, f"{prefix}{i}"))

    pullers = threading.Thread(target=queue_pulls)
    launchers = threading.Thread(target=launches, args=("during", 6))
    pullers.start()
    launchers.start()
    time.sleep(1.0)
    killed_at = time.time()
    old = cluster.kill_master()
    new = cluster.wait_failover(old)
    time.sleep(1.0)  # some pulls acknowledged by the new master
    stop.set()
    pullers.join()
    launchers.join(timeout=240)
    assert not launchers.is_alive(), "a launch hung across the failover"

    # Every launch during the failover ended: ready, or refused with a 503 naming Redis
    # (and Retry-After), or failed with a message. None hung, none was a 500.
    for result in results:
        if result["status"] == 202:
            assert result["last"].get("state") in {"ready", "failed"}, result
            assert result["last"].get("message"), result
        else:
            assert result["status"] == 503, result
            assert result["problem"]["code"] == "redis-unavailable" and result["retry_after"]

    # After: launches succeed, on the same sidecar processes, through the new master.
    assert ha_stack.sidecar.process.poll() is None and ha_stack.sidecar.pid == sidecar_pid
    after = [_launch(ha_stack, f"after{i}") for i in range(3)]
    assert all(a["status"] == 202 and a["last"]["state"] == "ready" for a in after), after
    assert wait_until(lambda: cluster.master_port() == new)

    # What was lost: only pull jobs the old master acknowledged in its last second.
    survivor = cluster.client(new)
    try:
        on_new = {
            fields.get("job") for _, fields in survivor.xrange(pullqueue.STREAM, count=100_000)
        }
        lost = {job: at for job, at in acknowledged.items() if job not in on_new}
        assert all(killed_at - 1.0 <= at <= killed_at + 0.5 for at in lost.values()), (
            f"{len(lost)} lost pulls, some acknowledged more than a second before the kill"
        )
        # A follower whose job is gone asks for it again (only_if_lost, as Pulls.follow
        # does), and gets a new job on the new master.
        again = pullqueue.request_pull(client, "registry.example/ha/lost:1", "follower", True)
        assert again.queued and again.job in {
            fields.get("job") for _, fields in survivor.xrange(pullqueue.STREAM, count=100_000)
        }
        # The request id is recorded with the job, for pagletto's log.
        entries = survivor.xrange(pullqueue.STREAM, count=5)
        assert any(f.get("request_id") == "req-ha-test-1" for _, f in entries)
    finally:
        survivor.close()
        client.close()

"""Prometheus metrics, parsed with prometheus_client's own text parser: the sidecar under
gunicorn (two workers, multiprocess mode) behind nginx, and a pagletto worker.

Counters move with launches, culls, the gateway's checks and pulls; the two workers'
counts add up; /metrics refuses a caller without the metrics scope.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client.parser import text_string_to_metric_families

from devtools import services as devstack
from nextpyter import pullqueue
from nextpyter.common.redis import connect
from nextpyter.sidecar.apitokens import ApiTokens
from tests.support.stack import Stack, start_stack, wait_until


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _total(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return sum(
        value
        for (sample, have), value in samples.items()
        if sample == name and all((k, v) in have for k, v in labels.items())
    )


@pytest.fixture
def metrics_stack(
    tmp_path: Path,
    redis_service: devstack.Service,
    redis_client: object,
    keys: tuple[Path, Path],
    signing_key: Ed25519PrivateKey,
) -> Iterator[Stack]:
    running = start_stack(
        tmp_path / "stack",
        redis_service.address,
        keys[1],
        signing_key,
        NEXTPYTER_CULL_INTERVAL="1",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prom"),
    )
    yield running
    running.close()


def test_metrics_count_launches_culls_checks_and_pulls_across_workers(
    tmp_path: Path, metrics_stack: Stack, redis_service: devstack.Service
) -> None:
    stack = metrics_stack
    client = connect(redis_service.address)
    tokens = ApiTokens(client)
    _, scraper = tokens.create("prometheus", ["metrics"])
    _, reader = tokens.create("reader", ["sessions:read"])
    _, admin = tokens.create("admin", ["admin"])
    url = f"{stack.sidecar_url}/metrics"

    # Unauthorised callers are refused.
    assert requests.get(url, timeout=10).status_code == 401
    assert (
        requests.get(url, headers={"Authorization": "Bearer npt_x"}, timeout=10).status_code == 401
    )
    refused = requests.get(url, headers={"Authorization": f"Bearer {reader}"}, timeout=10)
    assert refused.status_code == 403 and refused.json()["code"] == "scope-missing"

    def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        answer = requests.get(url, headers={"Authorization": f"Bearer {scraper}"}, timeout=10)
        assert answer.status_code == 200, answer.text
        return _samples(answer.text)

    before = scrape()
    # Two launches, then 40 requests through the gateway (each one auth_request check).
    stack.user("mia", {"a.ipynb": "{}"})
    stack.user("max", {"a.ipynb": "{}"})
    cookie, launch = stack.launch("mia")
    assert stack.wait(launch)["state"] == "ready"
    _, second = stack.launch("max")
    assert stack.wait(second)["state"] == "ready"
    for _ in range(40):
        assert stack.get(f"/user/{launch['slug']}/api/status", cookie).status_code == 200
    after = scrape()
    launched = _total(after, "nextpyter_launches_total", outcome="ready", backend="local")
    assert launched - _total(before, "nextpyter_launches_total", outcome="ready") == 2
    checks = _total(after, "nextpyter_authorize_requests_total", status="200")
    assert checks - _total(before, "nextpyter_authorize_requests_total", status="200") >= 40
    assert _total(after, "nextpyter_launch_phase_seconds_count", phase="total") >= 2
    assert _total(after, "nextpyter_servers_running", profile="default") == 2

    # Both workers count: 60 checks at once, on new connections, straight to the sidecar
    # (nginx would keep one connection, to one worker); /metrics adds the two up exactly.
    def check(_: int) -> int:
        return requests.get(
            f"{stack.sidecar_url}/internal/authorize",
            headers={"X-NextPyter-Slug": launch["slug"], "Cookie": cookie},
            timeout=10,
        ).status_code

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(check, range(60)))
    assert set(answers) == {200}, answers
    added = scrape()
    assert (
        _total(added, "nextpyter_authorize_requests_total")
        - _total(after, "nextpyter_authorize_requests_total")
        == 60
    )
    pids = {p.stem.rsplit("_", 1)[-1] for p in (tmp_path / "prom").glob("counter_*.db")}
    assert len(pids) >= 2, pids

    # A cull: the lifetime limit set through the API; the culler stops both servers.
    config = requests.get(
        f"{stack.url}/api/v1/config", headers={"Authorization": f"Bearer {admin}"}, timeout=10
    ).json()
    config["max_lifetime"] = 1
    saved = requests.put(
        f"{stack.url}/api/v1/config",
        json=config,
        headers={"Authorization": f"Bearer {admin}"},
        timeout=10,
    )
    assert saved.ok, saved.text
    wait_until(lambda: not stack.backend.list(), timeout=30)
    # (counted just after each stop)
    wait_until(lambda: _total(scrape(), "nextpyter_culls_total", reason="lifetime") >= 2)
    culled = scrape()
    assert _total(culled, "nextpyter_servers_running") == 0

    # Pulls: a queued job shows in the queue's gauges, and pagletto counts what it did with
    # it (its engine is not there: a transient error, tried again).
    pullqueue.request_pull(client, "registry.example/team/nb:1", "test", request_id="req-metrics-1")
    queued = scrape()
    assert _total(queued, "nextpyter_pull_queue_depth") >= 1
    assert _total(queued, "nextpyter_pull_queue_oldest_seconds") >= 0
    port = devstack.free_port()
    pagletto = devstack.start_pagletto(
        tmp_path / "pagletto",
        redis_service.address,
        f"unix://{tmp_path}/no-engine.sock",
        "metrics-1",
        NEXTPYTER_PULL_METRICS_ADDR=f"127.0.0.1:{port}",
        NEXTPYTER_PULL_RETRIES="0",
    )
    try:

        def pagletto_counts() -> float:
            text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            samples = _samples(text)
            return _total(samples, "pagletto_pulls_total") + _total(
                samples, "pagletto_errors_total"
            )

        assert wait_until(pagletto_counts, timeout=30) >= 1
        log = pagletto.log.read_text()
        assert "req-metrics-1" in log  # the request id, in pagletto's line for the pull
    finally:
        pagletto.stop()
        client.close()
    time.sleep(0)

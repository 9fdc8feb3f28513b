"""Riding out an outage: Redis stopped and restarted during a launch (a sidecar under
gunicorn behind nginx, the local backend, a Redis of the test's own with the append-only
file a deployment has); the runtime failing under a request.

What must hold (docs/architecture.md, "Outages"): only the documented 503s (with
Retry-After, naming what is down); running notebooks answer through the gateway
meanwhile (the cookie check needs no Redis); the culler skips its passes and says so
once; everything resumes without a restart.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devtools import services as devstack
from nextpyter.common.redis import connect
from nextpyter.sidecar.apitokens import ApiTokens
from nextpyter.sidecar.runtime import BackendError
from tests.support.need import require
from tests.support.stack import Stack, start_stack, wait_until


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[devstack.Service]:
    require("redis-server")
    service = devstack.start_redis(tmp_path / "redis", persistent=True)
    yield service
    service.stop()


@pytest.fixture
def outage_stack(
    tmp_path: Path,
    own_redis: devstack.Service,
    keys: tuple[Path, Path],
    signing_key: Ed25519PrivateKey,
) -> Iterator[Stack]:
    running = start_stack(
        tmp_path / "stack", own_redis.address, keys[1], signing_key, NEXTPYTER_CULL_INTERVAL="1"
    )
    yield running
    running.close()


def _restart(service: devstack.Service, workdir: Path) -> devstack.Service:
    return devstack.start_redis(workdir, persistent=True)


def test_redis_away_during_a_launch_is_ridden_out(
    tmp_path: Path, own_redis: devstack.Service, outage_stack: Stack
) -> None:
    stack = outage_stack
    stack.user("ann", {"nb.ipynb": "{}"})
    stack.user("bob", {"nb.ipynb": "{}"})
    cookie, launch = stack.launch("ann")
    assert stack.wait(launch)["state"] == "ready"
    slug = launch["slug"]
    client = connect(own_redis.address)
    _, api_token = ApiTokens(client).create("outage", ["admin"])
    client.close()
    bearer = {"Authorization": f"Bearer {api_token}"}

    # A launch under way when Redis goes.
    answer = requests.post(
        f"{stack.url}/api/v1/launch", json={"token": stack.token("bob")}, timeout=30
    )
    assert answer.status_code == 202
    own_redis.stop()
    try:
        # The running notebook answers through the gateway, again and again.
        for _ in range(5):
            assert stack.get(f"/user/{slug}/api/status", cookie).status_code == 200
        # A launch and an admin call: 503, Retry-After, and what is down.
        refused = requests.post(
            f"{stack.url}/api/v1/launch", json={"token": stack.token("cid")}, timeout=30
        )
        config = requests.get(f"{stack.url}/api/v1/config", headers=bearer, timeout=30)
        for response in (refused, config):
            assert response.status_code == 503, response.text
            assert int(response.headers["Retry-After"]) > 0
            problem = response.json()
            assert problem["code"] == "redis-unavailable" and problem["unavailable"] == "redis"
            assert "Redis" in problem["detail"]
        # Its progress: a 503 naming Redis, or a stream that ends with a message.
        events = requests.get(f"{stack.url}{answer.json()['events']}", timeout=30)
        if events.status_code == 503:
            assert events.json()["code"] == "redis-unavailable" and events.headers["Retry-After"]
        else:
            data = [ln[6:] for ln in events.text.splitlines() if ln.startswith("data: ")]
            assert data and json.loads(data[-1]).get("message"), events.text
        time.sleep(2.5)  # culler passes skipped meanwhile (every second)
    finally:
        restarted = _restart(own_redis, tmp_path / "redis")
    try:
        # Back by itself: a launch, an admin call (the token survived: append-only file).
        wait_until(
            lambda: requests.get(f"{stack.url}/api/v1/config", headers=bearer, timeout=5).ok,
            timeout=20,
        )
        cookie_b, again = stack.launch("bob")
        assert stack.wait(again)["state"] == "ready"
        assert stack.get(f"/user/{slug}/api/status", cookie).status_code == 200
        assert stack.get(f"/user/{again['slug']}/api/status", cookie_b).status_code == 200
        # The culler said it once per worker, and said it was back.
        wait_until(lambda: "culling resumed" in stack.sidecar.log.read_text(), timeout=10)
        log = stack.sidecar.log.read_text()
        skipped = log.count("culling skipped: Redis is unreachable")
        assert 1 <= skipped <= 2, log[-3000:]  # two workers, one line each
        assert "Traceback" not in log, log[-3000:]
    finally:
        restarted.stop()


class _DownBackend:
    """A backend whose engine is away: every call fails as an unreachable engine does."""

    name = "docker"
    uses_images = False

    def __getattr__(self, _name: str) -> Any:
        def fail(*_args: Any, **_kwargs: Any) -> Any:
            raise BackendError("Cannot reach the Docker engine at unix:///run/docker.sock.")

        return fail


def test_the_runtime_away_is_a_503_naming_it(
    make_app: Any, redis_client: Any, signing_key: Ed25519PrivateKey, settings: Any
) -> None:

    app = make_app()
    svc = app.extensions["nextpyter"]
    real = svc.backend
    svc.backend = svc.launcher.backend = _DownBackend()
    try:
        _runtime_down(app, svc, signing_key, settings)
    finally:
        svc.backend = svc.launcher.backend = real  # for the fixture's clean-up


def _runtime_down(app: Any, svc: Any, signing_key: Ed25519PrivateKey, settings: Any) -> None:
    from nextpyter.sidecar.signing import mint_launch_token

    devstack.make_user(settings.data_dir, "ann")
    _, token = svc.api_tokens.create("t", ["admin"])
    client = app.test_client()
    sessions = client.get("/api/v1/sessions", headers={"Authorization": f"Bearer {token}"})
    launch_token = mint_launch_token(
        signing_key, issuer=settings.token_issuer, audience="nextpyter-sidecar", user_id="ann"
    )
    launch = client.post("/api/v1/launch", json={"token": launch_token})
    for response in (sessions, launch):
        assert response.status_code == 503, response.get_data(as_text=True)
        assert response.headers["Retry-After"] == "5"
        problem = json.loads(response.get_data(as_text=True))
        assert problem["code"] == "runtime-unavailable" and problem["unavailable"] == "docker"
        assert problem["detail"].startswith("The Docker engine did not do what was asked")

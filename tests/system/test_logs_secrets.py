"""No secret in any log, on the real things: the sidecar (gunicorn, docker backend, JSON
logs at DEBUG) behind the gateway (nginx), a pagletto worker pulling from a registry that
wants credentials, real Redis, the tests' Docker engine.

A full launch with a pull: the launch token, the session cookie, an API token, the secret
key, the server's upstream secret, the registry's password and its auth string must be
in no log (the sidecar's, gunicorn's, the gateway's, pagletto's); the launch's request id
must be in pagletto's line for the pull it caused.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import docker
import pytest
import redis as redis_lib
import requests

from devtools import services as devstack
from devtools.registry import Registry, pushed_image, start_registry
from devtools.services import CACHE
from nextpyter import pullqueue
from nextpyter.common.keys import pull_state
from nextpyter.sidecar.apitokens import ApiTokens
from nextpyter.sidecar.dynconfig import CONFIG_KEY
from nextpyter.sidecar.sessions import upstream_secret
from tests.support.docker import TEST_REPOSITORY, docker_env, make_user
from tests.support.stack import Stack, launch_events, start_stack


@pytest.fixture
def rclient(redis_service: Any) -> Iterator[redis_lib.Redis]:
    client = redis_lib.Redis.from_url(redis_service.address, decode_responses=True)

    def clean() -> None:
        keys = [pullqueue.STREAM, pullqueue.DEAD_STREAM, pullqueue.WORKERS, CONFIG_KEY]
        keys += list(client.scan_iter(pull_state("*")))
        client.delete(*keys)

    clean()
    yield client
    clean()
    client.close()


def test_a_launch_with_a_pull_logs_no_secret_and_carries_its_request_id(
    workdir: Path,
    redis_service: Any,
    keys: tuple[Path, Path],
    signing_key: Any,
    docker_engine: tuple[Any, str],
    pull_engine_client: docker.DockerClient,
    registry: Registry,
    rclient: redis_lib.Redis,
) -> None:
    engine, base = docker_engine
    here = workdir / f"secrets-{uuid.uuid4().hex[:6]}"
    here.mkdir()
    password = f"pw-{uuid.uuid4().hex}"
    htpasswd = here / "htpasswd"
    htpasswd.write_text(f"puller:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(5)).decode()}\n")
    private = start_registry(
        here / "private-registry", engine.netns.host_ip, CACHE / "registry", htpasswd=htpasswd
    )
    stack: Stack | None = None
    worker: devstack.Service | None = None
    try:
        pushed = pushed_image(
            pull_engine_client,
            base,
            f"{registry.address}/{TEST_REPOSITORY}/s{uuid.uuid4().hex[:10]}:v1",
            4,
        )[0]
        image = pushed.replace(registry.address, private.address)
        auth = base64.b64encode(f"puller:{password}".encode()).decode()
        auth_file = here / "auth.json"
        auth_file.write_text(json.dumps({"auths": {private.address: {"auth": auth}}}))
        logs = {"NEXTPYTER_LOG_FORMAT": "json", "NEXTPYTER_LOG_LEVEL": "DEBUG"}
        stack = start_stack(
            here / "stack",
            redis_service.address,
            keys[1],
            signing_key,
            **docker_env(image, engine.url, NEXTPYTER_PULL_TIMEOUT="120", **logs),
        )
        rclient.set(
            CONFIG_KEY,
            json.dumps(
                {"profiles": {"default": {}}, "allowed_images": [image], "default_image": image}
            ),
        )
        worker = devstack.start_pagletto(
            here / "pagletto",
            redis_service.address,
            engine.url,
            f"secrets-{uuid.uuid4().hex[:6]}",
            NEXTPYTER_REGISTRY_AUTH=str(auth_file),
            **logs,
        )
        make_user(stack, "sia")
        token = stack.token("sia")
        request_id = "req-" + secrets.token_hex(8)
        answer = requests.post(
            f"{stack.url}/api/v1/launch",
            json={"token": token},
            headers={"X-Request-Id": request_id},
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        cookie = answer.headers["Set-Cookie"].split(";")[0]
        launch = answer.json()
        events = launch_events(f"{stack.url}{launch['events']}", 240)
        assert events[-1]["state"] == "ready", events[-1]
        assert any(e["state"] == "pulling" for e in events)  # it did pull
        assert stack.get(f"/user/{launch['slug']}/api/status", cookie).status_code == 200
        _, api_token = ApiTokens(rclient).create("secrets", ["admin"])
        listed = requests.get(
            f"{stack.url}/api/v1/images",
            headers={"Authorization": f"Bearer {api_token}"},
            timeout=30,
        )
        assert listed.ok, listed.text
        stack.stop_all()
        worker.stop()
        stack.gateway.stop()
        stack.sidecar.stop()

        # The request id went from the launch to pagletto's line for the pull.
        pulled = [json.loads(ln) for ln in worker.log.read_text().splitlines() if ln.strip()]
        assert any(
            r["request_id"] == request_id and r["message"].startswith(f"pulling {image}")
            for r in pulled
        ), pulled
        sidecar = [json.loads(ln) for ln in stack.sidecar.log.read_text().splitlines() if ln]
        assert any(r["request_id"] == request_id for r in sidecar)

        secret_key = stack.env["NEXTPYTER_SECRET_KEY"]
        forbidden = {
            "launch token": token,
            "session cookie": cookie.split("=", 1)[1],
            "API token": api_token,
            "secret key": secret_key,
            "upstream secret": upstream_secret(secret_key, launch["slug"]),
            "registry password": password,
            "registry auth": auth,
        }
        files = [
            p for p in here.rglob("*") if p.is_file() and ("log" in p.name or p.suffix == ".out")
        ]
        assert worker.log in files and stack.sidecar.log in files
        for path in files:
            if path.is_relative_to(here / "private-registry"):
                continue  # the registry's own log (not NextPyter's) logs its users by name
            text = path.read_text(errors="replace")
            for what, value in forbidden.items():
                assert value not in text, f"the {what} is in {path}"
    finally:
        if worker is not None:
            worker.stop()
        if stack is not None:
            stack.close()
        private.stop()

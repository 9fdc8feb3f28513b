"""JSON log lines (NEXTPYTER_LOG_FORMAT=json) and secrets: a full launch on the local
backend (no pull: tests/system/test_logs_secrets.py has the docker variant with a pull),
at DEBUG, with a password on Redis; then every log the stack wrote (the sidecar's,
gunicorn's, the gateway's, each Jupyter server's) is searched for each secret."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devtools import services as devstack
from nextpyter.common.jsonlog import redact
from nextpyter.sidecar.apitokens import ApiTokens
from nextpyter.sidecar.sessions import upstream_secret
from tests.support.need import require
from tests.support.stack import Stack, start_stack

PASSWORD = "redis-pw-" + secrets.token_hex(12)


@pytest.fixture
def locked_redis(tmp_path: Path) -> Iterator[devstack.Service]:
    require("redis-server")
    service = devstack.start_redis(tmp_path / "redis")
    client = redis_lib.Redis.from_url(service.address)
    client.config_set("requirepass", PASSWORD)
    client.close()
    yield service
    service.stop()


@pytest.fixture
def json_stack(
    tmp_path: Path,
    locked_redis: devstack.Service,
    keys: tuple[Path, Path],
    signing_key: Ed25519PrivateKey,
) -> Iterator[Stack]:
    (tmp_path / "redis-password").write_text(PASSWORD + "\n")
    running = start_stack(
        tmp_path / "stack",
        locked_redis.address,
        keys[1],
        signing_key,
        NEXTPYTER_LOG_FORMAT="json",
        NEXTPYTER_LOG_LEVEL="DEBUG",
        NEXTPYTER_REDIS_PASSWORD_FILE=str(tmp_path / "redis-password"),
        NEXTPYTER_CULL_INTERVAL="1",
    )
    yield running
    running.close()


def test_json_lines_carry_the_request_id_and_no_log_holds_a_secret(
    tmp_path: Path, json_stack: Stack, locked_redis: devstack.Service
) -> None:
    stack = json_stack
    stack.user("jay", {"a.ipynb": "{}"})
    token = stack.token("jay", "a.ipynb")
    request_id = "req-" + secrets.token_hex(8)
    answer = requests.post(
        f"{stack.url}/api/v1/launch",
        json={"token": token},
        headers={"X-Request-Id": request_id},
        timeout=30,
    )
    assert answer.status_code == 202 and answer.headers["X-Request-Id"] == request_id
    cookie = answer.headers["Set-Cookie"].split(";")[0]
    assert stack.wait(answer.json())["state"] == "ready"
    slug = answer.json()["slug"]
    assert stack.get(f"/user/{slug}/api/status", cookie).status_code == 200
    # An API call with an API token, and refused calls that carry secrets.
    client = redis_lib.Redis.from_url(locked_redis.address, password=PASSWORD)
    _, api_token = ApiTokens(client).create("logs", ["admin"])
    client.close()
    assert requests.get(
        f"{stack.url}/api/v1/sessions", headers={"Authorization": f"Bearer {api_token}"}, timeout=10
    ).ok
    replay = requests.post(f"{stack.url}/api/v1/launch", json={"token": token}, timeout=10)
    assert replay.status_code in (401, 409), replay.text  # a token is used once
    bad = requests.get(
        f"{stack.url}/api/v1/sessions",
        headers={"Authorization": f"Bearer {api_token[:-4]}abcd"},
        timeout=10,
    )
    assert bad.status_code == 401
    assert stack.get(f"/user/{slug}/lab", cookie).status_code == 200
    stack.stop_all()

    # Every line of the sidecar's log is one JSON object with the fields, and the
    # launch's lines (the request's and the launch thread's) carry its request id.
    lines = [ln for ln in stack.sidecar.log.read_text().splitlines() if ln.strip()]
    records = [json.loads(ln) for ln in lines]
    for record in records:
        assert {"time", "level", "logger", "message", "request_id", "pid"} <= record.keys()
    mine = [r for r in records if r["request_id"] == request_id]
    assert any(r["message"] == "launch of jay: ready" for r in mine), mine

    # No secret in any log: the launch token, the cookie, the API token, the secret key,
    # the server's upstream secret (and so its Jupyter token), Redis's password.
    secret_key = stack.env["NEXTPYTER_SECRET_KEY"]
    found = {
        "launch token": token,
        "session cookie": cookie.split("=", 1)[1],
        "API token": api_token,
        "secret key": secret_key,
        "upstream secret": upstream_secret(secret_key, slug),
        "Redis password": PASSWORD,
    }
    logs = [
        p for p in tmp_path.rglob("*") if p.is_file() and ("log" in p.name or p.suffix == ".out")
    ]
    assert stack.sidecar.log in logs and len(logs) >= 2, logs
    for path in logs:
        text = path.read_text(errors="replace")
        for what, value in found.items():
            assert value not in text, f"the {what} is in {path}"


def test_redaction_scrubs_what_looks_like_a_secret() -> None:
    jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    text = redact(
        f"token={jwt} Authorization: Bearer npt_abcdefabcdef_{'x' * 43} "
        "redis://:hunter2@redis:6379/0 nextpyter_session=abc.def "
        '{"auth": "cHVsbGVyOnB3"} password=pw1'
    )
    for secret in (jwt, "npt_abcdefabcdef_", "hunter2", "abc.def", "cHVsbGVyOnB3", "pw1"):
        assert secret not in text, text

"""Fixtures: real Redis, real gunicorn sidecar, real nginx gateway, real Jupyter servers.

Each service is started on a private unix socket or free loopback port under a
temporary directory and stopped by its pid. Under CI=true a missing component
fails the test instead of skipping it.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

import pytest
import redis as redis_lib
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devtools import services as devstack
from nextpyter.sidecar.config import Settings, load_settings
from nextpyter.sidecar.runtime.local import LocalBackend
from nextpyter.sidecar.signing import load_key, mint_launch_token

CI = os.environ.get("CI", "").lower() == "true"
EMPTY_NOTEBOOK = json.dumps(
    {
        "cells": [],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
)


def unavailable(why: str) -> NoReturn:
    """Something a test needs is missing: skip, but fail under CI (nothing may skip there)."""
    if CI:
        pytest.fail(why)
    pytest.skip(why)


def require_root(why: str) -> None:
    if os.geteuid() != 0:
        unavailable(why)


def require(binary: str) -> str:
    """The path of ``binary``; skip without it, but fail under CI (nothing may skip there)."""
    path = shutil.which(binary) or next(
        (p for p in (f"/usr/sbin/{binary}", f"/usr/bin/{binary}") if Path(p).exists()), None
    )
    if path is None:
        unavailable(f"{binary} is not installed; run `make deps` (as root)")
    return path


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nextpyter")


@pytest.fixture(scope="session")
def redis_service(workdir: Path) -> Iterator[devstack.Service]:
    require("redis-server")
    service = devstack.start_redis(workdir / "redis")
    yield service
    service.stop()


@pytest.fixture
def redis_client(redis_service: devstack.Service) -> Iterator[redis_lib.Redis]:
    client = redis_lib.Redis.from_url(redis_service.address, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def keys(workdir: Path) -> tuple[Path, Path]:
    return devstack.make_keys(workdir)


@pytest.fixture(scope="session")
def signing_key(keys: tuple[Path, Path]) -> Ed25519PrivateKey:
    return load_key(keys[0])


@pytest.fixture
def settings(tmp_path: Path, redis_service: devstack.Service, keys: tuple[Path, Path]) -> Settings:
    data = tmp_path / "data"
    data.mkdir()
    env = devstack.sidecar_env(
        tmp_path, redis_service.address, data, keys[1], NEXTPYTER_CULL_INTERVAL="0"
    )
    return load_settings(env)


@pytest.fixture
def make_app(settings: Settings, redis_client: redis_lib.Redis) -> Iterator[Any]:
    """Make sidecar apps in-process (``make_app(max_streams=0)`` changes settings); the
    servers their launches start are stopped at the end."""
    from nextpyter.sidecar.app import create_app

    made = []

    def make(**changes: Any) -> Any:
        application = create_app(replace(settings, **changes))
        application.config["TESTING"] = True
        made.append(application)
        return application

    yield make
    # A launch thread may still be starting a server: let it finish, then stop them all.
    for thread in threading.enumerate():
        if thread.name.startswith("launch-"):
            thread.join(timeout=90)
    for application in made:
        backend = application.extensions["nextpyter"].backend
        for server in backend.list():
            backend.stop(server.slug)


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@dataclass
class Stack:
    """A running sidecar (gunicorn) behind the gateway (nginx), on real Redis."""

    workdir: Path
    env: dict[str, str]
    data_dir: Path
    sidecar: devstack.Service
    gateway: devstack.Service
    key: Ed25519PrivateKey
    _docker_backend: Any = None

    @property
    def url(self) -> str:
        return f"http://{self.gateway.address}"

    @property
    def sidecar_url(self) -> str:
        return f"http://{self.sidecar.address}"

    @property
    def backend(self) -> Any:
        """The stack's backend, as a second sidecar would see it (a LocalBackend, or a
        DockerBackend on the stack's engine)."""
        if self.env.get("NEXTPYTER_BACKEND") == "docker":
            if self._docker_backend is None:
                from nextpyter.sidecar.runtime.docker import DockerBackend, connect_engine

                settings = load_settings(self.env).docker
                assert settings is not None
                # As the sidecar finds its engine: DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH.
                client = connect_engine(self.env)
                self._docker_backend = DockerBackend(
                    settings, Path(self.env["NEXTPYTER_RUNTIME_DIR"]), client=client
                )
            return self._docker_backend
        return LocalBackend(Path(self.env["NEXTPYTER_RUNTIME_DIR"]))

    def user(self, user_id: str, files: dict[str, str] | None = None) -> Path:
        return devstack.make_user(self.data_dir, user_id, files)

    def token(self, user_id: str, path: str = "", **claims: Any) -> str:
        return mint_launch_token(
            self.key,
            issuer=devstack.ISSUER,
            audience="nextpyter-sidecar",
            user_id=user_id,
            path=path,
            **claims,
        )

    def launch(self, user_id: str, path: str = "") -> tuple[str, dict[str, Any]]:
        """POST a launch token (JSON); return the session cookie and the launch."""
        response = requests.post(
            f"{self.url}/api/v1/launch", json={"token": self.token(user_id, path)}, timeout=30
        )
        assert response.status_code == 202, response.text
        cookie = response.headers["Set-Cookie"].split(";")[0]
        return cookie, response.json()

    def wait(self, launch: dict[str, Any], timeout: float = 90) -> dict[str, Any]:
        """Follow the launch's server-sent events to its last event, reconnecting with
        Last-Event-ID when the stream is cut (a sidecar reload), as EventSource does."""
        last: dict[str, Any] = {}
        last_id = ""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            headers = {"Last-Event-ID": last_id} if last_id else {}
            try:
                with requests.get(
                    f"{self.url}{launch['events']}", stream=True, timeout=timeout, headers=headers
                ) as r:
                    for line in r.iter_lines(decode_unicode=True):
                        if line.startswith("id: "):
                            last_id = line[4:]
                        elif line.startswith("data: "):
                            last = json.loads(line[6:])
                            if last.get("state") in {"ready", "failed"}:
                                return last
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                time.sleep(0.2)
        return last

    def get(
        self,
        path: str,
        cookie: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        headers = {**({"Cookie": cookie} if cookie else {}), **(headers or {})}
        return requests.get(f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def jupyter_headers(self, slug: str, cookie: str) -> dict[str, str]:
        """Headers for a state-changing request to a Jupyter server, as JupyterLab sends
        them: the session cookie plus Jupyter's ``_xsrf`` cookie and header."""
        page = self.get(f"/user/{slug}/lab", cookie)
        xsrf = page.cookies.get("_xsrf")
        assert page.status_code == 200 and xsrf, "JupyterLab's page set no _xsrf cookie"
        return {"Cookie": f"{cookie}; _xsrf={xsrf}", "X-XSRFToken": xsrf}

    def stop_all(self) -> None:
        backend = self.backend
        for server in backend.list():
            backend.stop(server.slug)

    def close(self) -> None:
        """Stop the servers, the gateway and the sidecar (by pid)."""
        self.stop_all()
        self.gateway.stop()
        self.sidecar.stop()


def start_stack(
    workdir: Path, redis_address: str, jwks: Path, key: Ed25519PrivateKey, **env_overrides: str
) -> Stack:
    require("nginx")
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    env = devstack.sidecar_env(workdir, redis_address, data, jwks, **env_overrides)
    sidecar = devstack.start_sidecar(workdir, env)
    try:
        gateway = devstack.start_gateway(workdir, sidecar.address)
    except Exception:
        sidecar.stop()
        raise
    return Stack(workdir, env, data, sidecar, gateway, key)


@pytest.fixture(scope="session")
def stack(
    workdir: Path,
    redis_service: devstack.Service,
    keys: tuple[Path, Path],
    signing_key: Ed25519PrivateKey,
) -> Iterator[Stack]:
    running = start_stack(workdir / "stack", redis_service.address, keys[1], signing_key)
    yield running
    running.close()


@pytest.fixture
def failing_stack(
    workdir: Path,
    redis_service: devstack.Service,
    keys: tuple[Path, Path],
    signing_key: Ed25519PrivateKey,
) -> Iterator[Stack]:
    """A stack whose Jupyter servers die at start, with a message in their log."""
    broken = workdir / "broken-python"
    broken.write_text("#!/bin/sh\necho 'ModuleNotFoundError: no jupyter_server here' >&2\nexit 3\n")
    broken.chmod(0o755)
    running = start_stack(
        workdir / "failing",
        redis_service.address,
        keys[1],
        signing_key,
        NEXTPYTER_LOCAL_PYTHON=str(broken),
    )
    yield running
    running.close()


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[tuple[Any, str]]:
    """A private Docker engine (Debian's dockerd, on its own unix socket and data root, in a
    network namespace of its own with its firewall on and NextPyter's egress rules applied,
    and on TCP with TLS and client certificates, as Docker-in-Docker serves) and the
    Jupyter image built on it from debootstrap and pip wheels (once per machine)."""
    require("dockerd")
    require("debootstrap")
    require_root("the Docker tests start their own dockerd, which needs root")
    from devtools import engine as devdocker

    engine = devdocker.start_engine(tls_port=devstack.free_port(), isolated=True)
    try:
        client = engine.client()
        # What a killed run left behind (the engine is ours alone): containers, networks.
        for container in client.containers.list(all=True):
            container.remove(force=True)
        client.networks.prune()
        image = devdocker.jupyter_image(client)
        yield engine, image
        for container in client.containers.list(all=True):
            container.remove(force=True)
        client.close()
    finally:
        engine.stop()


def launch_events(url: str, timeout: float = 180) -> list[dict[str, Any]]:
    """Every progress event of a launch (its server-sent events at ``url``), to its last
    (ready or failed)."""
    seen: list[dict[str, Any]] = []
    with requests.get(url, stream=True, timeout=timeout) as answer:
        for line in answer.iter_lines(decode_unicode=True):
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
                if seen[-1].get("state") in {"ready", "failed"}:
                    break
    return seen


def wait_until(predicate: Any, timeout: float = 30, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")

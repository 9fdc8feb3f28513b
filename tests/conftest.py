"""Fixtures: real Redis, real gunicorn sidecar, real nginx gateway, real Jupyter servers,
a private Docker engine.

Each service is started on a private unix socket or free loopback port under a
temporary directory and stopped by its pid. Under CI=true a missing component
fails the test instead of skipping it. What tests share besides fixtures lives in
tests/support/; no test module imports another.

Tests are laid out by layer, and marked by their folder (``-m unit``, ``-m integration``,
``-m system``): unit (no process, socket or Redis), integration (real Redis, gunicorn,
nginx, local Jupyter, PHP), system (a private dockerd, a registry, compose, Chromium).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devtools import services as devstack
from nextpyter.sidecar.config import Settings, load_settings
from nextpyter.sidecar.signing import load_key
from tests.support.need import require, require_root
from tests.support.stack import Stack, start_stack


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
    from devtools.engine import start_engine
    from devtools.images import jupyter_image

    engine = start_engine(tls_port=devstack.free_port(), isolated=True)
    try:
        client = engine.client()
        # What a killed run left behind (the engine is ours alone): containers, networks.
        for container in client.containers.list(all=True):
            container.remove(force=True)
        client.networks.prune()
        image = jupyter_image(client)
        yield engine, image
        for container in client.containers.list(all=True):
            container.remove(force=True)
        client.close()
    finally:
        engine.stop()


@pytest.fixture
def kube_api(tmp_path: Path) -> Iterator[Any]:
    """The Kubernetes API emulator (a test double, tests/support/kubeapi.py) on a loopback
    port: ``.url``, ``.client_configuration()``, ``.kubeconfig(path)``, ``.calls``, the test
    controls, ``.start_kubelet(...)``; stopped at the end with every server it started."""
    from tests.support.kubeapi import KubeAPI

    api = KubeAPI(tmp_path / "kubeapi").start()
    yield api
    api.stop()


LAYERS = ("unit", "integration", "system")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).parent
    for item in items:
        layer = item.path.relative_to(root).parts[0]
        if layer not in LAYERS:
            raise pytest.UsageError(
                f"{item.nodeid}: a test belongs in tests/unit, integration or system"
            )
        item.add_marker(layer)

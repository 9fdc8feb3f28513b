"""Fixtures the pull tests share: the engine's client, which removes what the tests pulled,
and a registry with the Jupyter image pushed into it (one per test module)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from devtools.registry import Registry, push, start_registry
from devtools.services import CACHE
from tests.support.docker import TEST_REPOSITORY


@pytest.fixture(scope="module")
def pull_engine_client(docker_engine: tuple[Any, str]) -> Iterator[docker.DockerClient]:
    client = docker_engine[0].client()
    yield client
    # What the tests pulled (from this run's registry, or a killed run's), and any server
    # still running one.
    for container in client.containers.list(all=True):
        if f"/{TEST_REPOSITORY}/" in container.attrs["Config"]["Image"]:
            container.remove(force=True)
    for image in client.images.list():
        if any(f"/{TEST_REPOSITORY}/" in tag for tag in image.tags):
            client.images.remove(image.id, force=True)
    client.close()


@pytest.fixture(scope="module")
def registry(
    request: pytest.FixtureRequest,
    workdir: Path,
    docker_engine: tuple[Any, str],
    pull_engine_client: docker.DockerClient,
) -> Iterator[Registry]:
    """A registry on this machine's end of the engine's namespace, storing in the cache
    (the Jupyter layers are pushed once per machine; the tests' own images are deleted,
    and their blobs collected, at the end)."""
    engine, image = docker_engine
    storage = CACHE / "registry"
    folder = workdir / f"registry-{request.module.__name__.rpartition('.')[2]}"
    running = start_registry(folder, engine.netns.host_ip, storage)
    push(pull_engine_client, image, f"{running.address}/{image}")
    yield running
    running.stop()
    pull_engine_client.images.remove(f"{running.address}/{image}")  # the tag, not the image
    shutil.rmtree(storage / "docker/registry/v2/repositories" / TEST_REPOSITORY, ignore_errors=True)
    running.collect_garbage()

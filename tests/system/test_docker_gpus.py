"""GPU bookkeeping on the Docker engine, without a GPU: the container carries the devices
it was assigned in its labels, and a restarted sidecar (a new backend, Redis's record
gone) rebuilds the assignment from the running containers and refuses a second user.

The engine has no GPU, so the device request itself is dropped from the spec here (the
engine would refuse it); the label and everything else are as built. Not run by the GPU
engineer (one private engine): run with the Docker tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import redis as redis_lib

from nextpyter.common import keys
from nextpyter.sidecar.config import DockerSettings
from nextpyter.sidecar.dynconfig import Profile, RuntimeConfig
from nextpyter.sidecar.gpus import Gpus
from nextpyter.sidecar.problems import Problem
from nextpyter.sidecar.runtime import ServerSpec
from nextpyter.sidecar.runtime.docker import DockerBackend
from nextpyter.sidecar.runtime.docker_spec import LABEL, build_container_spec, container_name
from tests.support.docker import UID

CONFIG = RuntimeConfig(profiles={"gpu": Profile(gpu=1)}, default_profile="gpu")


@pytest.fixture
def engine_client(docker_engine: tuple[Any, str]) -> Iterator[docker.DockerClient]:
    client = docker_engine[0].client()
    yield client
    client.close()


def test_a_restarted_sidecar_rebuilds_the_gpu_assignment_from_the_containers(
    workdir: Path,
    docker_engine: tuple[Any, str],
    engine_client: docker.DockerClient,
    redis_client: redis_lib.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def without_device_request(*args: Any, **kwargs: Any) -> dict[str, Any]:
        spec = build_container_spec(*args, **kwargs)
        assert spec["device_requests"][0].device_ids == ["0"]
        del spec["device_requests"]  # no GPU on the test engine
        return spec

    monkeypatch.setattr(
        "nextpyter.sidecar.runtime.docker.build_container_spec", without_device_request
    )
    _, image = docker_engine
    files = workdir / "gpus" / "gia" / "files"
    files.mkdir(parents=True)
    os.chown(files, UID, UID)
    run = workdir / "gpus-run"
    backend = DockerBackend(DockerSettings(image=image), run, client=engine_client)
    gpus = Gpus(redis_client, ["0"])
    never = lambda slug: False  # noqa: E731 - no launch under way
    chosen = gpus.assign(backend, CONFIG, "gia", 1, False, never)
    assert chosen == ("0",)
    spec = ServerSpec("gia", "gia", "gpu", files, "s" * 40, image=image, gpu=1, gpu_ids=chosen)
    backend.start(spec)
    try:
        backend.wait_ready("gia", 60)
        labels = engine_client.containers.get(container_name("gia")).labels
        assert labels[LABEL + "gpus"] == "0"
        # The sidecar restarts; Redis has lost the record.
        redis_client.delete(keys.GPUS)
        restarted = DockerBackend(DockerSettings(image=image), run, client=engine_client)
        assert [s.gpus for s in restarted.list()] == [("0",)]
        rebuilt = Gpus(redis_client, ["0"]).rebuild(restarted, CONFIG, never)
        assert {slug: h.gpus for slug, h in rebuilt.items()} == {"gia": ("0",)}
        with pytest.raises(Problem) as refused:
            Gpus(redis_client, ["0"]).assign(restarted, CONFIG, "ben", 1, False, never)
        assert refused.value.detail == "The GPU is in use; try again later or pick a CPU profile."
    finally:
        backend.stop("gia")
        redis_client.delete(keys.GPUS)

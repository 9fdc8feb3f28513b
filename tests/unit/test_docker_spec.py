"""The docker backend's pure parts: the container specification and its settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker.types import DeviceRequest, LogConfig, Mount

from nextpyter.common.env import ConfigError
from nextpyter.sidecar import dynconfig
from nextpyter.sidecar.config import DockerSettings, load_settings
from nextpyter.sidecar.problems import Problem
from nextpyter.sidecar.runtime import ServerSpec
from nextpyter.sidecar.runtime.docker_spec import build_container_spec, container_name
from tests.support.config import env as settings_env

SPEC = ServerSpec(
    user_id="Anna O'Neil",
    slug="anna-o-neil-3f2a1b",
    profile="large",
    files_dir=Path("/srv/nextcloud/data/Anna O'Neil/files"),
    secret="s" * 43,
    image="registry.example.com/jupyter/scipy:2026.11",
    cpu=1.5,
    memory="4g",
    pids=2048,
)
RUN = Path("/run/nextpyter/docker/servers/anna-o-neil-3f2a1b")
SHARE = Path("/run/nextpyter/docker/share")


def test_the_whole_container_spec() -> None:
    settings = DockerSettings(image="unused")
    assert build_container_spec(SPEC, settings, RUN, SHARE, "0123456789ab", 1795000000.25) == {
        "image": "registry.example.com/jupyter/scipy:2026.11",
        "command": [
            "jupyter",
            "server",
            "--config=/opt/nextpyter/nextpyter/jupyter/config.py",
            "--ServerApp.sock=/run/nextpyter/jupyter.sock",
            "--ServerApp.sock_mode=0666",
            "--ServerApp.base_url=/user/anna-o-neil-3f2a1b/",
            "--ServerApp.root_dir=/home/jovyan/work",
        ],
        "name": "nextpyter-anna-o-neil-3f2a1b",
        "hostname": "notebook",
        "labels": {
            "org.nextpyter.installation": "0123456789ab",
            "org.nextpyter.user": "Anna O'Neil",
            "org.nextpyter.slug": "anna-o-neil-3f2a1b",
            "org.nextpyter.profile": "large",
            "org.nextpyter.image": "registry.example.com/jupyter/scipy:2026.11",
            "org.nextpyter.created": "1795000000.250",
        },
        "environment": {
            "HOME": "/home/jovyan",
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": "/opt/nextpyter",
            "JUPYTER_RUNTIME_DIR": "/tmp/jupyter-runtime",
            "_NEXTPYTER_GATEWAY_SECRET_FILE": "/run/nextpyter/gateway-secret",
            "_NEXTPYTER_USER_ID": "Anna O'Neil",
        },
        "user": "33:33",
        "working_dir": "/home/jovyan/work",
        "detach": True,
        "init": True,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "read_only": True,
        "tmpfs": {
            "/tmp": "size=1g,mode=1777",
            "/home/jovyan": "size=1g,uid=33,gid=33,mode=0700",
        },
        "mounts": [
            Mount(
                "/home/jovyan/work",
                "/srv/nextcloud/data/Anna O'Neil/files",
                type="bind",
                propagation="rprivate",
            ),
            Mount("/run/nextpyter", str(RUN), type="bind", propagation="rprivate"),
            Mount("/opt/nextpyter", str(SHARE), type="bind", read_only=True),
        ],
        "ipc_mode": "private",
        "mem_limit": "4g",
        "memswap_limit": "4g",
        "nano_cpus": 1_500_000_000,
        "pids_limit": 2048,
        "network_mode": "nextpyter-users",
        "log_config": LogConfig(type="json-file", config={"max-size": "1m", "max-file": "2"}),
    }


def test_spec_follows_the_settings() -> None:
    settings = DockerSettings(
        image="x",
        uid=1000,
        gid=100,
        workdir="/srv/notebooks/work",
        outbound=False,
        scratch_size="256m",
    )
    spec = build_container_spec(SPEC, settings, RUN, SHARE, "i", 0.0)
    assert spec["user"] == "1000:100"
    assert spec["network_mode"] == "none"
    assert spec["working_dir"] == "/srv/notebooks/work"
    assert spec["mounts"][0]["Target"] == "/srv/notebooks/work"
    assert spec["environment"]["HOME"] == "/srv/notebooks"
    assert spec["tmpfs"] == {
        "/tmp": "size=256m,mode=1777",
        "/srv/notebooks": "size=256m,uid=1000,gid=100,mode=0700",
    }
    assert "device_requests" not in spec


def test_gpus_are_requested_from_the_engine() -> None:
    gpu_spec = ServerSpec(**{**SPEC.__dict__, "gpu": 2})
    spec = build_container_spec(gpu_spec, DockerSettings(image="x"), RUN, SHARE, "i", 0.0)
    assert spec["device_requests"] == [DeviceRequest(count=2, capabilities=[["gpu"]])]


def test_names_come_from_the_slug_only() -> None:
    assert container_name("bob") == "nextpyter-bob"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return settings_env(tmp_path, **{"NEXTPYTER_BACKEND": "docker", **extra})


def test_docker_settings(tmp_path: Path) -> None:
    settings = load_settings(
        _env(
            tmp_path,
            NEXTPYTER_DOCKER_IMAGE="jupyter/scipy-notebook:2026-11",
            NEXTPYTER_DOCKER_UID="1000",
            NEXTPYTER_DOCKER_OUTBOUND="false",
        )
    )
    assert settings.docker == DockerSettings(
        image="jupyter/scipy-notebook:2026-11", uid=1000, outbound=False
    )
    assert load_settings(_env(tmp_path, NEXTPYTER_BACKEND="local")).docker is None


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DOCKER_IMAGE", "", "NEXTPYTER_DOCKER_IMAGE is required"),
        ("DOCKER_IMAGE", "Bad Image", "is not an image reference"),
        ("DOCKER_UID", "0", "out of range"),
        ("DOCKER_GID", "-5", "out of range"),
        ("DOCKER_WORKDIR", "work", "absolute path"),
        ("DOCKER_WORKDIR", "/work", "two levels"),
        ("DOCKER_WORKDIR", "/home/../etc", "two levels"),
        ("DOCKER_WORKDIR", "/tmp/work", "inside /tmp"),
        ("DOCKER_WORKDIR", "/etc/work", "inside /etc"),
        ("DOCKER_WORKDIR", "/run/nextpyter/work", "inside /run"),
        ("DOCKER_WORKDIR", "/opt/nextpyter/work", "NextPyter uses"),
        ("DOCKER_NETWORK", "host", "not host"),
        ("DOCKER_NETWORK", "bad name", "network of NextPyter"),
        ("DOCKER_SCRATCH_SIZE", "lots", "512m"),
        ("DOCKER_OUTBOUND", "maybe", "not a boolean"),
        ("BACKEND", "podman", "known: local, docker"),
    ],
)
def test_bad_docker_settings_name_the_variable(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    env = _env(tmp_path, NEXTPYTER_DOCKER_IMAGE="nextpyter/jupyter:1")
    env[f"NEXTPYTER_{name}"] = value
    with pytest.raises(ConfigError) as error:
        load_settings(env)
    assert message in str(error.value)
    assert f"NEXTPYTER_{name}" in str(error.value)


def test_profile_pids_limit() -> None:
    body = {"profiles": {"small": {"cpu": 1, "memory": "1g", "pids": 256}}}
    assert dynconfig.parse(body).profiles["small"].pids == 256
    assert dynconfig.parse({"profiles": {"d": {}}}).profiles["d"].pids == 1024
    for bad in (0, 63, True, "512", 2_000_000):
        with pytest.raises(Problem) as error:
            dynconfig.parse({"profiles": {"small": {"pids": bad}}})
        assert "pids" in error.value.detail

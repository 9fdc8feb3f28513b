"""Debian's ``docker-registry`` on this machine's end of the engine's namespace (plain HTTP,
which the engine accepts for 10.213.0.0/16), and pushing images into it, for pull tests."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

from . import services as devstack
from .services import DevDockerError


# -- a registry ------------------------------------------------------------------------
@dataclass
class Registry:
    """Debian's ``docker-registry`` (the CNCF distribution registry) started by us."""

    service: devstack.Service
    address: str  # host:port, as image references name it
    config: Path
    access_log: Path

    def requests(self, method: str, path: str) -> int:
        """How many ``method`` requests for paths starting with ``path`` it answered."""
        needle = f'"{method} {path}'
        try:
            lines = self.access_log.read_text(errors="replace").splitlines()
        except OSError:
            return 0
        return sum(1 for line in lines if needle in line)

    def stop(self) -> None:
        self.service.stop()

    def collect_garbage(self) -> None:
        """Delete the blobs no manifest refers to any more (the registry's own tool; run
        it while the registry is stopped)."""
        subprocess.run(
            [_registry_binary(), "garbage-collect", "--delete-untagged", str(self.config)],
            capture_output=True,
            check=False,
        )


def _registry_binary() -> str:
    binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    if not Path(binary).exists():
        raise DevDockerError("docker-registry is not installed (Debian's docker-registry)")
    return binary


def start_registry(
    workdir: Path,
    host: str,
    storage: Path,
    htpasswd: Path | None = None,
    port: int | None = None,
) -> Registry:
    """A registry on ``host`` (plain HTTP), storing in ``storage``; with ``htpasswd`` it
    wants basic-auth credentials. Its access log counts the requests it answered."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or devstack.free_port()
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": f"{host}:{port}", "secret": os.urandom(16).hex()},
    }
    if htpasswd is not None:
        config["auth"] = {"htpasswd": {"realm": "nextpyter-test", "path": str(htpasswd)}}
    path = workdir / f"registry-{port}.yml"
    path.write_text(json.dumps(config))  # JSON is YAML
    log = workdir / f"registry-{port}.log"
    service = devstack.spawn("docker-registry", [_registry_binary(), "serve", str(path)], log)
    registry = Registry(service, f"{host}:{port}", path, log)

    def ready() -> bool:
        with urllib.request.urlopen(f"http://{registry.address}/", timeout=2) as answer:
            return bool(answer.status == 200)

    devstack.wait_ready("docker-registry", ready, service, 30)
    return registry


def push(client: docker.DockerClient, source: str, target: str) -> None:
    """Tag ``source`` as ``target`` (registry/repository:tag) and push it there."""
    repository, _, tag = target.rpartition(":")
    client.images.get(source).tag(repository, tag)
    for message in client.api.push(repository, tag=tag, stream=True, decode=True):
        if message.get("error"):
            raise DevDockerError(f"pushing {target} failed: {message['error']}")


def pushed_image(
    client: docker.DockerClient, base: str, target: str, megabytes: int
) -> tuple[str, int]:
    """An image of its own in the registry and not on the engine: ``base`` plus a layer of
    ``megabytes`` of random (incompressible) bytes, pushed as ``target`` and removed from
    the engine, so that pulling it downloads that layer for real. Returns the reference
    and the layer's size."""
    payload = os.urandom(megabytes * 1_000_000)
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in (
            ("Dockerfile", f"FROM {base}\nCOPY payload /opt/payload\n".encode()),
            ("payload", payload),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    image, _ = client.images.build(
        fileobj=context, custom_context=True, rm=True, forcerm=True, pull=False
    )
    push(client, image.id, target)
    client.images.remove(image.id, force=True)
    return target, len(payload)

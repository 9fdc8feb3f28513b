"""Runtime backends: where users' Jupyter servers run."""

from __future__ import annotations

from ..config import Settings
from .base import Backend, BackendError, Server, ServerSpec

__all__ = ["Backend", "BackendError", "Server", "ServerSpec", "make_backend"]


def make_backend(settings: Settings) -> Backend:
    if settings.backend == "local":
        from .local import LocalBackend

        return LocalBackend(settings.runtime_dir, python=settings.local_python)
    if settings.backend == "docker" and settings.docker is not None:
        from .docker import DockerBackend

        return DockerBackend(settings.docker, settings.runtime_dir)
    if settings.backend == "kubernetes" and settings.kubernetes is not None:
        from .kubernetes import KubernetesBackend

        return KubernetesBackend(settings.kubernetes)
    raise ValueError(f"unknown backend {settings.backend!r}")

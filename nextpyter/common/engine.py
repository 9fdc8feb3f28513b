"""The Docker engine connection both services use (the sidecar's docker backend runs
containers on it, pagletto pulls into it)."""

from __future__ import annotations

from collections.abc import Mapping

import docker
import docker.constants

MIN_API_VERSION = "1.41"  # Docker Engine 20.10, the oldest engine NextPyter supports


class EngineTooOld(Exception):
    """The engine answered, but speaks an API older than :data:`MIN_API_VERSION`."""


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def connect_engine(environment: Mapping[str, str] | None = None) -> docker.DockerClient:
    """A client for the engine that Docker's own variables name (``DOCKER_HOST``,
    ``DOCKER_TLS_VERIFY``, ``DOCKER_CERT_PATH``), speaking the newest API version that both
    it and the engine know.

    requests' own variables are ignored (``trust_env``): ``REQUESTS_CA_BUNDLE`` or
    ``CURL_CA_BUNDLE`` would otherwise replace the engine's CA from ``DOCKER_CERT_PATH``
    with the system's, and no proxy stands between NextPyter and its engine.
    """
    probe = docker.from_env(version=MIN_API_VERSION, environment=environment, timeout=10)
    probe.api.trust_env = False
    try:
        server = str(probe.version(api_version=False).get("ApiVersion", MIN_API_VERSION))
    finally:
        probe.close()
    version = min(server, docker.constants.DEFAULT_DOCKER_API_VERSION, key=_version_key)
    if _version_key(version) < _version_key(MIN_API_VERSION):
        raise EngineTooOld(
            f"NextPyter's Docker engine speaks API {server}; it needs {MIN_API_VERSION} or "
            "newer (Docker Engine 20.10). Ask your administrator to upgrade the engine."
        )
    client = docker.from_env(version=version, environment=environment, timeout=20, max_pool_size=64)
    client.api.trust_env = False
    return client

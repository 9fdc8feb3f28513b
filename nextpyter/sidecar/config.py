"""The sidecar's settings, read once from environment variables.

Every variable, with its default and range, is in the table of
``nextpyter/common/settings.py`` (docs/configuration.md is made from it); a bad value
stops the start with a message that names the variable and says what it should be.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..common.env import PREFIX, ConfigError
from ..common.images import is_image
from ..common.settings import (
    SETTINGS,
    boolean,
    default,
    directory,
    integer,
    redis_url,
    secret,
    text,
)
from .kube_settings import KubernetesSettings, kubernetes_settings

PROFILE_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
BACKENDS = SETTINGS["BACKEND"].choices
# A tmpfs size (NEXTPYTER_DOCKER_SCRATCH_SIZE): 1 to 6 digits and a unit, k, m, g or t.
SIZE_RE = re.compile(r"([1-9][0-9]{0,5})([kmgt])", re.IGNORECASE)
WORKDIR_RE = re.compile(r"(/[A-Za-z0-9._-]+){2,8}")
# Where the notebook's work folder (and, one level up, its tmpfs home) may not go.
SYSTEM_DIRS = frozenset(
    (
        *("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc"),
        *("/run", "/sbin", "/sys", "/tmp", "/usr", "/var"),  # noqa: S108 - names, not files
    )
)
NETWORK_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class Settings:
    secret_key: str
    data_dir: Path
    runtime_dir: Path
    jwks: str
    token_issuer: str
    # The defaults are the table's (nextpyter/common/settings.py).
    token_audience: str = default("TOKEN_AUDIENCE")
    redis_url: str = default("REDIS_URL")
    backend: str = default("BACKEND")
    profiles: tuple[str, ...] = tuple(default("PROFILES").split(","))
    clock_skew: int = int(default("CLOCK_SKEW"))
    cookie_secure: bool = default("COOKIE_SECURE") == "true"
    session_max_age: int = int(default("SESSION_MAX_AGE"))
    start_timeout: float = float(default("START_TIMEOUT"))
    progress_timeout: float = float(default("PROGRESS_TIMEOUT"))
    pull_timeout: float = float(default("PULL_TIMEOUT"))  # a launch's wait for its image
    jwks_refresh_interval: float = float(default("JWKS_REFRESH_INTERVAL"))
    cull_interval: float = float(default("CULL_INTERVAL"))
    max_streams: int = int(default("MAX_STREAMS"))
    launch_origins: frozenset[str] = frozenset()
    dev_signing_key: Path | None = None
    local_python: str = default("LOCAL_PYTHON")  # empty: the sidecar's own Python
    gpus: str = default("GPUS")  # the GPU inventory as given (gpus.inventory reads it)
    docker: DockerSettings | None = None
    kubernetes: KubernetesSettings | None = None

    @property
    def image(self) -> str:
        """The default image of a backend that runs images (NEXTPYTER_DOCKER_IMAGE)."""
        backend = self.docker or self.kubernetes
        return backend.image if backend else ""


@dataclass(frozen=True)
class DockerSettings:
    """The docker backend's settings (``NEXTPYTER_DOCKER_*``); the engine itself is found
    through Docker's own variables (``DOCKER_HOST``, ``DOCKER_TLS_VERIFY``,
    ``DOCKER_CERT_PATH``), as every Docker client finds it."""

    image: str
    uid: int = int(default("DOCKER_UID"))
    gid: int = int(default("DOCKER_GID"))
    workdir: str = default("DOCKER_WORKDIR")
    network: str = default("DOCKER_NETWORK")
    outbound: bool = default("DOCKER_OUTBOUND") == "true"
    scratch_size: str = default("DOCKER_SCRATCH_SIZE")
    stop_timeout: int = int(default("DOCKER_STOP_TIMEOUT"))


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of an http(s) URL, as browsers send it in Origin; else ""."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return ""
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings; raise :class:`ConfigError` on the first bad one."""
    env = os.environ if env is None else env
    key = secret(env, "SECRET_KEY")
    if len(key) < 32:
        raise ConfigError(
            f"{PREFIX}SECRET_KEY must have at least 32 characters "
            "(generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    data_dir = directory(env, "DATA_DIR")
    if not data_dir.is_dir():
        raise ConfigError(f"{PREFIX}DATA_DIR={data_dir} is not a directory")
    backend = text(env, "BACKEND")
    if backend not in BACKENDS:
        raise ConfigError(
            f"{PREFIX}BACKEND={backend!r} is not a known backend (known: {', '.join(BACKENDS)})"
        )
    profiles = tuple(p.strip() for p in text(env, "PROFILES").split(",") if p.strip())
    for profile in profiles:
        if not PROFILE_RE.fullmatch(profile):
            raise ConfigError(
                f"{PREFIX}PROFILES has {profile!r}: a profile name is 1-32 characters "
                "of a-z 0-9 _ -"
            )
    if not profiles:
        raise ConfigError(f"{PREFIX}PROFILES must name at least one profile")
    dev_key = text(env, "DEV_SIGNING_KEY") or None
    if dev_key and not Path(dev_key).is_file():
        raise ConfigError(f"{PREFIX}DEV_SIGNING_KEY={dev_key} is not a file")
    jwks = text(env, "JWKS")
    if not jwks.startswith(("https://", "http://", "/")):
        raise ConfigError(f"{PREFIX}JWKS must be an http(s) URL or an absolute file path")
    issuer = text(env, "TOKEN_ISSUER")
    origins = {_origin(issuer)} if _origin(issuer) else set()
    for item in text(env, "LAUNCH_ORIGINS").split(","):
        if item.strip():
            if not _origin(item.strip()):
                raise ConfigError(
                    f"{PREFIX}LAUNCH_ORIGINS has {item.strip()!r}: give origins like "
                    "https://cloud.example.com, separated by commas"
                )
            origins.add(_origin(item.strip()))
    return Settings(
        secret_key=key,
        data_dir=data_dir.resolve(),
        runtime_dir=directory(env, "RUNTIME_DIR"),
        jwks=jwks,
        token_issuer=issuer,
        launch_origins=frozenset(origins),
        token_audience=text(env, "TOKEN_AUDIENCE"),
        redis_url=redis_url(env),
        backend=backend,
        profiles=profiles,
        clock_skew=integer(env, "CLOCK_SKEW"),
        cookie_secure=boolean(env, "COOKIE_SECURE"),
        session_max_age=integer(env, "SESSION_MAX_AGE"),
        start_timeout=float(integer(env, "START_TIMEOUT")),
        # At least a minute (the table's range): a launch says how it goes every 30 s.
        progress_timeout=float(integer(env, "PROGRESS_TIMEOUT")),
        pull_timeout=float(integer(env, "PULL_TIMEOUT")),
        jwks_refresh_interval=float(integer(env, "JWKS_REFRESH_INTERVAL")),
        cull_interval=float(integer(env, "CULL_INTERVAL")),
        max_streams=integer(env, "MAX_STREAMS"),
        dev_signing_key=Path(dev_key) if dev_key else None,
        local_python=text(env, "LOCAL_PYTHON"),
        gpus=text(env, "GPUS"),
        docker=_docker_settings(env) if backend == "docker" else None,
        kubernetes=kubernetes_settings(env) if backend == "kubernetes" else None,
    )


def _docker_settings(env: Mapping[str, str]) -> DockerSettings:
    image = text(env, "DOCKER_IMAGE")
    if not is_image(image):
        raise ConfigError(
            f"{PREFIX}DOCKER_IMAGE={image!r} is not an image reference (like nextpyter/jupyter:4)"
        )
    workdir = text(env, "DOCKER_WORKDIR")
    if not WORKDIR_RE.fullmatch(workdir) or ".." in workdir.split("/"):
        raise ConfigError(
            f"{PREFIX}DOCKER_WORKDIR={workdir!r} must be an absolute path at least two levels "
            "deep (its parent is the notebook user's home), like /home/jovyan/work"
        )
    top = "/" + workdir.split("/")[1]
    if top in SYSTEM_DIRS or workdir.startswith("/opt/nextpyter/"):
        raise ConfigError(
            f"{PREFIX}DOCKER_WORKDIR={workdir!r} is inside {top}, which the container's "
            "system or NextPyter uses (its parent becomes a tmpfs home); choose a path like "
            "/home/jovyan/work"
        )
    network = text(env, "DOCKER_NETWORK")
    if not NETWORK_RE.fullmatch(network) or network in {"host", "none", "bridge", "default"}:
        raise ConfigError(
            f"{PREFIX}DOCKER_NETWORK={network!r} must be the name of a network of NextPyter's own "
            "(not host, none, bridge or default)"
        )
    scratch = text(env, "DOCKER_SCRATCH_SIZE")
    if not SIZE_RE.fullmatch(scratch):
        raise ConfigError(f"{PREFIX}DOCKER_SCRATCH_SIZE={scratch!r} must look like 512m or 2g")
    return DockerSettings(
        image=image,
        uid=integer(env, "DOCKER_UID"),
        gid=integer(env, "DOCKER_GID"),
        workdir=workdir,
        network=network,
        outbound=boolean(env, "DOCKER_OUTBOUND"),
        scratch_size=scratch.lower(),
        stop_timeout=integer(env, "DOCKER_STOP_TIMEOUT"),
    )

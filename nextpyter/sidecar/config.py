"""The sidecar's settings, read once from environment variables.

Every variable is documented in docs/configuration.md; a bad value stops the
start with a message that names the variable and says what it should be.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..common.env import (
    PREFIX,
    ConfigError,
    boolean,
    directory,
    get,
    integer,
    redis_url,
    secret,
)
from ..common.images import is_image

PROFILE_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
BACKENDS = ("local", "docker")
# What an image reference may look like: [registry[:port]/]path[:tag][@digest], lower case.
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
    token_audience: str = "nextpyter-sidecar"
    redis_url: str = "redis://127.0.0.1:6379/0"
    backend: str = "local"
    profiles: tuple[str, ...] = ("default",)
    clock_skew: int = 30
    cookie_secure: bool = True
    session_max_age: int = 12 * 3600
    start_timeout: float = 60.0
    progress_timeout: float = 300.0
    pull_timeout: float = 1800.0  # how long a launch waits for its image's pull
    jwks_refresh_interval: float = 300.0
    cull_interval: float = 60.0
    max_streams: int = 16
    launch_origins: frozenset[str] = frozenset()
    dev_signing_key: Path | None = None
    local_python: str = ""
    docker: DockerSettings | None = None


@dataclass(frozen=True)
class DockerSettings:
    """The docker backend's settings (``NEXTPYTER_DOCKER_*``); the engine itself is found
    through Docker's own variables (``DOCKER_HOST``, ``DOCKER_TLS_VERIFY``,
    ``DOCKER_CERT_PATH``), as every Docker client finds it."""

    image: str
    uid: int = 33
    gid: int = 33
    workdir: str = "/home/jovyan/work"
    network: str = "nextpyter-users"
    outbound: bool = True
    scratch_size: str = "1g"
    stop_timeout: int = 5


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
    backend = get(env, "BACKEND", "local")
    if backend not in BACKENDS:
        raise ConfigError(
            f"{PREFIX}BACKEND={backend!r} is not a known backend (known: {', '.join(BACKENDS)})"
        )
    profiles = tuple(p.strip() for p in get(env, "PROFILES", "default").split(",") if p.strip())
    for profile in profiles:
        if not PROFILE_RE.fullmatch(profile):
            raise ConfigError(
                f"{PREFIX}PROFILES has {profile!r}: a profile name is 1-32 characters "
                "of a-z 0-9 _ -"
            )
    if not profiles:
        raise ConfigError(f"{PREFIX}PROFILES must name at least one profile")
    dev_key = env.get(PREFIX + "DEV_SIGNING_KEY") or None
    if dev_key and not Path(dev_key).is_file():
        raise ConfigError(f"{PREFIX}DEV_SIGNING_KEY={dev_key} is not a file")
    jwks = get(env, "JWKS")
    if not jwks.startswith(("https://", "http://", "/")):
        raise ConfigError(f"{PREFIX}JWKS must be an http(s) URL or an absolute file path")
    issuer = get(env, "TOKEN_ISSUER")
    origins = {_origin(issuer)} if _origin(issuer) else set()
    for item in get(env, "LAUNCH_ORIGINS", "").split(","):
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
        runtime_dir=directory(env, "RUNTIME_DIR", "/run/nextpyter"),
        jwks=jwks,
        token_issuer=issuer,
        launch_origins=frozenset(origins),
        token_audience=get(env, "TOKEN_AUDIENCE", "nextpyter-sidecar"),
        redis_url=redis_url(env),
        backend=backend,
        profiles=profiles,
        clock_skew=integer(env, "CLOCK_SKEW", 30, 0, 300),
        cookie_secure=boolean(env, "COOKIE_SECURE", True),
        session_max_age=integer(env, "SESSION_MAX_AGE", 12 * 3600, 60, 30 * 24 * 3600),
        start_timeout=float(integer(env, "START_TIMEOUT", 60, 5, 3600)),
        # At least a minute: a launch says how it goes at least every 30 s.
        progress_timeout=float(integer(env, "PROGRESS_TIMEOUT", 300, 60, 3600)),
        pull_timeout=float(integer(env, "PULL_TIMEOUT", 1800, 10, 86400)),
        jwks_refresh_interval=float(integer(env, "JWKS_REFRESH_INTERVAL", 300, 10, 86400)),
        cull_interval=float(integer(env, "CULL_INTERVAL", 60, 0, 3600)),
        max_streams=integer(env, "MAX_STREAMS", 16, 0, 10_000),
        dev_signing_key=Path(dev_key) if dev_key else None,
        local_python=get(env, "LOCAL_PYTHON", ""),
        docker=_docker_settings(env) if backend == "docker" else None,
    )


def _docker_settings(env: Mapping[str, str]) -> DockerSettings:
    image = get(env, "DOCKER_IMAGE")
    if not is_image(image):
        raise ConfigError(
            f"{PREFIX}DOCKER_IMAGE={image!r} is not an image reference (like nextpyter/jupyter:4)"
        )
    workdir = get(env, "DOCKER_WORKDIR", "/home/jovyan/work")
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
    network = get(env, "DOCKER_NETWORK", "nextpyter-users")
    if not NETWORK_RE.fullmatch(network) or network in {"host", "none", "bridge", "default"}:
        raise ConfigError(
            f"{PREFIX}DOCKER_NETWORK={network!r} must be the name of a network of NextPyter's own "
            "(not host, none, bridge or default)"
        )
    scratch = get(env, "DOCKER_SCRATCH_SIZE", "1g")
    if not SIZE_RE.fullmatch(scratch):
        raise ConfigError(f"{PREFIX}DOCKER_SCRATCH_SIZE={scratch!r} must look like 512m or 2g")
    return DockerSettings(
        image=image,
        uid=integer(env, "DOCKER_UID", 33, 1, 2**31 - 1),
        gid=integer(env, "DOCKER_GID", 33, 1, 2**31 - 1),
        workdir=workdir,
        network=network,
        outbound=boolean(env, "DOCKER_OUTBOUND", True),
        scratch_size=scratch.lower(),
        stop_timeout=integer(env, "DOCKER_STOP_TIMEOUT", 5, 0, 300),
    )

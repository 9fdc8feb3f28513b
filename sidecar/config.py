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
from typing import Any
from urllib.parse import urlsplit

from pagletto.contract import is_image

PREFIX = "NEXTPYTER_"
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


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


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


def _get(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = env.get(PREFIX + name)
    if value is None or value == "":
        if default is None:
            raise ConfigError(f"{PREFIX}{name} is required but not set; see docs/configuration.md")
        return default
    return value


def _secret(env: Mapping[str, str], name: str) -> str:
    """``NEXTPYTER_<name>``, or the contents of the file ``NEXTPYTER_<name>_FILE`` names
    (a container secret), without its line end."""
    file = env.get(f"{PREFIX}{name}_FILE") or ""
    if env.get(PREFIX + name) or not file:
        return _get(env, name)
    try:
        value = Path(file).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"{PREFIX}{name}_FILE={file} cannot be read: {reason}") from None
    if not value:
        raise ConfigError(f"{PREFIX}{name}_FILE={file} is empty")
    return value


def _ranged(
    env: Mapping[str, str], name: str, default: float, low: float, high: float, kind: type
) -> Any:
    raw = _get(env, name, str(default))
    try:
        value = kind(raw)
    except ValueError:
        what = "a whole number" if kind is int else "a number (of seconds)"
        raise ConfigError(f"{PREFIX}{name}={raw!r} is not {what}") from None
    if not low <= value <= high:
        show = "{}" if kind is int else "{:g}"
        raise ConfigError(
            f"{PREFIX}{name}={show.format(value)} is out of range "
            f"({show.format(low)} to {show.format(high)})"
        )
    return value


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    return int(_ranged(env, name, default, low, high, int))


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    return float(_ranged(env, name, default, low, high, float))


def redis_url(env: Mapping[str, str]) -> str:
    url = _get(env, "REDIS_URL", "redis://127.0.0.1:6379/0")
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"{PREFIX}REDIS_URL must start with redis://, rediss:// or unix://")
    return url


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _get(env, name, "true" if default else "false").strip().lower()
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{PREFIX}{name}={raw!r} is not a boolean (use true or false)")


def _dir(env: Mapping[str, str], name: str, default: str | None = None) -> Path:
    path = Path(_get(env, name, default))
    if not path.is_absolute():
        raise ConfigError(f"{PREFIX}{name}={path} must be an absolute path")
    return path


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
    secret = _secret(env, "SECRET_KEY")
    if len(secret) < 32:
        raise ConfigError(
            f"{PREFIX}SECRET_KEY must have at least 32 characters "
            "(generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    data_dir = _dir(env, "DATA_DIR")
    if not data_dir.is_dir():
        raise ConfigError(f"{PREFIX}DATA_DIR={data_dir} is not a directory")
    backend = _get(env, "BACKEND", "local")
    if backend not in BACKENDS:
        raise ConfigError(
            f"{PREFIX}BACKEND={backend!r} is not a known backend (known: {', '.join(BACKENDS)})"
        )
    profiles = tuple(p.strip() for p in _get(env, "PROFILES", "default").split(",") if p.strip())
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
    jwks = _get(env, "JWKS")
    if not jwks.startswith(("https://", "http://", "/")):
        raise ConfigError(f"{PREFIX}JWKS must be an http(s) URL or an absolute file path")
    issuer = _get(env, "TOKEN_ISSUER")
    origins = {_origin(issuer)} if _origin(issuer) else set()
    for item in _get(env, "LAUNCH_ORIGINS", "").split(","):
        if item.strip():
            if not _origin(item.strip()):
                raise ConfigError(
                    f"{PREFIX}LAUNCH_ORIGINS has {item.strip()!r}: give origins like "
                    "https://cloud.example.com, separated by commas"
                )
            origins.add(_origin(item.strip()))
    return Settings(
        secret_key=secret,
        data_dir=data_dir.resolve(),
        runtime_dir=_dir(env, "RUNTIME_DIR", "/run/nextpyter"),
        jwks=jwks,
        token_issuer=issuer,
        launch_origins=frozenset(origins),
        token_audience=_get(env, "TOKEN_AUDIENCE", "nextpyter-sidecar"),
        redis_url=redis_url(env),
        backend=backend,
        profiles=profiles,
        clock_skew=_int(env, "CLOCK_SKEW", 30, 0, 300),
        cookie_secure=_bool(env, "COOKIE_SECURE", True),
        session_max_age=_int(env, "SESSION_MAX_AGE", 12 * 3600, 60, 30 * 24 * 3600),
        start_timeout=float(_int(env, "START_TIMEOUT", 60, 5, 3600)),
        # At least a minute: a launch says how it goes at least every 30 s.
        progress_timeout=float(_int(env, "PROGRESS_TIMEOUT", 300, 60, 3600)),
        pull_timeout=float(_int(env, "PULL_TIMEOUT", 1800, 10, 86400)),
        jwks_refresh_interval=float(_int(env, "JWKS_REFRESH_INTERVAL", 300, 10, 86400)),
        cull_interval=float(_int(env, "CULL_INTERVAL", 60, 0, 3600)),
        max_streams=_int(env, "MAX_STREAMS", 16, 0, 10_000),
        dev_signing_key=Path(dev_key) if dev_key else None,
        local_python=_get(env, "LOCAL_PYTHON", ""),
        docker=_docker_settings(env) if backend == "docker" else None,
    )


def _docker_settings(env: Mapping[str, str]) -> DockerSettings:
    image = _get(env, "DOCKER_IMAGE")
    if not is_image(image):
        raise ConfigError(
            f"{PREFIX}DOCKER_IMAGE={image!r} is not an image reference (like nextpyter/jupyter:4)"
        )
    workdir = _get(env, "DOCKER_WORKDIR", "/home/jovyan/work")
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
    network = _get(env, "DOCKER_NETWORK", "nextpyter-users")
    if not NETWORK_RE.fullmatch(network) or network in {"host", "none", "bridge", "default"}:
        raise ConfigError(
            f"{PREFIX}DOCKER_NETWORK={network!r} must be the name of a network of NextPyter's own "
            "(not host, none, bridge or default)"
        )
    scratch = _get(env, "DOCKER_SCRATCH_SIZE", "1g")
    if not SIZE_RE.fullmatch(scratch):
        raise ConfigError(f"{PREFIX}DOCKER_SCRATCH_SIZE={scratch!r} must look like 512m or 2g")
    return DockerSettings(
        image=image,
        uid=_int(env, "DOCKER_UID", 33, 1, 2**31 - 1),
        gid=_int(env, "DOCKER_GID", 33, 1, 2**31 - 1),
        workdir=workdir,
        network=network,
        outbound=_bool(env, "DOCKER_OUTBOUND", True),
        scratch_size=scratch.lower(),
        stop_timeout=_int(env, "DOCKER_STOP_TIMEOUT", 5, 0, 300),
    )

"""pagletto's settings, from the environment (``NEXTPYTER_*``, with their defaults and
ranges in the table of ``nextpyter/common/settings.py``, plus Docker's own
``DOCKER_HOST``, ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH``)."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..common.env import PREFIX, ConfigError
from ..common.settings import integer, number, redis_url, text

__all__ = ["PullSettings", "load_settings"]


@dataclass(frozen=True)
class PullSettings:
    redis_url: str
    worker: str  # this worker's consumer name in the group
    claim_idle: float  # a pull unheard of for this long is taken over by another worker
    max_deliveries: int  # a job started this many times without finishing is given up
    retries: int  # tries again after a transient registry error, within one delivery
    backoff: float  # the first wait before trying again (doubled each time)
    backoff_max: float
    stall: float  # seconds without a word from the engine before a pull is cut and retried
    # Registry credentials, as Docker's config.json holds them (never in a repr or a log).
    auth: dict[str, Any] = field(repr=False)
    auth_file: str = ""


def _auth(env: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    path = text(env, "REGISTRY_AUTH")
    if not path:
        return {}, ""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(
            f"{PREFIX}REGISTRY_AUTH={path}: cannot read it ({error.strerror})"
        ) from None
    except ValueError:
        # Not the parser's message: it may quote the file, which holds passwords.
        raise ConfigError(
            f"{PREFIX}REGISTRY_AUTH={path} is not JSON; give a Docker config.json (what "
            "`docker login` writes), with an 'auths' object"
        ) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("auths", {}), dict):
        raise ConfigError(
            f"{PREFIX}REGISTRY_AUTH={path} has no 'auths' object; give a Docker config.json "
            "(what `docker login` writes)"
        )
    return raw, path


def load_settings(env: Mapping[str, str] | None = None) -> PullSettings:
    env = os.environ if env is None else env
    auth, auth_file = _auth(env)
    worker = text(env, "PULL_WORKER_NAME", computed=f"{socket.gethostname()}-{os.getpid()}")
    if len(worker) > 100 or not worker.isprintable():
        raise ConfigError(f"{PREFIX}PULL_WORKER_NAME must be 1-100 printable characters")
    backoff = number(env, "PULL_BACKOFF")
    return PullSettings(
        redis_url=redis_url(env),
        worker=worker,
        claim_idle=number(env, "PULL_CLAIM_IDLE"),
        max_deliveries=integer(env, "PULL_MAX_DELIVERIES"),
        retries=integer(env, "PULL_RETRIES"),
        backoff=backoff,
        backoff_max=max(backoff, number(env, "PULL_BACKOFF_MAX")),
        stall=number(env, "PULL_STALL_TIMEOUT"),
        auth=auth,
        auth_file=auth_file,
    )

"""One logging set-up for both services: ``NEXTPYTER_LOG_LEVEL``, one line format.

The sidecar (under gunicorn, whose own error and access logs use :data:`FORMAT` too)
and pagletto call :func:`configure` once at start, with the level :func:`level` read.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

from .env import PREFIX, ConfigError
from .settings import SETTINGS, default, text

LEVELS = SETTINGS["LOG_LEVEL"].choices
DEFAULT = default("LOG_LEVEL")
# When, which process (a sidecar runs several workers), how bad, who: what.
FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"


def level(env: Mapping[str, str] | None = None) -> str:
    """``NEXTPYTER_LOG_LEVEL`` (any case), as one of :data:`LEVELS`."""
    raw = text(os.environ if env is None else env, "LOG_LEVEL")
    if raw.strip().upper() not in LEVELS:
        raise ConfigError(
            f"{PREFIX}LOG_LEVEL={raw!r} is not a log level (use DEBUG, INFO, WARNING or ERROR)"
        )
    return raw.strip().upper()


def formatter() -> logging.Formatter:
    return logging.Formatter(FORMAT)


def configure(name: str) -> None:
    """Every logger's records at ``name`` (one of :data:`LEVELS`) and above go to standard
    error, in :data:`FORMAT`; unless logging was set up already (as pytest does for a
    test that calls an entry point in-process), which is left as it is."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter())
    logging.basicConfig(level=name, handlers=[handler])

"""One logging set-up for both services: ``NEXTPYTER_LOG_LEVEL``, one line format
(``NEXTPYTER_LOG_FORMAT=json``: JSON lines), each line's request id, secrets redacted.

The sidecar (under gunicorn, whose own error and access logs use :data:`FORMAT` too)
and pagletto call :func:`configure` once at start, with the level :func:`level` read.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

from .env import PREFIX, ConfigError
from .jsonlog import Context, JsonFormatter, TextFormatter
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


def log_format(env: Mapping[str, str] | None = None) -> str:
    """``NEXTPYTER_LOG_FORMAT``: ``text`` (:data:`FORMAT`) or ``json`` (one object a line)."""
    raw = text(os.environ if env is None else env, "LOG_FORMAT").strip().lower()
    if raw not in SETTINGS["LOG_FORMAT"].choices:
        raise ConfigError(f"{PREFIX}LOG_FORMAT={raw!r} is not a log format (use text or json)")
    return raw


def formatter(env: Mapping[str, str] | None = None) -> logging.Formatter:
    """The formatter of ``NEXTPYTER_LOG_FORMAT``; either redacts secrets (jsonlog.py)."""
    if log_format(env) == "json":
        return JsonFormatter()
    return TextFormatter(FORMAT)


def adopt(*loggers: logging.Logger) -> None:
    """Give the handlers of ``loggers`` (gunicorn's error and access logs) the format of
    :func:`formatter`, the request id and the redaction."""
    for logger in loggers:
        for handler in logger.handlers:
            handler.setFormatter(formatter())
            handler.addFilter(Context())


def configure(name: str) -> None:
    """Every logger's records at ``name`` (one of :data:`LEVELS`) and above go to standard
    error, in :func:`formatter`'s format, with their request id, secrets redacted; unless
    logging was set up already (as pytest does for a test that calls an entry point
    in-process), which is left as it is."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter())
    handler.addFilter(Context())
    logging.basicConfig(level=name, handlers=[handler])

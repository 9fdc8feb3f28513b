"""Typed readers of ``NEXTPYTER_*`` environment variables, shared by both services.

Each reader takes the setting's name without the prefix and raises :class:`ConfigError`
with a message that names the variable and says what it should be. The services call
them through ``nextpyter.common.settings``, whose table gives each setting's default and
range.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

PREFIX = "NEXTPYTER_"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def get(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    """The variable's value; ``default`` when it is unset or empty (required if None)."""
    value = env.get(PREFIX + name)
    if value is None or value == "":
        if default is None:
            raise ConfigError(f"{PREFIX}{name} is required but not set; see docs/configuration.md")
        return default
    return value


def secret(env: Mapping[str, str], name: str) -> str:
    """``NEXTPYTER_<name>``, or the contents of the file ``NEXTPYTER_<name>_FILE`` names
    (a container secret), without its line end. Never echoes the secret."""
    file = env.get(f"{PREFIX}{name}_FILE") or ""
    if env.get(PREFIX + name) or not file:
        return get(env, name)
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
    raw = get(env, name, str(default))
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


def integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    return int(_ranged(env, name, default, low, high, int))


def number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    return float(_ranged(env, name, default, low, high, float))


def boolean(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = get(env, name, "true" if default else "false").strip().lower()
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{PREFIX}{name}={raw!r} is not a boolean (use true or false)")


def directory(env: Mapping[str, str], name: str, default: str | None = None) -> Path:
    """An absolute path (not checked to exist)."""
    path = Path(get(env, name, default))
    if not path.is_absolute():
        raise ConfigError(f"{PREFIX}{name}={path} must be an absolute path")
    return path

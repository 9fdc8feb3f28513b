"""pagletto's settings from the environment; registry credentials never quoted."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nextpyter.common.env import ConfigError
from nextpyter.pagletto.config import load_settings


def test_settings_defaults() -> None:
    settings = load_settings({})
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert (settings.claim_idle, settings.max_deliveries, settings.retries) == (60.0, 5, 3)
    assert (settings.backoff, settings.backoff_max) == (2.0, 60.0)
    assert settings.auth == {} and settings.auth_file == ""
    assert settings.worker and settings.worker.endswith(f"-{os.getpid()}")


def test_settings_from_the_environment(tmp_path: Path) -> None:
    auth = tmp_path / "config.json"
    auth.write_text(json.dumps({"auths": {"registry.example.com": {"auth": "dTpw"}}}))
    settings = load_settings(
        {
            "NEXTPYTER_REDIS_URL": "unix:///run/redis.sock",
            "NEXTPYTER_PULL_WORKER_NAME": "puller-1",
            "NEXTPYTER_PULL_CLAIM_IDLE": "2.5",
            "NEXTPYTER_PULL_MAX_DELIVERIES": "7",
            "NEXTPYTER_PULL_RETRIES": "0",
            "NEXTPYTER_PULL_BACKOFF": "5",
            "NEXTPYTER_PULL_BACKOFF_MAX": "1",  # below the first wait: raised to it
            "NEXTPYTER_REGISTRY_AUTH": str(auth),
        }
    )
    assert settings.redis_url == "unix:///run/redis.sock" and settings.worker == "puller-1"
    assert (settings.claim_idle, settings.max_deliveries, settings.retries) == (2.5, 7, 0)
    assert (settings.backoff, settings.backoff_max) == (5.0, 5.0)
    assert settings.auth["auths"]["registry.example.com"]["auth"] == "dTpw"
    assert settings.auth_file == str(auth)


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("PULL_CLAIM_IDLE", "soon", "is not a number"),
        ("PULL_CLAIM_IDLE", "0.1", "out of range"),
        ("PULL_CLAIM_IDLE", "-5", "out of range"),
        ("PULL_MAX_DELIVERIES", "2.5", "is not a whole number"),
        ("PULL_MAX_DELIVERIES", "0", "out of range"),
        ("PULL_RETRIES", "many", "is not a whole number"),
        ("PULL_RETRIES", "101", "out of range"),
        ("PULL_BACKOFF", "1e9", "out of range"),
        ("PULL_BACKOFF_MAX", "forever", "is not a number"),
        ("PULL_WORKER_NAME", "w" * 101, "1-100 printable"),
        ("PULL_WORKER_NAME", "bad\nname", "1-100 printable"),
        ("REDIS_URL", "http://127.0.0.1:6379", "must start with"),
    ],
)
def test_settings_refuse_bad_values(name: str, value: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as caught:
        load_settings({f"NEXTPYTER_{name}": value})
    assert f"NEXTPYTER_{name}" in str(caught.value)


SECRET = "c2VjcmV0LXVzZXI6aHVudGVyMi1kby1ub3QtbG9n"  # base64 of a user:password


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"auths": {"registry.example.com": {"auth": "' + SECRET + '"}', "is not JSON"),
        (SECRET, "is not JSON"),
        ('["' + SECRET + '"]', "has no 'auths' object"),
        ('{"auths": "' + SECRET + '"}', "has no 'auths' object"),
        ("null", "has no 'auths' object"),
        (b'\xff\xfe{"auths": "' + SECRET.encode() + b'"}', "is not JSON"),
    ],
)
def test_a_bad_registry_auth_file_is_named_but_never_quoted(
    tmp_path: Path, content: str | bytes, needle: str
) -> None:
    path = tmp_path / "config.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(ConfigError, match=needle) as caught:
        load_settings({"NEXTPYTER_REGISTRY_AUTH": str(path)})
    message = str(caught.value)
    assert "NEXTPYTER_REGISTRY_AUTH" in message and str(path) in message
    assert SECRET not in message and SECRET[:12] not in message
    # Nor is the parser's error chained to it (a traceback would show its text).
    error = caught.value
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


def test_an_unreadable_registry_auth_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it") as caught:
        load_settings({"NEXTPYTER_REGISTRY_AUTH": str(tmp_path / "missing.json")})
    assert "NEXTPYTER_REGISTRY_AUTH" in str(caught.value)
    assert "No such file" in str(caught.value)
    # A directory cannot be read as a file (permission bits do not stop root).
    with pytest.raises(ConfigError, match="cannot read it") as caught:
        load_settings({"NEXTPYTER_REGISTRY_AUTH": str(tmp_path)})
    assert "NEXTPYTER_REGISTRY_AUTH" in str(caught.value)


def test_the_stall_timeout_setting() -> None:
    assert load_settings({}).stall == 300.0
    assert load_settings({"NEXTPYTER_PULL_STALL_TIMEOUT": "2.5"}).stall == 2.5
    for bad in ("0", "-1", "soon", "1e9"):
        with pytest.raises(ConfigError, match="NEXTPYTER_PULL_STALL_TIMEOUT"):
            load_settings({"NEXTPYTER_PULL_STALL_TIMEOUT": bad})

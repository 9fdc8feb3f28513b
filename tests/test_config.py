"""Settings: a bad value stops the start with a message naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.config import ConfigError, load_settings


def env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    base = {
        "NEXTPYTER_SECRET_KEY": "s" * 40,
        "NEXTPYTER_DATA_DIR": str(tmp_path),
        "NEXTPYTER_JWKS": "/etc/nextpyter/jwks.json",
        "NEXTPYTER_TOKEN_ISSUER": "https://cloud.example",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v != "<unset>"}


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(env(tmp_path))
    assert settings.backend == "local" and settings.profiles == ("default",)
    assert settings.cookie_secure is True and settings.clock_skew == 30


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"NEXTPYTER_SECRET_KEY": "<unset>"}, "NEXTPYTER_SECRET_KEY"),
        ({"NEXTPYTER_SECRET_KEY": "short"}, "NEXTPYTER_SECRET_KEY"),
        ({"NEXTPYTER_DATA_DIR": "relative/dir"}, "NEXTPYTER_DATA_DIR"),
        ({"NEXTPYTER_DATA_DIR": "/does/not/exist"}, "NEXTPYTER_DATA_DIR"),
        ({"NEXTPYTER_BACKEND": "podman"}, "NEXTPYTER_BACKEND"),
        ({"NEXTPYTER_PROFILES": "Big Machine"}, "NEXTPYTER_PROFILES"),
        ({"NEXTPYTER_CLOCK_SKEW": "lots"}, "NEXTPYTER_CLOCK_SKEW"),
        ({"NEXTPYTER_CLOCK_SKEW": "9999"}, "NEXTPYTER_CLOCK_SKEW"),
        ({"NEXTPYTER_COOKIE_SECURE": "maybe"}, "NEXTPYTER_COOKIE_SECURE"),
        ({"NEXTPYTER_REDIS_URL": "localhost:6379"}, "NEXTPYTER_REDIS_URL"),
        ({"NEXTPYTER_JWKS": "jwks.json"}, "NEXTPYTER_JWKS"),
        ({"NEXTPYTER_TOKEN_ISSUER": "<unset>"}, "NEXTPYTER_TOKEN_ISSUER"),
        ({"NEXTPYTER_DEV_SIGNING_KEY": "/no/key.pem"}, "NEXTPYTER_DEV_SIGNING_KEY"),
    ],
)
def test_bad_settings_name_the_variable(
    tmp_path: Path, overrides: dict[str, str], names: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env(tmp_path, **overrides))
    assert names in str(caught.value)


def test_serve_exits_with_the_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sidecar.cli import serve_main

    for key, value in env(tmp_path, NEXTPYTER_SECRET_KEY="short").items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as caught:
        serve_main(["--bind", "127.0.0.1:1"])
    assert "NEXTPYTER_SECRET_KEY" in str(caught.value.code)


def test_launch_origins_are_written_as_browsers_send_origin(tmp_path: Path) -> None:
    settings = load_settings(
        env(
            tmp_path,
            NEXTPYTER_TOKEN_ISSUER="https://Cloud.Example:443/nc",
            NEXTPYTER_LAUNCH_ORIGINS="http://other.example:80, https://u:p@third.example:8443/x",
        )
    )
    assert settings.launch_origins == {
        "https://cloud.example",
        "http://other.example",
        "https://third.example:8443",
    }
    with pytest.raises(ConfigError, match="NEXTPYTER_LAUNCH_ORIGINS"):
        load_settings(env(tmp_path, NEXTPYTER_LAUNCH_ORIGINS="cloud.example.com"))

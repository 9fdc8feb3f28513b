"""Settings: a bad value stops the start with a message naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from nextpyter.common.env import ConfigError
from nextpyter.sidecar.config import load_settings
from tests.support.config import env


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
    from nextpyter.sidecar.cli import serve_main

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


def test_the_secret_key_may_come_from_a_file(tmp_path: Path) -> None:
    """NEXTPYTER_SECRET_KEY_FILE: a container secret (compose/init/secrets.sh writes one)."""
    key = tmp_path / "secret_key"
    key.write_text("k" * 64 + "\n")
    unset = {"NEXTPYTER_SECRET_KEY": "<unset>"}
    settings = load_settings(env(tmp_path, **unset, NEXTPYTER_SECRET_KEY_FILE=str(key)))
    assert settings.secret_key == "k" * 64  # without the line end
    # The variable itself wins over the file.
    direct = load_settings(env(tmp_path, NEXTPYTER_SECRET_KEY_FILE=str(key)))
    assert direct.secret_key == "s" * 40
    problems = {
        "missing": (tmp_path / "nope", "cannot be read: No such file or directory"),
        "empty": (tmp_path / "empty", "is empty"),
        "short": (tmp_path / "short", "at least 32 characters"),
        "binary": (tmp_path / "binary", "not UTF-8 text"),
    }
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "short").write_text("tooshort-secret")
    (tmp_path / "binary").write_bytes(b"\xff\xfe" * 20)
    for path, message in problems.values():
        with pytest.raises(ConfigError, match="NEXTPYTER_SECRET_KEY") as caught:
            load_settings(env(tmp_path, **unset, NEXTPYTER_SECRET_KEY_FILE=str(path)))
        assert message in str(caught.value)
        assert "tooshort-secret" not in str(caught.value)  # a secret is never echoed

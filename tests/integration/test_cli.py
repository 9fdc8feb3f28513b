"""nextpyter-admin: development keys and tokens, sessions, API tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devtools import services as devstack
from nextpyter.sidecar.cli import admin_main
from nextpyter.sidecar.signing import load_key
from nextpyter.sidecar.store import RedisJtiStore
from nextpyter.sidecar.tokens import KeySet, LaunchTokenVerifier


def test_dev_keygen_and_mint_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], redis_client: Any
) -> None:
    admin_main(["dev-keygen", str(tmp_path / "keys")])
    assert "jwks" in capsys.readouterr().out
    pem = tmp_path / "keys" / "dev.pem"
    assert pem.stat().st_mode & 0o777 == 0o600
    admin_main(
        [
            "mint-token",
            "--key",
            str(pem),
            "--user",
            "Ann Lee",
            "--path",
            "a.ipynb",
            "--issuer",
            devstack.ISSUER,
        ]
    )
    raw = capsys.readouterr().out.strip()
    verifier = LaunchTokenVerifier(
        KeySet(str(tmp_path / "keys" / "jwks.json")),
        devstack.ISSUER,
        "nextpyter-sidecar",
        RedisJtiStore(redis_client),
        ("default",),
    )
    token = verifier.verify(raw)
    assert (token.user_id, token.path) == ("Ann Lee", "a.ipynb")
    assert load_key(pem)  # a real Ed25519 key


def test_sessions_stop_and_api_tokens(
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    redis_client: Any,
) -> None:
    env = devstack.sidecar_env(
        settings.runtime_dir.parent, settings.redis_url, settings.data_dir, Path(settings.jwks)
    )
    for key, value in env.items():
        if key.startswith("NEXTPYTER_"):
            monkeypatch.setenv(key, value)
    admin_main(["sessions"])
    assert capsys.readouterr().out == ""
    admin_main(["stop", "nobody"])
    assert "no server" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="user id"):
        admin_main(["stop", "../etc"])
    admin_main(["token", "create", "--name", "ci", "--scope", "sessions:read"])
    out = capsys.readouterr().out
    assert "npt_" in out
    admin_main(["token", "list"])
    listed = capsys.readouterr().out
    assert "ci" in listed and "npt_" not in listed  # never shown again
    with pytest.raises(SystemExit, match="unknown"):
        admin_main(["token", "create", "--name", "x", "--scope", "root"])


def test_health_says_whether_the_sidecar_answers(stack: Any, capsys: Any) -> None:
    """`nextpyter-admin health`: the containers' healthcheck."""
    admin_main(["health", "--url", f"{stack.sidecar_url}/api/v1/health"])
    assert capsys.readouterr().out.strip() == "ok"
    with pytest.raises(SystemExit) as wrong:
        admin_main(["health", "--url", f"{stack.sidecar_url}/api/v1/nothing-here"])
    assert "answered 404" in str(wrong.value.code)
    closed = f"http://127.0.0.1:{devstack.free_port()}/api/v1/health"
    with pytest.raises(SystemExit) as away:
        admin_main(["health", "--url", closed, "--timeout", "2"])
    assert "did not answer (ConnectionError)" in str(away.value.code)

"""``nextpyter-admin`` over the REST API, run as an operator runs it (the console script, a
URL and a token file) against a running sidecar (gunicorn behind nginx, the local backend):
each command, bad input, an unreachable sidecar (one line, no traceback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import redis as redis_lib

from devtools import services as devstack
from nextpyter.sidecar.apitokens import ApiTokens
from tests.support.stack import Stack

ADMIN = str(Path(sys.executable).parent / "nextpyter-admin")


def _admin(url: str, token_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXTPYTER_")}
    return subprocess.run(
        [ADMIN, "--url", url, "--token-file", str(token_file), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nextpyter-admin: "), result.stderr
    return lines[0]


def test_the_admin_cli_over_the_api(
    stack: Stack, redis_client: redis_lib.Redis, tmp_path: Path
) -> None:
    _, token = ApiTokens(redis_client).create("cli", ["admin"])
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    url = stack.sidecar_url

    def ok(*args: str) -> str:
        result = _admin(url, token_file, *args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    stack.user("cli-user", {"a.ipynb": "{}"})
    _, launch = stack.launch("cli-user")
    assert stack.wait(launch)["state"] == "ready"
    try:
        # sessions list | stop
        assert "cli-user\trunning" in ok("sessions", "list")
        listed = json.loads(ok("sessions", "list", "--json"))
        assert [s["user_id"] for s in listed] == ["cli-user"]

        # config get | set (key=value, a file), validated by the sidecar
        config: dict[str, Any] = json.loads(ok("config", "get"))
        assert "profiles" in config
        assert json.loads(ok("config", "set", "idle_timeout=3600"))["idle_timeout"] == 3600
        refused = _one_line(_admin(url, token_file, "config", "set", "idle_timeout=-5"))
        assert "refused, the settings are unchanged" in refused and "idle_timeout" in refused
        assert json.loads(ok("config", "get"))["idle_timeout"] == 3600  # the old value kept
        bad_file = tmp_path / "bad.json"
        bad_file.write_text("{not json")
        assert "is not JSON" in _one_line(_admin(url, token_file, "config", "set", str(bad_file)))
        good_file = tmp_path / "good.json"
        good_file.write_text(json.dumps({**config, "max_lifetime": 1}))
        ok("config", "set", str(good_file))

        # cull --dry-run: the server is older than max_lifetime 1 s
        plan = ok("cull", "--dry-run")
        assert plan.startswith("cli-user\t") and "lifetime" in plan, plan
        assert json.loads(ok("cull", "--dry-run", "--json"))["would_stop"][0]["kind"] == "lifetime"
        assert stack.backend.status(launch["slug"]) is not None  # a dry run stops nothing

        # images: the local backend runs none, and says so
        assert "backend runs no images" in _one_line(_admin(url, token_file, "images", "list"))
        assert "409" in _one_line(_admin(url, token_file, "images", "pull", "x/y:1"))

        ok("sessions", "stop", "cli-user")
        assert stack.backend.status(launch["slug"]) is None
        assert "404" in _one_line(_admin(url, token_file, "sessions", "stop", "cli-user"))
        assert "400" in _one_line(_admin(url, token_file, "sessions", "stop", "a;b"))
    finally:
        ok("config", "set", "max_lifetime=0", "idle_timeout=0")
        stack.stop_all()

    # A token without the scope, a bad token file, an unreachable sidecar, a bad URL.
    _, reader = ApiTokens(redis_client).create("reader", ["sessions:read"])
    reader_file = tmp_path / "reader"
    reader_file.write_text(reader)
    assert "403" in _one_line(_admin(url, reader_file, "config", "get"))
    wrong = tmp_path / "wrong"
    wrong.write_text("npt_000000000000_" + "x" * 43)
    assert "401" in _one_line(_admin(url, wrong, "sessions", "list"))
    assert "cannot be read" in _one_line(_admin(url, tmp_path / "missing", "config", "get"))
    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert "is empty" in _one_line(_admin(url, empty, "config", "get"))
    away = f"http://127.0.0.1:{devstack.free_port()}"
    assert "did not answer" in _one_line(_admin(away, token_file, "sessions", "list"))
    assert "must start with http" in _one_line(_admin("ftp://x", token_file, "config", "get"))
    # The commands that work here, without the API, still do.
    local = subprocess.run(
        [ADMIN, "dev-keygen", str(tmp_path / "k")], capture_output=True, text=True, timeout=60
    )
    assert local.returncode == 0 and "jwks" in local.stdout

"""NEXTPYTER_LOG_LEVEL, as the services really run: the sidecar under gunicorn, pagletto."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from devtools import services as devstack

# Every line the sidecar writes, gunicorn's own included: time, [pid], level, logger: message.
LINE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \[\d+\] (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: "
)


def _sidecar_log(tmp_path: Path, redis: devstack.Service, jwks: Path, level: str) -> str:
    data = tmp_path / "data"
    data.mkdir()
    env = devstack.sidecar_env(
        tmp_path, redis.address, data, jwks, NEXTPYTER_LOG_LEVEL=level, NEXTPYTER_CULL_INTERVAL="0"
    )
    # One worker: it has run its start (reconcile, "sidecar ready") before it answers.
    sidecar = devstack.start_sidecar(tmp_path, env, workers=1, threads=4)
    sidecar.stop()
    return sidecar.log.read_text()


@pytest.mark.parametrize("level", ["INFO", "info"])
def test_the_sidecar_logs_info_under_gunicorn_in_one_format(
    tmp_path: Path, redis_service: devstack.Service, keys: tuple[Path, Path], level: str
) -> None:
    text = _sidecar_log(tmp_path, redis_service, keys[1], level)
    assert re.search(r" INFO nextpyter\.sidecar\.[\w.]+: sidecar ready: backend local", text), text
    assert "INFO gunicorn.error: Booting worker" in text, text  # gunicorn's lines, same format
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines and all(LINE.match(line) for line in lines), text


def test_the_sidecar_at_warning_says_nothing_of_info(
    tmp_path: Path, redis_service: devstack.Service, keys: tuple[Path, Path]
) -> None:
    text = _sidecar_log(tmp_path, redis_service, keys[1], "WARNING")
    assert "sidecar ready" not in text and " INFO " not in text, text


@pytest.mark.parametrize("command", ["nextpyter-sidecar", "pagletto"])
def test_a_bad_log_level_is_an_error_at_start(tmp_path: Path, command: str) -> None:
    env = devstack.sidecar_env(tmp_path, "redis://127.0.0.1:1/0", tmp_path, tmp_path / "jwks.json")
    env["NEXTPYTER_LOG_LEVEL"] = "LOUD"
    arguments = ["status"] if command == "pagletto" else []
    done = subprocess.run(
        [str(Path(sys.executable).parent / command), *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "NEXTPYTER_LOG_LEVEL='LOUD'" in done.stderr, done.stderr
    assert "DEBUG, INFO, WARNING or ERROR" in done.stderr, done.stderr

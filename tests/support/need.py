"""What a test needs from the machine: a missing binary or root skips the test, but fails it
under CI=true (nothing may skip there)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

CI = os.environ.get("CI", "").lower() == "true"


def unavailable(why: str) -> NoReturn:
    """Something a test needs is missing: skip, but fail under CI (nothing may skip there)."""
    if CI:
        pytest.fail(why)
    pytest.skip(why)


def require_root(why: str) -> None:
    if os.geteuid() != 0:
        unavailable(why)


def require(binary: str) -> str:
    """The path of ``binary``; skip without it, but fail under CI (nothing may skip there)."""
    path = shutil.which(binary) or next(
        (p for p in (f"/usr/sbin/{binary}", f"/usr/bin/{binary}") if Path(p).exists()), None
    )
    if path is None:
        unavailable(f"{binary} is not installed; run `make deps` (as root)")
    return path

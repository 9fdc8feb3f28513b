"""The smallest environment the sidecar's settings load from, for settings tests."""

from __future__ import annotations

from pathlib import Path


def env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    base = {
        "NEXTPYTER_SECRET_KEY": "s" * 40,
        "NEXTPYTER_DATA_DIR": str(tmp_path),
        "NEXTPYTER_JWKS": "/etc/nextpyter/jwks.json",
        "NEXTPYTER_TOKEN_ISSUER": "https://cloud.example",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v != "<unset>"}

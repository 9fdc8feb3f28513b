"""The Nextcloud app's real PHP signing path (nextcloud_app/tests/contract/sign.php), run as
a process: tokens and JWKS made by the app, for the contract tests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.need import require

SIGN = Path(__file__).resolve().parents[2] / "nextcloud_app" / "tests" / "contract" / "sign.php"

ISSUER = "https://cloud.example.com"

AUDIENCE = "nextpyter-sidecar"


class PhpApp:
    """The PHP app's signing path; its key ring persists in a state file between runs."""

    def __init__(self, workdir: Path) -> None:
        self.php = require("php")
        self.state = workdir / "app-config.json"
        self.jwks_path = workdir / "jwks.json"

    def sign(self, *args: str, rotate: bool = False) -> dict[str, str]:
        command = [self.php, str(SIGN), "--state", str(self.state)]
        command += ["--issuer", ISSUER, "--audience", AUDIENCE, *args]
        if rotate:
            command.append("--rotate")
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        result: dict[str, str] = json.loads(done.stdout)
        # What the sidecar reads from NEXTPYTER_JWKS: the route's body, byte for byte.
        self.jwks_path.write_text(result["jwks"], encoding="utf-8")
        return result

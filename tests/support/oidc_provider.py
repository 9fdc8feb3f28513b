"""The tests' OpenID Connect provider: oidc-provider (npm, tests/support/oidc/) in Node,
on a loopback port, with clients, users and signing keys the tests choose.

``OidcProvider.start(workdir, clients, users)`` installs the package (``npm ci``, once)
and starts ``provider.mjs``; ``.issuer``, ``.private_jwk`` (the key it signs ID tokens
with: the tests hold it, to forge tokens), ``.next_id_token(jwt)`` (the next token
response carries this ID token instead), ``.stop()``. Its ``/ocs/v2.php/cloud/user`` is a
stand-in for Nextcloud's user API, not Nextcloud.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from joserfc.jwk import RSAKey

from devtools import services as devstack
from tests.support.need import require

HERE = Path(__file__).parent / "oidc"


def install() -> None:
    require("node")
    npm = require("npm")
    stamp = HERE / "node_modules" / ".installed"
    lock = HERE / "package-lock.json"
    if stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime:
        return
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, check=True)
    stamp.touch()


@dataclass
class OidcProvider:
    port: int
    service: devstack.Service
    private_jwk: dict[str, Any] = field(repr=False)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls, workdir: Path, clients: list[dict[str, Any]], users: dict[str, dict[str, Any]]
    ) -> OidcProvider:
        install()
        workdir.mkdir(parents=True, exist_ok=True)
        port = devstack.free_port()
        key = RSAKey.generate_key(
            2048, parameters={"kid": "test-signing-key", "use": "sig", "alg": "RS256"}
        )
        private = key.as_dict(private=True)
        config = {
            "port": port,
            "clients": clients,
            "users": users,
            "jwks": {"keys": [private]},
            "cookieKey": secrets.token_urlsafe(24),
        }
        path = workdir / "provider.json"
        path.write_text(json.dumps(config))
        service = devstack.spawn(
            "oidc-provider",
            [require("node"), str(HERE / "provider.mjs"), str(path)],
            workdir / "provider.log",
            cwd=HERE,
        )
        service.address = f"127.0.0.1:{port}"
        url = f"http://127.0.0.1:{port}/.well-known/openid-configuration"
        devstack.wait_ready("oidc-provider", lambda: requests.get(url, timeout=1).ok, service, 30)
        return cls(port, service, private)

    def next_id_token(self, token: str) -> None:
        answer = requests.post(f"{self.issuer}/test/next-id-token", data=token, timeout=5)
        assert answer.status_code == 204

    def stop(self) -> None:
        self.service.stop()

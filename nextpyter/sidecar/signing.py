"""Development signing keys and tokens, for `make demo`, tests and benchmarks.

In production only the Nextcloud app holds a private key; the sidecar reads
public keys. These helpers make a key pair on disk (the private key as PEM, the
public one as a JWKS) and mint launch tokens with it, exactly as the app does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(private_key: Ed25519PrivateKey) -> dict[str, str]:
    raw = private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64(raw),
        "use": "sig",
        "alg": "EdDSA",
        "kid": _b64(hashlib.sha256(raw).digest())[:16],
    }


def generate_key(directory: Path, name: str = "dev") -> tuple[Path, Path]:
    """Write ``<name>.pem`` (private, mode 0600) and ``jwks.json`` (public) into ``directory``.

    The JWKS keeps the keys already in it, so calling this again is a key rotation.
    """
    directory.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = directory / f"{name}.pem"
    fd = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    jwks_path = directory / "jwks.json"
    keys: list[dict[str, Any]] = []
    if jwks_path.exists():
        keys = json.loads(jwks_path.read_text()).get("keys", [])
    keys.append(public_jwk(key))
    jwks_path.write_text(json.dumps({"keys": keys}, indent=2))
    return pem, jwks_path


def load_key(pem: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{pem} is not an Ed25519 private key")
    return key


def mint_launch_token(
    key: Ed25519PrivateKey,
    *,
    issuer: str,
    audience: str,
    user_id: str,
    path: str = "",
    profile: str = "default",
    lifetime: int = 60,
    now: int | None = None,
    **extra: Any,
) -> str:
    """A launch token as the Nextcloud app signs it (see nextpyter/sidecar/tokens.py for the
    rules)."""
    issued = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": user_id,
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime,
        "jti": secrets.token_urlsafe(18),
        "path": path,
        "profile": profile,
    }
    claims.update(extra)
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": public_jwk(key)["kid"]})


def mint_admin_token(
    key: Ed25519PrivateKey,
    *,
    issuer: str,
    audience: str,
    scopes: list[str],
    subject: str = "nextcloud",
    lifetime: int = 60,
) -> str:
    """An admin token as the Nextcloud app signs it for its calls to the sidecar API."""
    issued = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime,
        "jti": secrets.token_urlsafe(18),
        "purpose": "admin",
        "scopes": scopes,
    }
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": public_jwk(key)["kid"]})

"""Bearer API tokens for automation clients: scoped, stored hashed in Redis.

A token is ``npt_<id>_<secret>``; Redis keeps only the SHA-256 of the whole
token (the token has 256 bits of entropy, so a fast hash is enough, as with
GitHub's tokens), its name and scopes. The plain token is shown once, when it
is created.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass

import redis

from ..common import keys

SCOPES = {
    "sessions:read": "see any user's server",
    "sessions:write": "launch and stop any user's server",
    "metrics": "read the Prometheus metrics (/metrics)",
    "admin": "everything, including listing all servers and managing API tokens",
}
TOKEN_RE = re.compile(r"npt_([a-z0-9]{12})_([A-Za-z0-9_-]{43})")
NAME_RE = re.compile(r"[A-Za-z0-9 _.@-]{1,64}")
HASH_KEY = keys.API_TOKENS


def scope_allows(scopes: frozenset[str], scope: str) -> bool:
    """Whether ``scopes`` grant ``scope``: ``admin`` grants every scope."""
    return "admin" in scopes or scope in scopes


@dataclass(frozen=True)
class ApiToken:
    id: str
    name: str
    scopes: frozenset[str]
    created: float

    def allows(self, scope: str) -> bool:
        return scope_allows(self.scopes, scope)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiTokens:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def create(self, name: str, scopes: list[str]) -> tuple[ApiToken, str]:
        if not NAME_RE.fullmatch(name):
            raise ValueError("a token name has 1-64 characters: letters, digits, space _ . @ -")
        unknown = sorted(set(scopes) - SCOPES.keys())
        if unknown or not scopes:
            raise ValueError(f"unknown or no scopes {unknown}; known: {', '.join(sorted(SCOPES))}")
        token_id = secrets.token_hex(6)
        plain = f"npt_{token_id}_{secrets.token_urlsafe(32)}"
        record = {
            "name": name,
            "scopes": sorted(scopes),
            "created": time.time(),
            "digest": _digest(plain),
        }
        self.client.hset(HASH_KEY, token_id, json.dumps(record))
        return ApiToken(token_id, name, frozenset(scopes), record["created"]), plain  # type: ignore[arg-type]

    def check(self, plain: str) -> ApiToken | None:
        match = TOKEN_RE.fullmatch(plain)
        if not match:
            return None
        raw = self.client.hget(HASH_KEY, match.group(1))
        if not raw:
            return None
        record = json.loads(raw)
        if not hmac.compare_digest(record["digest"], _digest(plain)):
            return None
        return ApiToken(
            match.group(1), record["name"], frozenset(record["scopes"]), record["created"]
        )

    def list(self) -> list[ApiToken]:
        tokens = []
        records: dict[str, str] = self.client.hgetall(HASH_KEY)  # type: ignore[assignment]
        for token_id, raw in sorted(records.items()):
            record = json.loads(raw)
            tokens.append(
                ApiToken(token_id, record["name"], frozenset(record["scopes"]), record["created"])
            )
        return tokens

    def revoke(self, token_id: str) -> bool:
        return bool(self.client.hdel(HASH_KEY, token_id))

"""Launch tokens: the one definition of what the sidecar accepts.

A launch token is a JWT signed by the Nextcloud app with Ed25519 (``alg``
EdDSA, ``kid`` in the header). The sidecar holds public keys only, from a JWKS
(a file or an URL), cached and refreshed when a token names a ``kid`` it does
not know yet (key rotation), at most once per ``MIN_REFRESH_GAP`` seconds so
that forged ``kid`` values cannot make it hammer the JWKS.

Verification pins the algorithm, requires every claim, allows ``clock_skew``
seconds of skew, refuses a lifetime (``exp - iat``) over two minutes, checks
``sub`` and ``path`` against the user-id and path rules, and only then marks
the ``jti`` used, so a token refused for any other reason does not burn it.
Each rejection is a :class:`TokenRejected` (a 4xx problem) with a message for
the person who clicked.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jwt
import requests
from jwt import PyJWK, PyJWKSet

from .apitokens import scope_allows
from .paths import PathRejected, validate_relative_path
from .problems import Problem
from .slugs import InvalidUserId, validate_user_id

ALGORITHM = "EdDSA"
MAX_TOKEN_BYTES = 8192
MAX_LIFETIME = 120
MIN_REFRESH_GAP = 10.0
REQUIRED_CLAIMS = ("iss", "aud", "sub", "iat", "nbf", "exp", "jti", "path", "profile")
# Admin calls (Nextcloud's server side calling the sidecar API): same keys and rules,
# ``purpose`` "admin", and the API scopes granted (see nextpyter/sidecar/apitokens.py: SCOPES).
ADMIN_CLAIMS = ("iss", "aud", "sub", "iat", "nbf", "exp", "jti", "purpose", "scopes")
JTI_RE = re.compile(r"[A-Za-z0-9_\-]{16,128}")

MAX_KID_LENGTH = 128
AGAIN = "Open the notebook again from Nextcloud Files."
# Admin tokens are signed by Nextcloud's server side for each call: nobody opens anything.
ADMIN_AGAIN = (
    "Nextcloud signs a new admin token for each call: try the action again; if it keeps "
    "failing, ask your administrator to check that Nextcloud and NextPyter share the keys "
    "(NEXTPYTER_JWKS), the issuer and the clocks."
)


class TokenRejected(Problem):
    """A launch token was refused. Nothing was started."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(status, code, "Launch token refused", detail)


def _rejected(code: str, detail: str, status: int = 401) -> TokenRejected:
    return TokenRejected(status, code, detail)


@dataclass(frozen=True)
class LaunchToken:
    """The claims of a verified launch token."""

    issuer: str
    user_id: str
    path: str
    profile: str
    jti: str
    issued_at: int
    expires_at: int


@dataclass(frozen=True)
class AdminToken:
    """The claims of a verified admin token."""

    subject: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return scope_allows(self.scopes, scope)


class JtiStore(Protocol):
    def mark_used(self, jti: str, expires_at: int) -> bool:
        """Record ``jti`` as used until ``expires_at``; False if it already was."""


class KeySet:
    """The Ed25519 public keys of a JWKS, by ``kid``, cached and refreshed on demand."""

    def __init__(
        self,
        source: str,
        refresh_interval: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.refresh_interval = refresh_interval
        self._clock = clock
        self._keys: dict[str, PyJWK] = {}
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def _fetch(self) -> dict[str, Any]:
        if self.source.startswith(("http://", "https://")):
            response = requests.get(self.source, timeout=5)
            response.raise_for_status()
            data = response.json()
        else:
            data = json.loads(Path(self.source).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("a JWKS is a JSON object with a 'keys' list")
        return data

    def _load(self) -> None:
        data = self._fetch()
        keys: dict[str, PyJWK] = {}
        # Only Ed25519 keys with a kid count; anything else in the set is ignored,
        # so an RSA key sharing a kid can never be used to check an EdDSA token.
        usable = [
            k
            for k in data.get("keys", [])
            if isinstance(k, dict)
            and k.get("kty") == "OKP"
            and k.get("crv") == "Ed25519"
            and isinstance(k.get("kid"), str)
            and k.get("use", "sig") == "sig"
        ]
        if usable:
            for key in PyJWKSet.from_dict({"keys": usable}).keys:
                if key.key_id:
                    keys[key.key_id] = key
        self._keys = keys
        self._loaded_at = self._clock()

    def _refresh(self, force: bool) -> None:
        """Load the set when it never was or is stale; when ``force`` (an unknown kid),
        also when the last load is older than ``MIN_REFRESH_GAP``. The caller holds the lock."""
        now = self._clock()
        age = None if self._loaded_at is None else now - self._loaded_at
        if age is None or age > self.refresh_interval or (force and age >= MIN_REFRESH_GAP):
            try:
                self._load()
            except Exception:
                if self._loaded_at is None:
                    raise
                # Keep serving the keys we have; a JWKS outage must not end sessions.
                self._loaded_at = now

    def get(self, kid: str) -> PyJWK | None:
        with self._lock:
            self._refresh(force=kid not in self._keys)
            return self._keys.get(kid)

    def ensure_loaded(self) -> None:
        """Load the set if it never was, or is stale; never forces a refetch."""
        with self._lock:
            self._refresh(force=False)

    def kids(self) -> list[str]:
        return sorted(self._keys)


class LaunchTokenVerifier:
    """Checks launch tokens against the contract; see the module docstring."""

    def __init__(
        self,
        keys: KeySet,
        issuer: str,
        audience: str,
        jti_store: JtiStore,
        profiles: Collection[str] | Callable[[], Collection[str]],
        clock_skew: int = 30,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.jti_store = jti_store
        self.profiles = profiles
        self.clock_skew = clock_skew

    def verify(self, raw: object) -> LaunchToken:
        """Verify a launch token; raise :class:`TokenRejected` (a 4xx) on any fault."""
        claims = self._verified_claims(raw, REQUIRED_CLAIMS, "launch")
        return self._check_claims(claims)

    def verify_admin(self, raw: object) -> AdminToken:
        """Verify an admin token: Nextcloud calling the sidecar's API for an administrator."""
        claims = self._verified_claims(raw, ADMIN_CLAIMS, "admin")
        scopes = claims["scopes"]
        if not isinstance(scopes, list) or not all(isinstance(x, str) for x in scopes):
            raise _rejected(
                "token-claim-invalid",
                "The admin token's scopes must be a list of scope names. " + ADMIN_AGAIN,
                400,
            )
        self._check_jti(claims, ADMIN_AGAIN)
        return AdminToken(subject=str(claims["sub"])[:64], scopes=frozenset(scopes))

    def _verified_claims(
        self, raw: object, required: tuple[str, ...], purpose: str
    ) -> dict[str, Any]:
        """Signature, algorithm, key, registered claims, lifetime and purpose."""
        again = AGAIN if purpose == "launch" else ADMIN_AGAIN
        if not isinstance(raw, str) or not raw.strip():
            raise _rejected(
                "token-missing", f"No {purpose} token came with the request. " + again, 400
            )
        raw = raw.strip()
        if not raw.isascii():
            raise _rejected("token-malformed", "The token is not a well-formed JWT. " + again, 400)
        if len(raw) > MAX_TOKEN_BYTES:
            raise _rejected(
                "token-too-large",
                f"The token is over {MAX_TOKEN_BYTES} bytes. " + again,
                400,
            )
        try:
            header = jwt.get_unverified_header(raw)
        except jwt.PyJWTError:
            raise _rejected(
                "token-malformed", "The token is not a well-formed JWT. " + again, 400
            ) from None
        if header.get("alg") != ALGORITHM:
            raise _rejected(
                "token-algorithm",
                f"The token is signed with {str(header.get('alg'))[:20]!r}; only "
                f"{ALGORITHM} (Ed25519) is accepted. " + again,
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _rejected("token-kid", "The token names no signing key (kid). " + again)
        if len(kid) > MAX_KID_LENGTH:
            raise _rejected(
                "token-kid",
                f"The token's key id (kid) is {len(kid)} characters long, over the "
                f"{MAX_KID_LENGTH} that NextPyter reads. " + again,
            )
        try:
            key = self.keys.get(kid)
        except Exception:
            raise Problem(
                503,
                "jwks-unavailable",
                "Signing keys unavailable",
                "NextPyter could not load Nextcloud's public keys. Try again in a minute; if it "
                "keeps failing, ask your administrator to check NEXTPYTER_JWKS.",
            ) from None
        if key is None:
            raise _rejected(
                "token-unknown-key",
                "The token is signed with a key this NextPyter does not know. "
                "If the administrator just rotated keys, try again in a minute.",
            )
        claims = self._decode(raw, key, required, purpose)
        iat, exp = claims["iat"], claims["exp"]
        if not all(isinstance(v, int) for v in (iat, exp, claims["nbf"])):
            raise _rejected(
                "token-claim-invalid", "Token times must be whole seconds. " + again, 400
            )
        if exp - iat > MAX_LIFETIME:
            raise _rejected(
                "token-lifetime",
                f"The token lives longer than {MAX_LIFETIME} seconds, which NextPyter "
                "refuses. " + again,
            )
        if claims.get("purpose", "launch") != purpose:
            raise _rejected(
                "token-purpose",
                f"This token is not a {purpose} token: "
                + (
                    "admin tokens call the API, they do not open notebooks. " + AGAIN
                    if purpose == "launch"
                    else "send an API token or an admin token as the bearer, not a launch token."
                ),
                403,
            )
        jti = claims["jti"]
        if not isinstance(jti, str) or not JTI_RE.fullmatch(jti):
            raise _rejected(
                "token-claim-invalid",
                "The token id (jti) is malformed: it must be 16-128 of A-Z a-z 0-9 _ -. " + again,
                400,
            )
        return claims

    def _check_jti(self, claims: dict[str, Any], again: str = AGAIN) -> None:
        # Last: a token refused for any other reason keeps its jti unused.
        if not self.jti_store.mark_used(claims["jti"], claims["exp"] + self.clock_skew):
            raise _rejected(
                "token-replayed",
                "This token was used already; each one works once. " + again,
            )

    def _decode(
        self, raw: str, key: PyJWK, required: tuple[str, ...], purpose: str
    ) -> dict[str, Any]:
        again = AGAIN if purpose == "launch" else ADMIN_AGAIN
        try:
            return jwt.decode(
                raw,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.clock_skew,
                options={"require": list(required), "strict_aud": True},
            )
        except jwt.ExpiredSignatureError:
            raise _rejected("token-expired", f"The {purpose} token has expired. " + again) from None
        except jwt.ImmatureSignatureError:
            raise _rejected(
                "token-not-yet-valid",
                f"The {purpose} token is not valid yet; the clocks of Nextcloud and NextPyter "
                "may disagree. " + again,
            ) from None
        except jwt.InvalidAudienceError:
            raise _rejected(
                "token-audience", f"The {purpose} token was made for another service. " + again
            ) from None
        except jwt.InvalidIssuerError:
            raise _rejected(
                "token-issuer",
                f"The {purpose} token comes from a Nextcloud this NextPyter does not serve.",
            ) from None
        except jwt.MissingRequiredClaimError as error:
            raise _rejected(
                "token-claim-missing",
                f"The {purpose} token lacks the '{error.claim}' claim. " + again,
                400,
            ) from None
        except jwt.InvalidSignatureError:
            raise _rejected(
                "token-signature", f"The {purpose} token's signature is not valid. " + again
            ) from None
        except (jwt.exceptions.InvalidSubjectError, jwt.exceptions.InvalidJTIError) as error:
            # A claim of the wrong type, as the other claims' types: a 400, as for them.
            raise _rejected("token-claim-invalid", f"{error}. " + again, 400) from None
        except jwt.DecodeError:
            raise _rejected(
                "token-malformed", f"The {purpose} token could not be decoded. " + again, 400
            ) from None
        except jwt.PyJWTError as error:
            raise _rejected(
                "token-invalid", f"The {purpose} token is not valid ({error}). " + again
            ) from None

    def _check_claims(self, claims: dict[str, Any]) -> LaunchToken:
        try:
            user_id = validate_user_id(claims["sub"])
        except InvalidUserId as error:
            raise _rejected(
                "token-subject", f"The token's user id is not valid: {error}.", 400
            ) from None
        try:
            path = validate_relative_path(claims["path"])
        except PathRejected as error:
            raise _rejected("token-path", f"The token's path is refused: {error}.", 400) from None
        profile = claims["profile"]
        offered = self.profiles() if callable(self.profiles) else self.profiles
        if not isinstance(profile, str) or profile not in offered:
            raise _rejected(
                "token-profile",
                f"The profile {str(profile)[:40]!r} is not offered here (offered: "
                f"{', '.join(offered)}). Ask your administrator.",
                400,
            )
        self._check_jti(claims)
        return LaunchToken(
            issuer=claims["iss"],
            user_id=user_id,
            path=path,
            profile=profile,
            jti=claims["jti"],
            issued_at=claims["iat"],
            expires_at=claims["exp"],
        )

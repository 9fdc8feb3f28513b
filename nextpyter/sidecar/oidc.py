"""Sign-in: the sidecar as an OAuth 2.0 / OpenID Connect client (Authlib).

Two kinds of provider (``NEXTPYTER_SIGNIN_PROVIDER``):

* ``oidc``, any OpenID Connect provider: its discovery document gives the endpoints; the
  ID token is verified against the provider's JWKS (an asymmetric algorithm only: never
  ``none``, never HMAC with the client secret), issuer, audience (and ``azp``), expiry
  and the nonce of this sign-in; the Nextcloud user id is the claim
  ``NEXTPYTER_SIGNIN_USER_CLAIM`` (``preferred_username`` by default), the groups
  ``NEXTPYTER_SIGNIN_GROUPS_CLAIM`` when the token has it;
* ``nextcloud``, Nextcloud's built-in OAuth2 server (plain OAuth2, no ID token): the user
  id (and groups) come from Nextcloud's user API, ``/ocs/v2.php/cloud/user``, called
  with the access token.

Both use the authorization code flow with PKCE (S256) and ``state`` (and, for OIDC,
``nonce``), as a confidential client (client secret from a file). The login transaction
(state, nonce, PKCE verifier, the return URL) is kept in Redis under the state's hash
for ten minutes and taken with ``GETDEL``: single use on every replica and worker, so a
reused state is refused. The browser that started the sign-in holds the state in a
signed cookie scoped to the callback (web/signin.py), so a callback carrying a state
started elsewhere (login CSRF) is refused too. Each refusal is a :class:`SignInRefused`
with a stable code, a sentence for the person and a log line without secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import redis
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import KeySet

from ..common import keys
from ..common.env import PREFIX, ConfigError
from ..common.settings import secret
from ..common.settings import text as _text
from .slugs import InvalidUserId, validate_user_id

log = logging.getLogger(__name__)

KINDS = ("oidc", "nextcloud")
TRANSACTION_SECONDS = 600  # from the redirect to the provider to the callback
DISCOVERY_SECONDS = 3600  # the discovery document and JWKS are fetched again after this
JWKS_REFETCH_SECONDS = 60  # an unknown key id fetches the JWKS again, at most this often
HTTP_TIMEOUT = 10.0
# Asymmetric algorithms only: "none" and HMAC (keyed with the client secret, which the
# client itself holds) are refused whatever the token's header says.
ALGORITHMS = (
    *("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    *("ES256", "ES384", "ES512", "EdDSA"),
)
NEXTCLOUD_AUTHORIZE = "/index.php/apps/oauth2/authorize"
NEXTCLOUD_TOKEN = "/index.php/apps/oauth2/api/v1/token"
NEXTCLOUD_USER = "/ocs/v2.php/cloud/user"
CALLBACK_PATH = "/hub/callback"


@dataclass(frozen=True)
class SignInSettings:
    """``NEXTPYTER_SIGNIN_*`` and ``NEXTPYTER_PUBLIC_URL``."""

    kind: str
    issuer: str  # oidc: the issuer; nextcloud: Nextcloud's base URL
    client_id: str
    client_secret: str = field(repr=False)
    public_url: str  # the gateway as browsers reach it, e.g. https://jupyter.example.com
    user_claim: str = "preferred_username"
    groups_claim: str = "groups"
    scopes: str = "openid profile"
    clock_skew: int = 60

    @property
    def redirect_uri(self) -> str:
        return self.public_url + CALLBACK_PATH


def _http_url(value: str, name: str) -> str:
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query:
        raise ConfigError(f"{PREFIX}{name}={value!r} must be an http(s) URL")
    return value.rstrip("/")


def text(env: Mapping[str, str], name: str) -> str:
    return _text(env, name).strip()


def load_signin(env: Mapping[str, str], clock_skew: int = 60) -> SignInSettings | None:
    """The sign-in settings, or None when sign-in is off (``NEXTPYTER_SIGNIN_PROVIDER``
    empty); a :class:`ConfigError` names the first bad one."""
    kind = text(env, "SIGNIN_PROVIDER")
    if not kind:
        return None
    if kind not in KINDS:
        raise ConfigError(f"{PREFIX}SIGNIN_PROVIDER={kind!r} must be one of: {', '.join(KINDS)}")
    for name in ("SIGNIN_ISSUER", "SIGNIN_CLIENT_ID", "PUBLIC_URL"):
        if not text(env, name):
            raise ConfigError(f"{PREFIX}{name} is required with {PREFIX}SIGNIN_PROVIDER={kind}")
    if not env.get(f"{PREFIX}SIGNIN_CLIENT_SECRET_FILE") and not env.get(
        f"{PREFIX}SIGNIN_CLIENT_SECRET"
    ):
        raise ConfigError(
            f"{PREFIX}SIGNIN_CLIENT_SECRET_FILE (or {PREFIX}SIGNIN_CLIENT_SECRET) is required "
            f"with {PREFIX}SIGNIN_PROVIDER={kind}"
        )
    client_secret = secret(env, "SIGNIN_CLIENT_SECRET")
    public = _http_url(text(env, "PUBLIC_URL"), "PUBLIC_URL")
    if urlsplit(public).path:
        raise ConfigError(f"{PREFIX}PUBLIC_URL={public!r} must be an origin, with no path")
    scopes = " ".join(text(env, "SIGNIN_SCOPES").split())
    if kind == "oidc" and "openid" not in scopes.split():
        raise ConfigError(f"{PREFIX}SIGNIN_SCOPES must include openid")
    return SignInSettings(
        kind=kind,
        issuer=_http_url(text(env, "SIGNIN_ISSUER"), "SIGNIN_ISSUER")
        if kind == "nextcloud"
        else text(env, "SIGNIN_ISSUER"),  # an issuer is compared exactly, trailing / and all
        client_id=text(env, "SIGNIN_CLIENT_ID"),
        client_secret=client_secret,
        public_url=public,
        user_claim=text(env, "SIGNIN_USER_CLAIM"),
        groups_claim=text(env, "SIGNIN_GROUPS_CLAIM"),
        scopes=scopes,
        clock_skew=clock_skew,
    )


class SignInRefused(Exception):
    """A sign-in that ends here: ``code`` is stable, ``detail`` is for the person,
    ``logged`` for the log (never a token, code, secret or verifier)."""

    def __init__(self, code: str, detail: str, logged: str = "", status: int = 400) -> None:
        super().__init__(f"{code}: {logged or detail}")
        self.code = code
        self.detail = detail
        self.logged = logged or detail
        self.status = status


@dataclass(frozen=True)
class Identity:
    """Who signed in: the Nextcloud user id and, when the provider says, their groups."""

    user_id: str
    groups: tuple[str, ...] | None


@dataclass(frozen=True)
class Endpoints:
    authorization: str
    token: str
    jwks_uri: str = ""
    end_session: str = ""


@dataclass(frozen=True)
class Transaction:
    """What the callback needs of the sign-in that a state started."""

    next_url: str
    verifier: str
    nonce: str


AGAIN = " Sign in again from the page you wanted to open."


def verify_id_token(
    id_token: object,
    key_set: KeySet,
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    access_token: str | None = None,
    leeway: int = 60,
    now: int | None = None,
) -> dict[str, Any]:
    """The claims of ``id_token`` if the provider signed it for this client and this
    sign-in; else :class:`SignInRefused` saying which check failed."""
    if not isinstance(id_token, str) or not id_token:
        raise SignInRefused(
            "id-token-missing", "The sign-in service sent no ID token." + AGAIN, status=502
        )
    if not nonce:
        raise SignInRefused("nonce-missing", "This sign-in has no nonce to check." + AGAIN)
    try:
        token = jwt.decode(id_token, key_set, algorithms=list(ALGORITHMS))
    except UnsupportedAlgorithmError:
        raise SignInRefused(
            "id-token-algorithm",
            "The ID token is not signed with an algorithm NextPyter accepts." + AGAIN,
            "ID token refused: algorithm not allowed (none, HMAC or unknown)",
        ) from None
    except (BadSignatureError, ValueError):
        raise SignInRefused(
            "id-token-signature",
            "The ID token's signature is not the sign-in service's." + AGAIN,
            "ID token refused: not signed by a key of the provider's JWKS",
        ) from None
    except JoseError as error:
        raise SignInRefused(
            "id-token-invalid",
            "The ID token could not be read." + AGAIN,
            f"ID token refused: {type(error).__name__}",
        ) from None
    claims = CodeIDToken(
        token.claims,
        token.header,
        options={
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": client_id},
            "exp": {"essential": True},
            "nonce": {"essential": True, "value": nonce},
        },
        params={"nonce": nonce, "client_id": client_id, "access_token": access_token},
    )
    try:
        claims.validate(now=now, leeway=leeway)
    except ExpiredTokenError:
        raise SignInRefused(
            "id-token-expired", "The ID token has expired." + AGAIN, "ID token refused: expired"
        ) from None
    except (InvalidClaimError, MissingClaimError) as error:
        claim = getattr(error, "claim", "") or "?"
        code = {"iss": "id-token-issuer", "aud": "id-token-audience", "azp": "id-token-audience"}
        raise SignInRefused(
            code.get(claim, f"id-token-{claim}" if claim == "nonce" else "id-token-claims"),
            f"The ID token's {claim!r} claim is not what this sign-in expects." + AGAIN,
            f"ID token refused: claim {claim!r} {type(error).__name__}",
        ) from None
    except ClaimError as error:
        raise SignInRefused(
            "id-token-claims",
            "The ID token's claims are not valid." + AGAIN,
            f"ID token refused: {type(error).__name__}",
        ) from None
    if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):  # checked above, again
        raise SignInRefused("id-token-nonce", "The ID token is for another sign-in." + AGAIN)
    return dict(claims)


def _groups(value: object) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


def valid_next(value: object, default: str = "/hub/") -> str:
    """Where to go after sign-in: a path of this origin under ``/user/`` or ``/hub/``,
    else ``default`` (never another site: no scheme, no ``//``, no backslash)."""
    if not isinstance(value, str) or not value or len(value) > 2048:
        return default
    if "\\" in value or "//" in value or any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        return default
    try:
        parts = urlsplit(value)
    except ValueError:
        return default
    if parts.scheme or parts.netloc or not value.startswith(("/user/", "/hub/")):
        return default
    if "/../" in parts.path or parts.path.endswith("/.."):
        return default
    return value


class SignIn:
    """The client: starts a sign-in (:meth:`begin`) and finishes it (:meth:`finish`)."""

    def __init__(self, settings: SignInSettings, client: redis.Redis) -> None:
        self.settings = settings
        self.redis = client
        self._lock = threading.Lock()
        self._discovered: tuple[float, Endpoints] | None = None
        self._jwks: tuple[float, KeySet] | None = None

    # -- the provider's documents -----------------------------------------------------

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = requests.get(
                url, timeout=HTTP_TIMEOUT, headers={"Accept": "application/json"}
            )
            response.raise_for_status()
            body = response.json()
        except (requests.RequestException, ValueError) as error:
            raise SignInRefused(
                "provider-unavailable",
                "The sign-in service cannot be reached right now. Try again in a minute; if "
                "it keeps failing, tell your administrator.",
                f"{what} at {url}: {type(error).__name__}",
                status=503,
            ) from None
        if not isinstance(body, dict):
            raise SignInRefused(
                "provider-unavailable",
                "The sign-in service answered with something NextPyter cannot read.",
                f"{what} at {url} is not a JSON object",
                status=502,
            )
        return body

    def endpoints(self) -> Endpoints:
        s = self.settings
        if s.kind == "nextcloud":
            return Endpoints(s.issuer + NEXTCLOUD_AUTHORIZE, s.issuer + NEXTCLOUD_TOKEN)
        with self._lock:
            if self._discovered and time.monotonic() - self._discovered[0] < DISCOVERY_SECONDS:
                return self._discovered[1]
        url = s.issuer.rstrip("/") + "/.well-known/openid-configuration"
        doc = self._get_json(url, "discovery document")
        methods = doc.get("code_challenge_methods_supported")
        fields = ("authorization_endpoint", "token_endpoint", "jwks_uri")
        if (
            doc.get("issuer") != s.issuer
            or not all(isinstance(doc.get(name), str) for name in fields)
            or (isinstance(methods, list) and "S256" not in methods)
        ):
            raise SignInRefused(
                "provider-misconfigured",
                "The sign-in service is not set up as NextPyter expects; tell your administrator.",
                f"discovery at {url}: issuer {doc.get('issuer')!r} (expected {s.issuer!r}), "
                "or an endpoint or S256 missing",
                status=502,
            )
        end = doc.get("end_session_endpoint")
        found = Endpoints(
            doc["authorization_endpoint"],
            doc["token_endpoint"],
            doc["jwks_uri"],
            end if isinstance(end, str) else "",
        )
        with self._lock:
            self._discovered = (time.monotonic(), found)
        return found

    def key_set(self, refetch: bool = False) -> KeySet:
        with self._lock:
            cached = self._jwks
        age = time.monotonic() - cached[0] if cached else None
        fresh = age is not None and age < DISCOVERY_SECONDS
        if cached and fresh and not (refetch and age is not None and age >= JWKS_REFETCH_SECONDS):
            return cached[1]
        doc = self._get_json(self.endpoints().jwks_uri, "JWKS")
        try:
            key_set = KeySet.import_key_set(doc)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as error:
            raise SignInRefused(
                "provider-misconfigured",
                "The sign-in service's keys cannot be read; tell your administrator.",
                f"JWKS: {type(error).__name__}",
                status=502,
            ) from None
        with self._lock:
            self._jwks = (time.monotonic(), key_set)
        return key_set

    # -- the flow ---------------------------------------------------------------------

    def _session(self) -> OAuth2Session:
        s = self.settings
        return OAuth2Session(
            client_id=s.client_id,
            client_secret=s.client_secret,
            scope=s.scopes if s.kind == "oidc" else None,
            redirect_uri=s.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method's name
        )

    def begin(self, next_url: str) -> tuple[str, str]:
        """The provider's authorization URL for a new sign-in, and its state (which the
        caller binds to the browser)."""
        state, verifier = generate_token(32), generate_token(64)
        nonce = generate_token(32) if self.settings.kind == "oidc" else ""
        extra = {"nonce": nonce} if nonce else {}
        with self._session() as session:
            url, _ = session.create_authorization_url(
                self.endpoints().authorization, state=state, code_verifier=verifier, **extra
            )
        record = json.dumps({"next": next_url, "verifier": verifier, "nonce": nonce})
        self.redis.set(keys.signin(_digest(state)), record, nx=True, ex=TRANSACTION_SECONDS)
        return str(url), state

    def take(self, state: str) -> Transaction:
        """The sign-in ``state`` started, once: a second call finds nothing."""
        raw = self.redis.getdel(keys.signin(_digest(state)))
        if raw is None:
            raise SignInRefused(
                "state-unknown",
                "This sign-in was already used or has expired (it is good for ten minutes, "
                "once)." + AGAIN,
                "callback with an unknown, used or expired state",
            )
        try:
            data = json.loads(raw)
            return Transaction(
                str(data["next"]), str(data.get("verifier") or ""), str(data["nonce"])
            )
        except (ValueError, KeyError, TypeError):
            raise SignInRefused("state-unknown", "This sign-in cannot be read." + AGAIN) from None

    def finish(self, args: Mapping[str, str], bound: tuple[str, ...]) -> tuple[Identity, str]:
        """Check a callback's query (``code``, ``state`` or ``error``) against the states
        this browser started (``bound``); the identity and where to go next."""
        if "error" in args:
            error = args.get("error", "")[:64]
            raise SignInRefused(
                "provider-refused",
                "The sign-in service did not sign you in"
                + (" (you declined)" if error == "access_denied" else "")
                + "."
                + AGAIN,
                f"the provider answered error={error!r}",
                status=403 if error == "access_denied" else 400,
            )
        state = args.get("state", "")
        if not state:
            raise SignInRefused(
                "state-missing",
                "The sign-in answer has no state." + AGAIN,
                "callback without state",
            )
        if not any(hmac.compare_digest(state, mine) for mine in bound):
            raise SignInRefused(
                "state-foreign",
                "This sign-in was not started in this browser (or its cookie is gone)." + AGAIN,
                "callback with a state this browser did not start (login CSRF?)",
            )
        transaction = self.take(state)
        if not transaction.verifier:
            raise SignInRefused(
                "pkce-missing",
                "This sign-in has no PKCE verifier, so it cannot be finished." + AGAIN,
                "transaction without a code verifier",
            )
        code = args.get("code", "")
        if not code:
            raise SignInRefused("code-missing", "The sign-in answer has no code." + AGAIN)
        endpoints = self.endpoints()
        with self._session() as session:
            try:
                token = session.fetch_token(
                    endpoints.token,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=transaction.verifier,
                    timeout=HTTP_TIMEOUT,
                )
            except OAuthError as error:
                raise SignInRefused(
                    "code-refused",
                    "The sign-in service refused this sign-in's code (it may have been used "
                    "already)." + AGAIN,
                    f"token endpoint refused the code: {str(error.error)[:64]}",
                ) from None
            except (requests.RequestException, ValueError) as error:
                raise SignInRefused(
                    "provider-unavailable",
                    "The sign-in service cannot be reached right now. Try again in a minute.",
                    f"token endpoint: {type(error).__name__}",
                    status=503,
                ) from None
            if self.settings.kind == "oidc":
                identity = self._identity_from_id_token(token, transaction.nonce)
            else:
                identity = self._identity_from_nextcloud(session)
        return identity, transaction.next_url

    def _identity_from_id_token(self, token: Mapping[str, Any], nonce: str) -> Identity:
        s = self.settings
        access = token.get("access_token")
        check = {
            "issuer": s.issuer,
            "client_id": s.client_id,
            "nonce": nonce,
            "access_token": access if isinstance(access, str) else None,
            "leeway": s.clock_skew,
        }
        try:
            claims = verify_id_token(token.get("id_token"), self.key_set(), **check)  # type: ignore[arg-type]
        except SignInRefused as refused:
            if refused.code != "id-token-signature":
                raise
            # The provider may have rolled its keys: fetch them again (rate-limited), once.
            claims = verify_id_token(token.get("id_token"), self.key_set(refetch=True), **check)  # type: ignore[arg-type]
        return Identity(
            self._user_id(claims.get(s.user_claim)), _groups(claims.get(s.groups_claim))
        )

    def _identity_from_nextcloud(self, session: OAuth2Session) -> Identity:
        url = self.settings.issuer + NEXTCLOUD_USER
        try:
            response = session.get(
                url,
                params={"format": "json"},
                headers={"OCS-APIRequest": "true", "Accept": "application/json"},
                timeout=HTTP_TIMEOUT,
            )
            data = response.json()["ocs"]["data"] if response.status_code == 200 else None
        except (requests.RequestException, ValueError, KeyError, TypeError):
            data = None
        if not isinstance(data, dict):
            raise SignInRefused(
                "userinfo-refused",
                "Nextcloud did not say who signed in." + AGAIN,
                f"user API at {url} gave no user",
                status=502,
            )
        return Identity(self._user_id(data.get("id")), _groups(data.get("groups")))

    def _user_id(self, value: object) -> str:
        try:
            return validate_user_id(value)
        except InvalidUserId:
            raise SignInRefused(
                "user-unknown",
                "The sign-in service did not name a Nextcloud user NextPyter can serve; tell "
                "your administrator.",
                f"claim {self.settings.user_claim!r} is missing or not a Nextcloud user id",
                status=403,
            ) from None

    def end_session_url(self) -> str:
        """The provider's end-session endpoint (RP-initiated logout), or ""."""
        if self.settings.kind != "oidc":
            return ""
        try:
            end = self.endpoints().end_session
        except SignInRefused:
            return ""
        if not end:
            return ""
        sep = "&" if "?" in end else "?"
        return f"{end}{sep}client_id={quote(self.settings.client_id)}"


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()

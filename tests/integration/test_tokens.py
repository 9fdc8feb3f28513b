"""Launch-token verification: every rejection of the contract, table-driven.

Each bad token must be refused with a 4xx and a message, must not burn its jti,
and (through the HTTP endpoint) must start nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devtools import services as devstack
from nextpyter.sidecar.signing import generate_key, mint_launch_token, public_jwk
from nextpyter.sidecar.store import RedisJtiStore
from nextpyter.sidecar.tokens import MIN_REFRESH_GAP, KeySet, LaunchTokenVerifier, TokenRejected

AUD = "nextpyter-sidecar"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": devstack.ISSUER,
        "aud": AUD,
        "sub": "alice",
        "iat": now,
        "nbf": now,
        "exp": now + 60,
        "jti": "jti-" + hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:24],
        "path": "work/a.ipynb",
        "profile": "default",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def sign(key: Ed25519PrivateKey, body: dict[str, Any], kid: str | None = None) -> str:
    return jwt.encode(body, key, algorithm="EdDSA", headers={"kid": kid or public_jwk(key)["kid"]})


def unsigned(body: dict[str, Any], kid: str) -> str:
    header = b64(json.dumps({"alg": "none", "kid": kid, "typ": "JWT"}).encode())
    return f"{header}.{b64(json.dumps(body).encode())}."


def hs256_with_public_key(key: Ed25519PrivateKey, body: dict[str, Any]) -> str:
    """The classic confusion attack: HMAC 'signed' with the public key as the secret."""
    jwk = public_jwk(key)
    header = b64(json.dumps({"alg": "HS256", "kid": jwk["kid"], "typ": "JWT"}).encode())
    payload = b64(json.dumps(body).encode())
    mac = hmac.new(jwk["x"].encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(mac)}"


@pytest.fixture
def verifier(keys: tuple[Path, Path], redis_client: Any) -> LaunchTokenVerifier:
    return LaunchTokenVerifier(
        KeySet(str(keys[1])),
        issuer=devstack.ISSUER,
        audience=AUD,
        jti_store=RedisJtiStore(redis_client),
        profiles=("default", "gpu"),
        clock_skew=30,
    )


OTHER_KEY = Ed25519PrivateKey.generate()


def now() -> int:
    return int(time.time())


# (case id, how to build the raw token from the real key, expected status, expected code)
CASES: list[tuple[str, Any, int, str]] = [
    ("empty", lambda k: "", 400, "token-missing"),
    ("not-a-string", lambda k: 12345, 400, "token-missing"),
    ("oversize", lambda k: "a" * 9000, 400, "token-too-large"),
    ("garbage", lambda k: "not a token", 400, "token-malformed"),
    ("two-parts", lambda k: "abc.def", 400, "token-malformed"),
    ("non-ascii", lambda k: sign(k, claims()) + "\u00e9", 400, "token-malformed"),
    ("malformed-base64", lambda k: "e30!!.e30.e30", 400, "token-malformed"),
    (
        "bad-payload-base64",
        lambda k: sign(k, claims()).split(".")[0] + ".%%%%.AAAA",
        400,
        "token-malformed",
    ),
    ("alg-none", lambda k: unsigned(claims(), public_jwk(k)["kid"]), 401, "token-algorithm"),
    (
        "hs256-public-key-as-secret",
        lambda k: hs256_with_public_key(k, claims()),
        401,
        "token-algorithm",
    ),
    ("no-kid", lambda k: jwt.encode(claims(), k, algorithm="EdDSA"), 401, "token-kid"),
    ("unknown-kid", lambda k: sign(k, claims(), kid="no-such-key"), 401, "token-unknown-key"),
    (
        "other-key-same-kid",
        lambda k: sign(OTHER_KEY, claims(), kid=public_jwk(k)["kid"]),
        401,
        "token-signature",
    ),
    ("tampered-payload", lambda k: _tamper(sign(k, claims())), 401, "token-signature"),
    (
        "expired",
        lambda k: sign(k, claims(iat=now() - 300, nbf=now() - 300, exp=now() - 200)),
        401,
        "token-expired",
    ),
    (
        "not-yet-valid",
        lambda k: sign(k, claims(nbf=now() + 100, exp=now() + 110)),
        401,
        "token-not-yet-valid",
    ),
    (
        "issued-in-future",
        lambda k: sign(k, claims(iat=now() + 100, nbf=now(), exp=now() + 110)),
        401,
        "token-not-yet-valid",
    ),
    ("wrong-audience", lambda k: sign(k, claims(aud="someone-else")), 401, "token-audience"),
    ("wrong-issuer", lambda k: sign(k, claims(iss="https://evil.invalid")), 401, "token-issuer"),
    ("lifetime-over-120s", lambda k: sign(k, claims(exp=now() + 121)), 401, "token-lifetime"),
    ("purpose-admin", lambda k: sign(k, claims(purpose="admin")), 403, "token-purpose"),
    ("jti-too-short", lambda k: sign(k, claims(jti="short")), 400, "token-claim-invalid"),
    ("path-dotdot", lambda k: sign(k, claims(path="../bob/files/x.ipynb")), 400, "token-path"),
    ("path-inner-dotdot", lambda k: sign(k, claims(path="a/../../x")), 400, "token-path"),
    ("path-absolute", lambda k: sign(k, claims(path="/etc/passwd")), 400, "token-path"),
    ("path-nul", lambda k: sign(k, claims(path="a\x00b.ipynb")), 400, "token-path"),
    ("path-backslash", lambda k: sign(k, claims(path="..\\x")), 400, "token-path"),
    ("path-not-string", lambda k: sign(k, claims(path=["a"])), 400, "token-path"),
    ("sub-with-slash", lambda k: sign(k, claims(sub="alice/../bob")), 400, "token-subject"),
    ("sub-too-long", lambda k: sign(k, claims(sub="a" * 65)), 400, "token-subject"),
    ("sub-dotdot", lambda k: sign(k, claims(sub="..")), 400, "token-subject"),
    ("profile-unknown", lambda k: sign(k, claims(profile="huge")), 400, "token-profile"),
]
for claim in ("iss", "aud", "sub", "iat", "nbf", "exp", "jti", "path", "profile"):
    CASES.append(
        (
            f"missing-{claim}",
            partial(lambda c, k: sign(k, claims(**{c: ...})), claim),
            400,
            "token-claim-missing",
        )
    )


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=="))
    body["sub"] = "bob"
    return f"{header}.{b64(json.dumps(body).encode())}.{signature}"


@pytest.mark.parametrize(
    ("build", "status", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rejection(
    verifier: LaunchTokenVerifier,
    signing_key: Ed25519PrivateKey,
    redis_client: Any,
    build: Any,
    status: int,
    code: str,
) -> None:
    with pytest.raises(TokenRejected) as caught:
        verifier.verify(build(signing_key))
    assert (caught.value.status, caught.value.code) == (status, code)
    assert 400 <= caught.value.status < 500
    assert caught.value.detail  # a message a person can act on
    assert not redis_client.keys("nextpyter:jti:*"), "a refused token must not burn its jti"


def test_valid_token_and_single_use(
    verifier: LaunchTokenVerifier, signing_key: Ed25519PrivateKey
) -> None:
    raw = sign(signing_key, claims(sub="Jo O'Neil", path="./a/b.ipynb", profile="gpu"))
    token = verifier.verify(raw)
    assert (token.user_id, token.path, token.profile) == ("Jo O'Neil", "a/b.ipynb", "gpu")
    with pytest.raises(TokenRejected) as caught:
        verifier.verify(raw)
    assert caught.value.code == "token-replayed"


def test_clock_skew_is_allowed(
    verifier: LaunchTokenVerifier, signing_key: Ed25519PrivateKey
) -> None:
    # Nextcloud's clock 20 s ahead of ours: still fine within the 30 s skew.
    ahead = int(time.time()) + 20
    verifier.verify(sign(signing_key, claims(iat=ahead, nbf=ahead, exp=ahead + 60)))


def test_rejected_over_http_with_problem_details_and_nothing_started(
    client: Any, app: Any, signing_key: Ed25519PrivateKey
) -> None:
    backend = app.extensions["nextpyter"].backend
    for name, build, status, code in CASES:
        raw = build(signing_key)
        response = client.post("/api/v1/launch", json={"token": raw})
        assert response.status_code == status, name
        assert response.mimetype == "application/problem+json", name
        # A token that is not a string is refused by the OpenAPI document's body schema.
        expected = code if isinstance(raw, str) else "body-invalid"
        assert response.json["code"] == expected and response.json["detail"], name
        assert "Set-Cookie" not in response.headers, name
        # The same token as a browser's form POST gets a readable HTML page.
        page = client.post(
            "/api/v1/launch",
            data={"token": raw if isinstance(raw, str) else ""},
            headers={"Accept": "text/html", "Origin": devstack.ISSUER},
        )
        assert (page.status_code, page.mimetype) == (status, "text/html"), name
    assert backend.list() == []


def test_key_rotation_by_kid(tmp_path: Path, redis_client: Any) -> None:
    pem1, jwks = generate_key(tmp_path, "one")
    now = [1000.0]
    keyset = KeySet(str(jwks), refresh_interval=300, clock=lambda: now[0])
    verifier = LaunchTokenVerifier(
        keyset, devstack.ISSUER, AUD, RedisJtiStore(redis_client), ("default",)
    )
    from nextpyter.sidecar.signing import load_key

    verifier.verify(sign(load_key(pem1), claims()))
    pem2, _ = generate_key(tmp_path, "two")  # rotation: a second key joins the JWKS
    token2 = sign(load_key(pem2), claims())
    now[0] += 1  # too soon after the last load: an unknown kid does not refetch yet
    with pytest.raises(TokenRejected):
        verifier.verify(token2)
    now[0] += MIN_REFRESH_GAP
    verifier.verify(sign(load_key(pem2), claims()))  # refetched on the unknown kid
    verifier.verify(sign(load_key(pem1), claims()))  # the old key still works


def test_jwks_over_http(
    keys: tuple[Path, Path], signing_key: Ed25519PrivateKey, redis_client: Any
) -> None:
    handler = partial(SimpleHTTPRequestHandler, directory=str(keys[1].parent))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{keys[1].name}"
        verifier = LaunchTokenVerifier(
            KeySet(url), devstack.ISSUER, AUD, RedisJtiStore(redis_client), ("default",)
        )
        assert verifier.verify(sign(signing_key, claims())).user_id == "alice"
    finally:
        server.shutdown()
        server.server_close()


def test_mint_launch_token_matches_contract(signing_key: Ed25519PrivateKey) -> None:
    raw = mint_launch_token(signing_key, issuer="i", audience="a", user_id="u", path="p")
    header = jwt.get_unverified_header(raw)
    body = jwt.decode(raw, options={"verify_signature": False})
    assert header["alg"] == "EdDSA" and header["kid"] == public_jwk(signing_key)["kid"]
    assert set(body) == {"iss", "aud", "sub", "iat", "nbf", "exp", "jti", "path", "profile"}
    assert body["exp"] - body["iat"] <= 120


def test_admin_tokens(verifier: LaunchTokenVerifier, signing_key: Ed25519PrivateKey) -> None:
    from nextpyter.sidecar.signing import mint_admin_token

    raw = mint_admin_token(
        signing_key, issuer=devstack.ISSUER, audience=AUD, scopes=["sessions:read"]
    )
    admin = verifier.verify_admin(raw)
    assert admin.allows("sessions:read") and not admin.allows("sessions:write")
    with pytest.raises(TokenRejected, match="used already"):
        verifier.verify_admin(raw)
    # A launch token is no admin token, and an admin token opens no notebook.
    with pytest.raises(TokenRejected) as caught:
        verifier.verify_admin(sign(signing_key, claims(purpose="launch", scopes=["admin"])))
    assert caught.value.code == "token-purpose"
    with pytest.raises(TokenRejected) as caught:
        verifier.verify(
            mint_admin_token(signing_key, issuer=devstack.ISSUER, audience=AUD, scopes=["admin"])
        )
    assert caught.value.code in {"token-claim-missing", "token-purpose"}
    bad_scopes = sign(signing_key, claims(purpose="admin", scopes="admin"))
    with pytest.raises(TokenRejected, match="scopes"):
        verifier.verify_admin(bad_scopes)


def test_lone_surrogate_in_json_is_400(client: Any) -> None:
    """Found in review: PyJWT raised UnicodeEncodeError (a 500) on it."""
    response = client.post(
        "/api/v1/launch", data='{"token": "\\ud800"}', content_type="application/json"
    )
    assert response.status_code == 400 and response.json["code"] == "token-malformed"

"""Sign-in against a real OpenID Connect provider (oidc-provider, in Node, on a loopback
port), through the real gateway (nginx) and sidecar (gunicorn) on real Redis: the
gateway's redirect, the code flow with PKCE, state and nonce, every refusal of the
callback, one identity, two users, sign-out and an admin's revocation."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis as redis_lib
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jwt
from joserfc.jwk import RSAKey

from devtools import services as devstack
from nextpyter.common import keys
from nextpyter.sidecar.apitokens import ApiTokens
from tests.support.oidc_provider import OidcProvider
from tests.support.stack import Stack, wait_until

CLIENT_ID, CLIENT_SECRET = "nextpyter", "a-client-secret-for-the-tests-0123"
USERS = {
    "alice": {"preferred_username": "alice", "groups": ["staff"]},
    "bob": {"preferred_username": "bob", "groups": []},
}


@pytest.fixture(scope="module")
def signin(
    tmp_path_factory: pytest.TempPathFactory,
    redis_service: devstack.Service,
    keys: tuple[Path, Path],
    signing_key: Ed25519PrivateKey,
) -> Iterator[tuple[Stack, OidcProvider]]:
    workdir = tmp_path_factory.mktemp("signin")
    port = devstack.free_port()
    public = f"http://127.0.0.1:{port}"
    client = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [f"{public}/hub/callback"],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    }
    provider = OidcProvider.start(workdir / "provider", [client], USERS)
    secret_file = workdir / "client-secret"
    secret_file.write_text(CLIENT_SECRET + "\n")
    try:
        stack = start_signin_stack(
            workdir / "stack",
            redis_service.address,
            keys[1],
            signing_key,
            port,
            NEXTPYTER_COOKIE_SECURE="false",  # requests keeps Secure cookies to https
            NEXTPYTER_SIGNIN_PROVIDER="oidc",
            NEXTPYTER_SIGNIN_ISSUER=provider.issuer,
            NEXTPYTER_SIGNIN_CLIENT_ID=CLIENT_ID,
            NEXTPYTER_SIGNIN_CLIENT_SECRET_FILE=str(secret_file),
            NEXTPYTER_SIGNIN_SCOPES="openid profile groups",
            NEXTPYTER_PUBLIC_URL=public,
        )
    except Exception:
        provider.stop()
        raise
    for user in USERS:
        stack.user(user)
    yield stack, provider
    stack.close()
    provider.stop()


def start_signin_stack(
    workdir: Path, redis_address: str, jwks: Path, key: Ed25519PrivateKey, port: int, **env: str
) -> Stack:
    """As tests/support/stack.py's start_stack, with the gateway on ``port`` (the sidecar
    must know its public URL before the gateway starts)."""
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    environment = devstack.sidecar_env(workdir, redis_address, data, jwks, **env)
    sidecar = devstack.start_sidecar(workdir, environment)
    try:
        gateway = devstack.start_gateway(workdir, sidecar.address, port=port)
    except Exception:
        sidecar.stop()
        raise
    return Stack(workdir, environment, data, sidecar, gateway, key)


def _form(page: str) -> tuple[str, dict[str, str]]:
    action = html.unescape(re.search(r'<form[^>]*action="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    fields = {
        html.unescape(n): html.unescape(v)
        for n, v in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page)
    }
    return action, fields


def provider_login(http: requests.Session, url: str, login: str) -> requests.Response:
    """Follow the provider from its authorization URL through its login and consent forms
    (oidc-provider's development interactions) to the redirect back to the callback,
    which is returned unfollowed."""
    issuer = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
    answer = http.get(url, allow_redirects=False)
    for _ in range(12):
        if answer.is_redirect:
            target = answer.headers["Location"]
            if "/hub/callback" in target:
                return answer
            answer = http.get(
                target if target.startswith("http") else issuer + target, allow_redirects=False
            )
            continue
        page = answer.text
        action, fields = _form(page)
        if 'name="login"' in page:
            fields.update(login=login, password="any")
        answer = http.post(
            action if action.startswith("http") else issuer + action,
            data=fields,
            allow_redirects=False,
        )
    raise AssertionError(f"the provider never sent the browser back: {answer.status_code}")


def start_signin(stack: Stack, http: requests.Session, next_url: str) -> str:
    """The gateway's redirect for ``next_url`` without a cookie, then /hub/login: the
    provider's authorization URL."""
    first = http.get(
        f"{stack.url}{next_url}", headers={"Accept": "text/html"}, allow_redirects=False
    )
    assert first.status_code == 302, first.text
    login = first.headers["Location"]
    assert login.startswith("/hub/login?next="), login
    second = http.get(f"{stack.url}{login}", allow_redirects=False)
    assert second.status_code == 302
    return second.headers["Location"]


def sign_in(stack: Stack, login: str, next_url: str = "/hub/") -> requests.Session:
    http = requests.Session()
    authorize = start_signin(stack, http, next_url)
    back = provider_login(http, authorize, login)
    done = http.get(back.headers["Location"], allow_redirects=False)
    assert done.status_code in (200, 303), done.text
    return http


def no_session_cookie(answer: requests.Response) -> None:
    assert "nextpyter_session" not in answer.headers.get("Set-Cookie", "")
    assert "nextpyter_hub" not in answer.headers.get("Set-Cookie", "")


def test_the_authorization_request_has_pkce_state_and_nonce(signin: Any) -> None:
    stack, provider = signin
    url = start_signin(stack, requests.Session(), "/user/alice/lab")
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(provider.issuer + "/auth?")
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) >= 43
    assert len(query["state"][0]) >= 32 and len(query["nonce"][0]) >= 32
    assert query["client_id"] == [CLIENT_ID] and "openid" in query["scope"][0].split()


def test_api_clients_get_a_401_problem_and_no_redirect(signin: Any) -> None:
    stack, _ = signin
    answer = requests.get(f"{stack.url}/user/alice/api/status", timeout=10)
    assert answer.status_code == 401
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert answer.json()["code"] == "session-required"


def test_the_return_url_stays_on_the_gateway(signin: Any) -> None:
    stack, _ = signin
    for bad in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "/api/v1/x"):
        http = requests.Session()
        answer = http.get(f"{stack.url}/hub/login", params={"next": bad}, allow_redirects=False)
        state = parse_qs(urlsplit(answer.headers["Location"]).query)["state"][0]
        record = redis_lib.Redis.from_url(stack.env["NEXTPYTER_REDIS_URL"], decode_responses=True)
        stored = json.loads(record.get(keys.signin(hashlib.sha256(state.encode()).hexdigest())))
        assert stored["next"] == "/hub/", bad


def test_sign_in_leads_back_to_the_server_and_one_identity(signin: Any) -> None:
    stack, _ = signin
    http = requests.Session()
    authorize = start_signin(stack, http, "/user/alice/lab")
    back = provider_login(http, authorize, "alice")
    done = http.get(back.headers["Location"], allow_redirects=False)
    # Not running yet: the progress page of its start, which goes on to the URL asked for.
    assert done.status_code == 200 and "Starting your notebook" in done.text
    assert '"url": "/user/alice/lab"' in done.text
    cookies = done.headers["Set-Cookie"]
    assert "nextpyter_session=" in cookies and "Path=/user/alice/" in cookies
    assert "nextpyter_hub=" in cookies and "HttpOnly" in cookies and "SameSite=Lax" in cookies
    # The same slug and server as "Open in Jupyter" gives.
    wait_until(lambda: stack.backend.status("alice") is not None, timeout=90)
    lab = wait_until(
        lambda: (r := http.get(f"{stack.url}/user/alice/api/status")).status_code == 200 and r,
        timeout=90,
    )
    assert lab.json()
    # The dashboard shows it; bob's server is not reachable with alice's session.
    board = http.get(f"{stack.url}/hub/")
    assert board.status_code == 200 and "alice" in board.text and "Stop server" in board.text
    # alice's cookie is scoped to /user/alice/; sent to bob's server anyway, it is refused.
    alice_cookie = f"nextpyter_session={http.cookies.get('nextpyter_session')}"
    mine = requests.get(f"{stack.url}/user/bob/api/status", headers={"Cookie": alice_cookie})
    assert mine.status_code == 403
    # And signing in as alice with bob's server as the return URL ends on a 403 page.
    other = requests.Session()
    back = provider_login(other, start_signin(stack, other, "/user/bob/lab"), "alice")
    assert other.get(back.headers["Location"], allow_redirects=False).status_code == 403
    # A launch token's session is honoured by the dashboard too (one identity).
    _cookie, launch = stack.launch("bob")
    hub = re.search(
        r"nextpyter_hub=[^;]+",
        requests.post(
            f"{stack.url}/api/v1/launch", json={"token": stack.token("bob")}, timeout=30
        ).headers["Set-Cookie"],
    ).group(0)  # type: ignore[union-attr]
    bob_board = requests.get(f"{stack.url}/hub/", headers={"Cookie": hub}, timeout=30)
    assert (
        bob_board.status_code == 200 and "bob" in bob_board.text and "alice" not in bob_board.text
    )
    stack.wait(launch)


def test_revocation_ends_alice_at_her_next_request(signin: Any) -> None:
    stack, _ = signin
    http = sign_in(stack, "alice", "/hub/")
    wait_until(lambda: stack.backend.status("alice") is not None or _start(stack, http), timeout=90)
    wait_until(lambda: http.get(f"{stack.url}/user/alice/api/status").status_code == 200, 90)
    client = redis_lib.Redis.from_url(stack.env["NEXTPYTER_REDIS_URL"], decode_responses=True)
    _, token = ApiTokens(client).create("revoker", ["admin"])
    answer = requests.delete(
        f"{stack.url}/api/v1/sessions/alice/logins",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 204
    after = http.get(f"{stack.url}/user/alice/api/status", headers={"Accept": "application/json"})
    assert after.status_code == 401
    assert http.get(f"{stack.url}/hub/", allow_redirects=False).status_code == 302
    # Signing in again works (revocation ends sessions, not the account).
    again = sign_in(stack, "alice", "/hub/")
    assert again.get(f"{stack.url}/user/alice/api/status").status_code == 200


def _start(stack: Stack, http: requests.Session) -> bool:
    board = http.get(f"{stack.url}/hub/")
    token = re.search(r'name="csrf" value="([^"]+)"', board.text)
    if token and "Start server" in board.text:
        http.post(
            f"{stack.url}/hub/start",
            data={"csrf": token.group(1)},
            headers={"Origin": stack.url},
        )
    return False


def test_sign_out_ends_the_session_in_this_browser(signin: Any) -> None:
    stack, provider = signin
    http = sign_in(stack, "bob", "/hub/")
    board = http.get(f"{stack.url}/hub/")
    csrf = re.search(r'name="csrf" value="([^"]+)"', board.text).group(1)  # type: ignore[union-attr]
    refused = http.post(
        f"{stack.url}/hub/logout", data={"csrf": "x"}, headers={"Origin": stack.url}
    )
    assert refused.status_code == 403
    out = http.post(f"{stack.url}/hub/logout", data={"csrf": csrf}, headers={"Origin": stack.url})
    assert out.status_code == 200 and "signed out" in out.text
    assert f"{provider.issuer}/session/end?client_id={CLIENT_ID}" in html.unescape(out.text)
    assert http.get(f"{stack.url}/hub/", allow_redirects=False).status_code == 302


# -- refusals: each a clear page, no cookie ------------------------------------------


def _callback(
    stack: Stack, provider: OidcProvider, login: str = "bob"
) -> tuple[requests.Session, str]:
    """A sign-in up to the provider's redirect back: the browser and the callback URL."""
    http = requests.Session()
    back = provider_login(http, start_signin(stack, http, "/hub/"), login)
    return http, back.headers["Location"]


def _refused(answer: requests.Response, code: str) -> None:
    assert 400 <= answer.status_code < 600, answer.status_code
    assert "Sign-in failed" in answer.text and f"<code>{code}</code>" in answer.text, answer.text
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "Content-Security-Policy" in answer.headers
    no_session_cookie(answer)


def test_missing_state(signin: Any) -> None:
    stack, provider = signin
    http, url = _callback(stack, provider)
    url = re.sub(r"[?&]state=[^&]+", "", url).replace("callback&", "callback?")
    _refused(http.get(url, allow_redirects=False), "state-missing")


def test_foreign_state_from_another_browser(signin: Any) -> None:
    stack, provider = signin
    _, url = _callback(stack, provider)  # the attacker's own sign-in
    victim = requests.Session()
    _refused(victim.get(url, allow_redirects=False), "state-foreign")


def test_reused_state_and_replayed_code(signin: Any) -> None:
    stack, provider = signin
    http, url = _callback(stack, provider)
    assert http.get(url, allow_redirects=False).status_code == 303
    _refused(http.get(url, allow_redirects=False), "state-foreign")  # the state is spent
    # The same code with a fresh, valid state: the provider refuses the code.
    code = parse_qs(urlsplit(url).query)["code"][0]
    http2, url2 = _callback(stack, provider)
    replay = re.sub(r"code=[^&]+", f"code={code}", url2)
    _refused(http2.get(replay, allow_redirects=False), "code-refused")


def test_a_used_state_is_refused_even_with_its_cookie(signin: Any) -> None:
    stack, provider = signin
    http, url = _callback(stack, provider)
    state = parse_qs(urlsplit(url).query)["state"][0]
    client = redis_lib.Redis.from_url(stack.env["NEXTPYTER_REDIS_URL"], decode_responses=True)
    client.delete(keys.signin(hashlib.sha256(state.encode()).hexdigest()))  # used elsewhere
    _refused(http.get(url, allow_redirects=False), "state-unknown")


def test_missing_pkce_verifier(signin: Any) -> None:
    stack, provider = signin
    http, url = _callback(stack, provider)
    state = parse_qs(urlsplit(url).query)["state"][0]
    client = redis_lib.Redis.from_url(stack.env["NEXTPYTER_REDIS_URL"], decode_responses=True)
    key = keys.signin(hashlib.sha256(state.encode()).hexdigest())
    record = json.loads(client.get(key))
    del record["verifier"]
    client.set(key, json.dumps(record), ex=60)
    _refused(http.get(url, allow_redirects=False), "pkce-missing")


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(provider: OidcProvider, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": provider.issuer,
        "aud": CLIENT_ID,
        "sub": "bob",
        "preferred_username": "bob",
        "iat": now,
        "exp": now + 300,
        "nonce": "filled-in",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _nonce_of(stack: Stack, url: str) -> str:
    state = parse_qs(urlsplit(url).query)["state"][0]
    client = redis_lib.Redis.from_url(stack.env["NEXTPYTER_REDIS_URL"], decode_responses=True)
    return str(
        json.loads(client.get(keys.signin(hashlib.sha256(state.encode()).hexdigest())))["nonce"]
    )


@pytest.mark.parametrize(
    ("forgery", "code"),
    [
        ("foreign-key", "id-token-signature"),
        ("alg-none", "id-token-algorithm"),
        ("hs256", "id-token-algorithm"),
        ("issuer", "id-token-issuer"),
        ("audience", "id-token-audience"),
        ("expired", "id-token-expired"),
        ("nonce", "id-token-nonce"),
    ],
)
def test_forged_id_tokens_are_refused(signin: Any, forgery: str, code: str) -> None:
    stack, provider = signin
    http, url = _callback(stack, provider)
    nonce = _nonce_of(stack, url)
    own = RSAKey.import_key(provider.private_jwk)
    header = {"alg": "RS256", "kid": provider.private_jwk["kid"]}
    claims = _claims(provider, nonce=nonce)
    if forgery == "foreign-key":
        token = jwt.encode(header, claims, RSAKey.generate_key(2048))
    elif forgery == "alg-none":
        token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    elif forgery == "hs256":
        from joserfc.jwk import OctKey

        token = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(CLIENT_SECRET))
    else:
        changes = {
            "issuer": {"iss": "http://127.0.0.1:1"},
            "audience": {"aud": "another-client"},
            "expired": {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
            "nonce": {"nonce": "another-sign-in"},
        }[forgery]
        token = jwt.encode(header, {**claims, **changes}, own)
    provider.next_id_token(token)
    _refused(http.get(url, allow_redirects=False), code)


def test_a_token_signed_with_the_providers_own_key_passes(signin: Any) -> None:
    """The control of the forgeries: the same construction, right claims, passes."""
    stack, provider = signin
    http, url = _callback(stack, provider)
    claims = _claims(provider, nonce=_nonce_of(stack, url))
    header = {"alg": "RS256", "kid": provider.private_jwk["kid"]}
    provider.next_id_token(jwt.encode(header, claims, RSAKey.import_key(provider.private_jwk)))
    assert http.get(url, allow_redirects=False).status_code == 303

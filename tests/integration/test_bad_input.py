"""Bad input (issue 13): every answer to it is a 4xx with a message, never a 5xx, and it
changes nothing: no server started, no token id used, no setting saved.

The cases a hostile-input campaign found (a deep JSON body, oversized bodies and headers
through the gateway, a chunked body past the limit, 405s without Allow, the document
looser than the code, Unicode control and bidirectional characters in paths, wording),
then hypothesis-generated bodies, headers and paths against the launch, session, config
and image routes, in-process on real Redis.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import redis as redis_lib
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools import services as devstack
from nextpyter.sidecar.signing import mint_admin_token, mint_launch_token
from tests.support.stack import Stack

DEEP = "[" * 1000 + "]" * 1000
LIMIT = 64 * 1024


def admin(key: Ed25519PrivateKey) -> dict[str, str]:
    token = mint_admin_token(
        key, issuer=devstack.ISSUER, audience="nextpyter-sidecar", scopes=["admin"]
    )
    return {"Authorization": f"Bearer {token}"}


def launch_token(key: Ed25519PrivateKey, user: str = "ola", **claims: Any) -> str:
    return mint_launch_token(
        key, issuer=devstack.ISSUER, audience="nextpyter-sidecar", user_id=user, **claims
    )


def used_jtis(client: redis_lib.Redis) -> list[str]:
    return sorted(k for k in client.keys("nextpyter:jti:*") if isinstance(k, str))


def assert_refused(response: Any, statuses: tuple[int, ...] = (400,)) -> dict[str, Any]:
    """A 4xx problem with a message a person can act on."""
    assert response.status_code in statuses, (response.status_code, response.get_data()[:300])
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.json
    assert body["code"] and len(body["detail"]) > 20, body
    return body


class Unchanged:
    """What a refused request must leave as it was: servers, used token ids, settings."""

    def __init__(self, app: Any, redis_client: redis_lib.Redis, key: Ed25519PrivateKey) -> None:
        self.app, self.redis, self.key = app, redis_client, key
        self.before = self.state()

    def state(self) -> tuple[Any, ...]:
        backend = self.app.extensions["nextpyter"].backend
        servers = [s.slug for s in backend.list()]
        # The settings as saved (read from Redis: an admin call here would use a jti).
        return servers, self.redis.get("nextpyter:config"), self.redis.keys("nextpyter:launch:*")

    def check(self) -> None:
        assert self.state() == self.before


@pytest.fixture
def watch(app: Any, redis_client: redis_lib.Redis, signing_key: Ed25519PrivateKey) -> Any:
    devstack.make_user(app.extensions["nextpyter"].settings.data_dir, "ola")
    return Unchanged(app, redis_client, signing_key)


# 1. A deep body is a 400, not a 500 with a traceback.


@pytest.mark.parametrize(
    ("method", "path"),
    # (POST /images/pulls answers 409 on the local backend before it reads a body)
    [("post", "/api/v1/launch"), ("put", "/api/v1/config")],
)
def test_deeply_nested_json_is_a_400(
    client: Any, watch: Unchanged, signing_key: Ed25519PrivateKey, method: str, path: str
) -> None:
    for body in (DEEP, '{"a":' * 500 + "1" + "}" * 500, "[" * 40 + "]" * 40):
        response = getattr(client, method)(
            path, data=body, content_type="application/json", headers=admin(signing_key)
        )
        problem = assert_refused(response)
        assert problem["code"] in {"body-invalid"}
        assert "nests" in problem["detail"] and "32" in problem["detail"]
    watch.check()


def test_every_undecodable_body_is_a_400_saying_so(
    client: Any, watch: Unchanged, signing_key: Ed25519PrivateKey
) -> None:
    bodies = {
        b"": "no body",
        b"[": "not valid JSON",
        b"\xff\xfe{}": "not UTF-8",
        b'{"token": NaN}': "not valid JSON",
        b'{"profiles": Infinity}': "not valid JSON",
        b"[1, 2]": "must be a JSON object",
        b'"text"': "must be a JSON object",
        b"1" * 5000: "not valid JSON",  # past Python's digit limit for ints
        b'{"a": "\\ud800"}' + b" " * 10: "",  # a lone surrogate: valid JSON, refused later
    }
    for path, method in (("/api/v1/launch", "post"), ("/api/v1/config", "put")):
        for data, needle in bodies.items():
            response = getattr(client, method)(
                path, data=data, content_type="application/json", headers=admin(signing_key)
            )
            problem = assert_refused(response)
            assert needle in problem["detail"], (path, data[:20], problem)
    watch.check()


# 3. A chunked body past the limit, straight to the sidecar: 413 naming the limit.


def test_a_chunked_body_past_the_limit_is_a_413_naming_it(stack: Stack) -> None:
    def chunks(size: int) -> Iterator[bytes]:
        yield b'{"token": "'
        for _ in range(size // 8192):
            yield b"a" * 8192
        yield b'"}'

    url = f"{stack.sidecar_url}/api/v1/launch"
    headers = {"Content-Type": "application/json"}
    big = requests.post(url, data=chunks(LIMIT * 2), headers=headers, timeout=30)
    assert big.status_code == 413, big.text
    assert big.headers["Content-Type"] == "application/problem+json"
    assert big.json()["code"] == "body-too-large" and "64 KiB" in big.json()["detail"]
    assert big.json()["limit"] == LIMIT
    # Under the limit, the same chunked body is read whole (and the token refused).
    small = requests.post(url, data=chunks(16 * 1024), headers=headers, timeout=30)
    assert small.status_code == 400 and small.json()["code"] == "token-too-large"
    # With a Content-Length over the limit: the same 413, unread.
    sized = requests.post(url, data=b"x" * (LIMIT + 1), headers=headers, timeout=30)
    assert sized.status_code == 413 and sized.json()["code"] == "body-too-large"
    # A form post (the browser's launch) past the limit: the same, as a page for a browser.
    page = requests.post(
        url,
        data={"token": "a" * (LIMIT + 10)},
        headers={"Accept": "text/html", "Origin": devstack.ISSUER},
        timeout=30,
    )
    assert page.status_code == 413 and page.headers["Content-Type"].startswith("text/html")
    assert "64 KiB" in page.text


# 2. nginx's own refusals are NextPyter's pages: HTML for browsers, problems for APIs.

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
JSON = {"Accept": "application/json"}


def _is_page(response: requests.Response, status: int, needle: str) -> None:
    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"].startswith("text/html"), response.headers
    assert "NextPyter" in response.text and needle in response.text
    assert response.headers["Cache-Control"] == "no-store"


def _is_problem(response: requests.Response, status: int, code: str, needle: str) -> None:
    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert (problem["status"], problem["code"]) == (status, code)
    assert needle in problem["detail"] and problem["type"].endswith(code)


def test_oversized_launches_through_the_gateway_get_nextpyters_413(stack: Stack) -> None:
    url = f"{stack.url}/api/v1/launch"
    token = "a" * (1024 * 1024)
    as_api = requests.post(url, json={"token": token}, headers=JSON, timeout=30)
    _is_problem(as_api, 413, "request-too-large", "64 KB")
    as_form = requests.post(
        url, data={"token": token}, headers={**HTML, "Origin": devstack.ISSUER}, timeout=30
    )
    _is_page(as_form, 413, "64 KB")
    try:
        huge = requests.post(url, data=b"x" * (10 * 1024 * 1024), headers=JSON, timeout=60)
    except requests.ConnectionError:
        pytest.fail("nginx cut the connection instead of answering 413")
    _is_problem(huge, 413, "request-too-large", "Open the notebook again")


@pytest.mark.parametrize("path", ["/api/v1/launch", "/user/ola/lab", "/api/v1/health"])
def test_a_20_kb_cookie_gets_nextpyters_431(stack: Stack, path: str) -> None:
    cookie = {"Cookie": "junk=" + "c" * 20_000}
    method = requests.post if path.endswith("launch") else requests.get
    as_browser = method(f"{stack.url}{path}", headers={**HTML, **cookie}, timeout=30)
    _is_page(as_browser, 431, "Delete the cookies of this site")
    as_api = method(f"{stack.url}{path}", headers={**JSON, **cookie}, timeout=30)
    _is_problem(as_api, 431, "headers-too-large", "8 KB")


def test_a_request_line_nginx_refuses_is_never_a_5xx(stack: Stack) -> None:
    # nginx refuses "%00" in a path itself, before any header is read.
    for path in ("/api/v1/sessions/%00", "/user/ola/%00", "/%00"):
        answer = requests.get(f"{stack.url}{path}", headers=JSON, timeout=30)
        assert 400 <= answer.status_code < 500, (path, answer.status_code)


def test_nothing_was_started_by_the_gateway_cases(stack: Stack) -> None:
    assert stack.backend.list() == []


# 4. Every 405 says which methods the address takes.


def test_every_documented_address_answers_a_wrong_method_with_allow(client: Any, app: Any) -> None:
    spec = json.loads(client.get("/api/v1/openapi.json").get_data())
    samples = {"{user}": "ola", "{launch_id}": "abc"}
    checked = 0
    for path, item in spec["paths"].items():
        url = "/api/v1" + path
        for name, value in samples.items():
            url = url.replace(name, value)
        documented = {m.upper() for m in item}
        for method in ("GET", "PUT", "POST", "DELETE", "PATCH"):
            if method in documented:
                continue
            response = client.open(url, method=method)
            assert response.status_code == 405, (method, path)
            allowed = {m.strip() for m in response.headers["Allow"].split(",")}
            assert documented <= allowed, (method, path, allowed)
            assert "not allowed" in response.json["detail"]
            checked += 1
    assert checked >= 10 * 3  # every operation's address, each with its wrong methods


# 5. The document is as strict as the code: what it refuses, the code refuses.


def test_the_document_says_what_the_code_checks(client: Any) -> None:
    spec = json.loads(client.get("/api/v1/openapi.json").get_data())
    [user] = spec["paths"]["/sessions/{user}"]["get"]["parameters"]
    assert user["schema"]["maxLength"] == 64 and user["schema"]["pattern"]
    profiles = spec["components"]["schemas"]["RuntimeConfig"]["properties"]["profiles"]
    assert profiles["minProperties"] == 1


@pytest.mark.parametrize(
    "user", ["a" * 65, " ann", "ann ", "..", "a/b", "a%00b", "ann\u202e", "%E2%80%A8"]
)
def test_a_user_the_document_refuses_is_a_400(
    client: Any, signing_key: Ed25519PrivateKey, user: str
) -> None:
    for method in ("get", "delete"):
        response = getattr(client, method)(f"/api/v1/sessions/{user}", headers=admin(signing_key))
        if response.status_code == 404 and "/" in user:
            continue  # a slash is another address
        problem = assert_refused(response)
        assert problem["code"] == "invalid-user" and "user id" in problem["detail"]


def test_settings_with_no_profile_are_refused_by_the_document_and_the_code(
    client: Any, watch: Unchanged, signing_key: Ed25519PrivateKey
) -> None:
    response = client.put("/api/v1/config", json={"profiles": {}}, headers=admin(signing_key))
    problem = assert_refused(response)
    assert problem["code"] == "config-invalid" and "'profiles'" in problem["detail"]
    watch.check()


# 6. Unicode control, format and separator characters in a token's path.


@pytest.mark.parametrize("char", ["\x85", "\u2028", "\u2029", "\u202e", "\u200b", "\ufeff", "\t"])
def test_a_path_with_a_control_or_bidi_character_is_refused(
    client: Any,
    watch: Unchanged,
    redis_client: redis_lib.Redis,
    signing_key: Ed25519PrivateKey,
    char: str,
) -> None:
    token = launch_token(signing_key, path=f"evil{char}bynpi.exe")
    problem = assert_refused(client.post("/api/v1/launch", json={"token": token}))
    assert problem["code"] == "token-path" and f"U+{ord(char):04X}" in problem["detail"]
    api = client.post(
        "/api/v1/launch", json={"user": "ola", "path": f"a{char}b"}, headers=admin(signing_key)
    )
    assert assert_refused(api)["code"] == "path-refused"
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert not redis_client.exists(f"nextpyter:jti:{jti}")  # the token is still unused
    watch.check()


# 7. Wording.


def test_an_admin_bearer_that_fails_is_not_told_to_open_a_notebook(
    client: Any, signing_key: Ed25519PrivateKey
) -> None:
    good = mint_admin_token(
        signing_key, issuer=devstack.ISSUER, audience="nextpyter-sidecar", scopes=["admin"]
    )
    header, payload, signature = good.split(".")
    tampered = f"{header}.{payload}.{signature[::-1]}"
    other_audience = mint_admin_token(
        signing_key, issuer=devstack.ISSUER, audience="someone-else", scopes=["admin"]
    )
    for token in (tampered, other_audience):
        response = client.get("/api/v1/sessions", headers={"Authorization": f"Bearer {token}"})
        problem = assert_refused(response, (400, 401))
        assert "Open the notebook" not in problem["detail"]
        assert "admin token" in problem["detail"] and "Nextcloud" in problem["detail"]


def test_a_user_of_the_wrong_type_is_named_as_it_came(
    client: Any, signing_key: Ed25519PrivateKey
) -> None:
    response = client.post("/api/v1/launch", json={"user": 123}, headers=admin(signing_key))
    problem = assert_refused(response)
    assert "123" in problem["detail"] and "''" not in problem["detail"]


def test_claims_of_the_wrong_type_are_all_400(
    client: Any, redis_client: redis_lib.Redis, signing_key: Ed25519PrivateKey
) -> None:
    from nextpyter.sidecar.signing import public_jwk

    kid = public_jwk(signing_key)["kid"]
    good = jwt.decode(launch_token(signing_key), options={"verify_signature": False})
    for claim, value in (("sub", 123), ("jti", 12345678901234567890), ("path", ["a"])):
        token = jwt.encode({**good, claim: value}, signing_key, "EdDSA", headers={"kid": kid})
        problem = assert_refused(client.post("/api/v1/launch", json={"token": token}))
        assert problem["code"].startswith("token-"), (claim, problem)
    assert used_jtis(redis_client) == []


def test_a_kid_of_129_characters_is_too_long(client: Any, signing_key: Ed25519PrivateKey) -> None:
    good = jwt.decode(launch_token(signing_key), options={"verify_signature": False})
    token = jwt.encode(good, signing_key, "EdDSA", headers={"kid": "k" * 129})
    problem = assert_refused(client.post("/api/v1/launch", json={"token": token}), (401,))
    assert problem["code"] == "token-kid" and "129 characters" in problem["detail"]
    assert "128" in problem["detail"]


# Generated: bodies, headers and paths. Each answer a 4xx with a message; nothing changed.

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
KEYS = st.sampled_from(
    ["token", "user", "path", "profile", "profiles", "images", "default_profile", "x"]
)
BODIES = st.dictionaries(KEYS, JSON_VALUES, max_size=4)
RAW = st.binary(max_size=300) | BODIES.map(lambda b: json.dumps(b).encode())
HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200
)  # what a WSGI header can carry
# ("", ".", ".." and a "/" (%2F is decoded) are other addresses, which Flask redirects.)
PATHS = st.text(
    st.characters(exclude_characters="/", exclude_categories=["Cs"]), min_size=1, max_size=80
).filter(lambda p: p not in {".", ".."})
FAST = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _no_5xx(response: Any) -> None:
    assert response.status_code < 500, response.get_data()[:300]
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"
        assert len(response.json["detail"]) > 20


@FAST
@given(
    raw=RAW,
    authorization=HEADER_TEXT,
    content_type=st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "text/plain", ""]
    ),
)
def test_generated_launch_bodies_and_headers(
    client: Any,
    watch: Unchanged,
    redis_client: redis_lib.Redis,
    raw: bytes,
    authorization: str,
    content_type: str,
) -> None:
    response = client.post(
        "/api/v1/launch",
        data=raw,
        headers={
            "Authorization": authorization,
            "Content-Type": content_type,
            "Origin": devstack.ISSUER,
        },
    )
    _no_5xx(response)
    assert response.status_code >= 400
    assert used_jtis(redis_client) == []
    watch.check()


@FAST
@given(body=BODIES, authorization=HEADER_TEXT)
def test_generated_api_launches_with_an_admin_token(
    client: Any,
    watch: Unchanged,
    signing_key: Ed25519PrivateKey,
    body: dict[str, Any],
    authorization: str,
) -> None:
    body.pop("token", None)
    body["user"] = (
        body.get("user", "nobody-here")
        if not isinstance(body.get("user"), str)
        else body["user"] + "\u202e"
    )
    response = client.post("/api/v1/launch", json=body, headers=admin(signing_key))
    _no_5xx(response)
    assert response.status_code >= 400
    unauthenticated = client.post(
        "/api/v1/launch", json=body, headers={"Authorization": authorization}
    )
    _no_5xx(unauthenticated)
    watch.check()


@FAST
@given(body=BODIES | st.builds(lambda p: {"profiles": p}, JSON_VALUES))
def test_generated_settings(
    client: Any, watch: Unchanged, signing_key: Ed25519PrivateKey, body: dict[str, Any]
) -> None:
    response = client.put("/api/v1/config", json=body, headers=admin(signing_key))
    _no_5xx(response)
    assert response.status_code == 400  # none of these is a whole valid document
    watch.check()


@FAST
@given(body=BODIES)
def test_generated_image_pulls(
    client: Any, watch: Unchanged, signing_key: Ed25519PrivateKey, body: dict[str, Any]
) -> None:
    response = client.post("/api/v1/images/pulls", json=body, headers=admin(signing_key))
    _no_5xx(response)
    assert response.status_code in {400, 409}
    assert client.get("/api/v1/images", headers=admin(signing_key)).status_code == 409
    watch.check()


@FAST
@given(user=PATHS, launch_id=PATHS, last_event_id=HEADER_TEXT)
def test_generated_paths_and_headers(
    client: Any,
    watch: Unchanged,
    signing_key: Ed25519PrivateKey,
    user: str,
    launch_id: str,
    last_event_id: str,
) -> None:
    from urllib.parse import quote

    for method in ("get", "delete"):
        response = getattr(client, method)(
            f"/api/v1/sessions/{quote(user, safe='')}", headers=admin(signing_key)
        )
        _no_5xx(response)
        assert response.status_code in {400, 404, 405}
    for suffix in ("", "/events"):
        response = client.get(
            f"/api/v1/launches/{quote(launch_id, safe='')}{suffix}",
            headers={"Last-Event-ID": last_event_id},
        )
        _no_5xx(response)
        assert response.status_code in {400, 404}
    watch.check()

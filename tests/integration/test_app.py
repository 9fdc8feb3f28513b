"""The Flask app in-process (real Redis, no servers started): errors, authorizer, API tokens."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nextpyter.sidecar.apitokens import ApiTokens
from nextpyter.sidecar.config import Settings
from nextpyter.sidecar.sessions import COOKIE_NAME, SessionCookies, SessionInvalid, upstream_secret


def test_unknown_routes_and_methods_are_problem_json(client: Any) -> None:
    missing = client.get("/api/v1/nope")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    assert missing.json["type"].startswith("urn:nextpyter:problem:") and missing.json["detail"]
    wrong = client.delete("/api/v1/launch")
    assert wrong.status_code == 405 and "not allowed" in wrong.json["detail"]


def test_health_ready_and_openapi(client: Any) -> None:
    assert client.get("/api/v1/health").json == {"status": "ok"}
    ready = client.get("/api/v1/ready")
    assert ready.status_code == 200 and ready.json["checks"]["redis"] == "ok"
    assert ready.json["checks"]["jwks"].startswith("ok (1")
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.")


def test_ready_reports_an_unusable_jwks(
    make_app: Any, settings: Settings, tmp_path: Path, redis_client: Any
) -> None:
    empty = tmp_path / "empty-jwks.json"
    empty.write_text('{"keys": []}')
    app = make_app(jwks=str(empty))
    ready = app.test_client().get("/api/v1/ready")
    assert ready.status_code == 503 and "no usable" in ready.json["checks"]["jwks"]


def test_authorizer_answers_only_200_401_403(app: Any, client: Any, settings: Settings) -> None:
    cookies = SessionCookies(settings.secret_key, 60, True)
    good = cookies.issue("Ann Lee", "ann-lee--0123")

    def ask(slug: str, cookie: str | None) -> Any:
        if cookie is not None:
            client.set_cookie(COOKIE_NAME, cookie)
        else:
            client.delete_cookie(COOKIE_NAME)
        return client.get("/internal/authorize", headers={"X-NextPyter-Slug": slug})

    ok = ask("ann-lee--0123", good)
    assert ok.status_code == 200
    assert ok.headers["X-NextPyter-Upstream-Secret"] == upstream_secret(
        settings.secret_key, "ann-lee--0123"
    )
    assert ok.headers["X-NextPyter-Upstream"].endswith("/servers/ann-lee--0123/jupyter.sock:")
    assert ask("bob", good).status_code == 403
    assert ask("../x", good).status_code == 403
    assert ask("ann-lee--0123", None).status_code == 401
    assert ask("ann-lee--0123", good[:-2] + "xx").status_code == 401
    other_secret = SessionCookies("another-secret-of-enough-length-000000", 60, True)
    assert ask("ann-lee--0123", other_secret.issue("Ann Lee", "ann-lee--0123")).status_code == 401


def test_session_cookie_expires() -> None:
    cookies = SessionCookies("a-secret-key-that-is-long-enough-000000", 1, True)
    value = cookies.issue("u", "u")
    assert cookies.read(value).slug == "u"
    time.sleep(2.1)
    with pytest.raises(SessionInvalid, match="expired"):
        cookies.read(value)


def test_launch_cookie_attributes(
    client: Any, app: Any, settings: Settings, signing_key: Any
) -> None:
    from devtools import services as devstack
    from nextpyter.sidecar.signing import mint_launch_token

    devstack.make_user(settings.data_dir, "zoe")
    token = mint_launch_token(
        signing_key, issuer=devstack.ISSUER, audience="nextpyter-sidecar", user_id="zoe", path=""
    )
    page = client.post("/api/v1/launch", data={"token": token}, headers={"Origin": devstack.ISSUER})
    assert page.status_code == 200 and "Starting your notebook" in page.text
    cookie = page.headers["Set-Cookie"]
    for attribute in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/user/zoe/"):
        assert attribute in cookie
    assert token not in page.text  # the token is not echoed back
    nonce = re.search(r"script-src 'nonce-([^']+)'", page.headers["Content-Security-Policy"])
    assert nonce and f'<script nonce="{nonce.group(1)}">' in page.text
    launch_id = re.search(r"/api/v1/launches/([A-Za-z0-9_-]+)/events", page.text).group(1)
    assert client.get(f"/api/v1/launches/{launch_id}").json["state"] in {
        "queued",
        "starting",
        "ready",
    }


def test_dev_launcher_only_when_configured(
    make_app: Any, settings: Settings, keys: tuple[Path, Path], redis_client: Any
) -> None:
    app = make_app(dev_signing_key=keys[0])
    page = app.test_client().get("/dev/open?user=demo&path=Welcome.ipynb")
    assert page.status_code == 200 and 'action="/api/v1/launch"' in page.text
    assert app.test_client().get("/dev/open?user=../x").status_code == 400


def test_api_tokens_are_stored_hashed(redis_client: Any) -> None:
    tokens = ApiTokens(redis_client)
    record, plain = tokens.create("ci bot", ["sessions:read"])
    stored = redis_client.hget("nextpyter:apitokens", record.id)
    # npt_<id>_<secret>; the secret (urlsafe base64) may itself hold "_".
    secret = plain.split("_", 2)[2]
    assert len(secret) >= 43 and plain not in stored and secret not in stored
    assert tokens.check(plain) == record
    assert tokens.check(plain[:-1] + ("A" if plain[-1] != "A" else "B")) is None
    assert record.allows("sessions:read") and not record.allows("sessions:write")
    with pytest.raises(ValueError, match="unknown"):
        tokens.create("x", ["root"])
    assert tokens.revoke(record.id) and tokens.check(plain) is None


def test_openapi_documents_every_route(app: Any) -> None:
    import json

    spec = json.loads(
        (Path(__file__).resolve().parents[2] / "nextpyter" / "sidecar" / "openapi.json").read_text()
    )
    documented = {(path, method) for path, item in spec["paths"].items() for method in item}
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule[len("/api/v1") :])
        path = path.replace("{user_id}", "{user}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((path, method.lower()))
    assert served == documented


def test_redis_down_is_503_with_a_message(
    make_app: Any, settings: Settings, tmp_path: Path, signing_key: Any
) -> None:
    from devtools import services as devstack
    from nextpyter.sidecar.signing import mint_launch_token

    app = make_app(redis_url=f"unix://{tmp_path}/no-redis.sock")
    devstack.make_user(settings.data_dir, "ann")
    token = mint_launch_token(
        signing_key, issuer=devstack.ISSUER, audience="nextpyter-sidecar", user_id="ann"
    )
    response = app.test_client().post("/api/v1/launch", json={"token": token})
    assert response.status_code == 503 and response.json["code"] == "redis-unavailable"
    assert app.extensions["nextpyter"].backend.list() == []
    ready = app.test_client().get("/api/v1/ready")
    assert ready.status_code == 503 and "unreachable" in ready.json["checks"]["redis"]


def test_admin_token_on_the_api(client: Any, signing_key: Any) -> None:
    from devtools import services as devstack
    from nextpyter.sidecar.signing import mint_admin_token

    def call(scopes: list[str]) -> Any:
        token = mint_admin_token(
            signing_key, issuer=devstack.ISSUER, audience="nextpyter-sidecar", scopes=scopes
        )
        return client.get("/api/v1/sessions", headers={"Authorization": f"Bearer {token}"})

    assert call(["admin"]).json == {"sessions": []}
    assert call(["sessions:read"]).status_code == 403
    forged = mint_admin_token(
        Ed25519PrivateKey.generate(),
        issuer=devstack.ISSUER,
        audience="nextpyter-sidecar",
        scopes=["admin"],
    )
    assert (
        client.get("/api/v1/sessions", headers={"Authorization": f"Bearer {forged}"}).status_code
        == 401
    )


def _admin(signing_key: Any) -> dict[str, str]:
    from devtools import services as devstack
    from nextpyter.sidecar.signing import mint_admin_token

    token = mint_admin_token(
        signing_key, issuer=devstack.ISSUER, audience="nextpyter-sidecar", scopes=["admin"]
    )
    return {"Authorization": f"Bearer {token}"}


GOOD_CONFIG = {
    "profiles": {
        "small": {"cpu": 0.5, "memory": "1g", "gpu": 0},
        "gpu": {"cpu": 4, "memory": "16G", "gpu": 1},
    },
    "default_profile": "small",
    "default_image": "jupyter/lab:4",
    "allowed_images": ["jupyter/lab:4", "registry.local:5000/ds:2024"],
    "idle_timeout": 3600,
    "max_lifetime": 86400,
}


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"profiles": {}}, "'profiles'"),
        ({"profiles": {"Big One": {}}}, "Profile name"),
        ({"profiles": {"x": {"cpu": 0}}}, "cpu"),
        ({"profiles": {"x": {"cpu": True}}}, "cpu"),
        ({"profiles": {"x": {"memory": "lots"}}}, "memory"),
        ({"profiles": {"x": {"gpu": -1}}}, "gpu"),
        ({"default_profile": "nope"}, "default_profile"),
        ({"default_profile": []}, "default_profile"),
        ({"allowed_images": ["UPPER/Case"]}, "allowed_images"),
        ({"default_image": "other:1"}, "default_image"),
        ({"idle_timeout": -5}, "idle_timeout"),
        ({"max_lifetime": "1d"}, "max_lifetime"),
    ],
)
def test_bad_run_time_settings_are_400(
    client: Any, signing_key: Any, change: dict[str, Any], needle: str
) -> None:
    before = client.get("/api/v1/config", headers=_admin(signing_key)).json
    response = client.put(
        "/api/v1/config", json={**GOOD_CONFIG, **change}, headers=_admin(signing_key)
    )
    assert response.status_code == 400 and needle in response.json["detail"]
    assert client.get("/api/v1/config", headers=_admin(signing_key)).json == before


def test_run_time_settings_apply_to_launches(
    client: Any, settings: Settings, signing_key: Any
) -> None:
    from devtools import services as devstack
    from nextpyter.sidecar.signing import mint_launch_token

    assert client.put("/api/v1/config", json=GOOD_CONFIG).status_code == 401
    saved = client.put("/api/v1/config", json=GOOD_CONFIG, headers=_admin(signing_key))
    assert saved.status_code == 200 and saved.json["default_profile"] == "small"
    assert client.get("/api/v1/config", headers=_admin(signing_key)).json["profiles"]["gpu"] == {
        "cpu": 4.0,
        "memory": "16g",
        "gpu": 1,
        "pids": 1024,
        "idle_timeout": 0,  # the installation's idle timeout
        "gpu_shared": False,
    }
    devstack.make_user(settings.data_dir, "pia")

    def launch(profile: str) -> Any:
        token = mint_launch_token(
            signing_key,
            issuer=devstack.ISSUER,
            audience="nextpyter-sidecar",
            user_id="pia",
            profile=profile,
        )
        return client.post("/api/v1/launch", json={"token": token})

    refused = launch("default")  # the environment's profile is no longer offered
    assert refused.status_code == 400 and "small" in refused.json["detail"]
    assert launch("gpu").status_code == 202


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://nextcloud.localhost", True),  # the issuer's origin: Nextcloud's Files action
        ("http://localhost", False),  # the gateway's own origin: only with the dev launcher
        ("https://cloud.extra.example", True),  # NEXTPYTER_LAUNCH_ORIGINS
        ("https://evil.example", False),
        ("http://nextcloud.localhost.evil.example", False),
        ("null", False),  # a sandboxed frame or a data: page
        (None, False),
    ],
)
def test_launch_form_only_from_nextcloud(
    make_app: Any,
    settings: Settings,
    redis_client: Any,
    signing_key: Any,
    origin: str | None,
    allowed: bool,
) -> None:
    """Login CSRF: a page elsewhere posting its owner's token would put the visitor into
    the owner's server, on the same origin as the visitor's own."""
    from devtools import services as devstack
    from nextpyter.sidecar.signing import mint_launch_token

    app = make_app(launch_origins=settings.launch_origins | {"https://cloud.extra.example"})
    devstack.make_user(settings.data_dir, "yan")
    token = mint_launch_token(
        signing_key, issuer=devstack.ISSUER, audience="nextpyter-sidecar", user_id="yan"
    )
    headers = {"Origin": origin} if origin else {}
    page = app.test_client().post("/api/v1/launch", data={"token": token}, headers=headers)
    if allowed:
        assert page.status_code == 200
    else:
        assert page.status_code == 403 and "Set-Cookie" not in page.headers
        assert redis_client.keys("nextpyter:jti:*") == []  # the token was not even looked at


def test_dev_launcher_may_post_from_the_gateway_origin(
    make_app: Any, settings: Settings, keys: Any, redis_client: Any
) -> None:
    from devtools import services as devstack

    app = make_app(dev_signing_key=keys[0])
    devstack.make_user(settings.data_dir, "demo")
    client = app.test_client()
    form = client.get("/dev/open?user=demo")
    token = re.search(r'name="token" value="([^"]+)"', form.text).group(1)
    page = client.post(
        "/api/v1/launch", data={"token": token}, headers={"Origin": "http://localhost"}
    )
    assert page.status_code == 200


def test_odd_launch_inputs_are_4xx_not_5xx(
    client: Any, settings: Settings, signing_key: Any
) -> None:
    """Found in review: each of these was a 500."""
    from devtools import services as devstack
    from nextpyter.sidecar.signing import mint_launch_token

    devstack.make_user(settings.data_dir, "ola")
    headers = _admin(signing_key)
    for profile in ([], {}, 3):
        response = client.post(
            "/api/v1/launch", json={"user": "ola", "profile": profile}, headers=_admin(signing_key)
        )
        # Refused by the OpenAPI document's schema for the body, before any code runs.
        assert response.status_code == 400 and response.json["code"] == "body-invalid"
        assert "'profile'" in response.json["detail"]
    # A path with a name longer than the file system allows: launched, opening the folder.
    long_name = mint_launch_token(
        signing_key,
        issuer=devstack.ISSUER,
        audience="nextpyter-sidecar",
        user_id="ola",
        path="x" * 300 + "/a.ipynb",
    )
    started = client.post("/api/v1/launch", json={"token": long_name})
    assert started.status_code == 202
    for bad_id in (
        "garbage",
        "1-2-3",
        "-1",
        "0-",
        "99999999999999999999-0",
        "0-18446744073709551616",
    ):
        events = client.get(
            f"/api/v1/launches/{started.json['id']}/events", headers={"Last-Event-ID": bad_id}
        )
        assert events.status_code == 400 and events.json["code"] == "event-id-invalid"
    assert (
        client.put(
            "/api/v1/config", data="[", headers={**headers, "Content-Type": "application/json"}
        ).status_code
        == 400
    )


def test_progress_falls_back_to_polling_when_streams_are_full(
    make_app: Any, settings: Settings, redis_client: Any, signing_key: Any
) -> None:
    """A worker keeps threads for short requests: past NEXTPYTER_MAX_STREAMS a progress
    request answers at once with what is new, and EventSource asks again (retry)."""
    from devtools import services as devstack
    from nextpyter.sidecar.signing import mint_launch_token

    app = make_app(max_streams=0)
    client = app.test_client()
    devstack.make_user(settings.data_dir, "pol")
    token = mint_launch_token(
        signing_key, issuer=devstack.ISSUER, audience="nextpyter-sidecar", user_id="pol"
    )
    launch = client.post("/api/v1/launch", json={"token": token}).json
    started = time.monotonic()
    first = client.get(launch["events"]).text  # returns at once, not after keepalives
    assert time.monotonic() - started < 5
    assert first.startswith("retry: 1000") and '"state": "queued"' in first
    last_id = re.findall(r"^id: (\S+)$", first, re.M)[-1]
    again = client.get(launch["events"], headers={"Last-Event-ID": last_id}).text
    assert '"state": "queued"' not in again  # only what came after


def test_without_redis_a_cleanup_touches_nobody() -> None:
    """reconcile() asks whether a user's start is under way; when Redis cannot say, the
    answer is yes (leave that user alone), never an exception that stops the sidecar."""
    from nextpyter.common.redis import connect
    from nextpyter.sidecar.store import spawn_locked

    gone = connect("unix:///nonexistent/redis.sock")
    assert spawn_locked(gone, "alice") is True

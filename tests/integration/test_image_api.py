"""The admin image API and a launch's image checks, on a real Redis and the local backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nextpyter.sidecar.pulls import Pulls


def admin(signing_key: Any, scopes: tuple[str, ...] = ("admin",)) -> dict[str, str]:
    """A fresh admin token (they are single-use): one per request."""
    from devtools import services as devstack
    from nextpyter.sidecar.signing import mint_admin_token

    token = mint_admin_token(
        signing_key, issuer=devstack.ISSUER, audience="nextpyter-sidecar", scopes=list(scopes)
    )
    return {"Authorization": f"Bearer {token}"}


def test_image_api_on_the_local_backend_is_a_conflict(client: Any, signing_key: Any) -> None:
    listing = client.get("/api/v1/images", headers=admin(signing_key))
    pulling = client.post(
        "/api/v1/images/pulls", json={"images": ["team/notebook:1"]}, headers=admin(signing_key)
    )
    for response in (listing, pulling):
        assert response.status_code == 409
        assert response.mimetype == "application/problem+json"
        body = response.json
        assert body["code"] == "no-images" and body["status"] == 409
        assert body["type"] == "urn:nextpyter:problem:no-images"
        assert "'local' backend" in body["detail"]
        assert "NEXTPYTER_BACKEND=docker" in body["detail"]
    # Nothing was queued.
    assert Pulls(sidecar_redis(client)).state("team/notebook:1") is None


def sidecar_redis(client: Any) -> redis_lib.Redis:
    found: redis_lib.Redis = client.application.extensions["nextpyter"].redis
    return found


def test_image_api_wants_an_admin(client: Any, signing_key: Any) -> None:
    for method, path in (("get", "/api/v1/images"), ("post", "/api/v1/images/pulls")):
        call = getattr(client, method)
        anonymous = call(path, json={"images": ["team/notebook:1"]})
        assert anonymous.status_code == 401
        assert anonymous.mimetype == "application/problem+json"
        assert anonymous.json["code"] == "auth-required"
        forged = mint_forged_admin()
        assert call(path, headers=forged).status_code == 401
        narrow = call(path, headers=admin(signing_key, scopes=("sessions:read",)))
        assert narrow.status_code == 403 and narrow.json["code"] == "scope-missing"


def mint_forged_admin() -> dict[str, str]:
    from devtools import services as devstack
    from nextpyter.sidecar.signing import mint_admin_token

    token = mint_admin_token(
        Ed25519PrivateKey.generate(),
        issuer=devstack.ISSUER,
        audience="nextpyter-sidecar",
        scopes=["admin"],
    )
    return {"Authorization": f"Bearer {token}"}


def test_an_admin_token_is_single_use_on_the_image_api(client: Any, signing_key: Any) -> None:
    headers = admin(signing_key)
    assert client.get("/api/v1/images", headers=headers).status_code == 409
    assert client.get("/api/v1/images", headers=headers).status_code == 401


def test_a_launch_waiting_for_another_launchs_lock_keeps_saying_so(
    redis_client: redis_lib.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another launch of the user's server (waiting for a long pull) holds the lock: this
    one says "waiting" again and again, so its progress stream stays open, then gives up
    with a message."""
    from nextpyter.sidecar import launches
    from nextpyter.sidecar.runtime.base import ServerSpec
    from nextpyter.sidecar.runtime.local import LocalBackend
    from nextpyter.sidecar.store import LaunchEvents, spawn_lock

    monkeypatch.setattr(launches, "LOCK_HEARTBEAT", 0.2)
    monkeypatch.setattr(launches, "LOCK_GRACE", 0.0)
    launcher = launches.Launcher(
        LocalBackend(tmp_path / "run"),
        redis_client,
        "k" * 40,
        tmp_path,
        start_timeout=0.5,
        pull_timeout=0.5,
    )
    holder = spawn_lock(redis_client, "wanda")
    assert holder.acquire(blocking=False)
    try:
        launch = launches.Launch(id="l1", user_id="wanda", slug="wanda", url="/user/wanda/lab")
        spec = ServerSpec(
            user_id="wanda", slug="wanda", profile="default", files_dir=tmp_path, secret="s"
        )
        launcher._run(launch, spec)  # returns once it gives up
    finally:
        holder.release()
    events = [e for _, e in LaunchEvents(redis_client).since("l1")]
    states = [e["state"] for e in events]
    # Every 0.2 s for about a second: a handful, not a burst.
    assert 3 <= states.count("waiting") <= 8 and states[-1] == "failed", states
    assert "still running" in events[-1]["message"]


def test_settings_saved_under_looser_image_rules_keep_all_but_those_images(
    redis_client: redis_lib.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """A configuration an older version stored (images its looser check let through) keeps
    its profiles and valid images, with a warning, instead of falling back to defaults."""
    from nextpyter.sidecar.config import Settings
    from nextpyter.sidecar.dynconfig import CONFIG_KEY, ConfigStore

    store = ConfigStore(redis_client, Settings("k" * 40, Path("/"), Path("/run"), "/j", "i"))
    stored = {
        "profiles": {"big": {"cpu": 4, "memory": "16g"}},
        "default_profile": "big",
        "allowed_images": ["team/nb:1", "team/nb:", "a..b"],
        "default_image": "team/nb:",
    }
    redis_client.set(CONFIG_KEY, json.dumps(stored))
    with caplog.at_level("WARNING"):
        first = store.get()
        store.get()
    assert first.allowed_images == ("team/nb:1",) and first.default_image == ""
    assert first.profiles["big"].cpu == 4 and first.default_profile == "big"
    warnings = [r for r in caplog.records if "not valid" in r.getMessage()]
    assert len(warnings) == 1  # once, not at every launch
    # Garbage of every kind falls back to the defaults, never an error.
    for garbage in ("{", "[]", '{"profiles": 3}', '{"allowed_images": 5, "default_image": null}'):
        redis_client.set(CONFIG_KEY, garbage)
        assert store.get() is store.fallback


def test_a_launch_compares_images_as_they_are_pulled(
    tmp_path: Path, redis_client: redis_lib.Redis
) -> None:
    """The environment names "team/nb", the admin's list (in Redis, as PUT /config stores
    it) "team/nb:latest": one image, and the launch runs it as pulled ("team/nb:latest");
    another image is refused."""
    from nextpyter.sidecar.config import load_settings
    from nextpyter.sidecar.dynconfig import ConfigStore, Profile, RuntimeConfig
    from nextpyter.sidecar.launches import Launcher
    from nextpyter.sidecar.problems import Problem
    from nextpyter.sidecar.runtime.docker import DockerBackend
    from tests.support.config import env

    settings = load_settings(
        env(tmp_path, NEXTPYTER_BACKEND="docker", NEXTPYTER_DOCKER_IMAGE="team/nb")
    )
    assert settings.docker is not None
    backend = DockerBackend(settings.docker, tmp_path / "run")  # no engine call is made
    config = ConfigStore(redis_client, settings)
    launcher = Launcher(
        backend, redis_client, "k" * 40, tmp_path, 60, config=config, default_image="team/nb"
    )

    def spec_with(allowed: tuple[str, ...]) -> Any:
        config.put(
            RuntimeConfig(
                profiles={"default": Profile()}, default_profile="default", allowed_images=allowed
            )
        )
        return launcher._spec("ann", "ann", "default", tmp_path)

    assert spec_with(("team/nb:latest",)).image == "team/nb:latest"
    with pytest.raises(Problem) as refused:
        spec_with(("team/other:1",))
    assert refused.value.status == 403

"""GPU bookkeeping without a GPU, on real Redis and the local backend (which hands the
assigned devices to CUDA through CUDA_VISIBLE_DEVICES): two users and one GPU, the second
refused at once with the message; the assignment kept in Redis, shown by GET
/api/v1/sessions, freed when the server is gone, and rebuilt from what runs when Redis
lost it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import redis as redis_lib

from devtools import services as devstack
from nextpyter.common import keys
from nextpyter.sidecar.config import Settings
from nextpyter.sidecar.dynconfig import Profile, RuntimeConfig
from nextpyter.sidecar.signing import mint_admin_token, mint_launch_token


def wait_state(client: Any, launch: dict[str, Any], timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state: dict[str, Any] = client.get(f"/api/v1/launches/{launch['id']}").json
        if state["state"] in {"ready", "failed"}:
            return state
        time.sleep(0.2)
    raise AssertionError("the launch did not end")


def test_two_users_one_gpu_the_second_is_refused(
    make_app: Any, settings: Settings, signing_key: Any, redis_client: redis_lib.Redis
) -> None:
    app = make_app(gpus="0")
    svc = app.extensions["nextpyter"]
    svc.config.put(
        RuntimeConfig(
            profiles={"default": Profile(), "gpu": Profile(gpu=1)}, default_profile="default"
        )
    )
    client = app.test_client()
    for user in ("ann", "bob"):
        devstack.make_user(settings.data_dir, user)

    def launch(user: str) -> Any:
        token = mint_launch_token(
            signing_key,
            issuer=devstack.ISSUER,
            audience="nextpyter-sidecar",
            user_id=user,
            profile="gpu",
        )
        return client.post("/api/v1/launch", json={"token": token})

    first = launch("ann")
    assert first.status_code == 202, first.json
    assert wait_state(client, first.json)["state"] == "ready"
    assert redis_client.hget(keys.GPUS, "ann") == '{"gpus": ["0"], "shared": false}'
    # The local server was given the device: CUDA sees that one only.
    state_file = Path(svc.backend.servers_dir / "ann" / "server.json").read_text()
    assert '"gpus": ["0"]' in state_file

    refused = launch("bob")
    assert refused.status_code == 409, refused.json
    assert refused.json["code"] == "gpus-in-use"
    assert refused.json["detail"] == "The GPU is in use; try again later or pick a CPU profile."

    admin = mint_admin_token(
        signing_key, issuer=devstack.ISSUER, audience="nextpyter-sidecar", scopes=["admin"]
    )
    listed = client.get("/api/v1/sessions", headers={"Authorization": f"Bearer {admin}"}).json
    assert [(s["user_id"], s["gpus"]) for s in listed["sessions"]] == [("ann", ["0"])]

    # Redis loses the record (a flush, a new Redis): what runs still holds the GPU.
    redis_client.delete(keys.GPUS)
    assert launch("bob").status_code == 409
    rebuilt = svc.launcher.gpus.rebuild(svc.backend, svc.config.get(), lambda slug: False)
    assert {s: h.gpus for s, h in rebuilt.items()} == {"ann": ("0",)}
    assert redis_client.hget(keys.GPUS, "ann") == '{"gpus": ["0"], "shared": false}'

    # Stopped (no release needed): the next launch finds the GPU free and drops the record.
    assert svc.backend.stop("ann")
    second = launch("bob")
    assert second.status_code == 202
    assert wait_state(client, second.json)["state"] == "ready"
    assert redis_client.hkeys(keys.GPUS) == ["bob"]
    redis_client.delete(keys.GPUS, keys.CONFIG)


def test_profiles_that_share_may_share(
    make_app: Any, settings: Settings, redis_client: redis_lib.Redis
) -> None:
    app = make_app(gpus="0")
    svc = app.extensions["nextpyter"]
    config = RuntimeConfig(
        profiles={"shared": Profile(gpu=1, gpu_shared=True), "own": Profile(gpu=1)},
        default_profile="shared",
    )
    gpus = svc.launcher.gpus
    never = lambda slug: True  # noqa: E731 - every holder "starting": kept without a server
    assert gpus.assign(svc.backend, config, "ann", 1, True, never) == ("0",)
    assert gpus.assign(svc.backend, config, "cat", 1, True, never) == ("0",)
    try:
        gpus.assign(svc.backend, config, "bob", 1, False, never)
        raise AssertionError("an exclusive profile got a shared GPU")
    except Exception as refused:
        assert "in use" in str(getattr(refused, "detail", refused))
    redis_client.delete(keys.GPUS)

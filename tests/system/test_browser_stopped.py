"""In headless Chromium: a server the culler stopped says why on the next launch's progress
page ("Your server stopped at 14:02: idle for ..."), then JupyterLab opens as usual.

Needs no Docker: the stack's local backend, a culler pass run here on a profile with a
one-second idle timeout of its own (the session's other servers are not touched)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import redis as redis_lib
import requests
from playwright.sync_api import expect

from nextpyter.sidecar.config import load_settings
from nextpyter.sidecar.culler import Culler
from nextpyter.sidecar.dynconfig import ConfigStore, Profile, RuntimeConfig
from tests.support.browser_flow import chromium, open_in_jupyter_from_nextcloud, origin_of
from tests.support.stack import Stack


def test_a_culled_server_says_why_on_the_next_launch(
    stack: Stack, redis_service: Any, tmp_path: Path
) -> None:
    client = redis_lib.Redis.from_url(redis_service.address, decode_responses=True)
    settings = load_settings(stack.env)
    store = ConfigStore(client, settings)
    profiles = {name: Profile() for name in settings.profiles}
    store.put(
        RuntimeConfig(
            profiles=profiles | {"quick": Profile(idle_timeout=1)},
            default_profile=settings.profiles[0],
        )
    )
    try:
        stack.user("ezra")
        token = stack.token("ezra", profile="quick")
        launched = requests.post(f"{stack.url}/api/v1/launch", json={"token": token}, timeout=30)
        assert stack.wait(launched.json())["state"] == "ready"
        time.sleep(2.5)  # idle (no kernel, no launch) for longer than the profile's 1 s
        culler = Culler(stack.backend, client, store, stack.env["NEXTPYTER_SECRET_KEY"])
        assert culler.cull_once() == [("ezra", "idle for 1 s")]
        stopped_at = time.strftime("%H:%M")

        with chromium(tmp_path / "profile") as context:
            page = context.new_page()
            open_in_jupyter_from_nextcloud(
                page, f"{origin_of(stack)}/api/v1/launch", stack.token("ezra", profile="quick")
            )
            page.click("text=Open in Jupyter")
            notice = page.locator("#notice")
            expect(notice).to_have_text(
                f"Your server stopped at {stopped_at}: idle for 1 s; starting it again."
            )
            page.wait_for_url(f"{origin_of(stack)}/user/ezra/lab")  # and on into JupyterLab
    finally:
        stack.backend.stop("ezra")
        client.delete("nextpyter:config")
        client.close()

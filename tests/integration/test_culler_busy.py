"""The idle culler against real Jupyter servers (local backend, through the gateway):
a kernel busy in a silent cell keeps its server; the server is culled soon after the cell
ends; an idle server with an open tab (a websocket and JupyterLab's polling) is culled;
the next launch says why the server stopped.

Timings are the issue's: a silent 90-second cell under a 30-second idle timeout. The
timeout is a profile's own (``quick``), so the session's other servers are not touched;
the culler is driven here every 2 s (``cull_once``, as its thread does each interval).
This module takes about three minutes.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import redis as redis_lib
import requests
import websocket

from nextpyter.sidecar.config import load_settings
from nextpyter.sidecar.culler import Culler
from nextpyter.sidecar.dynconfig import ConfigStore, Profile, RuntimeConfig
from nextpyter.sidecar.usage import last_stop
from tests.support.stack import Stack, launch_events

IDLE_TIMEOUT = 30
CELL_SECONDS = 90
CULL_EVERY = 2.0


class Tab:
    """A JupyterLab tab, as the server sees one: a kernel websocket with the session's
    cookies, and (when ``polling``) the requests an idle JupyterLab makes every few
    seconds (kernels, sessions, terminals; kernel_info on the websocket)."""

    def __init__(self, stack: Stack, slug: str, cookie: str) -> None:
        self.stack, self.slug = stack, slug
        self.headers = stack.jupyter_headers(slug, cookie)
        response = requests.post(
            f"{stack.url}/user/{slug}/api/kernels", headers=self.headers, json={}, timeout=30
        )
        assert response.status_code == 201, response.text
        self.kernel = response.json()["id"]
        url = f"ws://{stack.gateway.address}/user/{slug}/api/kernels/{self.kernel}/channels"
        self.ws = websocket.create_connection(
            url, header=[f"Cookie: {self.headers['Cookie']}"], origin=stack.url, timeout=10
        )
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    def send(self, msg_type: str, content: dict[str, Any], channel: str = "shell") -> str:
        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id,
            "msg_type": msg_type,
            "username": "test",
            "session": uuid.uuid4().hex,
            "version": "5.3",
            "date": "",
        }
        self.ws.send(
            json.dumps(
                {
                    "header": header,
                    "parent_header": {},
                    "metadata": {},
                    "content": content,
                    "channel": channel,
                    "buffers": [],
                }
            )
        )
        return msg_id

    def execute(self, code: str) -> str:
        return self.send("execute_request", {"code": code, "silent": False})

    def wait_reply(self, msg_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                continue
            if (
                message.get("msg_type") == "execute_reply"
                and message.get("parent_header", {}).get("msg_id") == msg_id
            ):
                return dict(message["content"])
        raise AssertionError(f"no reply within {timeout} s")

    def poll_like_jupyterlab(self, every: float = 3.0) -> None:
        def loop() -> None:
            while not self._stop.wait(every):
                try:
                    for path in ("kernels", "sessions", "terminals", "kernelspecs"):
                        self.stack.get(f"/user/{self.slug}/api/{path}", headers=self.headers)
                    self.send("kernel_info_request", {})
                except (OSError, websocket.WebSocketException, requests.RequestException):
                    return  # the server is gone

        self._poller = threading.Thread(target=loop, daemon=True)
        self._poller.start()

    def close(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(10)
        self.ws.close()


@pytest.fixture
def quick(stack: Stack, redis_service: Any) -> Iterator[tuple[Culler, redis_lib.Redis]]:
    """A ``quick`` profile with its own 30 s idle timeout (no global one), and a culler."""
    client = redis_lib.Redis.from_url(redis_service.address, decode_responses=True)
    settings = load_settings(stack.env)
    store = ConfigStore(client, settings)
    store.put(
        RuntimeConfig(
            profiles={name: Profile() for name in settings.profiles}
            | {"quick": Profile(idle_timeout=IDLE_TIMEOUT)},
            default_profile=settings.profiles[0],
        )
    )
    try:
        yield Culler(stack.backend, client, store, stack.env["NEXTPYTER_SECRET_KEY"]), client
    finally:
        client.delete("nextpyter:config")
        client.close()


def launch(stack: Stack, user: str) -> tuple[str, dict[str, Any]]:
    response = requests.post(
        f"{stack.url}/api/v1/launch",
        json={"token": stack.token(user, profile="quick")},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return response.headers["Set-Cookie"].split(";")[0], response.json()


def running(stack: Stack, slug: str) -> bool:
    return stack.backend.status(slug) is not None


def cull_until_gone(culler: Culler, stack: Stack, slug: str, timeout: float) -> float:
    """Run culler passes every CULL_EVERY s until ``slug``'s server is gone; when it went."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        culler.cull_once()
        if not running(stack, slug):
            return time.time()
        time.sleep(CULL_EVERY)
    raise AssertionError(f"{slug}'s server was not culled within {timeout} s")


def test_a_busy_silent_kernel_keeps_its_server_which_is_culled_after_the_cell(
    stack: Stack, quick: tuple[Culler, redis_lib.Redis]
) -> None:
    culler, client = quick
    stack.user("cleo")
    cookie, started = launch(stack, "cleo")
    assert stack.wait(started)["state"] == "ready"
    tab = Tab(stack, "cleo", cookie)
    try:
        msg_id = tab.execute(f"import time\ntime.sleep({CELL_SECONDS})")  # prints nothing
        began = time.time()
        # Three times the idle timeout without a byte of output: kept at every pass.
        while time.time() - began < CELL_SECONDS - 5:
            assert culler.cull_once() == [], "a busy kernel's server was culled"
            assert running(stack, "cleo")
            time.sleep(CULL_EVERY)
        assert tab.wait_reply(msg_id, timeout=30)["status"] == "ok"
        ended = time.time()
        gone = cull_until_gone(culler, stack, "cleo", timeout=IDLE_TIMEOUT + 30)
    finally:
        tab.close()
    # Idle from the cell's end: culled after the timeout, within a pass or two of it.
    assert IDLE_TIMEOUT - 1 <= gone - ended <= IDLE_TIMEOUT + 3 * CULL_EVERY + 5
    stop = last_stop(client, "cleo")
    assert stop is not None and stop.reason == "idle" and stop.detail == "idle for 30 s"
    # The next launch says so first.
    cookie, again = launch(stack, "cleo")
    events = launch_events(f"{stack.url}{again['events']}")
    hhmm = time.strftime("%H:%M", time.localtime(stop.at))
    said = f"Your server stopped at {hhmm}: idle for 30 s; starting it again"
    assert said in [e.get("notice") for e in events], events
    assert events[-1]["state"] == "ready"
    stack.backend.stop("cleo")


def test_an_idle_server_with_an_open_tab_is_culled(
    stack: Stack, quick: tuple[Culler, redis_lib.Redis]
) -> None:
    culler, _ = quick
    stack.user("dora")
    cookie, started = launch(stack, "dora")
    assert stack.wait(started)["state"] == "ready"
    tab = Tab(stack, "dora", cookie)
    tab.wait_reply(tab.execute("x = 1"), timeout=30)
    tab.poll_like_jupyterlab()
    ran = time.time()
    try:
        # The tab keeps the server's own last_activity fresh (the measure that kept
        # forgotten tabs alive for days)...
        time.sleep(8)
        status = stack.get("/user/dora/api/status", headers=tab.headers).json()
        own = datetime.fromisoformat(status["last_activity"].replace("Z", "+00:00"))
        assert time.time() - own.timestamp() < 6
        # ... and the server is culled all the same, once its kernel has been idle 30 s.
        gone = cull_until_gone(culler, stack, "dora", timeout=IDLE_TIMEOUT + 30)
    finally:
        tab.close()
    assert IDLE_TIMEOUT - 1 <= gone - ran <= IDLE_TIMEOUT + 3 * CULL_EVERY + 5

"""The launch path for real: gunicorn sidecar, nginx gateway, Jupyter servers, Redis."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
import requests
import websocket

from nextpyter.sidecar.apitokens import ApiTokens
from nextpyter.sidecar.runtime import local
from nextpyter.sidecar.sessions import upstream_secret
from nextpyter.sidecar.slugs import slug_for
from tests.support.stack import EMPTY_NOTEBOOK, Stack, start_stack, wait_until


def server_processes(backend: local.LocalBackend, slug: str) -> list[int]:
    """Pids of Jupyter server processes (not kernels) carrying ``slug``'s marker."""
    pids = []
    for pid, marked, _ in backend.marked_processes():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if marked == slug and b"jupyter_server" in cmdline:
            pids.append(pid)
    return pids


def test_launch_opens_the_notebook_and_reuses_the_server(stack: Stack) -> None:
    stack.user("alice", {"nb.ipynb": EMPTY_NOTEBOOK})
    cookie, launch = stack.launch("alice", "nb.ipynb")
    assert launch["url"] == "/user/alice/lab/tree/nb.ipynb"
    assert stack.wait(launch)["state"] == "ready"
    status = stack.get("/user/alice/api/status", cookie)
    assert status.status_code == 200 and "started" in status.json()
    contents = stack.get("/user/alice/api/contents/nb.ipynb", cookie)
    assert contents.json()["type"] == "notebook"
    lab = stack.get("/user/alice/lab/tree/nb.ipynb", cookie)
    assert lab.status_code == 200 and "jupyter-config-data" in lab.text
    assert upstream_secret(stack.env["NEXTPYTER_SECRET_KEY"], "alice") not in lab.text
    notification = stack.get(
        "/user/alice/lab/api/settings/@jupyterlab/apputils-extension:notification", cookie
    ).json()
    # Exports: JupyterLab opens nbconvert downloads without an _xsrf argument, and Jupyter
    # then wants a same-host Referer, so the gateway must let browsers send one.
    assert lab.headers["Referrer-Policy"] == "same-origin"
    export = stack.get(
        "/user/alice/nbconvert/html/nb.ipynb?download=true",
        cookie,
        headers={"Referer": f"{stack.url}/user/alice/lab"},
    )
    assert export.status_code == 200 and "attachment" in export.headers["Content-Disposition"]
    fetch_news = notification["schema"]["properties"]["fetchNews"]
    assert fetch_news["default"] == "false"  # our overrides: no news pop-up
    first = server_processes(stack.backend, "alice")
    assert len(first) == 1

    cookie2, again = stack.launch("alice", "nb.ipynb")
    assert stack.wait(again)["state"] == "ready"
    assert server_processes(stack.backend, "alice") == first  # reused, not restarted
    assert stack.get("/user/alice/api/status", cookie2).status_code == 200


def test_users_cannot_reach_each_other(stack: Stack) -> None:
    stack.user("anna")
    stack.user("Bob Smith")
    cookie_a, launch_a = stack.launch("anna")
    cookie_b, launch_b = stack.launch("Bob Smith")
    assert stack.wait(launch_a)["state"] == stack.wait(launch_b)["state"] == "ready"
    slug_b = slug_for("Bob Smith")
    assert launch_b["slug"] == slug_b != "Bob Smith"

    assert stack.get(f"/user/{slug_b}/api/status", cookie_b).status_code == 200
    denied = stack.get(f"/user/{slug_b}/api/contents", cookie_a)
    assert denied.status_code == 403 and "another user" in denied.text
    assert stack.get("/user/anna/api/contents", cookie_b).status_code == 403
    # No cookie, a forged one, or a cookie of another name: 401 with what to do.
    for cookie in (None, "nextpyter_session=forged.value.here", "other=1"):
        response = stack.get(f"/user/{slug_b}/api/contents", cookie)
        assert response.status_code == 401 and "Open the notebook again" in response.text
    # Anna's cookie altered to name Bob's slug fails its signature.
    name, value = cookie_a.split("=", 1)
    payload, stamp, signature = value.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    assert claims["s"] == "anna"
    claims["s"] = slug_b
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    forged = f"{name}={payload}.{stamp}.{signature}"
    assert stack.get(f"/user/{slug_b}/api/contents", forged).status_code == 401


def test_a_token_cannot_open_another_users_files(stack: Stack) -> None:
    stack.user("carl", {"secret.txt": "carl's"})
    stack.user("dora")
    for path in ("../carl/files/secret.txt", "/carl/files", "a/../../carl"):
        response = requests.post(
            f"{stack.url}/api/v1/launch", json={"token": stack.token("dora", path)}, timeout=10
        )
        assert response.status_code == 400, path
        assert response.json()["code"] == "token-path"
    assert stack.backend.status("dora") is None


def test_concurrent_launches_make_one_server(stack: Stack) -> None:
    stack.user("eve")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        launches = list(pool.map(lambda _: stack.launch("eve"), range(8)))
        results = list(pool.map(lambda item: stack.wait(item[1]), launches))
    assert [r["state"] for r in results] == ["ready"] * 8
    assert len(server_processes(stack.backend, "eve")) == 1
    for cookie, _ in launches:
        assert stack.get("/user/eve/api/status", cookie).status_code == 200


def test_gateway_hides_the_authorizer_and_explains_a_stopped_server(stack: Stack) -> None:
    assert stack.get("/internal/authorize").status_code == 404
    stack.user("fay")
    cookie, launch = stack.launch("fay")
    assert stack.wait(launch)["state"] == "ready"
    stack.backend.stop("fay")
    gone = stack.get("/user/fay/lab", cookie)
    assert gone.status_code == 502 and "not running" in gone.text


def test_launch_for_a_user_without_files_folder(stack: Stack) -> None:
    response = requests.post(
        f"{stack.url}/api/v1/launch", json={"token": stack.token("nobody-here")}, timeout=10
    )
    assert response.status_code == 404 and response.json()["code"] == "no-files-folder"


def test_failed_start_is_reported(failing_stack: Stack) -> None:
    """A server that dies at start: the progress stream says why, nothing is left."""
    failing_stack.user("gus")
    _, launch = failing_stack.launch("gus")
    result = failing_stack.wait(launch)
    assert result["state"] == "failed"
    assert "stopped while starting" in result["message"]
    assert "no jupyter_server here" in result["message"]
    assert failing_stack.backend.status("gus") is None
    assert not (failing_stack.backend.servers_dir / "gus").exists()


def test_api_requires_scoped_tokens(stack: Stack, redis_service: Any) -> None:
    tokens = ApiTokens(redis_lib.Redis.from_url(redis_service.address, decode_responses=True))
    _, reader = tokens.create("reader", ["sessions:read"])
    _, admin = tokens.create("admin", ["admin"])
    url = f"{stack.url}/api/v1/sessions"
    assert requests.get(url, timeout=10).status_code == 401
    bad = requests.get(url, headers={"Authorization": "Bearer npt_nope"}, timeout=10)
    assert bad.status_code == 401 and bad.json()["detail"]
    assert (
        requests.get(url, headers={"Authorization": f"Bearer {reader}"}, timeout=10).status_code
        == 403
    )
    stack.user("hal")
    _, launch = stack.launch("hal")
    assert stack.wait(launch)["state"] == "ready"
    listing = requests.get(url, headers={"Authorization": f"Bearer {admin}"}, timeout=10)
    assert "hal" in [s["user_id"] for s in listing.json()["sessions"]]
    one = requests.get(f"{url}/hal", headers={"Authorization": f"Bearer {reader}"}, timeout=10)
    assert one.json()["state"] == "running"
    # Odd user ids in the URL: 4xx with a message, never a 5xx.
    for odd in ("..", "a%2Fb", "x" * 80, "%00", "a;b"):
        response = requests.get(
            f"{url}/{odd}", headers={"Authorization": f"Bearer {admin}"}, timeout=10
        )
        assert 400 <= response.status_code < 500, odd
    assert (
        requests.delete(
            f"{url}/hal", headers={"Authorization": f"Bearer {reader}"}, timeout=10
        ).status_code
        == 403
    )
    stopped = requests.delete(
        f"{url}/hal", headers={"Authorization": f"Bearer {admin}"}, timeout=10
    )
    assert stopped.status_code == 204 and stack.backend.status("hal") is None
    # Automation launch with a bearer token (sessions:write) and a JSON body.
    started = requests.post(
        f"{stack.url}/api/v1/launch",
        timeout=10,
        headers={"Authorization": f"Bearer {admin}"},
        json={"user": "hal", "path": ""},
    )
    assert started.status_code == 202
    assert stack.wait(started.json())["state"] == "ready"


def test_malformed_requests_are_4xx(stack: Stack) -> None:
    cases = [
        (
            "post",
            "/api/v1/launch",
            {"data": "{not json", "headers": {"Content-Type": "application/json"}},
        ),
        ("post", "/api/v1/launch", {"json": ["a", "list"]}),
        ("post", "/api/v1/launch", {"json": {"user": "x"}}),
        ("post", "/api/v1/launch", {"data": {"nottoken": "1"}}),
        ("post", "/api/v1/launch", {"data": "x" * 100_000}),
        ("get", "/api/v1/launches/unknown", {}),
        ("get", "/api/v1/launches/%2e%2e/events", {}),
        ("get", "/api/v1/launches/" + "a" * 100, {}),
        ("put", "/api/v1/launch", {}),
        ("get", "/dev/open?user=demo", {}),  # the development launcher is off
        ("get", "/no/such/page", {}),
    ]
    for method, path, kwargs in cases:
        response = getattr(requests, method)(f"{stack.url}{path}", timeout=10, **kwargs)
        assert 400 <= response.status_code < 500, (path, response.status_code, response.text)
        assert response.headers["Content-Type"].startswith(
            ("application/problem+json", "text/html")
        ), path


def test_restarted_sidecar_sees_running_servers_and_cleans_up(
    workdir: Path,
    redis_service: Any,
    keys: tuple[Path, Path],
    signing_key: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = start_stack(workdir / "restart", redis_service.address, keys[1], signing_key)
    second = None
    try:
        first.user("ivy")
        cookie, launch = first.launch("ivy")
        assert first.wait(launch)["state"] == "ready"
        pid = server_processes(first.backend, "ivy")
        # A crash mid-launch: jack's launch is posted and the sidecar dies at once.
        first.user("jack")
        requests.post(f"{first.url}/api/v1/launch", json={"token": first.token("jack")}, timeout=10)
        first.sidecar.kill()
        first.gateway.stop()
        # An orphan: a process carrying a server marker that no state file claims.
        orphan = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(600)"],
            env={**os.environ, local.MARKER: f"{first.backend.installation}:ghost:0123"},
            start_new_session=True,
        )
        try:
            monkeypatch.setattr(local, "ORPHAN_GRACE", -1.0)  # any age (ours is ~0 s)

            def reconciled() -> bool:
                # As at a worker's start and at each culler pass (one pass once missed a
                # process spawned the same instant, about 1 run in 10).
                first.backend.reconcile()
                return orphan.poll() is not None

            wait_until(reconciled, timeout=10, interval=0.2)
        finally:
            if orphan.poll() is None:
                orphan.kill()
            orphan.wait(5)
        second = start_stack(
            workdir / "restart",
            redis_service.address,
            keys[1],
            signing_key,
            NEXTPYTER_SECRET_KEY=first.env["NEXTPYTER_SECRET_KEY"],
        )
        # The new sidecar sees ivy's server at once and the old cookie still works.
        assert server_processes(first.backend, "ivy") == pid
        assert second.get("/user/ivy/api/status", cookie).status_code == 200
        # jack: one server or none, and never an orphan.
        wait_until(
            lambda: (
                not second.backend.status("jack")
                or second.backend.status("jack").state == "running"
            ),
            timeout=60,
        )
        procs = server_processes(first.backend, "jack")
        assert len(procs) <= 1
        if procs:
            assert second.backend.status("jack") is not None
    finally:
        if second is not None:
            second.close()
        first.close()


def test_stop_leaves_no_kernel_behind(stack: Stack) -> None:
    stack.user("kim")
    cookie, launch = stack.launch("kim")
    assert stack.wait(launch)["state"] == "ready"
    kernel = requests.post(
        f"{stack.url}/user/kim/api/kernels",
        headers=stack.jupyter_headers("kim", cookie),
        json={"name": "python3"},
        timeout=30,
    )
    assert kernel.status_code == 201, kernel.text
    marked = wait_until(
        lambda: [
            p
            for p, s, _ in stack.backend.marked_processes()
            if s == "kim" and p not in server_processes(stack.backend, "kim")
        ]
    )
    stack.backend.stop("kim")
    for pid in marked:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid)
    assert not (stack.backend.servers_dir / "kim").exists()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z"
    except OSError:
        return True


def test_sigterm_to_sidecar_leaves_servers_running(stack: Stack) -> None:
    """Servers live in the runtime, not in the sidecar: a sidecar worker exiting
    (graceful restart) does not take them down."""
    stack.user("lou")
    cookie, launch = stack.launch("lou")
    assert stack.wait(launch)["state"] == "ready"
    os.kill(stack.sidecar.pid, signal.SIGHUP)  # gunicorn: reload workers
    time.sleep(1.0)
    assert server_processes(stack.backend, "lou")
    assert wait_until(lambda: stack.get("/user/lou/api/status", cookie).status_code == 200)


def test_culler_stops_idle_and_old_servers(stack: Stack, redis_service: Any) -> None:
    from nextpyter.sidecar.config import load_settings
    from nextpyter.sidecar.culler import Culler
    from nextpyter.sidecar.dynconfig import ConfigStore, parse

    client = redis_lib.Redis.from_url(redis_service.address, decode_responses=True)
    config = ConfigStore(client, load_settings(stack.env))
    culler = Culler(stack.backend, client, config, stack.env["NEXTPYTER_SECRET_KEY"])
    stack.stop_all()  # only this test's servers
    for user in ("quinn", "rita"):
        stack.user(user)
        _, launch = stack.launch(user)
        assert stack.wait(launch)["state"] == "ready"
    try:
        config.put(parse({"profiles": {"default": {}}, "idle_timeout": 3600}))
        assert culler.cull_once() == []  # both were just used
        # An hour later by the clock, with no activity: both are idle.
        culled = dict(culler.cull_once(now=time.time() + 3700))
        assert set(culled) == {"quinn", "rita"} and "idle" in culled["quinn"]
        assert stack.backend.status("quinn") is None

        # A launch counts as use: the browser has not reached the server yet.
        stack.user("tia")
        _, launch = stack.launch("tia")
        assert stack.wait(launch)["state"] == "ready"
        config.put(parse({"profiles": {"default": {}}, "idle_timeout": 60}))
        soon = time.time() + 100
        client.set("nextpyter:launched:tia", f"{soon - 10:.3f}")  # launched 10 s "ago"
        assert culler.cull_once(now=soon) == []
        assert [s for s, _ in culler.cull_once(now=soon + 100)] == ["tia"]

        stack.user("sam")
        _, launch = stack.launch("sam")
        assert stack.wait(launch)["state"] == "ready"
        config.put(parse({"profiles": {"default": {}}, "max_lifetime": 60}))
        assert culler.cull_once() == []
        assert [s for s, _ in culler.cull_once(now=time.time() + 120)] == ["sam"]
    finally:
        client.delete("nextpyter:config")
        client.close()


def test_another_installation_never_touches_our_servers(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: the process marker once named only the slug, so a second installation
    on the machine (a demo beside the tests) killed servers it did not own."""
    stack.user("uma")
    cookie, launch = stack.launch("uma")
    assert stack.wait(launch)["state"] == "ready"
    ours = server_processes(stack.backend, "uma")
    other = local.LocalBackend(tmp_path / "other-installation")
    assert other.installation != stack.backend.installation
    monkeypatch.setattr(local, "ORPHAN_GRACE", -1.0)  # any age
    other.reconcile()
    other.stop("uma")
    # Every one of ours lives on (the server may have started a helper process meanwhile:
    # seen once in CI, a process of its own, which is not what this is about).
    assert ours and set(ours) <= set(server_processes(stack.backend, "uma"))
    assert stack.get("/user/uma/api/status", cookie).status_code == 200


def test_other_origins_cannot_drive_a_server(stack: Stack) -> None:
    """Regression: the gateway once authenticated every request to Jupyter with a token,
    which turns off Jupyter's XSRF and Origin checks, so a page of another origin (even of
    the same site) could drive the user's server with the user's cookie."""
    stack.user("wes", {"a.txt": "wes's"})
    cookie, launch = stack.launch("wes")
    assert stack.wait(launch)["state"] == "ready"
    url = f"{stack.url}/user/wes/api/contents/b.txt"
    body = {"type": "file", "format": "text", "content": "x"}
    # A cross-origin form or fetch: refused by the gateway, whatever else it carries.
    foreign = {**stack.jupyter_headers("wes", cookie), "Origin": "http://evil.localhost"}
    assert requests.put(url, json=body, headers=foreign, timeout=10).status_code == 403
    # Without Jupyter's XSRF token (a simple request from elsewhere): refused by Jupyter.
    plain = requests.put(url, json=body, headers={"Cookie": cookie}, timeout=10)
    assert plain.status_code == 403 and "_xsrf" in plain.text
    assert not (stack.data_dir / "wes" / "files" / "b.txt").exists()
    # JupyterLab's own request (same origin, XSRF token): allowed.
    own = {**stack.jupyter_headers("wes", cookie), "Origin": stack.url}
    assert requests.put(url, json=body, headers=own, timeout=10).status_code == 201
    # A websocket opened by another origin is refused too.
    kernel = requests.post(
        f"{stack.url}/user/wes/api/kernels", json={"name": "python3"}, headers=own, timeout=30
    ).json()
    ws_url = stack.url.replace("http", "ws") + f"/user/wes/api/kernels/{kernel['id']}/channels"
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(
            ws_url, header=[f"Cookie: {cookie}"], origin="http://evil.localhost", timeout=10
        )
    assert refused.value.status_code == 403
    ws = websocket.create_connection(
        ws_url, header=[f"Cookie: {cookie}"], origin=stack.url, timeout=10
    )
    ws.close()


def test_no_secret_in_jupyter_pages_or_kernel(stack: Stack) -> None:
    """Regression: Jupyter's error pages once carried its token, and kernels could read it
    from the server's environment."""
    stack.user("xia")
    cookie, launch = stack.launch("xia")
    assert stack.wait(launch)["state"] == "ready"
    secret = upstream_secret(stack.env["NEXTPYTER_SECRET_KEY"], "xia")
    for path in ("/user/xia/lab", "/user/xia/no-such-page", "/user/xia/api/contents"):
        response = stack.get(path, cookie)
        assert secret not in response.text and "data-jupyter-api-token" not in response.text
    server_pid = server_processes(stack.backend, "xia")[0]
    environ = Path(f"/proc/{server_pid}/environ").read_bytes()
    assert secret.encode() not in environ
    assert not list((stack.backend.servers_dir / "xia").glob("gateway-secret*"))


def test_culler_passes_also_clean_up_orphans(
    stack: Stack, redis_service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nextpyter.sidecar.config import load_settings
    from nextpyter.sidecar.culler import Culler
    from nextpyter.sidecar.dynconfig import ConfigStore

    client = redis_lib.Redis.from_url(redis_service.address, decode_responses=True)
    culler = Culler(
        stack.backend,
        client,
        ConfigStore(client, load_settings(stack.env)),
        stack.env["NEXTPYTER_SECRET_KEY"],
    )
    monkeypatch.setattr(local, "ORPHAN_GRACE", -1.0)
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"],
        env={**os.environ, local.MARKER: f"{stack.backend.installation}:ghost:4567"},
        start_new_session=True,
    )
    try:
        client.delete("nextpyter:culler")
        culler.start(interval=0.3)
        wait_until(lambda: orphan.poll() is not None, timeout=20)
    finally:
        culler.stop()
        if orphan.poll() is None:
            orphan.kill()
        orphan.wait(5)
        client.close()

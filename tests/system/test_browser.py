"""End to end in headless Chromium: Nextcloud's "Open in Jupyter" form POST, the progress
page, JupyterLab running code in a kernel and saving the notebook to the user's files.

Real everything: the sidecar under gunicorn, nginx with the shipped gateway include, a
Jupyter server of the ``local`` backend, Debian's Chromium driven by playwright (never a
downloaded browser). The browser uses ``http://localhost:<port>`` as the gateway's origin:
the session cookie is ``Secure``, and Chromium treats localhost as a secure context.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import (
    Page,
    Response,
    WebSocket,
    expect,
)

from nextpyter.sidecar.sessions import COOKIE_NAME, upstream_secret
from nextpyter.sidecar.slugs import slug_for
from tests.support.browser_flow import (
    START_TIMEOUT_MS,
    UI_TIMEOUT_MS,
    chromium,
    open_in_jupyter_from_nextcloud,
    origin_of,
)
from tests.support.stack import Stack, start_stack, wait_until

USER_ID = "e2e user"  # a space: the slug is escaped and hashed
NOTEBOOK = json.dumps(
    {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "e2e-cell-1",
                "metadata": {},
                "outputs": [],
                "source": "",
            }
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
)
MSG_TYPE = re.compile(rb'"msg_type":\s*"(\w+)"')
QUIET_MESSAGES = {
    b"status",
    b"debug_request",
    b"debug_reply",
    b"comm_info_request",
    b"comm_info_reply",
}
CODE = "open('from_kernel.txt','w').write('written by the kernel'); print(6*7)"


@dataclass
class Traffic:
    """Everything the browser received, to look for a secret in it."""

    urls: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    bodies: dict[str, str] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    frames: list[bytes] = field(default_factory=list)
    trouble: list[str] = field(default_factory=list)  # shown when a step fails

    def note(self, what: str) -> None:
        self.trouble.append(f"{time.strftime('%H:%M:%S')} {what}")

    def on_response(self, response: Response) -> None:
        self.urls.append(response.url)
        if response.status >= 400:
            self.note(f"{response.status} {response.request.method} {response.url}")
        headers = response.all_headers()  # .headers leaves out Set-Cookie
        self.headers.extend(f"{name}: {value}" for name, value in headers.items())
        kind = headers.get("content-type", "")
        if "html" not in kind and "json" not in kind:
            return
        try:
            self.bodies[response.url] = response.text()
        except PlaywrightError:
            # A body can be gone when the page has navigated on (e.g. the progress page).
            self.unreadable.append(response.url)

    def on_websocket(self, socket: WebSocket) -> None:
        self.websockets.append(socket.url)
        socket.on("framereceived", lambda payload: self._frame("received", payload))
        socket.on("framesent", lambda payload: self._frame("sent", payload))
        socket.on("close", lambda ws: self.note(f"websocket closed {ws.url}"))
        socket.on("socketerror", lambda error: self.note(f"websocket error {error}"))

    def _frame(self, direction: str, payload: str | bytes) -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        if direction == "received":
            self.frames.append(data)
        # Kernel messages (JSON, or JSON parts in the v1 binary protocol): note their types.
        kind = MSG_TYPE.search(data)
        if kind and kind.group(1) not in QUIET_MESSAGES:
            self.note(f"kernel message {direction}: {kind.group(1).decode()}")

    def attach(self, page: Page) -> None:
        page.on("response", self.on_response)
        page.on("websocket", self.on_websocket)
        page.on("requestfailed", lambda r: self.note(f"failed {r.url}: {r.failure}"))
        page.on(
            "console",
            lambda m: self.note(f"console {m.type}: {m.text}") if m.type == "error" else None,
        )

    def leaks(self, secret: str) -> list[str]:
        found = [f"URL {u}" for u in self.urls + self.websockets if secret in u]
        found += [f"header {h.split(':', 1)[0]}" for h in self.headers if secret in h]
        found += [f"body of {u}" for u, body in self.bodies.items() if secret in body]
        found += ["a websocket frame" for frame in self.frames if secret.encode() in frame]
        return found


def test_open_notebook_run_code_and_save(stack: Stack, tmp_path: Path) -> None:
    """Open in Jupyter, run a cell, save: the notebook and the kernel's file land on disk."""
    files = stack.user(USER_ID, {"demo.ipynb": NOTEBOOK})
    slug = slug_for(USER_ID)
    assert slug != USER_ID and "--" in slug
    token = stack.token(USER_ID, "demo.ipynb")
    secret = upstream_secret(stack.env["NEXTPYTER_SECRET_KEY"], slug)
    origin = origin_of(stack)
    lab_url = f"{origin}/user/{slug}/lab/tree/demo.ipynb"
    traffic = Traffic()
    requested: list[str] = []
    shown: list[str] = []  # the URLs the tab showed, in order

    with chromium(tmp_path / "profile") as context:
        page = context.pages[0] if context.pages else context.new_page()
        try:
            traffic.attach(page)
            page.on("request", lambda request: requested.append(request.url))
            page.on(
                "framenavigated", lambda f: shown.append(f.url) if f == page.main_frame else None
            )

            # 1. Nextcloud's page posts the launch token to the gateway.
            open_in_jupyter_from_nextcloud(page, f"{origin}/api/v1/launch", token)
            with page.expect_response(f"{origin}/api/v1/launch") as launched:
                page.get_by_role("button", name="Open in Jupyter").click()
            response = launched.value
            assert response.status == 200, response.text()
            assert response.request.method == "POST"
            assert "token=" in (response.request.post_data or "")
            assert response.headers["content-type"].startswith("text/html")

            # 2. The progress page: what it said, and that it followed the launch's events.
            progress = traffic.bodies.get(response.url) or response.text()
            assert "<title>Starting your notebook" in progress
            set_cookie = response.header_value("set-cookie") or ""
            assert set_cookie.startswith(f"{COOKIE_NAME}=")
            attributes = {part.strip().lower() for part in set_cookie.split(";")}
            assert {"secure", "httponly", "samesite=lax", f"path=/user/{slug}/"} <= attributes

            # 3. The progress page follows the launch's events, then moves on to JupyterLab.
            page.wait_for_url(lab_url, timeout=START_TIMEOUT_MS)
            assert any(re.search(r"/api/v1/launches/[^/]+/events$", url) for url in requested)
            assert f"{origin}/api/v1/launch" in shown, shown
            assert shown.index(f"{origin}/api/v1/launch") < shown.index(lab_url), shown
            cookies = [c for c in context.cookies(lab_url) if c["name"] == COOKIE_NAME]
            assert len(cookies) == 1, context.cookies()
            assert cookies[0]["secure"] and cookies[0]["httpOnly"]
            assert cookies[0]["path"] == f"/user/{slug}/"
            session_cookie = cookies[0]["value"]

            notebook = page.locator(".jp-NotebookPanel", has=page.locator(".jp-Notebook"))
            expect(notebook).to_be_visible(timeout=START_TIMEOUT_MS)
            tab = page.locator(".lm-TabBar-tab.lm-mod-current", has_text="demo.ipynb")
            expect(tab).to_be_visible()
            first = notebook.locator(".jp-Notebook .jp-Cell").first
            editor = first.locator(".jp-InputArea-editor .cm-content")
            expect(editor).to_be_visible(timeout=START_TIMEOUT_MS)
            # The kernel the notebook asks for starts (no "select a kernel" dialog) and
            # JupyterLab is connected to it. Only then does Shift+Enter reach the kernel: before,
            # JupyterLab drops the execution silently. The status bar says "Idle" only when
            # connected; the toolbar's execution indicator says "idle" already before.
            status_bar = page.get_by_role("contentinfo")
            expect(
                status_bar.get_by_role("button", name="Python 3 (ipykernel) | Idle")
            ).to_be_visible(timeout=START_TIMEOUT_MS)

            # 4. Type code into the cell, run it in the kernel, wait for its output.
            editor.click()
            page.keyboard.type(CODE)
            expect(editor).to_have_text(CODE)
            page.keyboard.press("Shift+Enter")
            expect(first.locator(".jp-OutputArea-output")).to_have_text("42", timeout=UI_TIMEOUT_MS)
            expect(first.locator(".jp-InputPrompt")).to_contain_text("[1]")

            # 5. Save, as a person does, and wait until JupyterLab says it is saved.
            expect(tab).to_have_class(re.compile(r"\bjp-mod-dirty\b"))
            page.keyboard.press("Control+s")
            expect(tab).not_to_have_class(re.compile(r"\bjp-mod-dirty\b"))

            page.screenshot(path=str(tmp_path / "jupyterlab.png"), full_page=True)
            final_url = page.url
        except (AssertionError, PlaywrightError) as error:
            with contextlib.suppress(PlaywrightError):
                page.screenshot(path=str(tmp_path / "failed.png"))
            log = "\n".join(traffic.trouble) or "(nothing)"
            raise AssertionError(f"What went wrong in the browser:\n{log}") from error

    # On disk, in the user's Nextcloud files: the cell, its output, the kernel's file.
    def saved() -> dict[str, object] | None:
        data = json.loads((files / "demo.ipynb").read_text())
        return data if any(cell.get("outputs") for cell in data["cells"]) else None

    data = wait_until(saved, timeout=30)
    cell = data["cells"][0]
    assert "".join(cell["source"]) == CODE
    assert cell["execution_count"] == 1
    texts = ["".join(out.get("text", "")) for out in cell["outputs"]]
    assert texts == ["42\n"], cell["outputs"]
    assert (files / "from_kernel.txt").read_text() == "written by the kernel"

    # The Jupyter server's token never reached the browser.
    assert final_url == lab_url
    assert secret not in final_url
    # What was searched: JupyterLab's page with its page config, the server's JSON API.
    assert '"baseUrl"' in traffic.bodies.get(lab_url, ""), (
        traffic.bodies.keys(),
        traffic.unreadable,
    )
    assert any(u.startswith(f"{origin}/user/{slug}/api/") for u in traffic.bodies)
    assert traffic.websockets, "JupyterLab opened no websocket to the kernel"
    assert traffic.leaks(secret) == []
    # The search does find what the browser did receive (headers, kernel frames).
    assert "header set-cookie" in traffic.leaks(session_cookie)
    assert "a websocket frame" in traffic.leaks("written by the kernel")


def test_lab_without_session_shows_the_gateway_401_page(stack: Stack, tmp_path: Path) -> None:
    """A browser without the session cookie gets the gateway's page, not JupyterLab."""
    slug = slug_for(USER_ID)
    with chromium(tmp_path / "fresh-profile") as context:
        page = context.pages[0] if context.pages else context.new_page()
        response = page.goto(f"{origin_of(stack)}/user/{slug}/lab")
        assert response is not None
        assert response.status == 401
        assert context.cookies() == []
        expect(page).to_have_title("Session needed · NextPyter")
        # Without sign-in set up, the sidecar's answer to the gateway's 401 is this page.
        expect(page.get_by_role("heading", level=1)).to_have_text("Session needed")
        expect(page.locator("p").first).to_contain_text(
            "Your notebook session has ended or was never opened here"
        )
        expect(page.locator("p").first).to_contain_text(
            "Open the notebook again from Nextcloud Files"
        )


def test_progress_page_explains_a_failed_start(failing_stack: Stack, tmp_path: Path) -> None:
    failing_stack.user("vic")
    token = failing_stack.token("vic", "")
    origin = origin_of(failing_stack)
    with chromium(tmp_path / "profile") as context:
        page = context.new_page()
        open_in_jupyter_from_nextcloud(page, f"{origin}/api/v1/launch", token)
        page.locator("form").evaluate("form => form.submit()")
        expect(page.locator("#title")).to_have_text("Your notebook could not be started")
        error = page.locator("#error")
        expect(error).to_be_visible()
        expect(error).to_contain_text("no jupyter_server here")
        expect(error).to_contain_text("open the notebook again from Nextcloud Files")
        assert "/user/" not in page.url  # it stayed on the progress page


def test_the_development_launcher_opens_the_notebook(
    workdir: Path,
    redis_service: Any,
    keys: tuple[Path, Path],
    signing_key: Any,
    tmp_path: Path,
) -> None:
    """`make demo`'s /dev/open, in a real browser: its page is served with no-referrer
    like every page of ours, and its form must still carry the gateway's Origin."""
    dev = start_stack(
        workdir / "dev-launcher",
        redis_service.address,
        keys[1],
        signing_key,
        NEXTPYTER_DEV_SIGNING_KEY=str(keys[0]),
    )
    try:
        dev.user("dana", {"hello.ipynb": NOTEBOOK})
        with chromium(tmp_path / "profile") as context:
            page = context.new_page()
            page.goto(f"{origin_of(dev)}/dev/open?user=dana&path=hello.ipynb")
            page.wait_for_url(f"{origin_of(dev)}/user/dana/lab/tree/hello.ipynb")
            expect(page.locator(".jp-Notebook")).to_be_visible()
    finally:
        dev.close()

"""The Nextcloud app's built scripts in headless Chromium, as far as they run without Nextcloud.

A loopback HTTP server plays Nextcloud: it serves ``nextcloud_app/js/`` the way Nextcloud serves
an app's scripts (``.mjs`` as JavaScript modules), pages that carry the globals Nextcloud puts on
every page (``OC``, ``_oc_webroot``, ``oc_config``, the CSRF token on ``<head>``, initial state
as hidden inputs), and answers the app's routes the way its PHP controllers do, recording every
request. A second server on another origin plays the sidecar's ``/api/v1/launch``.

Checked: the admin page renders its state, Save sends the edited settings with the CSRF token
and shows a 400's message next to the form and the field; the Files script registers its actions
in the registry of the Nextcloud version it finds (``_nc_fileactions`` on 32,
``_nc_files_scope.v4_0`` on 33+), and "Open in Jupyter", clicked, opens a new tab into which it
form-POSTs the token to the sidecar (never in a URL), or closes the tab and shows the app's
message; opening a folder in Files (``files:list:updated`` on the event bus, as Files emits it)
has the app rescan that folder once, and reloads the listing (``files:node:updated``) when it
changed; the personal page renders from its initial state, shows the server from
``GET /server``, opens JupyterLab on the files folder and stops the server.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, expect

from tests.support import browser
from tests.support.need import require, unavailable

APP_DIR = Path(__file__).resolve().parents[2] / "nextcloud_app"
JS_DIR = APP_DIR / "js"
TIMEOUT_MS = 30_000

WEBROOT = "/nc"
APP_ROUTES = f"{WEBROOT}/index.php/apps/nextpyter"
CSRF = "csrf-token-9f8e7d"
LAUNCH_TOKEN = "eyJhbGciOiJFZERTQSJ9.launch-claims.signature"
SHARED_MESSAGE = "This notebook is shared with you. Copy it into your own files to open it."
MEMORY_RE = re.compile(r"[1-9][0-9]{0,5}[kmgt]")

PROFILES = ["default", "large"]
# `admin-settings` as lib/Settings/Admin.php provides it: Settings::toArray() plus the keys.
ADMIN_STATE: dict[str, Any] = {
    "sidecarUrl": "http://nextpyter-sidecar:8000",
    "gatewayUrl": "https://jupyter.example.org",
    "issuer": "",
    "audience": "nextpyter-sidecar",
    "defaultImage": "nextpyter/notebook:2026.1",
    "allowedImages": ["nextpyter/notebook:2026.1", "nextpyter/scipy:2026.1"],
    "profiles": [
        {"name": "default", "cpu": 1, "memory": "2g", "gpu": 0},
        {"name": "large", "cpu": 4, "memory": "16g", "gpu": 0, "pids": 4096},
    ],
    "defaultProfile": "default",
    "idleTimeout": 3600,
    "maxLifetime": 43200,
    "allowedGroups": ["data-science"],
    "keyId": "np-2026-01-a1b2",
    "keyCreated": 1767225600,
    "keys": [
        {
            "kid": "np-2026-01-a1b2",
            "active": True,
            "created": 1767225600,
            "retiredAt": None,
            "dropsAt": None,
        }
    ],
    "issuerDefault": "https://cloud.example.org",
    "jwksUrl": "https://cloud.example.org/index.php/apps/nextpyter/jwks.json",
}
FILES_ROOT_ID = 4242
# `personal` as lib/Settings/Personal.php provides it.
PERSONAL_STATE = {
    "enabled": True,
    "message": None,
    "filesRootId": FILES_ROOT_ID,
    "profiles": PROFILES,
    "defaultProfile": "default",
}
NOT_ALLOWED = (
    "Jupyter is open to members of some groups only, and you are in none of them. "
    "Ask your administrator for access."
)
# GET /server as ServerController answers it (lib/Service/ServerState.php).
PERSONAL_SERVER = {"running": True, "state": "running", "since": 1767229200, "profile": "large"}
STOPPED_SERVER = {"running": False, "state": "stopped", "since": None, "profile": None}
ADMIN_STATUS = {
    "health": {
        "status": "ok",
        "checks": {"redis": "ok", "jwks": "ok (2 keys)"},
        "message": "The sidecar is ready.",
    },
    "sessions": [
        {
            "user_id": "bob smith",
            "slug": "bob-smith-3f2a",
            "profile": "large",
            "state": "running",
            "created": 1767229200,
            "detail": "",
        }
    ],
}
# Folders in which "JupyterLab wrote" since the last scan: POST /rescan answers changed once.
WRITTEN_IN_JUPYTER = {"/Notebooks"}
SLOW_FOLDER = "/Slow"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())


@dataclass
class Site:
    """A loopback HTTP server; ``answer(request)`` gives (status, content type, body)."""

    name: str
    answer: Any
    requests: list[Recorded] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Recorded(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                site.requests.append(request)
                status, content_type, body = site.answer(request)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                if site.name == "nextcloud":
                    # As Nextcloud sends it with every page (its .htaccess and the nginx
                    # configuration its documentation gives).
                    self.send_header("Referrer-Policy", "no-referrer")
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    def sent(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]


def as_json(status: int, data: Any) -> tuple[int, str, bytes]:
    return status, "application/json; charset=utf-8", json.dumps(data).encode()


def initial_state(key: str, value: Any) -> str:
    encoded = base64.b64encode(json.dumps(value).encode()).decode()
    return f'<input type="hidden" id="initial-state-nextpyter-{key}" value="{encoded}">'


# Enough of Nextcloud's look (its theme variables and form controls) for the screenshot.
BASE_CSS = """
:root { --color-main-text: #222; --color-text-maxcontrast: #6b6b6b; --color-border: #dbdbdb;
  --color-primary-element: #00679e; --border-radius: 8px; --color-error: #c9302c;
  --color-success: #2d7b41; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
  color: var(--color-main-text); background: #fff; }
#content { padding: 20px 40px; }
h2 { font-size: 20px; margin: 0 0 .5em; }
input, textarea, button { font: inherit; border: 2px solid var(--color-border);
  border-radius: var(--border-radius); padding: 4px 10px; background: #fff; }
button { cursor: pointer; font-weight: 600; }
button.primary { background: var(--color-primary-element); color: #fff; border-color: transparent; }
"""


def page_html(version: str, body: str, script: str) -> bytes:
    """A page as Nextcloud renders one: globals in <head>, the app's script as a module."""
    config = json.dumps({"version": version, "modRewriteWorking": False})
    return f"""<!DOCTYPE html>
<html lang="en"><head data-requesttoken="{CSRF}" data-user="alice" data-user-displayname="Alice">
<meta charset="utf-8"><title>Nextcloud</title><style>{BASE_CSS}</style>
<script>
  window._oc_webroot = "{WEBROOT}";
  window.oc_config = {config};
  window.OC = {{ webroot: "{WEBROOT}", config: window.oc_config, coreApps: ["core"] }};
</script>
</head><body>{body}
<script type="module" defer src="{WEBROOT}/custom_apps/nextpyter/js/{script}.mjs?v=0"></script>
</body></html>""".encode()


FILES_HARNESS = """
<div id="content"><h2>Files</h2>
<button id="open-notebook">analysis.ipynb</button>
<button id="open-shared">shared.ipynb</button>
<button id="new-notebook">New notebook</button></div>
<script>
  // How each Files app calls an action: 3.x exec(node, view, dir); 4.x exec(context).
  const view = { id: "files", name: "All files" };
  const folder = { type: "folder", fileid: 7, permissions: 31, path: "/Notebooks",
    source: location.origin + "/nc/remote.php/dav/files/alice/Notebooks",
    root: "/files/alice", owner: "alice", basename: "Notebooks" };
  const notebook = (fileid, basename) => ({ type: "file", fileid, basename,
    mime: "application/x-ipynb+json", extension: ".ipynb", permissions: 31,
    path: "/Notebooks/" + basename });
  window.registry = () => {
    const scoped = window._nc_files_scope?.v4_0;
    if (scoped?.fileActions?.size) {
      return { api: "v4", actions: [...scoped.fileActions.values()], menu: scoped.newFileMenu };
    }
    return { api: "v3", actions: window._nc_fileactions ?? [], menu: window._nc_newfilemenu };
  };
  window.enabled = (id, nodes) => {
    const { api, actions } = registry();
    const action = actions.find((a) => a.id === id);
    return api === "v4" ? action.enabled({ nodes, view, folder, contents: [] })
      : action.enabled(nodes, view);
  };
  const exec = (id, node) => {
    const { api, actions } = registry();
    const action = actions.find((a) => a.id === id);
    return api === "v4" ? action.exec({ nodes: [node], view, folder, contents: [] })
      : action.exec(node, view, folder.path);
  };
  document.getElementById("open-notebook").onclick =
    () => exec("nextpyter-open-notebook", notebook(314, "analysis.ipynb"));
  document.getElementById("open-shared").onclick =
    () => exec("nextpyter-open-notebook", notebook(666, "shared.ipynb"));
  document.getElementById("new-notebook").onclick = () => registry().menu.getEntries(folder)
    .find((e) => e.id === "nextpyter-new-notebook").handler(folder, []);

  // What FilesList.vue does on the event bus: emit files:list:updated with {view, folder,
  // contents} whenever the listed folder changes, and list the folder again on
  // files:node:updated for the folder it shows.
  window.reloads = [];
  window.shown = null;
  const folderNode = (path, fileid) => ({ type: "folder", fileid, permissions: 31, path,
    root: "/files/alice", owner: "alice", basename: path.split("/").pop(),
    source: location.origin + "/nc/remote.php/dav/files/alice" + (path === "/" ? "" : path) });
  const list = (node) => window._nc_event_bus.emit("files:list:updated",
    { view, folder: node, contents: [] });
  window.navigate = (path, fileid) => {
    window.shown = folderNode(path, fileid);
    list(window.shown);
  };
  // called once the app's script made the bus
  window.watchReloads = () => window._nc_event_bus.subscribe("files:node:updated", (node) => {
    if (node.fileid === window.shown?.fileid) {
      window.reloads.push(node.path);
      list(window.shown);
    }
  });
</script>
"""


def nextcloud_answer(gateway: Site) -> Any:
    server = dict(PERSONAL_SERVER)  # the user's Jupyter server, as GET /server reports it
    written = set(WRITTEN_IN_JUPYTER)  # folders whose next rescan finds a change

    def answer(request: Recorded) -> tuple[int, str, bytes]:
        path = urlsplit(request.path).path
        query = parse_qs(urlsplit(request.path).query)
        version = query.get("version", ["33.0.1.2"])[0]
        allowed = query.get("access", ["yes"])[0] != "none"  # ?access=none: not in a group
        availability = {"enabled": True, "message": None}
        if not allowed:
            availability = {"enabled": False, "message": NOT_ALLOWED}
        if path.startswith(f"{WEBROOT}/custom_apps/nextpyter/js/"):
            name = path.removeprefix(f"{WEBROOT}/custom_apps/nextpyter/js/")
            target = (JS_DIR / name).resolve()
            if JS_DIR.resolve() not in target.parents or not target.is_file():
                return 404, "text/plain", b"no such script"
            return 200, "text/javascript; charset=utf-8", target.read_bytes()
        if path == f"{WEBROOT}/index.php/settings/admin/nextpyter":
            body = initial_state("admin-settings", ADMIN_STATE)
            body += '<div id="content"><div id="nextpyter-admin"></div></div>'
            return 200, "text/html; charset=utf-8", page_html(version, body, "nextpyter-admin")
        if path == f"{WEBROOT}/index.php/settings/user/nextpyter":
            body = initial_state("personal", {**PERSONAL_STATE, **availability})
            body += '<div id="content"><div id="nextpyter-personal"></div></div>'
            return 200, "text/html; charset=utf-8", page_html(version, body, "nextpyter-personal")
        if path == f"{WEBROOT}/index.php/apps/files/":
            body = initial_state("files-config", availability) + FILES_HARNESS
            return 200, "text/html; charset=utf-8", page_html(version, body, "nextpyter-files")
        return app_route(request, path, gateway, server, written)

    return answer


def saved_settings(body: dict[str, Any]) -> tuple[int, str, bytes]:
    """PUT /admin/settings as AdminController answers it: 400 {message, errors} naming the bad
    fields (SettingsValidator), else {settings, sidecar: {applied, message}}."""
    errors: dict[str, str] = {}
    for profile in body.get("profiles", []):
        if not MEMORY_RE.fullmatch(str(profile.get("memory"))):
            errors.setdefault(
                "profiles",
                f"Profile '{profile.get('name')}': memory must be a whole number with a unit "
                "k, m, g or t, like 512m or 4g.",
            )
    if errors:
        message = "The settings were not saved: " + " ".join(errors.values())
        return as_json(400, {"message": message, "errors": errors})
    keys = ("keyId", "keyCreated", "keys", "issuerDefault", "jwksUrl")
    settings = {k: v for k, v in ADMIN_STATE.items() if k not in keys} | body
    applied = "Saved; the sidecar applies them from the next launch on."
    sidecar = {"applied": True, "message": applied}
    return as_json(200, {"settings": settings, "sidecar": sidecar})


def app_route(
    request: Recorded, path: str, gateway: Site, server: dict[str, Any], written: set[str]
) -> tuple[int, str, bytes]:
    """The app's PHP routes, as the controllers answer them."""
    if not path.startswith(f"{APP_ROUTES}/"):
        return 404, "text/plain", b"not found"
    if request.headers.get("requesttoken") != CSRF:
        return as_json(412, {"message": "CSRF check failed"})
    route = (request.method, path.removeprefix(APP_ROUTES))
    if route == ("GET", "/admin/status"):
        return as_json(200, ADMIN_STATUS)
    if route == ("PUT", "/admin/settings"):
        return saved_settings(request.json())
    if route == ("GET", "/server"):
        return as_json(200, server)
    if route == ("DELETE", "/server"):
        server.clear()
        server.update(STOPPED_SERVER)
        return as_json(200, STOPPED_SERVER)
    if route == ("POST", "/rescan"):
        folder = request.json().get("dir")
        if folder == SLOW_FOLDER:
            time.sleep(1.5)  # a big folder: the scan takes a while
        changed = folder in written
        written.discard(folder)
        return as_json(200, {"changed": changed})
    if route == ("POST", "/launch"):
        body = request.json()
        file_id = body.get("fileId")
        profile = body.get("profile") or "default"
        if profile not in PROFILES:
            message = f"There is no profile '{profile}'. Pick one of: {', '.join(PROFILES)}."
            return as_json(400, {"message": message})
        if file_id == 666:
            return as_json(403, {"message": SHARED_MESSAGE})
        action = f"http://localhost:{gateway.port}/api/v1/launch"
        return as_json(200, {"action": action, "token": f"{LAUNCH_TOKEN}.{file_id}"})
    if route == ("POST", "/notebook"):
        body = request.json()
        return as_json(201, {"fileId": 501, "path": f"{body['dir']}/{body['name']}"})
    return as_json(404, {"message": f"no route {request.method} {path}"})


def gateway_answer(request: Recorded) -> tuple[int, str, bytes]:
    if (request.method, request.path) == ("POST", "/api/v1/launch"):
        page = "<!DOCTYPE html><title>Starting JupyterLab</title><p>Starting your server…</p>"
        return 200, "text/html; charset=utf-8", page.encode()
    return 404, "text/plain", b"not found"


@pytest.fixture(scope="module")
def built() -> Path:
    """The scripts as `npm run build` makes them from nextcloud_app/src (rebuilt when it can)."""
    if (APP_DIR / "node_modules").is_dir():
        npm = require("npm")
        subprocess.run([npm, "run", "--silent", "build"], cwd=APP_DIR, check=True, timeout=300)
    scripts = [JS_DIR / f"nextpyter-{name}.mjs" for name in ("admin", "files", "personal")]
    if not all(script.exists() for script in scripts):
        unavailable("nextcloud_app/js is not built: run `npm ci && npm run build` in nextcloud_app")
    return JS_DIR


@pytest.fixture
def sites(built: Path) -> Iterator[tuple[Site, Site]]:
    gateway = Site("gateway", gateway_answer)
    gateway.start()
    nextcloud = Site("nextcloud", None)
    nextcloud.answer = nextcloud_answer(gateway)
    nextcloud.start()
    try:
        yield nextcloud, gateway
    finally:
        nextcloud.stop()
        gateway.stop()


@contextmanager
def chromium(user_data_dir: Path) -> Iterator[BrowserContext]:
    """Debian's Chromium with a fresh profile; closed (browser and driver) on exit."""
    with browser.chromium(user_data_dir, TIMEOUT_MS, viewport=(1100, 1400)) as context:
        yield context


def watch_errors(page: Page) -> list[str]:
    """Script errors and console errors, except the browser's note on each 4xx answer (the
    tests provoke some; the requests themselves are checked)."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", on_console)
    return errors


def test_admin_page_renders_saves_and_shows_errors(
    sites: tuple[Site, Site], tmp_path: Path
) -> None:
    nextcloud, _ = sites
    url = f"http://127.0.0.1:{nextcloud.port}{WEBROOT}/index.php/settings/admin/nextpyter"
    with chromium(tmp_path / "profile") as context:
        page = context.new_page()
        errors = watch_errors(page)
        page.goto(url)

        # The form carries the initial state; the health line and sessions come from the route.
        expect(page.get_by_label("Sidecar internal URL")).to_have_value(ADMIN_STATE["sidecarUrl"])
        expect(page.get_by_label("Public gateway URL")).to_have_value(ADMIN_STATE["gatewayUrl"])
        expect(page.get_by_label("Default image")).to_have_value(ADMIN_STATE["defaultImage"])
        expect(page.get_by_label("Allowed images")).to_have_value(
            "\n".join(ADMIN_STATE["allowedImages"])
        )
        expect(page.get_by_label("Idle timeout (minutes)")).to_have_value("60")
        expect(page.get_by_label("Maximum lifetime (hours)")).to_have_value("12")
        expect(page.get_by_label("Allowed groups")).to_have_value("data-science")
        expect(page.get_by_label("Token audience")).to_have_value("nextpyter-sidecar")
        expect(page.get_by_label("Token issuer")).to_have_attribute(
            "placeholder", ADMIN_STATE["issuerDefault"]
        )
        expect(page.get_by_label("Default profile")).to_have_value("default")
        expect(page.locator(".nextpyter-profiles tbody tr")).to_have_count(2)
        expect(page.get_by_label("Profile 2: memory")).to_have_value("16g")
        expect(page.locator(".nextpyter-health")).to_contain_text("Sidecar: healthy")
        expect(page.locator(".nextpyter-health-message")).to_have_text("The sidecar is ready.")
        expect(page.locator(".nextpyter-sidecar-env")).to_contain_text(
            f"NEXTPYTER_JWKS={ADMIN_STATE['jwksUrl']}"
        )
        expect(page.locator('[data-user="bob smith"]')).to_contain_text("large")
        expect(page.get_by_text("np-2026-01-a1b2", exact=False)).to_be_visible()
        expect(page.locator(".nextpyter-prepull")).to_contain_text("no pull API yet")
        page.screenshot(path=str(tmp_path / "admin.png"), full_page=True)

        # Edit: another gateway, one more image, a group, 30 min idle, a new profile with a
        # memory the server refuses.
        page.get_by_label("Public gateway URL").fill("https://lab.example.org")
        page.get_by_label("Allowed images").fill(
            "nextpyter/notebook:2026.1\nnextpyter/scipy:2026.1\nnextpyter/r:2026.1"
        )
        page.get_by_label("Allowed groups").fill("data-science, teachers")
        page.get_by_label("Idle timeout (minutes)").fill("30")
        page.get_by_role("button", name="Add profile").click()
        page.get_by_label("Profile 3: name").fill("gpu")
        page.get_by_label("Profile 3: CPU cores").fill("8")
        page.get_by_label("Profile 3: memory").fill("lots")
        page.get_by_label("Profile 3: GPUs").fill("1")
        expect(page.get_by_label("Profile 3: processes")).to_have_value("1024")
        page.get_by_label("Profile 3: processes").fill("2048")
        page.get_by_role("button", name="Save").click()

        alert = page.locator("#nextpyter-settings-message")
        problem = "Profile 'gpu': memory must be a whole number with a unit k, m, g or t, like"
        expect(alert).to_have_text(f"The settings were not saved: {problem} 512m or 4g.")
        expect(alert).to_have_attribute("role", "alert")
        expect(page.locator("#nextpyter-profiles-error")).to_have_text(f"{problem} 512m or 4g.")
        page.screenshot(path=str(tmp_path / "admin-error.png"), full_page=True)
        (refused,) = nextcloud.sent("PUT", f"{APP_ROUTES}/admin/settings")
        assert refused.headers["requesttoken"] == CSRF
        assert refused.headers["content-type"].startswith("application/json")
        expected = {
            "sidecarUrl": "http://nextpyter-sidecar:8000",
            "gatewayUrl": "https://lab.example.org",
            "issuer": "",
            "audience": "nextpyter-sidecar",
            "defaultImage": "nextpyter/notebook:2026.1",
            "allowedImages": [
                "nextpyter/notebook:2026.1",
                "nextpyter/scipy:2026.1",
                "nextpyter/r:2026.1",
            ],
            "profiles": [
                # Saved before profiles had a process limit: the default one.
                {"name": "default", "cpu": 1, "memory": "2g", "gpu": 0, "pids": 1024},
                {"name": "large", "cpu": 4, "memory": "16g", "gpu": 0, "pids": 4096},
                {"name": "gpu", "cpu": 8, "memory": "lots", "gpu": 1, "pids": 2048},
            ],
            "defaultProfile": "default",
            "idleTimeout": 1800,
            "maxLifetime": 43200,
            "allowedGroups": ["data-science", "teachers"],
        }
        assert refused.json() == expected

        # Fixed, and saved.
        page.get_by_label("Profile 3: memory").fill("32g")
        page.get_by_role("button", name="Save").click()
        expect(alert).to_have_text("Saved; the sidecar applies them from the next launch on.")
        expect(page.locator("#nextpyter-profiles-error")).to_be_empty()
        saved = nextcloud.sent("PUT", f"{APP_ROUTES}/admin/settings")[-1]
        assert saved.json()["profiles"][2] == {
            "name": "gpu",
            "cpu": 8,
            "memory": "32g",
            "gpu": 1,
            "pids": 2048,
        }
        assert errors == [], errors


@pytest.mark.parametrize(
    ("version", "registry"),
    [("32.0.3.2", "v3"), ("33.0.1.2", "v4"), ("34.0.0.5", "v4")],
)
def test_files_actions_register_and_post_the_token_in_a_new_tab(
    sites: tuple[Site, Site], tmp_path: Path, version: str, registry: str
) -> None:
    nextcloud, gateway = sites
    url = f"http://127.0.0.1:{nextcloud.port}{WEBROOT}/index.php/apps/files/?version={version}"
    launch_url = f"http://localhost:{gateway.port}/api/v1/launch"
    with chromium(tmp_path / "profile") as context:
        page = context.new_page()
        errors = watch_errors(page)
        page.goto(url)

        # Registered in the registry this Nextcloud version reads, and only there.
        page.wait_for_function("registry().actions.length >= 2")
        found = page.evaluate(
            """() => ({
                v3: (window._nc_fileactions ?? []).map((a) => a.id),
                v4: [...(window._nc_files_scope?.v4_0?.fileActions?.keys() ?? [])],
                menu: registry().menu.getEntries({ permissions: 31 }).map((e) => e.id),
                readOnlyMenu: registry().menu.getEntries({ permissions: 1 }).map((e) => e.id),
            })"""
        )
        ids = ["nextpyter-open-notebook", "nextpyter-open-folder"]
        other = "v3" if registry == "v4" else "v4"
        assert found[registry] == ids, found
        assert found[other] == [], found
        assert "nextpyter-new-notebook" in found["menu"]
        assert "nextpyter-new-notebook" not in found["readOnlyMenu"]

        # Enabled on exactly one readable notebook, or exactly one folder.
        cases = page.evaluate(
            """() => {
                const nb = { type: "file", fileid: 1, mime: "application/x-ipynb+json",
                    extension: ".ipynb", permissions: 31 };
                const txt = { ...nb, mime: "text/plain", extension: ".txt" };
                const dir = { type: "folder", fileid: 2, mime: "httpd/unix-directory",
                    extension: null, permissions: 31 };
                const o = (nodes) => [enabled("nextpyter-open-notebook", nodes),
                    enabled("nextpyter-open-folder", nodes)];
                return { nb: o([nb]), txt: o([txt]), dir: o([dir]), two: o([nb, nb]),
                    unreadable: o([{ ...nb, permissions: 0 }]) };
            }"""
        )
        assert cases == {
            "nb": [True, False],
            "txt": [False, False],
            "dir": [False, True],
            "two": [False, False],
            "unreadable": [False, False],
        }

        # Clicked: a new tab at once, then the token form-POSTed into it.
        with page.expect_popup() as opened:
            page.click("#open-notebook")
        tab = opened.value
        tab.wait_for_url(launch_url)
        expect(tab).to_have_title("Starting JupyterLab")
        (launch,) = nextcloud.sent("POST", f"{APP_ROUTES}/launch")
        assert launch.json() == {"fileId": 314}
        assert launch.headers["requesttoken"] == CSRF
        (posted,) = gateway.sent("POST", "/api/v1/launch")
        assert posted.headers["content-type"] == "application/x-www-form-urlencoded"
        assert posted.form() == {"token": [f"{LAUNCH_TOKEN}.314"]}
        # The sidecar accepts a launch form only with Nextcloud's Origin (not "null").
        assert posted.headers["origin"] == f"http://127.0.0.1:{nextcloud.port}"
        assert LAUNCH_TOKEN not in tab.url
        assert tab.evaluate("window.opener") is None  # Jupyter cannot reach the Nextcloud tab
        tab.close()

        # Refused by the app: the empty tab closes and the app's message shows.
        with page.expect_popup() as opened:
            page.click("#open-shared")
        refused_tab = opened.value
        if not refused_tab.is_closed():
            refused_tab.wait_for_event("close")
        expect(page.get_by_text(SHARED_MESSAGE)).to_be_visible()
        assert len(gateway.sent("POST", "/api/v1/launch")) == 1

        # "New notebook": created in the current folder, then opened the same way.
        with page.expect_popup() as opened:
            page.click("#new-notebook")
        new_tab = opened.value
        new_tab.wait_for_url(launch_url)
        (created,) = nextcloud.sent("POST", f"{APP_ROUTES}/notebook")
        assert created.json() == {"dir": "/Notebooks", "name": "Untitled.ipynb"}
        assert gateway.sent("POST", "/api/v1/launch")[-1].form() == {
            "token": [f"{LAUNCH_TOKEN}.501"]
        }
        assert errors == [], errors


@pytest.mark.parametrize("version", ["32.0.3.2", "33.0.1.2", "34.0.0.5"])
def test_files_rescans_the_folder_opened_and_reloads_when_changed(
    sites: tuple[Site, Site], tmp_path: Path, version: str
) -> None:
    nextcloud, _ = sites
    base = f"http://127.0.0.1:{nextcloud.port}{WEBROOT}/index.php/apps/files/?version={version}"
    rescan = f"{APP_ROUTES}/rescan"

    def asked() -> list[str]:
        return sorted(r.json()["dir"] for r in nextcloud.sent("POST", rescan))

    with chromium(tmp_path / "profile") as context:
        page = context.new_page()
        errors = watch_errors(page)
        page.goto(base)
        page.wait_for_function("window._nc_event_bus && registry().actions.length >= 2")
        page.evaluate("watchReloads()")

        # The user opens /Notebooks, where JupyterLab wrote: rescanned, and the listing reloaded.
        page.evaluate("navigate('/Notebooks', 7)")
        page.wait_for_function("window.reloads.length === 1")
        assert page.evaluate("window.reloads") == ["/Notebooks"]
        (first,) = nextcloud.sent("POST", rescan)
        assert first.json() == {"dir": "/Notebooks"}
        assert first.headers["requesttoken"] == CSRF
        assert first.headers["content-type"].startswith("application/json")

        # The reloaded listing, the root (unchanged: no reload) and /Notebooks again within 30 s
        # ask nothing more; a new folder is asked once.
        page.evaluate("navigate('/', 1)")
        page.evaluate("navigate('/Notebooks', 7)")
        page.evaluate("navigate('/Projects', 8)")
        page.wait_for_function("window.shown.path === '/Projects'")
        expect_soon(lambda: asked() == ["/", "/Notebooks", "/Projects"], asked)

        # Fire-and-forget: opening a folder whose scan takes long is not held up by it.
        took = page.evaluate(
            "() => { const t0 = performance.now(); navigate('/Slow', 9); "
            "return performance.now() - t0 }"
        )
        assert took < 100, took
        assert page.evaluate("window.shown.path") == "/Slow"
        expect_soon(lambda: "/Slow" in asked(), asked)
        page.wait_for_timeout(300)
        assert page.evaluate("window.reloads") == ["/Notebooks"]
        assert errors == [], errors

        # A user the app refuses: the actions explain, and no folder is rescanned.
        refused = context.new_page()
        refused_errors = watch_errors(refused)
        refused.goto(f"{base}&access=none")
        refused.wait_for_function("window._nc_event_bus && registry().actions.length >= 2")
        before = len(nextcloud.sent("POST", rescan))
        refused.evaluate("navigate('/Elsewhere', 11)")
        refused.wait_for_timeout(500)
        assert len(nextcloud.sent("POST", rescan)) == before
        assert refused_errors == [], refused_errors


def expect_soon(check: Any, show: Any, timeout: float = 10.0) -> None:
    """Wait until ``check()`` holds (requests reach the loopback server asynchronously)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not so after {timeout} s: {show()}")
        time.sleep(0.05)


def test_personal_page_opens_and_stops_the_server(sites: tuple[Site, Site], tmp_path: Path) -> None:
    nextcloud, gateway = sites
    url = f"http://127.0.0.1:{nextcloud.port}{WEBROOT}/index.php/settings/user/nextpyter"
    launch_url = f"http://localhost:{gateway.port}/api/v1/launch"
    with chromium(tmp_path / "profile") as context:
        page = context.new_page()
        errors = watch_errors(page)

        # Not in an allowed group: the app's message, no Open, but the running server shows.
        page.goto(f"{url}?access=none")
        expect(page.locator(".nextpyter-availability")).to_have_text(NOT_ALLOWED)
        line = page.locator(".nextpyter-server")
        expect(line).to_contain_text("Your Jupyter server is running since")
        expect(page.get_by_role("button", name="Stop server")).to_be_visible()
        expect(page.get_by_role("button", name="Open JupyterLab")).to_have_count(0)

        # Allowed: the server from GET /server; Open launches the files folder with its profile.
        page.goto(url)
        expect(page.locator(".nextpyter-availability")).to_have_count(0)
        expect(line).to_contain_text("Your Jupyter server is running since")
        expect(line).to_contain_text("profile: large")
        page.screenshot(path=str(tmp_path / "personal.png"), full_page=True)
        with page.expect_popup() as opened:
            page.get_by_role("button", name="Open JupyterLab").click()
        tab = opened.value
        tab.wait_for_url(launch_url)
        (launch,) = nextcloud.sent("POST", f"{APP_ROUTES}/launch")
        assert launch.json() == {"fileId": FILES_ROOT_ID, "profile": "large"}
        assert launch.headers["requesttoken"] == CSRF
        assert gateway.sent("POST", "/api/v1/launch")[-1].form() == {
            "token": [f"{LAUNCH_TOKEN}.{FILES_ROOT_ID}"]
        }
        tab.close()

        # Stop: DELETE /server, whose answer is the stopped state.
        page.get_by_role("button", name="Stop server").click()
        expect(line).to_contain_text("not running")
        expect(page.get_by_text("Your Jupyter server was stopped.")).to_be_visible()
        page.screenshot(path=str(tmp_path / "personal-stopped.png"), full_page=True)
        (stop,) = nextcloud.sent("DELETE", f"{APP_ROUTES}/server")
        assert stop.headers["requesttoken"] == CSRF

        # Start, with the profile picked.
        page.get_by_label("Profile", exact=True).select_option("default")
        with page.expect_popup() as opened:
            page.get_by_role("button", name="Start JupyterLab").click()
        opened.value.wait_for_url(launch_url)
        assert nextcloud.sent("POST", f"{APP_ROUTES}/launch")[-1].json() == {
            "fileId": FILES_ROOT_ID,
            "profile": "default",
        }
        assert nextcloud.sent("GET", f"{APP_ROUTES}/server")
        assert not [r for r in nextcloud.requests if r.method == "PROPFIND"]  # no WebDAV
        assert errors == [], errors

"""``nextpyter-admin`` over the REST API: what an operator does from any machine that
reaches the sidecar's URL, with an API token (``admin`` scope) in a file.

    nextpyter-admin --url https://sidecar:8000 --token-file ~/.nextpyter-token sessions list
    … sessions stop USER          … images list       … images pull IMAGE...
    … config get                  … config set FILE.json | key=value...
    … cull --dry-run

``--url`` and ``--token-file`` default to ``NEXTPYTER_ADMIN_URL`` and
``NEXTPYTER_ADMIN_TOKEN_FILE``. Every failure is one line on standard error and a
non-zero exit: an unreachable sidecar, a refusal (the sidecar's own words), bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, NoReturn, TextIO
from urllib.parse import quote

import requests

PROG = "nextpyter-admin"
FINAL = {"done", "failed"}


class Failed(Exception):
    """A one-line message for the operator."""


def fail(message: str) -> NoReturn:
    raise Failed(message)


class Api:
    def __init__(self, url: str, token: str, timeout: float = 15.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.http = requests.Session()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        url = f"{self.url}/api/v1{path}"
        try:
            response = self.http.request(
                method,
                url,
                json=body,
                timeout=self.timeout,
                headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
            )
        except requests.RequestException as error:
            fail(f"the sidecar at {self.url} did not answer ({type(error).__name__})")
        if response.status_code >= 400:
            fail(refusal(response))
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            fail(f"the sidecar at {self.url} answered {response.status_code} with no JSON")


def refusal(response: requests.Response) -> str:
    """The sidecar's problem details as one line."""
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if isinstance(problem, dict) and problem.get("detail"):
        line = f"{response.status_code} {problem.get('title', '')}: {problem['detail']}"
    else:
        line = f"the sidecar answered {response.status_code} {response.reason}"
    if response.headers.get("Retry-After"):
        line += f" (retry after {response.headers['Retry-After']} s)"
    return " ".join(line.split())


def _api(args: argparse.Namespace) -> Api:
    if not args.api_url:
        fail("--url (or NEXTPYTER_ADMIN_URL) is required: the sidecar's address")
    if not args.api_url.startswith(("http://", "https://")):
        fail(f"--url {args.api_url[:80]!r} must start with http:// or https://")
    if not args.token_file:
        fail("--token-file (or NEXTPYTER_ADMIN_TOKEN_FILE) is required: a file with an API token")
    try:
        token = Path(args.token_file).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        fail(
            f"the token file {args.token_file} cannot be read: {getattr(error, 'strerror', error)}"
        )
    if not token:
        fail(f"the token file {args.token_file} is empty")
    return Api(args.api_url, token, args.timeout)


# -- the commands ----------------------------------------------------------------------
def sessions_list(args: argparse.Namespace, out: TextIO = sys.stdout) -> None:
    sessions = _api(args).call("GET", "/sessions")["sessions"]
    if args.json:
        print(json.dumps(sessions, indent=2), file=out)
        return
    if not sessions:
        print("no servers", file=out)
    for s in sessions:
        age = max(0, int(time.time() - float(s.get("created") or 0)))
        print(
            f"{s['user_id']}\t{s['state']}\t{s['profile']}\t{age} s\t{s.get('detail', '')}",
            file=out,
        )


def sessions_stop(args: argparse.Namespace, out: TextIO = sys.stdout) -> None:
    _api(args).call("DELETE", f"/sessions/{quote(args.user, safe='')}")
    print(f"stopped the server of {args.user}", file=out)


def images_list(args: argparse.Namespace, out: TextIO = sys.stdout) -> None:
    images = _api(args).call("GET", "/images")["images"]
    if args.json:
        print(json.dumps(images, indent=2), file=out)
        return
    for item in images:
        pull = item.get("pull") or {}
        present = {True: "present", False: "absent", None: "unknown"}[item.get("present")]
        mark = " (default)" if item.get("default") else ""
        state = f"\tlast pull: {pull['state']}" if pull.get("state") else ""
        print(f"{item['image']}{mark}\t{present}{state}", file=out)


def _bar(percent: float, width: int = 30) -> str:
    filled = int(width * max(0.0, min(100.0, percent)) / 100)
    return "[" + "#" * filled + "-" * (width - filled) + f"] {percent:5.1f} %"


def images_pull(args: argparse.Namespace, out: TextIO = sys.stdout) -> None:
    api = _api(args)
    answer = api.call("POST", "/images/pulls", {"images": args.images})
    jobs = {p["image"]: p["job"] for p in answer["pulls"]}
    for p in answer["pulls"]:
        print(f"{p['image']}: {'queued' if p['queued'] else 'joined the pull under way'}", file=out)
    if args.no_wait:
        return
    deadline = time.monotonic() + args.wait
    final: dict[str, dict[str, Any]] = {}
    tty = out.isatty()
    while len(final) < len(jobs):
        if time.monotonic() > deadline:
            fail(f"the pulls did not finish within {args.wait:g} s; see `images list`")
        states = {i["image"]: i.get("pull") or {} for i in api.call("GET", "/images")["images"]}
        for image in jobs:
            if image in final:
                continue
            pull = states.get(image, {})
            line = (
                f"{image}: {pull.get('state', 'queued'):8} {_bar(float(pull.get('percent') or 0))}"
            )
            if pull.get("state") in FINAL:
                final[image] = pull
                print(("\r" if tty else "") + line, file=out)
            elif tty:
                print("\r" + line, end="", file=out, flush=True)
        if len(final) < len(jobs):
            time.sleep(args.interval)
    failed = {i: p for i, p in final.items() if p.get("state") == "failed"}
    for image, pull in failed.items():
        print(f"{image}: failed: {pull.get('error', '')}", file=sys.stderr)
    if failed:
        fail(f"{len(failed)} of {len(jobs)} pulls failed")


def config_get(args: argparse.Namespace, out: TextIO = sys.stdout) -> None:
    print(json.dumps(_api(args).call("GET", "/config"), indent=2), file=out)


def _assignments(items: list[str], current: dict[str, Any]) -> dict[str, Any]:
    """``key=value`` pairs (a value is JSON if it parses, else a string; a dotted key
    reaches into an object: ``profiles.gpu.gpu=1``) applied to ``current``."""
    body = json.loads(json.dumps(current))
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            fail(f"{item[:80]!r} is not key=value (or a JSON file)")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        target = body
        *parents, last = key.split(".")
        for part in parents:
            nxt = target.get(part) if isinstance(target, dict) else None
            if not isinstance(nxt, dict):
                nxt = {}
                target[part] = nxt
            target = nxt
        target[last] = value
    return dict(body)


def config_set(args: argparse.Namespace, out: TextIO = sys.stdout) -> None:
    api = _api(args)
    if len(args.values) == 1 and "=" not in args.values[0]:
        try:
            body = json.loads(Path(args.values[0]).read_text(encoding="utf-8"))
        except OSError as error:
            fail(f"{args.values[0]} cannot be read: {error.strerror}")
        except ValueError as error:
            fail(f"{args.values[0]} is not JSON: {error}")
    else:
        body = _assignments(args.values, api.call("GET", "/config"))
    try:
        saved = api.call("PUT", "/config", body)
    except Failed as error:
        fail(f"refused, the settings are unchanged: {error}")
    print(json.dumps(saved, indent=2), file=out)
    print(
        "saved; Nextcloud's admin settings page pushes its own every 5 minutes, so change "
        "them there to keep them",
        file=sys.stderr,
    )


def cull(args: argparse.Namespace, out: TextIO = sys.stdout) -> None:
    if not args.dry_run:
        fail(
            "only `cull --dry-run` is offered: the culler itself runs every NEXTPYTER_CULL_INTERVAL"
        )
    plan = _api(args).call("GET", "/cull")
    if args.json:
        print(json.dumps(plan, indent=2), file=out)
        return
    limits = f"idle_timeout {plan['idle_timeout']} s, max_lifetime {plan['max_lifetime']} s"
    if not plan["would_stop"]:
        print(f"the culler would stop nothing now ({limits})", file=out)
    for item in plan["would_stop"]:
        busy = " (a launch holds it now: not this pass)" if item.get("busy") else ""
        print(f"{item['user']}\t{item['reason']}{busy}", file=out)


# -- wiring into nextpyter-admin's parser -------------------------------------------------
def add_options(parser: argparse.ArgumentParser, url: str, token_file: str) -> None:
    """The options every API command takes (before the command), with their defaults."""
    parser.add_argument(
        "--url",
        dest="api_url",
        default=url,
        help="the sidecar's URL, for the commands over the API (NEXTPYTER_ADMIN_URL)",
    )
    parser.add_argument(
        "--token-file",
        default=token_file,
        help="a file holding an API token with the admin scope (NEXTPYTER_ADMIN_TOKEN_FILE)",
    )
    parser.add_argument(
        "--api-timeout", dest="timeout", type=float, default=15.0, help="seconds per request"
    )


def add_commands(sub: Any, sessions: argparse.ArgumentParser) -> None:
    """``sessions list|stop`` under the existing ``sessions`` parser; ``images``,
    ``config``, ``cull``."""
    sessions_sub = sessions.add_subparsers(dest="sessions_command")
    listing = sessions_sub.add_parser("list", help="every user's server (over the API)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=run(sessions_list))
    stop = sessions_sub.add_parser("stop", help="stop a user's server (over the API)")
    stop.add_argument("user")
    stop.set_defaults(func=run(sessions_stop))

    images = sub.add_parser("images", help="the allowed images and their pulls (over the API)")
    images_sub = images.add_subparsers(dest="images_command", required=True)
    ilist = images_sub.add_parser("list")
    ilist.add_argument("--json", action="store_true")
    ilist.set_defaults(func=run(images_list))
    pull = images_sub.add_parser("pull", help="pre-pull images, with a progress bar")
    pull.add_argument("images", nargs="+")
    pull.add_argument("--no-wait", action="store_true", help="queue them and return")
    pull.add_argument("--wait", type=float, default=3600.0, help="give up after this many s")
    pull.add_argument("--interval", type=float, default=1.0, help=argparse.SUPPRESS)
    pull.set_defaults(func=run(images_pull))

    config = sub.add_parser("config", help="the run-time settings (over the API)")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    config_sub.add_parser("get").set_defaults(func=run(config_get))
    cset = config_sub.add_parser("set", help="a JSON file, or key=value (dotted keys) changes")
    cset.add_argument("values", nargs="+", metavar="FILE.json | key=value")
    cset.set_defaults(func=run(config_set))

    culling = sub.add_parser("cull", help="what the culler would stop now, and why")
    culling.add_argument("--dry-run", action="store_true", required=True)
    culling.add_argument("--json", action="store_true")
    culling.set_defaults(func=run(cull))


def run(command: Any) -> Any:
    """``command`` with its failures as one line and exit status 1."""

    def wrapped(args: argparse.Namespace) -> None:
        try:
            command(args)
        except Failed as error:
            sys.exit(f"{PROG}: {error}")
        except KeyboardInterrupt:
            sys.exit(f"{PROG}: interrupted")

    return wrapped

"""The browser flow the Chromium tests share: Chromium with the launch's timeouts, the
gateway's origin, and "Open in Jupyter" as Nextcloud's page does it (a form POST)."""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import (
    BrowserContext,
    Page,
)

from devtools.services import ISSUER
from tests.support import browser
from tests.support.stack import Stack


def origin_of(stack: Stack) -> str:
    """The gateway as the browser sees it: ``localhost`` (a secure context) on its port."""
    port = stack.gateway.address.rsplit(":", 1)[1]
    return f"http://localhost:{port}"


@contextmanager
def chromium(user_data_dir: Path) -> Iterator[BrowserContext]:
    """Debian's Chromium with a fresh profile; closed (browser and driver) on exit."""
    with browser.chromium(user_data_dir, UI_TIMEOUT_MS, START_TIMEOUT_MS) as context:
        yield context


NEXTCLOUD_FILES = f"{ISSUER}/apps/files/"


def open_in_jupyter_from_nextcloud(page: Page, action: str, token: str) -> None:
    """Show the launch form on Nextcloud's own origin (served by the browser driver), with
    the ``Referrer-Policy: no-referrer`` Nextcloud sends with its pages, so the POST carries
    what the Files action's does (its strict-origin meta restores ``Origin: <Nextcloud>``)."""
    page.route(
        NEXTCLOUD_FILES,
        lambda route: route.fulfill(
            content_type="text/html",
            headers={"Referrer-Policy": "no-referrer"},
            body=launch_form(action, token),
        ),
    )
    page.goto(NEXTCLOUD_FILES)


def launch_form(action: str, token: str) -> str:
    """What Nextcloud's Files action puts in the page: a form POST carrying the token."""
    return (
        '<!doctype html><meta charset="utf-8"><title>Nextcloud Files</title>'
        # What nextcloud_app/src/lib/launcher.js adds before it submits (see there).
        '<meta name="referrer" content="strict-origin">'
        f'<form id="launch" method="post" action="{html.escape(action)}">'
        f'<input type="hidden" name="token" value="{html.escape(token)}">'
        '<button type="submit">Open in Jupyter</button></form>'
    )


# JupyterLab needs ~10 s to load on a small machine; a first server start a few more.
START_TIMEOUT_MS = 120_000

UI_TIMEOUT_MS = 60_000

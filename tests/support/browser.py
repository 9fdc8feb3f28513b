"""Debian's headless Chromium for the browser tests, driven by playwright (never a
downloaded browser), with the flags this machine needs and a fresh profile each time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import BrowserContext, sync_playwright

from tests.support.need import require

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium(
    user_data_dir: Path,
    timeout_ms: int,
    navigation_timeout_ms: int | None = None,
    viewport: tuple[int, int] = (1280, 800),
) -> Iterator[BrowserContext]:
    """Chromium with a fresh profile in ``user_data_dir``; closed (browser and driver) on exit."""
    executable = require("chromium")
    user_data_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=str(user_data_dir),
            executable_path=executable,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": viewport[0], "height": viewport[1]},
        )
        try:
            context.set_default_timeout(timeout_ms)
            context.set_default_navigation_timeout(navigation_timeout_ms or timeout_ms)
            yield context
        finally:
            context.close()

"""Browser fixtures: headless Debian Chromium driven by Playwright, with fake media."""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

browser_log = logging.getLogger("browser")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    # module scope: sync Playwright runs an event loop on this thread while it is open,
    # and the async tests of other modules need the thread to themselves
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def launch_browser(playwright_driver, tmp_path: Path) -> Iterator[Callable[[Path], object]]:
    """Start one Chromium per participant: the fake microphone file is per process."""
    browsers = []

    def launch(microphone: Path) -> object:
        browser = playwright_driver.chromium.launch(  # type: ignore[attr-defined]
            executable_path=CHROMIUM,
            args=[*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={microphone}"],
        )
        browsers.append(browser)
        context = browser.new_context(permissions=["microphone", "camera"])
        page = context.new_page()
        name = microphone.stem
        page.on("console", lambda message: browser_log.info("[%s] %s", name, message.text))
        page.on("pageerror", lambda error: browser_log.error("[%s] %s", name, error))
        return page

    yield launch
    for browser in browsers:
        browser.close()


def new_id() -> str:
    return uuid.uuid4().hex[:8]

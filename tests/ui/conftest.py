"""Fixtures of the dashboard's browser tests: a real ``twinkit serve`` per test module and
Playwright driving Debian's Chromium (parts in ui_browser.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from ui_browser import Dashboard, chromium_path, start_dashboard


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """One server per test module (starting one takes seconds); tests make their own twins."""
    server = start_dashboard(tmp_path_factory.mktemp("dashboard"))
    try:
        yield Dashboard(server)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    """Playwright for one test module. Its sync API keeps an event loop running in this
    thread while it lives, which breaks ``asyncio.run`` in any later test of the worker: so it
    lives no longer than the module (inside, use ``ui_browser.run_async``)."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """Headless Debian Chromium, one per test module."""
    launched = playwright_driver.chromium.launch(
        executable_path=chromium_path(), headless=True, args=["--no-sandbox"]
    )
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) and page, 1280 by 800 pixels."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()

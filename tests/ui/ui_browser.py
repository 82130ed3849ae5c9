"""Parts of the dashboard's browser tests: a real ``twinkit serve`` (API, dashboard and its
supervised Mosquitto), signing in, screenshots for the docs.

Chromium comes from the system (``apt-get install chromium``, which ``./run.sh test`` does);
Playwright never downloads a browser. Missing, it fails the test in CI and skips it elsewhere.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Page

from served import Server
from twinkit.api import Client, Settings
from twinkit.connect import find_mosquitto
from twinkit.core import Runtime
from twinkit.errors import ConnectorError
from twinkit.examples.pumps._demo import install_station
from twinkit.examples.pumps._layout import station_layout
from twinkit.store import SQLiteStore

T = TypeVar("T")

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing(what: str, hint: str) -> None:
    message = f"{what} is not installed; install it with {hint} (./run.sh test does)"
    if _in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def run_async(work: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(work)`` beside Playwright's loop (which runs in this thread while a
    browser fixture lives): in a worker thread of its own."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


def install_pump_station(data: Path, pumps: int = 1) -> None:
    """Put the demo pump station's models and twins (``pumps`` physics pumps, no SKAB replay)
    into the store of data folder ``data``, before a server starts on it."""

    async def install() -> None:
        settings = Settings.load({"data_dir": str(data)})
        data.mkdir(parents=True, exist_ok=True)
        store = await SQLiteStore.open(settings.database)
        runtime = await Runtime.open(store)
        try:
            await install_station(runtime, station_layout(pumps, replay_pump=False))
        finally:
            await runtime.close()
            await store.close()

    run_async(install())


def chromium_path() -> str:
    """Debian's Chromium executable."""
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    _missing("chromium", "sudo apt-get install chromium")
    raise AssertionError("unreachable")


@dataclass
class Dashboard:
    """A running ``twinkit serve`` with its dashboard."""

    server: Server

    @property
    def url(self) -> str:
        """The dashboard's base URL (``.../ui``)."""
        return self.server.url + "/ui"

    @property
    def api_url(self) -> str:
        return self.server.url

    @property
    def admin_token(self) -> str:
        return self.server.token

    @property
    def mqtt_port(self) -> int:
        found = re.search(r":(\d+)$", self.server.mqtt_url)
        assert found, f"no broker port in {self.server.mqtt_url!r}"
        return int(found.group(1))

    def client(self) -> Client:
        """The Python client of the API, as admin."""
        return Client(self.api_url, self.admin_token)

    def token(self, role: str, name: str = "") -> str:
        """A new token's secret with ``role`` (viewer, operator, admin)."""
        return str(self.new_token(role, name)["secret"])

    def new_token(self, role: str, name: str = "") -> dict[str, Any]:
        """A new token with ``role``: the API's answer (``id``, ``secret``, ...)."""
        answer = httpx.post(
            self.api_url + "/api/v1/tokens",
            json={"role": role, "name": name or f"{role} (browser test)"},
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=10,
        )
        answer.raise_for_status()
        record: dict[str, Any] = answer.json()
        return record


def start_dashboard(data: Path, *args: str) -> Server:
    """``twinkit serve`` on ``data`` with the dashboard and a supervised Mosquitto."""
    try:
        find_mosquitto()
    except ConnectorError:
        _missing("mosquitto", "sudo apt-get install mosquitto")
    return Server(data, None, args=args, timeout=60.0)


def login(page: Page, dashboard: Dashboard, secret: str, path: str = "/") -> None:
    """Sign in on the login page and land on ``path`` (a dashboard page, e.g. "/explorer")."""
    page.goto(dashboard.url + "/login?next=" + quote(path, safe=""))
    page.get_by_test_id("token").fill(secret)
    page.get_by_test_id("sign-in").click()
    page.wait_for_url(re.compile(re.escape(dashboard.url + path.rstrip("/")) + r"/?(\?.*)?$"))


def screenshot(page: Page, name: str) -> None:
    """Save ``docs/images/dashboard-<name>.png`` when TWINKIT_SCREENSHOTS=1 (for the docs)."""
    if os.environ.get("TWINKIT_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_IMAGES / f"dashboard-{name}.png"), full_page=True)

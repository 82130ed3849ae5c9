"""The Scenarios pages in a real browser: a what-if started from the form runs to the end and
its comparison with reality is drawn (a server with the pump station's simulation bindings)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Page, expect
from ui_browser import Dashboard, install_pump_station, login, screenshot, start_dashboard

BINDINGS = "twinkit.examples.pumps._shadow:shadow_bindings"


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Dashboard, float]]:
    """A server with the pump station and its simulators bound; and when its twins were made."""
    data = tmp_path_factory.mktemp("scenarios")
    install_pump_station(data)
    made = time.time()
    server = start_dashboard(data, "--simulators", BINDINGS)
    try:
        yield Dashboard(server), made
    finally:
        server.stop()


def _report_levels(port: int, levels: list[float]) -> None:
    """tank-1's level sensor: one reading a second, ending now."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="tank-1-test")
    client.connect("127.0.0.1", port)
    client.loop_start()
    now = time.time()
    try:
        for index, level in enumerate(levels):
            body = {"ts": now - (len(levels) - 1 - index), "values": {"level": level}}
            client.publish("site/tank-1/telemetry", json.dumps(body), qos=1).wait_for_publish(5)
    finally:
        client.loop_stop()
        client.disconnect()


def _pick(page: Page, testid: str, option: str) -> None:
    page.get_by_test_id(testid).click()
    # the menu just opened (an earlier select's menu may still be in the page)
    menu = page.locator(".q-menu").last
    menu.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


def test_a_scenario_started_from_the_page_runs_and_is_compared(
    page: Page, station: tuple[Dashboard, float]
) -> None:
    dashboard, made = station
    while time.time() - made < 4:  # fork after the twins exist, with readings since
        time.sleep(0.2)
    _report_levels(dashboard.mqtt_port, [2.0, 2.01, 2.02])
    login(page, dashboard, dashboard.token("operator"), "/scenarios")
    roots = page.get_by_test_id("scenario-roots")
    roots.fill("tank")
    page.locator(".q-menu").last.get_by_role("option", name="tank-1").click()
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("scenario-preview")).to_contain_text(
        "simulated: pipe-1, tank-1, valve-1"
    )
    page.get_by_test_id("scenario-ago").fill("0.05")  # 3 s ago: reality is known after it
    page.get_by_test_id("scenario-horizon").fill("60")
    page.get_by_test_id("add-fault").click()
    _pick(page, "fault-twin-0", "tank-1")
    page.get_by_test_id("scenario-start").click()
    expect(page.get_by_test_id("scenario-error")).to_contain_text("at faults/0/target")
    _pick(page, "fault-target-0", "area")
    page.get_by_test_id("fault-amount-0").fill("0.5")
    page.get_by_test_id("scenario-start").click()
    page.wait_for_url("**/ui/scenarios/whatif-tank-1-*")
    expect(page.get_by_test_id("scenario-status")).to_have_text("done", timeout=30_000)
    expect(page.get_by_test_id("scenario-progress")).to_have_attribute("aria-valuenow", "1")
    expect(page.get_by_test_id("scenario-series")).to_have_value("tank-1 / level")
    note = page.get_by_test_id("scenario-note")
    expect(note).to_contain_text("61 points")
    expect(note).not_to_contain_text("no measured values")
    expect(page.get_by_test_id("scenario-chart").locator("canvas")).to_have_count(1)
    screenshot(page, "scenarios")
    page.get_by_role("link", name="All scenarios").click()
    expect(page.get_by_test_id("scenario-list")).to_contain_text("done")


def test_a_viewer_sees_scenarios_but_no_form(page: Page, station: tuple[Dashboard, float]) -> None:
    dashboard, _ = station
    login(page, dashboard, dashboard.token("viewer"), "/scenarios")
    expect(page.get_by_test_id("scenario-list")).to_be_visible()
    expect(page.get_by_test_id("scenario-form")).to_have_count(0)

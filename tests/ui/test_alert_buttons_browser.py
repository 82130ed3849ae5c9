"""Acknowledging and clearing alerts from the dashboard, in a real browser over ``twinkit
serve``: an operator's clicks reach the runtime with the operator's token as their cause, a
viewer gets no buttons, and the twin page clears the last one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from ui_browser import Dashboard, login, run_async, screenshot, start_dashboard

from served import wait_for
from twinkit.api import Settings
from twinkit.core import Runtime
from twinkit.examples.pumps._demo import install_station
from twinkit.examples.pumps._layout import station_layout
from twinkit.store import SQLiteStore

pytestmark = pytest.mark.integration


async def _seed(data: Path) -> None:
    """The station with three open alerts: two on pump-1, one on pump-2."""
    store = await SQLiteStore.open(Settings(data_dir=data).database)
    try:
        runtime = await Runtime.open(store)
        try:
            await install_station(runtime, station_layout(2, replay_pump=False))
            await runtime.raise_alert(
                "pump-1", "anomalyDetected", "bearing vibration high", cause="predictor:bearing"
            )
            await runtime.raise_alert(
                "pump-1", "shadowFailed", "simulator diverged", cause="simulator:physics"
            )
            await runtime.raise_alert(
                "pump-2", "lowFlow", "flow under 5 m³/h", cause="rule:flow", severity="error"
            )
        finally:
            await runtime.close()
    finally:
        await store.close()


@pytest.fixture(scope="module")
def alerting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    data = tmp_path_factory.mktemp("alerts")
    run_async(_seed(data))
    server = start_dashboard(data)
    try:
        yield Dashboard(server)
    finally:
        server.stop()


def _open_alerts(dashboard: Dashboard) -> dict[tuple[str, str], dict[str, Any]]:
    answer = httpx.get(
        dashboard.api_url + "/api/v1/alerts",
        headers={"Authorization": f"Bearer {dashboard.admin_token}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return {(item["twinId"], item["name"]): item for item in answer.json()["items"]}


def _alert_card(page: Page, twin_id: str, name: str) -> Any:
    return page.get_by_test_id("alert").filter(
        has=page.get_by_test_id(f"alert-actions-{twin_id}-{name}")
    )


def test_a_viewer_sees_alerts_but_no_buttons(page: Page, alerting: Dashboard) -> None:
    login(page, alerting, alerting.token("viewer", "vera"))
    alerts = page.get_by_test_id("alerts")
    expect(alerts).to_contain_text("lowFlow")
    expect(alerts).to_contain_text("anomalyDetected")
    expect(page.get_by_test_id("alert-acknowledge")).to_have_count(0)
    expect(page.get_by_test_id("alert-clear")).to_have_count(0)


def test_an_operator_acknowledges_and_clears_from_the_overview_and_the_twin_page(
    page: Page, alerting: Dashboard
) -> None:
    token = alerting.new_token("operator", "olga")
    login(page, alerting, str(token["secret"]))
    cause = f"token:{token['id']}"

    anomaly = _alert_card(page, "pump-1", "anomalyDetected")
    anomaly.get_by_test_id("alert-acknowledge").click()
    expect(anomaly.get_by_test_id("alert-acknowledged")).to_contain_text(
        f"olga (token {token['id']})"
    )
    expect(anomaly.get_by_test_id("alert-acknowledge")).to_have_count(0)  # seen: clear only
    wait_for(
        lambda: _open_alerts(alerting)[("pump-1", "anomalyDetected")]["acknowledgedBy"] == cause,
        10,
        "the acknowledgement in the API",
    )

    low = _alert_card(page, "pump-2", "lowFlow")
    low.get_by_test_id("alert-clear").click()
    dialog = page.get_by_test_id("alert-clear-dialog")
    expect(dialog).to_contain_text("lowFlow")
    page.get_by_test_id("alert-clear-reason").fill("valve reopened")
    page.wait_for_timeout(500)  # the dialog's fade-in, for the picture
    screenshot(page, "alert-clear")
    page.get_by_test_id("alert-clear-confirm").click()
    expect(page.get_by_test_id("alerts")).not_to_contain_text("lowFlow")
    wait_for(lambda: ("pump-2", "lowFlow") not in _open_alerts(alerting), 10, "the clear")
    with alerting.client() as client:
        events = client.get("/twins/pump-2/events")["items"]
    cleared = [e for e in events if e["type"] == "AlertCleared"]
    assert cleared and cleared[-1]["data"]["message"] == "valve reopened"
    assert cleared[-1]["cause"] == cause

    page.goto(alerting.url + "/twins/pump-1")
    twin_alerts = page.get_by_test_id("alerts")
    expect(twin_alerts).to_contain_text("shadowFailed")
    expect(twin_alerts).to_contain_text("acknowledged by olga")
    _alert_card(page, "pump-1", "shadowFailed").get_by_test_id("alert-clear").click()
    page.get_by_test_id("alert-clear-confirm").click()
    expect(twin_alerts).not_to_contain_text("shadowFailed")
    expect(twin_alerts).to_contain_text("anomalyDetected")
    anomaly = _alert_card(page, "pump-1", "anomalyDetected")
    anomaly.get_by_test_id("alert-clear").click()
    page.get_by_test_id("alert-clear-cancel").click()  # changed their mind: it stays open
    expect(page.get_by_test_id("alert-clear-dialog")).to_have_count(0)
    assert ("pump-1", "anomalyDetected") in _open_alerts(alerting)
    anomaly.get_by_test_id("alert-clear").click()
    page.get_by_test_id("alert-clear-confirm").click()
    expect(twin_alerts).to_contain_text("No open alerts.")
    wait_for(lambda: not _open_alerts(alerting), 10, "no open alerts left")

"""The twin page in a real browser, served by ``twinkit serve``: a pump of the demo station with
a month of history, shadow and predicted values, a desired value and an alert; a value published
over MQTT shows up live, the charts zoom into history, and time travel shows the past."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Page, expect
from ui_browser import Dashboard, login, run_async, screenshot, start_dashboard

from served import wait_for
from twinkit.api import Settings
from twinkit.core import Derived, Reading, Runtime
from twinkit.examples.pumps._demo import install_station
from twinkit.examples.pumps._layout import station_layout
from twinkit.store import SQLiteStore
from twinkit.ui._twin_data import format_time

pytestmark = pytest.mark.integration

DAY = 86400.0
DEVICE = "connector:mqtt"

# The points of one chart's first series as drawn, read through ECharts: [[ms, value], ...].
CHART_POINTS_JS = """([key, index]) => {
  const host = document.querySelector(`[data-testid=chart-${key}]`);
  const el = host && getElement(parseInt(host.id.slice(1)));
  if (!el || !el.chart) return null;
  const option = el.chart.getOption();
  if (!option || !option.series || !option.series[index]) return null;
  const marked = option.series.find((s) => s.markLine && s.markLine.data.length);
  return {
    data: option.series[index].data,
    min: option.xAxis[0].min,
    max: option.xAxis[0].max,
    marker: marked ? marked.markLine.data[0].xAxis : null,
  };
}"""


def _history(now: float) -> list[list[Reading]]:
    """A month of hourly readings, then the last 15 minutes at 1 Hz."""
    hourly = [now - 30 * DAY + h * 3600.0 for h in range(30 * 24)]
    recent = [now - 900.0 + s for s in range(900)]
    return [
        [
            Reading(
                "pump-1",
                {
                    "flow": 20.0 + 5.0 * math.sin(t / 3600.0),
                    "speed": 1450.0 + 10.0 * math.sin(t / 600.0),
                    "bearingTemperature": 55.0 + 3.0 * math.sin(t / DAY * 2 * math.pi),
                },
                t,
            )
        ]
        for t in hourly + recent
    ]


def _derived(now: float) -> list[Derived]:
    out = []
    for s in range(0, 900, 5):
        t = now - 900.0 + s
        flow = 20.0 + 5.0 * math.sin(t / 3600.0)
        temp = 55.0 + 3.0 * math.sin(t / DAY * 2 * math.pi)
        out.append(Derived("pump-1", t, "simulated", {"flow": flow + 0.3}))
        out.append(Derived("pump-1", t, "residual", {"flow": -0.3}))
        band = {"bearingTemperature_lower": temp - 1.5, "bearingTemperature_upper": temp + 1.5}
        out.append(Derived("pump-1", t, "predicted", {"bearingTemperature": temp + 0.4, **band}))
    return out


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def _seed(data: Path, now: float) -> None:
    """The station as installed 31 days ago, pump-1's history and state: speedSetpoint 1200
    two days ago, 1450 an hour ago, simulated, residual and predicted values, an open alert."""
    store = await SQLiteStore.open(Settings(data_dir=data).database)
    try:
        clock = _Clock(now - 31 * DAY)
        runtime = await Runtime.open(store, clock=clock)
        try:
            await install_station(runtime, station_layout(2, replay_pump=False))
            clock.now = now
            await runtime.ingest(
                [[Reading("pump-1", {"speedSetpoint": 1200.0}, now - 2 * DAY)]], cause=DEVICE
            )
            await runtime.ingest(_history(now), cause=DEVICE)
            await runtime.record_derived(_derived(now), cause="simulator:physics")
            await runtime.ingest(
                [[Reading("pump-1", {"speedSetpoint": 1450.0}, now - 3600.0)]], cause=DEVICE
            )
            await runtime.raise_alert(
                "pump-1",
                "anomalyDetected",
                "bearing vibration above its threshold",
                cause="predictor:bearing",
            )
        finally:
            await runtime.close()
    finally:
        await store.close()


@pytest.fixture(scope="module")
def twin_dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    data = tmp_path_factory.mktemp("twin")
    run_async(_seed(data, time.time()))
    server = start_dashboard(data)
    try:
        dashboard = Dashboard(server)
        alice = dashboard.token("operator", "alice")  # sets a desired value through the API
        answer = httpx.put(
            dashboard.api_url + "/api/v1/twins/pump-1/properties/speedSetpoint/desired",
            json={"value": 1500.0},
            headers={"Authorization": f"Bearer {alice}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        yield dashboard
    finally:
        server.stop()


def _publish(port: int, topic: str, payload: dict[str, Any]) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"twin-{uuid.uuid4().hex[:8]}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        info = client.publish(topic, orjson.dumps(payload), qos=1)
        info.wait_for_publish(10)
        assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def _chart(page: Page, key: str, index: int = 0) -> dict[str, Any] | None:
    found: dict[str, Any] | None = page.evaluate(CHART_POINTS_JS, [key, index])
    return found


def test_the_twin_page_shows_state_and_follows_mqtt_live(
    page: Page, twin_dashboard: Dashboard
) -> None:
    login(page, twin_dashboard, twin_dashboard.token("viewer", "vera"), "/twins/pump-1")
    expect(page.get_by_test_id("twin-id")).to_have_text("pump-1")
    expect(page.get_by_test_id("twin-model")).to_have_text("dtmi:twinkit:pumps:Pump;1")
    expect(page.get_by_test_id("link-out-pipe-1")).to_be_visible()
    expect(page.get_by_test_id("alerts")).to_contain_text("anomalyDetected")
    properties = page.get_by_test_id("properties")
    speed_row = properties.locator("tr", has_text="speedSetpoint")
    expect(speed_row).to_contain_text("1450")
    expect(speed_row).to_contain_text("1500")
    expect(speed_row).to_contain_text("pending")
    events = page.get_by_test_id("events")
    expect(events).to_contain_text("desired speedSetpoint = 1500 (v1)")
    expect(events).to_contain_text("alice (token")
    expect(events).to_contain_text("predictor bearing")
    expect(page.get_by_test_id("twin-control")).to_have_count(0)  # a viewer controls nothing
    wait_for(lambda: bool((_chart(page, "flow") or {}).get("data")), 15, "the flow chart")
    band = _chart(page, "bearingTemperature", 1)  # measured, then the band's lower bound
    assert band is not None and len(band["data"]) > 100

    port = twin_dashboard.mqtt_port
    _publish(port, "site/pump-1/telemetry", {"values": {"flow": 77.125}})
    expect(page.get_by_test_id("telemetry")).to_contain_text("77.125", timeout=10_000)
    wait_for(
        lambda: (_chart(page, "flow") or {"data": [[0, 0]]})["data"][-1][1] == 77.125,
        10,
        "the published value on the flow chart",
    )
    reply = {"values": {"speedSetpoint": {"value": 1500.0, "ac": 200, "av": 1}}}
    _publish(port, "site/pump-1/properties", reply)
    expect(speed_row).to_contain_text("in sync", timeout=10_000)
    expect(events).to_contain_text("speedSetpoint v1 acknowledged: 200")
    expect(events).to_contain_text("connector")
    screenshot(page, "twin")


def test_zoom_into_history_and_time_travel(page: Page, twin_dashboard: Dashboard) -> None:
    login(page, twin_dashboard, twin_dashboard.token("operator"), "/twins/pump-1")
    expect(page.get_by_test_id("twin-control")).to_be_visible()  # operators get control
    wait_for(lambda: bool((_chart(page, "flow") or {}).get("data")), 15, "the flow chart")

    page.get_by_test_id("chart-range").get_by_text("30 d").click()
    wait_for(
        lambda: (
            (found := _chart(page, "flow")) is not None
            and found["max"] - found["min"] > 29 * DAY * 1000
        ),
        15,
        "the 30-day range",
    )
    month = _chart(page, "flow")
    assert month is not None and 300 < len(month["data"]) <= 1500  # buckets, not 3,600 points
    expect(page.get_by_test_id("chart-range-label")).to_contain_text("buckets of 30 min")

    page.evaluate(  # zoom the flow chart to its last 2 %: about 14 hours
        """() => {
          const host = document.querySelector('[data-testid=chart-flow]');
          getElement(parseInt(host.id.slice(1))).chart.dispatchAction(
            {type: 'dataZoom', start: 98, end: 100});
        }"""
    )
    expect(page.get_by_test_id("chart-range-label")).to_contain_text("zoomed", timeout=10_000)
    zoomed = _chart(page, "flow")
    assert zoomed is not None
    span = zoomed["max"] - zoomed["min"]
    assert 0.015 * 30 * DAY * 1000 < span < 0.025 * 30 * DAY * 1000
    assert len(zoomed["data"]) > 50  # the recent 1 Hz minutes, finer than 30-minute buckets
    assert all(zoomed["min"] <= point[0] <= zoomed["max"] for point in zoomed["data"])

    speed_row = page.get_by_test_id("properties").locator("tr", has_text="speedSetpoint")
    then_s = time.time() - DAY
    page.get_by_test_id("time-input").fill(format_time(then_s))
    page.get_by_test_id("time-go").click()
    expect(page.get_by_test_id("past-banner")).to_be_visible()
    expect(page.get_by_test_id("past-banner")).to_contain_text("as it was at")
    expect(speed_row).to_contain_text("1200")
    expect(speed_row).not_to_contain_text("1500")  # the desired value came later
    wait_for(lambda: (_chart(page, "flow") or {}).get("marker") is not None, 10, "the marker")
    then = _chart(page, "flow")
    assert then is not None and abs(then["marker"] - then_s * 1000) < 1000  # a line at then
    assert then["min"] < then["marker"] < then["max"]

    page.get_by_test_id("back-to-live").click()
    expect(page.get_by_test_id("past-banner")).to_be_hidden()
    expect(speed_row).to_contain_text("1500")
    expect(page.get_by_test_id("chart-range-label")).to_contain_text("live")

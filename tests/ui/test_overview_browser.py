"""The overview in a real browser over a real ``twinkit serve``: the demo station's twins by
model and health, the ingest rate moving while a device publishes, and dead letters."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Page, expect
from ui_browser import Dashboard, login, screenshot

from twinkit.examples.pumps._layout import model_files, station_layout

pytestmark = pytest.mark.integration


def create_station(dashboard: Dashboard) -> None:
    """The demo pump station's models, twins and relationships, through the REST API."""
    documents: list[Any] = []
    for path in model_files():
        loaded = json.loads(path.read_text(encoding="utf-8"))
        documents += loaded if isinstance(loaded, list) else [loaded]
    layout = station_layout()
    with httpx.Client(
        base_url=dashboard.api_url + "/api/v1",
        headers={"Authorization": f"Bearer {dashboard.admin_token}"},
        timeout=10,
    ) as api:
        answer = api.post("/models", json=documents)
        assert answer.status_code == 201, answer.text
        for spec in layout.twins:
            body = {"model": spec.model, "properties": dict(spec.properties)}
            answer = api.put(f"/twins/{spec.id}", json=body)
            assert answer.status_code == 201, answer.text
        for edge in layout.relationships:
            body = {"name": edge.name, "target": edge.target, "id": edge.id}
            answer = api.post(f"/twins/{edge.source}/relationships", json=body)
            assert answer.status_code == 201, answer.text


@pytest.fixture(scope="module")
def station(dashboard: Dashboard) -> Dashboard:
    create_station(dashboard)
    with httpx.Client(timeout=10) as http:  # pump-2 is asked to slow down: pending
        answer = http.put(
            dashboard.api_url + "/api/v1/twins/pump-2/properties/speedSetpoint/desired",
            json={"value": 1200.0},
            headers={"Authorization": f"Bearer {dashboard.admin_token}"},
        )
        assert answer.status_code == 200, answer.text
    return dashboard


class Device:
    """An MQTT device that publishes pump telemetry from its own thread until stopped."""

    def __init__(self, port: int) -> None:
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"overview-{uuid.uuid4().hex[:8]}",
            protocol=paho.MQTTv311,
        )
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            for pump in ("pump-1", "pump-3"):
                values = {"speed": 1450.0 + n % 30, "flow": 28.0 + n % 5 / 10}
                self.client.publish(f"site/{pump}/telemetry", orjson.dumps(values), qos=1)
            n += 1
            time.sleep(0.02)

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def __enter__(self) -> Device:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def viewer_page(page: Page, station: Dashboard) -> Iterator[Page]:
    login(page, station, station.token("viewer"))
    yield page


def test_the_overview_lists_the_station_by_model_and_health(viewer_page: Page) -> None:
    page = viewer_page
    expect(page.get_by_test_id("twins-count")).to_have_text("10")
    expect(page.get_by_test_id("models-count")).to_have_text("5")
    expect(page.get_by_test_id("health-pending")).to_have_text("1")
    models = page.get_by_test_id("model-table")
    expect(models.locator("tr", has_text="Centrifugal pump")).to_contain_text("4")
    twins = page.get_by_test_id("twin-table")
    expect(twins.get_by_role("link", name="valve-1")).to_be_visible()
    # trouble first: the pending pump heads the table, saying why
    first = twins.locator("tbody tr").first
    expect(first).to_contain_text("pump-2")
    expect(first).to_contain_text("desired not in sync: speedSetpoint")
    models.locator("tr", has_text="Tank").click()  # a model's row filters the twins
    expect(twins.locator("tbody tr")).to_have_count(1)
    expect(twins).to_contain_text("tank-1")
    twins.get_by_role("link", name="tank-1").click()
    page.wait_for_url("**/ui/twins/tank-1")


def test_the_ingest_rate_moves_while_a_device_publishes(
    viewer_page: Page, station: Dashboard
) -> None:
    page = viewer_page
    points = page.get_by_test_id("ingest-points")
    expect(points).to_have_text("0.0", timeout=20_000)  # nothing published yet
    with Device(station.mqtt_port) as device:
        expect(points).not_to_have_text("0.0", timeout=10_000)
        expect(page.get_by_test_id("ingest-messages")).not_to_have_text("0.0")
        device.publish("site/pump-1/telemetry", b"{not json")
        expect(page.get_by_test_id("dead-letters-count")).to_have_text("1", timeout=10_000)
        expect(page.get_by_test_id("dead-letters")).to_contain_text("site/pump-1/telemetry")
        page.wait_for_timeout(1_500)
        screenshot(page, "overview")
    rate = float(points.inner_text().replace(",", ""))
    assert rate > 10, f"about 200 points/s were published, the overview says {rate}"

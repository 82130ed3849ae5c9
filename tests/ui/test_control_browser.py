"""The Control page in a real browser: an operator sets a desired value and sees the device
(an MQTT client of the server's broker, answering like a pump) follow; a viewer gets no form."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Page, expect
from ui_browser import Dashboard, install_pump_station, login, screenshot, start_dashboard


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """A server holding the pump station's twins (one pump)."""
    data = tmp_path_factory.mktemp("control")
    install_pump_station(data)
    server = start_dashboard(data)
    try:
        yield Dashboard(server)
    finally:
        server.stop()


class _Pump:
    """pump-1's device: acknowledges every desired value and reports it (IoT Plug and Play)."""

    def __init__(self, port: int) -> None:
        self.desired: list[dict[str, Any]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="pump-1-test")
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("site/pump-1/desired", qos=1)
        self.client.loop_start()

    def _message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        payload = json.loads(message.payload)
        self.desired.append(payload)
        version = payload["$version"]
        values = {
            name: {"value": value, "ac": 200, "av": version, "ad": "applied"}
            for name, value in payload.items()
            if not name.startswith("$")
        }
        body = json.dumps({"ts": time.time(), "values": values})
        client.publish("site/pump-1/properties", body, qos=1)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_an_operator_sets_a_desired_value_and_the_device_follows(
    page: Page, station: Dashboard
) -> None:
    pump = _Pump(station.mqtt_port)
    try:
        login(page, station, station.token("operator", "olga"), "/control")
        page.get_by_test_id("control-twin").fill("pump-1")
        page.get_by_role("option", name="pump-1").click()
        page.wait_for_url("**/ui/control?twin=pump-1")
        page.get_by_test_id("set-speedSetpoint").click()
        page.get_by_test_id("desired-input").fill("fast")
        page.get_by_test_id("desired-next").click()
        expect(page.get_by_test_id("desired-error")).to_contain_text("at speedSetpoint")
        page.get_by_test_id("desired-input").fill("1200")
        page.get_by_test_id("desired-next").click()
        expect(page.get_by_test_id("confirm-text")).to_contain_text(
            "Set speedSetpoint of pump-1 from"
        )
        expect(page.get_by_test_id("confirm-text")).to_contain_text("to 1200")
        page.get_by_test_id("confirm-ok").click()
        result = page.get_by_test_id("desired-result-speedSetpoint")
        expect(result).to_have_text("version 1 acknowledged by the device")
        expect(page.get_by_test_id("sync-speedSetpoint")).to_have_text("in sync")
        expect(page.get_by_test_id("reported-speedSetpoint")).to_contain_text("1200")
        assert pump.desired == [{"speedSetpoint": 1200.0, "$version": 1}]
        screenshot(page, "control")
    finally:
        pump.close()
    with station.client() as client:
        events = client.get("/twins/pump-1/events")["items"]
    set_events = [e for e in events if e["type"] == "DesiredPropertySet"]
    assert [e["data"]["value"] for e in set_events] == [1200.0]
    assert set_events[0]["cause"].startswith("token:")  # audited: who set it


def test_a_command_without_an_answer_fails_clearly(page: Page, station: Dashboard) -> None:
    login(page, station, station.token("operator"), "/control")
    page.goto(station.url + "/control?twin=pump-1")
    page.get_by_test_id("timeout-stop").fill("1")
    page.get_by_test_id("invoke-stop").click()
    expect(page.get_by_test_id("confirm-text")).to_have_text("Invoke stop on pump-1?")
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("command-result-stop")).to_contain_text("no answer within 1 s")


def test_a_viewer_gets_no_control(page: Page, station: Dashboard) -> None:
    login(page, station, station.token("viewer"))
    page.goto(station.url + "/control?twin=pump-1")
    expect(page.get_by_test_id("role-refused")).to_contain_text("needs the operator role")
    expect(page.get_by_test_id("control-form")).to_have_count(0)
    expect(page.get_by_test_id("set-speedSetpoint")).to_have_count(0)

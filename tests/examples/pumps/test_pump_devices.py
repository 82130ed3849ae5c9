"""The simulated devices against a real Mosquitto: topics, payloads, acks, commands, last will."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from pump_helpers import Broker, Listener

from twinkit.errors import ConnectorError, ValidationError
from twinkit.examples.pumps import (
    PUMP,
    DeviceGroup,
    StationLayout,
    load_models,
    start_devices,
    station_layout,
)
from twinkit.examples.pumps._mqtt import Broker as BrokerAddress
from twinkit.model import compile_validator

pytestmark = pytest.mark.integration

SPEEDUP = 20.0


@pytest.fixture
def listener(mosquitto: Broker) -> Iterator[Listener]:
    client = Listener(mosquitto.url)
    yield client
    client.close()


@pytest.fixture
def layout() -> StationLayout:
    return station_layout(2, replay_pump=False)


@pytest.fixture
def devices(mosquitto: Broker, listener: Listener, layout: StationLayout) -> Iterator[DeviceGroup]:
    group = start_devices(mosquitto.url, layout, speedup=SPEEDUP, seed=3)
    yield group
    group.stop()


def ack_of(listener: Listener, twin_id: str, name: str, since: int) -> dict[str, object]:
    """The first acknowledgement of ``name`` (a value in IoT Plug and Play's ack form)."""

    def is_ack(payload: dict[str, dict[str, object]]) -> bool:
        return isinstance(payload["values"].get(name), dict)

    ack: dict[str, object] = listener.on(f"site/{twin_id}/properties", since=since, where=is_ack)[
        "values"
    ][name]
    return ack


def test_every_device_announces_itself_and_sends_valid_telemetry(
    devices: DeviceGroup, listener: Listener, layout: StationLayout
) -> None:
    models = load_models()
    for twin in layout:
        status = listener.wait(lambda m, t=twin.id: m.topic == f"site/{t}/status")
        assert status.text == "online"
        validator = compile_validator(models, twin.model)
        message = listener.on(f"site/{twin.id}/telemetry")
        assert set(message) == {"ts", "values"}
        assert isinstance(message["ts"], float)
        assert abs(message["ts"] - time.time()) < 5.0
        assert validator.telemetry_batch(message["values"]) == message["values"]
        reported = listener.on(f"site/{twin.id}/properties")
        validator.property_batch(reported["values"])
        assert reported["values"].items() >= dict(twin.properties).items()


def test_telemetry_comes_at_the_publish_rate_times_speedup(
    devices: DeviceGroup, listener: Listener
) -> None:
    first = listener.on("site/tank-1/telemetry")
    since = listener.mark()
    stamps = [first["ts"]]
    for _ in range(5):
        stamps.append(
            listener.on(
                "site/tank-1/telemetry", since=since, where=lambda p, s=stamps: p["ts"] > s[-1]
            )["ts"]
        )
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(g == pytest.approx(1.0 / SPEEDUP, abs=1e-6) for g in gaps), gaps


def test_desired_speed_is_acknowledged_and_changes_the_flow(
    devices: DeviceGroup, listener: Listener
) -> None:
    listener.on("site/pump-1/telemetry", timeout=10)
    time.sleep(0.3)  # let the flow settle (6 simulated seconds)
    before = listener.on("site/pump-1/telemetry", since=listener.mark())["values"]["flow"]
    since = listener.mark()
    listener.publish("site/pump-1/desired", {"speedSetpoint": 1000.0, "$version": 3})
    ack = ack_of(listener, "pump-1", "speedSetpoint", since)
    assert ack["value"] == 1000.0 and ack["ac"] == 200 and ack["av"] == 3
    assert ack["ad"] == "applied"
    after = listener.on(
        "site/pump-1/telemetry", since=since, where=lambda p: p["values"]["speed"] < 1010.0
    )["values"]
    assert after["flow"] < 0.5 * before
    pump2 = listener.on("site/pump-2/telemetry", since=listener.mark())["values"]
    assert pump2["flow"] > 0.8 * before  # the other pump did not change


def test_out_of_range_setpoint_is_refused_with_400(
    devices: DeviceGroup, listener: Listener
) -> None:
    since = listener.mark()
    listener.publish("site/pump-1/desired", {"speedSetpoint": 99999.0, "$version": 4})
    ack = ack_of(listener, "pump-1", "speedSetpoint", since)
    assert ack["ac"] == 400 and ack["av"] == 4
    assert "out of range" in ack["ad"]
    assert ack["value"] == 1480.0  # the value still in force


def test_command_round_trips_with_its_id(devices: DeviceGroup, listener: Listener) -> None:
    validator = compile_validator(load_models(), PUMP)
    since = listener.mark()
    listener.publish("site/pump-2/commands/start", {"id": "c-17", "request": 1300.0})
    answer = listener.on("site/pump-2/commands/start/response", since=since)
    assert answer == {
        "id": "c-17",
        "status": 200,
        "response": {"running": True, "speedSetpoint": 1300.0},
    }
    validator.command_response("start", answer["response"])
    listener.publish(
        "site/pump-2/commands/stop",
        {"id": "c-18", "request": None, "responseTopic": "replies/c-18"},
    )
    # The test client listens to site/# only: subscribe to the custom reply topic too.
    listener.client.subscribe("replies/#", qos=1)
    time.sleep(0.2)
    listener.publish(
        "site/pump-2/commands/resetAlarm",
        {"id": "c-19", "request": None, "responseTopic": "replies/c-19"},
    )
    reset = listener.wait(lambda m: m.topic == "replies/c-19", since=since).json
    assert reset == {"id": "c-19", "status": 200, "response": {"cleared": "none", "alarm": "none"}}
    bad = listener.mark()
    listener.publish("site/pump-2/commands/start", {"id": "c-20", "request": "fast"})
    refused = listener.on("site/pump-2/commands/start/response", since=bad)
    assert refused["id"] == "c-20" and refused["status"] == 400
    assert "expected a number" in refused["response"]
    stopped = listener.on(
        "site/pump-2/properties", since=since, where=lambda p: p["values"].get("running") is False
    )
    assert stopped["values"]["running"] is False


def test_clean_stop_announces_offline(
    mosquitto: Broker, listener: Listener, layout: StationLayout
) -> None:
    group = start_devices(mosquitto.url, layout, speedup=SPEEDUP)
    listener.wait(lambda m: m.topic == "site/valve-1/status" and m.text == "online")
    since = listener.mark()
    group.stop()
    offline = listener.wait(lambda m: m.topic == "site/valve-1/status", since=since)
    assert offline.text == "offline"


def test_last_will_marks_a_killed_device_offline(mosquitto: Broker, listener: Listener) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "twinkit.examples.pumps",
            "--mqtt",
            mosquitto.url,
            "--pumps",
            "1",
            "--speedup",
            "10",
            "--log-level",
            "WARNING",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        listener.wait(lambda m: m.topic == "site/pump-1/status" and m.text == "online", timeout=20)
        listener.on("site/pump-1/telemetry", timeout=10)
        since = listener.mark()
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        offline = listener.wait(lambda m: m.topic == "site/pump-1/status", since=since)
        assert offline.text == "offline"
        # Retained: a client connecting later learns the device is offline.
        late = Listener(mosquitto.url, "site/pump-1/status")
        try:
            retained = late.wait(lambda m: True)
            assert (retained.text, retained.retain) == ("offline", True)
        finally:
            late.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        assert process.stderr is not None
        process.stderr.close()


def test_unreachable_broker_and_bad_urls_fail_clearly(layout: StationLayout) -> None:
    from twinkit.connect._mosquitto import free_port

    with pytest.raises(ConnectorError, match="could not connect"):
        start_devices(f"mqtt://127.0.0.1:{free_port()}", layout)
    with pytest.raises(ValidationError, match="not an MQTT broker URL"):
        start_devices("http://127.0.0.1:1883", layout)
    assert BrokerAddress.from_url("mqtts://u:p%40ss@example.org") == BrokerAddress(
        "example.org", 8883, True, "u", "p@ss"
    )

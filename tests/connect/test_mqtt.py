"""The MQTT connector against a real Mosquitto: batches, acks after commit, faults, control."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

import orjson
import pytest
from connect_helpers import Device, RecordingSink, RunningBroker, wait_until

from twinkit.connect import MqttConnector, MqttMapping
from twinkit.connect._mosquitto import free_port
from twinkit.core import Event, EventType
from twinkit.errors import ConnectorError

pytestmark = pytest.mark.integration

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def connector(
    broker: RunningBroker, sink: RecordingSink, client_id: str, **kw: Any
) -> MqttConnector:
    return MqttConnector(sink, url=broker.url, client_id=client_id, **kw)


def test_qos0_and_qos1_messages_are_ingested_in_batches(mosquitto: RunningBroker) -> None:
    sink = RecordingSink()

    async def scenario() -> None:
        mqtt = connector(mosquitto, sink, "batches", batch_delay=0.02)
        await mqtt.start()
        device = Device(mosquitto.port, "dev-batches")
        try:
            for i in range(200):
                device.client.publish("site/pump-1/telemetry", orjson.dumps({"temp": i}), qos=1)
            for i in range(50):
                device.client.publish("site/pump-2/properties", orjson.dumps({"speed": i}), qos=0)
            await wait_until(lambda: len(sink.accepted) == 250, what="250 accepted")
            stats = mqtt.stats()
            assert (stats.received, stats.accepted, stats.dead_lettered) == (250, 250, 0)
            assert stats.batches == len(sink.calls) < 250  # several messages per ingest call
            assert sorted(v["temp"] for v in sink.values() if "temp" in v) == list(range(200))
            assert sink.causes == {"connector:mqtt"}
        finally:
            device.close()
            await mqtt.stop()

    run(scenario())


def test_every_bad_message_is_dead_lettered_and_ingest_goes_on(mosquitto: RunningBroker) -> None:
    sink = RecordingSink()
    bad = [
        ("site/pump-1/telemetry", b'{"temp": 1,', "invalid JSON"),
        ("site/pump-9/telemetry", b'{"temp": 1}', "twin 'pump-9' not found"),
        ("site/pump-1/telemetry", b'{"colour": 1}', "unknown content 'colour'"),
        ("site/pump-1/telemetry", b'{"temp": "hot"}', "wrong type"),
        ("site/pump-1/telemetry", b'{"temp": NaN}', "NaN and Infinity"),
        ("site/pump-1/telemetry", b'{"temp": 1, "pad": "' + b"x" * 300 + b'"}', "too large"),
        ("site/pump-1/status", b"maybe", "bad device status"),
        ("site/pump-1/commands/stop/response", b'{"id": 5}', "'id'"),
        ("site/pump-1/commands/stop/response", b'{"id": "nope", "status": 200}', "no command"),
    ]

    async def scenario() -> None:
        mqtt = connector(mosquitto, sink, "faults", mapping=MqttMapping(max_payload=256))
        await mqtt.start()
        device = Device(mosquitto.port, "dev-faults")
        try:
            for topic, payload, _ in bad:
                device.publish(topic, payload)
                device.publish("site/pump-1/telemetry", {"temp": 20})
            await wait_until(lambda: len(sink.dead) == len(bad) and len(sink.accepted) == len(bad))
            for (topic, payload, reason), (source, kept, why) in zip(bad, sink.dead, strict=True):
                assert source == f"mqtt:{topic}"
                assert kept == payload
                assert reason in why
            assert mqtt.stats().dead_lettered == len(bad)
        finally:
            device.close()
            await mqtt.stop()

    run(scenario())


def test_ack_only_after_the_sink_returned(mosquitto: RunningBroker) -> None:
    """A connector stopped while the sink is still working leaves its messages with the broker,
    which redelivers them to the next connector of the same client id; acked ones are gone."""
    client_id = f"acks-{uuid.uuid4().hex[:8]}"
    first, second = RecordingSink(), RecordingSink()

    async def scenario() -> None:
        device = Device(mosquitto.port, "dev-acks")
        mqtt = connector(mosquitto, first, client_id)
        await mqtt.start()
        device.publish("site/pump-1/telemetry", {"temp": 1})
        await wait_until(lambda: len(first.accepted) == 1, what="first message accepted")
        first.gate = asyncio.Event()  # the sink now blocks, as a slow commit would
        for value in (2, 3, 4):
            device.publish("site/pump-1/telemetry", {"temp": value})
        await wait_until(first.entered.is_set)
        await asyncio.sleep(0.2)
        await mqtt.stop()  # before the sink returned: nothing of 2, 3, 4 may be acked
        assert first.values() == [{"temp": 1}]

        again = connector(mosquitto, second, client_id)
        await again.start()
        try:
            await wait_until(lambda: len(second.accepted) >= 3, what="redelivery")
            await asyncio.sleep(0.3)
            assert sorted(v["temp"] for v in second.values()) == [2, 3, 4]
        finally:
            device.close()
            await again.stop()

    run(scenario())


def test_persistent_session_gets_messages_queued_while_away(mosquitto: RunningBroker) -> None:
    client_id = f"away-{uuid.uuid4().hex[:8]}"
    sink = RecordingSink()

    async def scenario() -> None:
        mqtt = connector(mosquitto, sink, client_id, protocol="3.1.1")
        await mqtt.start()
        await mqtt.stop()
        device = Device(mosquitto.port, "dev-away")
        for i in range(1500):  # more than Mosquitto's default queue of 1000
            device.client.publish("site/pump-1/telemetry", orjson.dumps({"temp": i}), qos=1)
        device.publish("site/pump-1/telemetry", {"temp": 1500})
        device.close()
        back = connector(mosquitto, sink, client_id, protocol="3.1.1")
        await back.start()
        try:
            await wait_until(lambda: len(sink.accepted) == 1501, what="all queued messages")
            assert [v["temp"] for v in sink.values()] == list(range(1501))
        finally:
            await back.stop()

    run(scenario())


def test_a_failing_sink_is_retried_without_acks(mosquitto: RunningBroker) -> None:
    sink = RecordingSink()
    sink.failures = 2

    async def scenario() -> None:
        mqtt = connector(mosquitto, sink, "retry")
        await mqtt.start()
        device = Device(mosquitto.port, "dev-retry")
        try:
            device.publish("site/pump-1/telemetry", {"temp": 7})
            await wait_until(lambda: len(sink.accepted) == 1, what="accepted after retries")
            assert sink.failures == 0 and sink.values() == [{"temp": 7}]
        finally:
            device.close()
            await mqtt.stop()

    run(scenario())


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_in_flight_window_is_bounded(mosquitto: RunningBroker, protocol: str) -> None:
    sink = RecordingSink()
    sink.gate = asyncio.Event()

    async def scenario() -> None:
        assert sink.gate is not None
        mqtt = connector(
            mosquitto, sink, f"window-{protocol}", protocol=protocol, window=5, batch_size=2
        )
        await mqtt.start()
        device = Device(mosquitto.port, f"dev-window-{protocol}")
        try:
            for i in range(40):
                device.client.publish("site/pump-1/telemetry", orjson.dumps({"temp": i}), qos=1)
            await wait_until(sink.entered.is_set)
            await asyncio.sleep(0.5)
            assert mqtt.stats().received <= 5  # the broker holds the rest
            sink.gate.set()
            await wait_until(lambda: len(sink.accepted) == 40, what="all 40")
            assert [v["temp"] for v in sink.values()] == list(range(40))
        finally:
            device.close()
            await mqtt.stop()

    run(scenario())


def test_desired_values_are_published_to_the_device(mosquitto: RunningBroker) -> None:
    sink = RecordingSink()

    async def scenario() -> None:
        mqtt = connector(mosquitto, sink, "desired")
        await mqtt.start()
        device = Device(mosquitto.port, "pump-1")
        try:
            device.subscribe("site/pump-1/desired")
            sink.emit(
                Event(
                    twin_id="pump-1",
                    seq=4,
                    type=EventType.DESIRED_PROPERTY_SET,
                    time=1.0,
                    recorded=1.0,
                    cause="token:t",
                    data={"name": "speed", "value": 1500, "version": 3},
                )
            )
            await wait_until(lambda: len(device.messages()) == 1, what="desired value")
            topic, payload, _ = device.messages()[0]
            assert topic == "site/pump-1/desired"
            assert orjson.loads(payload) == {"speed": 1500, "$version": 3}
        finally:
            device.close()
            await mqtt.stop()
        assert not sink.listeners and sink.transport is None  # stop detached control
        late = Device(mosquitto.port, "pump-1-late")  # retained: a late device still gets it
        try:
            late.subscribe("site/pump-1/desired")
            await wait_until(lambda: len(late.messages()) == 1, what="retained desired")
            assert late.messages()[0][2] is True
        finally:
            late.close()

    run(scenario())


def test_command_round_trip_and_offline_device(mosquitto: RunningBroker) -> None:
    sink = RecordingSink()

    async def scenario() -> None:
        mqtt = connector(mosquitto, sink, "commands")
        await mqtt.start()
        assert sink.transport is mqtt
        device = Device(mosquitto.port, "pump-1")

        def answer(client: Any, userdata: object, msg: Any) -> None:
            request = orjson.loads(msg.payload)
            reply = {"id": request["id"], "status": 200, "response": {"rpm": request["request"]}}
            client.publish(request["responseTopic"], orjson.dumps(reply), qos=1)

        device.client.on_message = answer
        try:
            device.subscribe("site/pump-1/commands/+")
            sink.pending_commands.add("c-1")
            await mqtt.send_command("pump-1", "setSpeed", "c-1", 900, 5.0)
            await wait_until(lambda: len(sink.completed) == 1, what="command response")
            assert sink.completed == [("pump-1", "c-1", 200, {"rpm": 900}, "connector:mqtt")]

            device.publish("site/pump-1/status", "offline", retain=True)
            await wait_until(lambda: mqtt.device_status("pump-1") is not None)
            status = mqtt.device_status("pump-1")
            assert status is not None and status[0] is False
            with pytest.raises(ConnectorError, match=r"device pump-1 is offline \(since 20"):
                await mqtt.send_command("pump-1", "setSpeed", "c-2", 1, 5.0)
            device.publish("site/pump-1/status", {"online": True}, retain=True)
            await wait_until(lambda: (mqtt.device_status("pump-1") or (False,))[0])
            sink.pending_commands.add("c-3")
            await mqtt.send_command("pump-1", "setSpeed", "c-3", 1, 5.0)
            await wait_until(lambda: len(sink.completed) == 2, what="second response")
        finally:
            device.close()
            await mqtt.stop()

    run(scenario())


def test_disconnected_connector_refuses_commands_and_reconnects(mosquitto: RunningBroker) -> None:
    sink = RecordingSink()
    assert mosquitto.loop is not None and mosquitto.supervisor is not None
    supervisor, loop = mosquitto.supervisor, mosquitto.loop

    async def scenario() -> None:
        mqtt = connector(mosquitto, sink, "reconnect")
        await mqtt.start()
        try:
            await asyncio.to_thread(loop.run, supervisor.stop())
            await wait_until(lambda: not mqtt.connected, what="disconnect")
            with pytest.raises(ConnectorError, match=r"disconnected from mqtt://127\.0\.0\.1"):
                await mqtt.send_command("pump-1", "stop", "c-1", None, 5.0)
            await asyncio.to_thread(loop.run, supervisor.start())
            await wait_until(lambda: mqtt.connected, timeout=15, what="reconnect")
            device = Device(mosquitto.port, "dev-reconnect")
            device.publish("site/pump-1/telemetry", {"temp": 5})
            device.close()
            await wait_until(lambda: len(sink.accepted) == 1, what="ingest after reconnect")
        finally:
            await mqtt.stop()

    run(scenario())


def test_start_fails_clearly_without_a_broker() -> None:
    async def scenario() -> None:
        mqtt = MqttConnector(RecordingSink(), url=f"mqtt://127.0.0.1:{free_port()}")
        with pytest.raises(ConnectorError, match=r"could not connect to mqtt://127\.0\.0\.1"):
            await mqtt.start(timeout=1.0)

    run(scenario())
    with pytest.raises(ConnectorError, match="bad MQTT broker URL"):
        MqttConnector(RecordingSink(), url="http://x")

"""The connector's key fault behaviour against a second broker: NATS's MQTT 3.1.1 listener."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from connect_helpers import Device, RecordingSink, RunningBroker, wait_until

from twinkit.connect import MqttConnector, MqttMapping

pytestmark = pytest.mark.integration


def nats_connector(broker: RunningBroker, sink: RecordingSink, client_id: str) -> MqttConnector:
    return MqttConnector(
        sink,
        MqttMapping(max_payload=256),
        url=broker.url,
        client_id=client_id,
        protocol="3.1.1",
    )


def test_bad_messages_are_dead_lettered_and_good_ones_go_in(nats_mqtt: RunningBroker) -> None:
    sink = RecordingSink()
    bad = [
        b'{"temp": 1,',
        b'{"temp": NaN}',
        b'{"colour": 1}',
        b'{"temp": "hot"}',
        b'{"pad": "' + b"x" * 300 + b'"}',
    ]

    async def scenario() -> None:
        mqtt = nats_connector(nats_mqtt, sink, "nats-faults")
        await mqtt.start()
        device = Device(nats_mqtt.port, "nats-dev-faults", v5=False)
        try:
            for payload in bad:
                device.publish("site/pump-1/telemetry", payload)
                device.publish("site/pump-1/telemetry", {"temp": 20})
            device.publish("site/pump-9/telemetry", {"temp": 1})
            await wait_until(lambda: len(sink.dead) == 6 and len(sink.accepted) == 5)
            assert [payload for _, payload, _ in sink.dead] == [*bad, b'{"temp":1}']
        finally:
            device.close()
            await mqtt.stop()

    asyncio.run(scenario())


def test_unacked_messages_are_redelivered_and_queued_ones_kept(nats_mqtt: RunningBroker) -> None:
    client_id = f"nats-acks-{uuid.uuid4().hex[:8]}"
    first, second = RecordingSink(), RecordingSink()

    async def scenario() -> None:
        device = Device(nats_mqtt.port, "nats-dev-acks", v5=False)
        mqtt = nats_connector(nats_mqtt, first, client_id)
        await mqtt.start()
        device.publish("site/pump-1/telemetry", {"temp": 1})
        await wait_until(lambda: len(first.accepted) == 1, what="first accepted")
        first.gate = asyncio.Event()
        device.publish("site/pump-1/telemetry", {"temp": 2})
        await wait_until(first.entered.is_set)
        await mqtt.stop()  # the sink never returned: 2 is not acknowledged
        for value in range(3, 53):  # sent while twinkit is away
            device.client.publish("site/pump-1/telemetry", orjson.dumps({"temp": value}), qos=1)
        device.publish("site/pump-1/telemetry", {"temp": 53})
        device.close()

        again = nats_connector(nats_mqtt, second, client_id)
        await again.start()
        try:
            # NATS resends the unacknowledged message after its ack_wait (2 s in the fixture).
            await wait_until(lambda: len(second.accepted) >= 52, timeout=20, what="redelivery")
            await asyncio.sleep(0.3)
            assert sorted(v["temp"] for v in second.values()) == list(range(2, 54))
        finally:
            await again.stop()

    asyncio.run(scenario())

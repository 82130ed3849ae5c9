"""paho on the event loop: no network thread, buffered reads, one write per batch of PUBACKs."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from connect_helpers import Device, RecordingSink, RunningBroker, wait_until
from paho.mqtt.enums import CallbackAPIVersion

from twinkit.connect import MqttConnector
from twinkit.connect._paho import LoopClient
from twinkit.core import Reading
from twinkit.errors import TwinkitError

pytestmark = pytest.mark.integration


class WindowSink(RecordingSink):
    """Records how many messages the connector held unsettled at each ingest call."""

    def __init__(self) -> None:
        super().__init__()
        self.connector: MqttConnector | None = None
        self.held: list[int] = []
        self.threads: set[int] = set()

    async def ingest(
        self, messages: Sequence[Sequence[Reading]], *, cause: str
    ) -> list[TwinkitError | None]:
        assert self.connector is not None
        stats = self.connector.stats()
        self.held.append(stats.received - stats.accepted - stats.dead_lettered)
        self.threads.add(threading.get_ident())
        await asyncio.sleep(0.001)  # a commit takes a while: the backlog waits meanwhile
        return await super().ingest(messages, cause=cause)


def queue_while_away(broker: RunningBroker, client_id: str, count: int, protocol: str) -> None:
    """Register a persistent session for ``client_id``, then queue ``count`` QoS1 messages."""

    async def register() -> None:
        mqtt = MqttConnector(
            RecordingSink(), url=broker.url, client_id=client_id, protocol=protocol
        )  # type: ignore[arg-type]
        await mqtt.start()
        await mqtt.stop()

    asyncio.run(register())
    device = Device(broker.port, f"{client_id}-device")
    for i in range(count - 1):
        device.client.publish("site/pump-1/telemetry", orjson.dumps({"temp": i}), qos=1)
    device.publish("site/pump-1/telemetry", {"temp": count - 1})  # waits for the broker's ack
    device.close()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_queued_backlog_arrives_in_order_within_the_window_and_is_acked(
    mosquitto: RunningBroker, protocol: str
) -> None:
    """A backlog arrives in large reads (many messages per read, held in LoopClient's buffer);
    reading pauses at the window and resumes from the buffer; every message is acknowledged,
    so a later session of the same client id gets none of them again."""
    client_id = f"backlog-{protocol}-{uuid.uuid4().hex[:8]}"
    queue_while_away(mosquitto, client_id, 600, protocol)
    sink, again = WindowSink(), RecordingSink()

    async def scenario() -> None:
        loop_thread = threading.get_ident()
        mqtt = MqttConnector(
            sink, url=mosquitto.url, client_id=client_id, protocol=protocol, window=7, batch_size=3
        )  # type: ignore[arg-type]
        sink.connector = mqtt
        await mqtt.start()
        try:
            await wait_until(lambda: len(sink.accepted) == 600, what="the whole backlog")
            assert not [t for t in threading.enumerate() if t.name.startswith("paho")]
        finally:
            await mqtt.stop()
        assert [v["temp"] for v in sink.values()] == list(range(600))
        assert max(sink.held) <= 7 and max(sink.calls) <= 3
        assert sink.threads == {loop_thread}
        later = MqttConnector(again, url=mosquitto.url, client_id=client_id, protocol=protocol)  # type: ignore[arg-type]
        await later.start()
        try:
            await asyncio.sleep(0.5)
            assert again.accepted == []  # all 600 were acknowledged
        finally:
            await later.stop()

    asyncio.run(scenario())


def test_large_messages_split_across_reads_are_reassembled(mosquitto: RunningBroker) -> None:
    sink = RecordingSink()
    payloads = [{"mode": "x" * size} for size in (10, 70_000, 5, 200_000, 65_530, 1)]

    async def scenario() -> None:
        mqtt = MqttConnector(sink, url=mosquitto.url, client_id=f"big-{uuid.uuid4().hex[:8]}")
        await mqtt.start()
        device = Device(mosquitto.port, f"dev-big-{uuid.uuid4().hex[:8]}")
        try:
            for payload in payloads:
                device.client.publish("site/pump-1/telemetry", orjson.dumps(payload), qos=1)
            await wait_until(lambda: len(sink.accepted) == len(payloads), what="big messages")
            assert sink.values() == payloads
        finally:
            device.close()
            await mqtt.stop()

    asyncio.run(scenario())


def test_ack_many_queues_the_pubacks_as_one_packet_in_order() -> None:
    client = LoopClient(CallbackAPIVersion.VERSION2, client_id="acks", manual_ack=True)
    client.ack_many([1, 258, 65535])
    (packet,) = client._out_packet
    assert packet["packet"] == bytes.fromhex("40020001400201024002ffff")
    client.ack_many([])
    assert len(client._out_packet) == 1


def test_loop_client_takes_no_per_topic_callbacks() -> None:
    client = LoopClient(CallbackAPIVersion.VERSION2, client_id="plain")

    def callback(*_: Any) -> None: ...

    with pytest.raises(NotImplementedError, match="every message to on_message"):
        client.message_callback_add("site/#", callback)

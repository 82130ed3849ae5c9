"""paho on the event loop: no network thread, buffered reads, one write per batch of PUBACKs."""

from __future__ import annotations

import asyncio
import struct
import threading
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
import paho.mqtt.client as paho
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


# --- PUBLISH packets decoded by LoopClient itself ------------------------------------------------


def publish_packet(
    topic: bytes, payload: bytes, qos: int, mid: int = 0, *, v5: bool = False, props: bytes = b""
) -> bytes:
    """A PUBLISH packet as a broker sends it (MQTT 3.1.1, or 5 with ``props``)."""
    body = struct.pack("!H", len(topic)) + topic
    if qos:
        body += struct.pack("!H", mid)
    if v5:
        body += bytes([len(props)]) + props
    body += payload
    length, size = bytearray(), len(body)
    while True:
        size, byte = divmod(size, 128)
        length.append(byte | (0x80 if size else 0))
        if not size:
            break
    return bytes([0x30 | qos << 1]) + bytes(length) + body


class ChunkedSocket:
    """A non-blocking socket stand-in that hands out ``data`` at most ``chunk`` bytes a read."""

    def __init__(self, data: bytes, chunk: int = 65536) -> None:
        self.data, self.chunk, self.closed = data, chunk, False

    def recv(self, size: int) -> bytes:
        if not self.data:
            raise BlockingIOError
        out, self.data = self.data[: min(size, self.chunk)], self.data[min(size, self.chunk) :]
        return out

    def close(self) -> None:
        self.closed = True


def read_all(data: bytes, *, chunk: int = 65536, v5: bool = False) -> list[tuple[Any, ...]]:
    """Every message a LoopClient hands on from ``data``, and which path decoded it."""
    client = LoopClient(
        CallbackAPIVersion.VERSION2,
        client_id="reader",
        protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
        manual_ack=True,
    )
    got: list[tuple[Any, ...]] = []
    client.on_publish_data = lambda t, p, q, m: got.append(("fast", t.decode(), p, q, m))
    client.on_message = lambda c, u, msg: got.append(
        ("paho", msg.topic, bytes(msg.payload), msg.qos, msg.mid)
    )
    client._sock = ChunkedSocket(data, chunk)  # type: ignore[assignment]
    while client._sock is not None and not client.drained:
        client.loop_read()
    return got


MESSAGES = [
    (b"site/pump-1/telemetry", b'{"temp": 1}', 0, 0),
    (b"site/pump-2/telemetry", b"x" * 200, 1, 1),  # two bytes of remaining length
    ("site/p\u00e9/telemetry".encode(), b"y" * 20_000, 1, 65535),  # three bytes
    (b"site/pump-1/telemetry", b"", 0, 0),  # an empty payload
]


@pytest.mark.parametrize("v5", [False, True])
def test_whole_publish_packets_are_decoded_without_paho(v5: bool) -> None:
    data = b"".join(publish_packet(t, p, q, m, v5=v5) for t, p, q, m in MESSAGES)
    got = read_all(data, v5=v5)
    assert got == [("fast", t.decode(), p, q, m) for t, p, q, m in MESSAGES]


@pytest.mark.parametrize("chunk", [1, 7, 100, 4096])
def test_packets_split_across_reads_arrive_whole_and_in_order(chunk: int) -> None:
    """A packet cut by a read is completed from the next one (decoded here) or, when it
    spans more reads than that, read by paho: either way the same messages, in order."""
    data = b"".join(publish_packet(t, p, q, m) for t, p, q, m in MESSAGES * 3)
    got = read_all(data, chunk=chunk)
    assert [message for _, *message in got] == [
        [t.decode(), p, q, m] for t, p, q, m in MESSAGES * 3
    ]
    if chunk == 100:
        assert {path for path, *_ in got} == {"fast", "paho"}


def test_mqtt5_properties_are_left_to_paho() -> None:
    props = bytes([0x01, 0x01])  # payload format indicator: UTF-8
    data = publish_packet(b"site/pump-1/telemetry", b"{}", 1, 7, v5=True, props=props)
    data += publish_packet(b"site/pump-1/telemetry", b"[]", 1, 8, v5=True)
    assert read_all(data, v5=True) == [
        ("paho", "site/pump-1/telemetry", b"{}", 1, 7),
        ("fast", "site/pump-1/telemetry", b"[]", 1, 8),
    ]


def test_qos2_and_malformed_packets_are_not_decoded_here() -> None:
    client = LoopClient(CallbackAPIVersion.VERSION2, client_id="odd", manual_ack=True)
    client.on_publish_data = lambda *_: pytest.fail("handed on")
    qos2 = publish_packet(b"site/a/telemetry", b"{}", 2, 3)
    # topic length 200 in a packet of 7 bytes
    malformed = bytes([0x30, 7]) + struct.pack("!H", 200) + b"abcde"
    for data in (qos2, malformed):
        client._rbuf, client._rpos = data, 0
        assert not client._read_publish()
        assert client._rpos == 0  # nothing consumed: paho reads it and says what is wrong
    client._rbuf, client._rpos = b"", 0
    client._sock = ChunkedSocket(malformed)  # type: ignore[assignment]
    client.on_socket_close = lambda *_: None
    assert client.loop_read() == paho.MQTT_ERR_PROTOCOL


def test_a_decoded_publish_counts_for_the_keepalive() -> None:
    client = LoopClient(CallbackAPIVersion.VERSION2, client_id="alive", manual_ack=True)
    client.on_publish_data = lambda *_: None
    client._last_bytes_received = 0.0
    client._sock = ChunkedSocket(publish_packet(b"site/a/telemetry", b"{}", 0))  # type: ignore[assignment]
    client.loop_read()
    assert client._last_bytes_received > 0.0


def test_the_connector_drops_a_non_utf8_topic_and_queues_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mqtt = MqttConnector(RecordingSink(), client_id="utf8")  # type: ignore[arg-type]
    mqtt._on_publish_data(b"site/\xff/telemetry", b"{}", 1, 5)
    mqtt._on_publish_data(b"site/pump-1/telemetry", b'{"temp": 1}', 1, 6)
    assert mqtt.stats().received == 1
    assert "non-UTF-8 topic" in caplog.text

"""Test parts of the fault tests: ``twinkit serve`` as a real process, MQTT devices written with
paho, and the store read back from disk after the server has stopped."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from served import Server, wait_for
from twinkit.core import Event, EventType, Point
from twinkit.store import DeadLetter, SQLiteStore

COUNTER = "dtmi:faults:Counter;1"
MODEL: dict[str, Any] = {
    "@context": "dtmi:dtdl:context;3",
    "@id": COUNTER,
    "@type": "Interface",
    "contents": [
        {"@type": "Property", "name": "count", "schema": "integer"},
        {"@type": "Telemetry", "name": "reading", "schema": "double"},
    ],
}
BASE_TIME = 1_700_000_000.0  # device time of number n is BASE_TIME + n


def set_up_counter(server: Server, *twin_ids: str) -> None:
    """Upload the counter model and create the twins through the REST API."""
    with server.client() as api:
        answer = api.post("/models", json=[MODEL])
        assert answer.status_code == 201, answer.text
        for twin_id in twin_ids:
            answer = api.put(f"/twins/{twin_id}", json={"model": COUNTER})
            assert answer.status_code == 201, answer.text


def _mqtt_client(client_id: str, *, persistent: bool) -> paho.Client:
    # MQTT 3.1.1: both Mosquitto and NATS's MQTT listener speak it.
    return paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=paho.MQTTv311,
        clean_session=not persistent,
    )


def _connect(client: paho.Client, port: int) -> None:
    client.connect("127.0.0.1", port)
    client.loop_start()
    wait_for(client.is_connected, 10, f"an MQTT connection to port {port}")


class Device:
    """A device that publishes QoS1 messages and waits for each one's PUBACK."""

    def __init__(self, port: int) -> None:
        self.client = _mqtt_client(f"faults-dev-{uuid.uuid4().hex[:8]}", persistent=False)
        _connect(self.client, port)

    def publish(self, topic: str, payload: bytes | dict[str, Any]) -> None:
        raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        info = self.client.publish(topic, raw, qos=1)
        info.wait_for_publish(10)
        assert info.is_published(), f"the broker did not acknowledge a message on {topic}"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class NumberedPublisher:
    """Publishes messages 1..count (QoS1, paced at ``rate`` per second) from its own thread as
    its own persistent MQTT client, and remembers which numbers the broker acknowledged."""

    def __init__(
        self, port: int, topic: str, count: int, rate: float, payload: Callable[[int], bytes]
    ) -> None:
        self.topic = topic
        self.count = count
        self.rate = rate
        self.payload = payload
        self.client = _mqtt_client(f"faults-pub-{uuid.uuid4().hex[:8]}", persistent=True)
        self.client.max_inflight_messages_set(100)
        _connect(self.client, port)
        self._sent: list[tuple[int, paho.MQTTMessageInfo]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="faults-publisher", daemon=True)

    def start(self) -> NumberedPublisher:
        self._thread.start()
        return self

    def _run(self) -> None:
        started = time.monotonic()
        for number in range(1, self.count + 1):
            info = self.client.publish(self.topic, self.payload(number), qos=1)
            with self._lock:
                self._sent.append((number, info))
            ahead = started + number / self.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)

    def sent(self) -> int:
        with self._lock:
            return len(self._sent)

    def acknowledged(self) -> set[int]:
        """The numbers the broker has acknowledged (PUBACK received) so far."""
        with self._lock:
            return {number for number, info in self._sent if info.is_published()}

    def finish(self, timeout: float) -> set[int]:
        """Wait until all are sent and acknowledged (or ``timeout``); the acknowledged ones."""
        self._thread.join(timeout)
        deadline = time.monotonic() + timeout
        while len(self.acknowledged()) < self.count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.acknowledged()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def _read_store(
    database: Path, twin_id: str, series: tuple[str, ...]
) -> tuple[list[Event], dict[str, list[Point]], list[DeadLetter]]:
    async with await SQLiteStore.open(database) as store:
        events = await store.events(twin_id)
        points = {name: await store.points(twin_id, name, 0.0, 1e12) for name in series}
        letters = await store.dead_letters(pending_only=False, limit=1_000_000)
    return events, points, letters


def read_store(
    data: Path, twin_id: str, series: tuple[str, ...]
) -> tuple[list[Event], dict[str, list[Point]], list[DeadLetter]]:
    """A twin's events, the points of its ``series`` and every dead letter, read from the
    SQLite file of a stopped server."""
    return asyncio.run(_read_store(data / "twinkit.db", twin_id, series))


def reported_values(events: list[Event], name: str) -> list[Any]:
    """The values of the PropertyReported events of property ``name``, in log order."""
    return [
        e.data["value"]
        for e in events
        if e.type == EventType.PROPERTY_REPORTED and e.data.get("name") == name
    ]

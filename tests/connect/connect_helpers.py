"""Test parts for the connector tests: a recording sink with a tiny twin registry, and devices."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from twinkit.connect import Mosquitto
from twinkit.core import CommandTransport, Event, EventType, Reading
from twinkit.errors import NotFoundError, TwinkitError, ValidationError


class LoopRunner(Protocol):
    def run(self, coro: Any, timeout: float = 30.0) -> Any: ...


class RunningBroker(Protocol):
    """What the ``mosquitto`` and ``nats_mqtt`` fixtures of tests/conftest.py yield.

    (Imported by shape, not from ``conftest``: with several conftest.py files in the tree, the
    module name ``conftest`` is ambiguous.)
    """

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def url(self) -> str: ...

    @property
    def supervisor(self) -> Mosquitto | None: ...

    @property
    def loop(self) -> LoopRunner | None: ...


# twin id -> content name -> accepted Python types (what a model would say)
TWINS: dict[str, dict[str, tuple[type, ...]]] = {
    "pump-1": {"temp": (int, float), "speed": (int, float), "mode": (str,)},
    "pump-2": {"temp": (int, float), "speed": (int, float), "mode": (str,)},
}


class RecordingSink:
    """A ControlSink that validates like the runtime does (unknown twin, content, type, NaN)
    and records everything it accepted, dead-lettered and completed."""

    def __init__(self, twins: dict[str, dict[str, tuple[type, ...]]] | None = None) -> None:
        self.twins = dict(TWINS if twins is None else twins)
        self.accepted: list[list[Reading]] = []
        self.calls: list[int] = []  # messages per ingest call
        self.dead: list[tuple[str, bytes, str]] = []
        self.completed: list[tuple[str, str, int, Any, str]] = []
        self.causes: set[str] = set()
        self.transport: CommandTransport | None = None
        self.listeners: list[tuple[Callable[[Event], None], Sequence[EventType] | None]] = []
        self.gate: asyncio.Event | None = None  # when set to an unset Event, ingest waits on it
        self.entered = threading.Event()  # set once ingest was called (seen from any thread)
        self.failures = 0  # raise RuntimeError for this many ingest calls
        self.pending_commands: set[str] = set()

    def _check(self, reading: Reading) -> TwinkitError | None:
        contents = self.twins.get(reading.twin_id)
        if contents is None:
            return NotFoundError(f"twin {reading.twin_id!r} not found")
        for name, value in reading.values.items():
            if name not in contents:
                return ValidationError(f"unknown content {name!r}", path=reading.twin_id)
            if isinstance(value, bool) or not isinstance(value, contents[name]):
                return ValidationError("wrong type", path=f"{reading.twin_id}/{name}", got=value)
            if isinstance(value, float) and not math.isfinite(value):
                return ValidationError("not finite", path=f"{reading.twin_id}/{name}", got=value)
        return None

    async def ingest(
        self, messages: Sequence[Sequence[Reading]], *, cause: str
    ) -> list[TwinkitError | None]:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("store is down (test)")
        self.causes.add(cause)
        self.calls.append(len(messages))
        results: list[TwinkitError | None] = []
        for message in messages:
            error = next((e for r in message if (e := self._check(r)) is not None), None)
            results.append(error)
            if error is None:
                self.accepted.append(list(message))
        return results

    async def dead_letter(self, source: str, payload: bytes, reason: str) -> int:
        self.dead.append((source, payload, reason))
        return len(self.dead)

    def subscribe(
        self,
        callback: Callable[[Event], None],
        *,
        twins: Sequence[str] | None = None,
        models: Sequence[str] | None = None,
        types: Sequence[EventType] | None = None,
    ) -> Callable[[], None]:
        entry = (callback, types)
        self.listeners.append(entry)
        return lambda: self.listeners.remove(entry)

    def emit(self, event: Event) -> None:
        for callback, types in list(self.listeners):
            if types is None or event.type in types:
                callback(event)

    def set_command_transport(self, transport: CommandTransport | None) -> None:
        self.transport = transport

    async def complete_command(
        self, twin_id: str, correlation_id: str, status: int, response: Any, *, cause: str
    ) -> None:
        if correlation_id not in self.pending_commands:
            raise NotFoundError(f"no command {correlation_id!r} pending for {twin_id}")
        self.pending_commands.discard(correlation_id)
        self.completed.append((twin_id, correlation_id, status, response, cause))

    def values(self) -> list[dict[str, Any]]:
        return [dict(r.values) for message in self.accepted for r in message]


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        await asyncio.sleep(0.01)


class Device:
    """A device (or test publisher) written with paho, in its own network thread."""

    def __init__(self, port: int, client_id: str, *, v5: bool = True) -> None:
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
        )
        self.received: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self._subscribed: set[int] = set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        deadline = time.monotonic() + 10
        while not self.client.is_connected():
            if time.monotonic() > deadline:
                raise AssertionError(f"device {client_id} did not connect to port {port}")
            time.sleep(0.01)

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.received.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def _on_subscribe(self, client: paho.Client, userdata: object, mid: int, *args: object) -> None:
        with self._lock:
            self._subscribed.add(mid)

    def messages(self) -> list[tuple[str, bytes, bool]]:
        with self._lock:
            return list(self.received)

    def subscribe(self, topic: str) -> None:
        result, mid = self.client.subscribe(topic, qos=1)
        assert result == paho.MQTT_ERR_SUCCESS
        deadline = time.monotonic() + 10
        while True:
            with self._lock:
                if mid in self._subscribed:
                    return
            assert time.monotonic() < deadline, f"no SUBACK for {topic}"
            time.sleep(0.01)

    def publish(
        self, topic: str, payload: bytes | str | Any, qos: int = 1, retain: bool = False
    ) -> None:
        if not isinstance(payload, bytes | str):
            payload = orjson.dumps(payload)
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

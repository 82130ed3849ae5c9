"""What the bracket tests share: a small bracket, readings through a shadow, an MQTT listener."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from twinkit.core import Reading, Runtime
from twinkit.examples.bracket import BRACKET, BracketRom, BracketSpec, install_bracket
from twinkit.sim import Bindings
from twinkit.sim._shadow import ShadowRunner, ShadowStatus
from twinkit.store import SQLiteStore

SMALL = BracketSpec(divisions=(16, 2, 3), rom_samples=4)
"""A coarse bracket for fast tests: 2,055 degrees of freedom; the crack zone is 2 elements."""
TWIN = "bracket-1"


def shadow_run(
    tmp_path: Path,
    reduced: BracketRom,
    readings: Iterable[tuple[float, Mapping[str, float]]],
) -> list[ShadowStatus]:
    """Ingest each reading into a bracket twin with the ROM in shadow mode, waiting for the
    shadow after each; the shadow's status after every reading."""

    async def main() -> list[ShadowStatus]:
        async with await SQLiteStore.open(tmp_path / "twins.db") as store:
            runtime = await Runtime.open(store)
            await install_bracket(runtime, reduced.spec, TWIN, cause="test")
            assert runtime.get(TWIN).model == BRACKET
            bindings = Bindings()
            bindings.add(reduced.binding(), runtime.models)
            runner = ShadowRunner(runtime, bindings)
            await runner.start()
            seen = []
            try:
                for t, values in readings:
                    await runtime.ingest([[Reading(TWIN, dict(values), time=t)]], cause="test")
                    await runner.settle()
                    (status,) = runner.status(TWIN)
                    seen.append(status)
            finally:
                await runner.stop()
                await runtime.close()
            return seen

    return asyncio.run(main())


class Listener:
    """A paho client that keeps every message under ``topic``, for tests to wait on."""

    def __init__(self, url: str, topic: str = "site/#") -> None:
        host, _, port = url.removeprefix("mqtt://").partition(":")
        self.messages: list[tuple[str, bytes]] = []
        self._cond = threading.Condition()
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex}")
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda c, u, m, r, p: subscribed.set()
        self.client.connect(host, int(port or 1883))
        self.client.loop_start()
        assert subscribed.wait(10), "the test client could not subscribe"

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((message.topic, bytes(message.payload)))
            self._cond.notify_all()

    def wait_for(
        self, match: Callable[[str, bytes], bool], count: int = 1, timeout: float = 10.0
    ) -> list[tuple[str, bytes]]:
        """The first ``count`` messages that ``match``; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in self.messages if match(*m)]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0:
                    topics = sorted({t for t, _ in self.messages})
                    raise AssertionError(f"{len(found)} of {count} messages; topics: {topics}")
                self._cond.wait(left)

    def publish(self, topic: str, payload: Any) -> None:
        self.client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

"""A paho test client that records what the simulated devices publish."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class Broker(Protocol):
    """What the ``mosquitto`` fixture of tests/conftest.py yields (by shape: with several
    conftest.py files in the tree, ``import conftest`` is ambiguous)."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def url(self) -> str: ...


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool

    @property
    def json(self) -> Any:
        return json.loads(self.payload)

    @property
    def text(self) -> str:
        return self.payload.decode()


class Listener:
    """Subscribes to ``site/#`` and keeps every message, for tests to wait on."""

    def __init__(self, url: str, topic: str = "site/#") -> None:
        parts = urlsplit(url)
        self.messages: list[Message] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex}")
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda c, u, m, r, p: self._subscribed.set()
        self.client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
        self.client.loop_start()
        assert self._subscribed.wait(10), "the test client could not subscribe"

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Message(message.topic, bytes(message.payload), message.retain))
            self._cond.notify_all()

    def mark(self) -> int:
        """The index from which later waits look (messages received so far are skipped)."""
        with self._cond:
            return len(self.messages)

    def wait(
        self, match: Callable[[Message], bool], *, since: int = 0, timeout: float = 10.0
    ) -> Message:
        """The first message from ``since`` on that ``match``es; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            index = since
            while True:
                while index < len(self.messages):
                    if match(self.messages[index]):
                        return self.messages[index]
                    index += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    topics = sorted({m.topic for m in self.messages[since:]})
                    raise AssertionError(
                        f"no matching message in {timeout} s; topics seen: {topics}"
                    )
                self._cond.wait(left)

    def on(
        self,
        topic: str,
        *,
        since: int = 0,
        timeout: float = 10.0,
        where: Callable[[Any], bool] = lambda _: True,
    ) -> Any:
        """The JSON payload of the first message on ``topic`` whose payload satisfies ``where``."""

        def match(m: Message) -> bool:
            return m.topic == topic and where(m.json)

        return self.wait(match, since=since, timeout=timeout).json

    def publish(self, topic: str, payload: Any) -> None:
        self.client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

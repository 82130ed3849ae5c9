"""The MQTT connector: device messages in, acknowledged only after they were committed.

paho-mqtt runs on the asyncio loop itself (:mod:`twinkit.connect._paho`): no network thread, so
arriving messages, acks and control publishes never cross threads. Each arriving message takes a
slot of a bounded window; while the window is full the connector stops reading the socket, so the
broker holds the rest (with MQTT 5 it also never sends more QoS1 messages than the window, its
Receive Maximum). A reader coroutine takes up to ``batch_size`` messages and parses them while
the previous batch is being committed; the settler hands every parsed message of a batch to
``sink.ingest`` in one call, dead-letters every rejection, and only then acknowledges the whole
batch to the broker in arrival order (manual PUBACKs, one write per batch). When the sink
raises, nothing is acknowledged and the batch is retried after a backoff; a connector stopped
meanwhile leaves the messages with the broker, which redelivers them to the next session of the
same client id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from twinkit.connect._control import Control
from twinkit.connect._mapping import MqttMapping
from twinkit.connect._paho import LoopClient, LoopDriver
from twinkit.connect._payload import CommandResponse, parse_report, parse_response, parse_status
from twinkit.connect._sink import ControlSink, IngestSink
from twinkit.core import Reading
from twinkit.errors import ConnectorError, TwinkitError, ValidationError

__all__ = ["ConnectorStats", "MqttConnector"]

logger = logging.getLogger(__name__)

_RECEIVE_MAXIMUM_LIMIT: Final = 65535
_RETRY_MIN: Final = 0.1
_RETRY_MAX: Final = 5.0
_SESSION_EXPIRY: Final = 7 * 24 * 3600  # keep queued messages a week while twinkit is away
_SCHEMES: Final = {"mqtt": 1883, "tcp": 1883, "mqtts": 8883, "ssl": 8883}


@dataclass(frozen=True, slots=True)
class ConnectorStats:
    """Counters since start: messages received, accepted, dead-lettered, and sink batches."""

    received: int
    accepted: int
    dead_lettered: int
    batches: int
    connected: bool


class _Message:
    """One arrived message on its way through a batch: what it parsed to, whether it is settled.

    (A plain slotted class: one object per message, made on the hot path.)
    """

    __slots__ = (
        "done",
        "error",
        "generation",
        "mid",
        "payload",
        "qos",
        "readings",
        "response",
        "topic",
    )

    def __init__(self, topic: str, payload: bytes, qos: int, mid: int, generation: int) -> None:
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.mid = mid
        self.generation = generation
        self.readings: list[Reading] | None = None
        self.response: CommandResponse | None = None
        self.error: TwinkitError | None = None
        self.done = False


@dataclass(slots=True)
class _Counters:
    received: int = 0
    accepted: int = 0
    dead_lettered: int = 0
    batches: int = 0


@dataclass(frozen=True, slots=True)
class _Broker:
    host: str
    port: int
    tls: bool
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)


def _parse_url(url: str) -> _Broker:
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES or not parts.hostname:
        raise ConnectorError(
            f"bad MQTT broker URL {url!r}; expected mqtt://host[:port] or mqtts://host[:port]"
        )
    try:
        port = parts.port or _SCHEMES[parts.scheme]
    except ValueError as err:
        raise ConnectorError(f"bad port in MQTT broker URL {url!r}: {err}") from err
    return _Broker(
        parts.hostname,
        port,
        parts.scheme in ("mqtts", "ssl"),
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
    )


class MqttConnector:
    """Feeds a sink from an MQTT broker and, when the sink is a ControlSink, drives devices.

    ``client_id`` must stay the same across restarts: the broker keeps the persistent session
    (subscriptions and queued QoS1 messages) under it. ``window`` bounds the messages between
    the broker and the sink (MQTT 5's Receive Maximum, and for both protocols no socket reads
    while it is full). Must run on the event loop that started it; needs a loop with
    ``add_reader`` (the default selector loop on Linux and macOS, or uvloop).
    """

    def __init__(
        self,
        sink: IngestSink,
        mapping: MqttMapping | None = None,
        url: str = "mqtt://127.0.0.1:1883",
        client_id: str | None = None,
        *,
        protocol: Literal["5", "3.1.1"] = "5",
        batch_size: int = 1000,
        batch_delay: float = 0.005,
        window: int = 1000,
        qos: Literal[0, 1] = 1,
        name: str = "mqtt",
        keepalive: int = 60,
        session_expiry: int = _SESSION_EXPIRY,
        control: bool = True,
    ) -> None:
        if protocol not in ("5", "3.1.1"):
            raise ConnectorError(f"unknown MQTT protocol {protocol!r}; expected '5' or '3.1.1'")
        if batch_size < 1 or window < 1 or batch_delay < 0:
            raise ConnectorError(
                f"bad MQTT connector sizes: batch_size={batch_size}, window={window}, "
                f"batch_delay={batch_delay}; expected batch_size >= 1, window >= 1, delay >= 0"
            )
        self.sink = sink
        self.mapping = mapping or MqttMapping()
        self.url = url
        self.name = name
        self.client_id = client_id or f"twinkit-{name}"
        self.protocol = protocol
        self.batch_size = batch_size
        self.batch_delay = batch_delay
        self.window = window
        self.qos = qos
        self.keepalive = keepalive
        self.session_expiry = session_expiry
        self._broker = _parse_url(url)
        self._control_wanted = control and isinstance(sink, ControlSink)
        self._counters = _Counters()
        self._generation = 0  # of the connection; acks go only on the one a message came on
        self._connected = False
        self._stopping = False
        self._client: LoopClient | None = None
        self._driver: LoopDriver | None = None
        self._inbox: deque[_Message] = deque()
        self._in_flight = 0  # received and not yet settled and acknowledged
        self._wake: asyncio.Future[None] | None = None  # the reader waits for the inbox
        self._wake_at = 1  # ... to hold this many messages
        self._connected_event: asyncio.Event | None = None
        self._subscribe_mid = -1
        self._task: asyncio.Task[None] | None = None
        self._control: Control | None = None
        self._refused: str | None = None  # the broker's reason when it refused the connection

    # --- state -------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def cause(self) -> str:
        return f"connector:{self.name}"

    def stats(self) -> ConnectorStats:
        c = self._counters
        return ConnectorStats(c.received, c.accepted, c.dead_lettered, c.batches, self._connected)

    def device_status(self, twin_id: str) -> tuple[bool, float] | None:
        """``(online, since)`` from the device's last status message, or None if none came."""
        return None if self._control is None else self._control.device_status(twin_id)

    async def send_command(
        self, twin_id: str, name: str, correlation_id: str, request: Any, timeout: float
    ) -> None:
        """CommandTransport: publish the request; ConnectorError if it cannot reach the device."""
        if self._control is None:
            raise ConnectorError(f"MQTT connector {self.name!r} is not started")
        self._control.send_command(twin_id, name, correlation_id, request, timeout)

    # --- life cycle --------------------------------------------------------------------------

    async def start(self, *, timeout: float = 10.0) -> None:
        """Connect, subscribe and start the batcher; ConnectorError if not connected in time."""
        if self._task is not None:
            raise ConnectorError(f"MQTT connector {self.name!r} is already started")
        self._connected_event = asyncio.Event()
        self._stopping = False
        self._refused = None
        self._inbox.clear()
        self._in_flight = 0
        self._client = self._make_client()
        self._driver = LoopDriver(self._client, describe=self._broker_name())
        self._control = Control(self, self._client, self.mapping, self._broker_name())
        self._driver.open()
        self._task = asyncio.create_task(self._run(), name=f"twinkit-mqtt-{self.name}")
        try:
            await asyncio.wait_for(self._connected_event.wait(), timeout)
        except TimeoutError:
            await self.stop()
            raise ConnectorError(
                f"MQTT connector {self.name!r} could not connect to {self._broker_name()} "
                f"within {timeout:g} s; {self._why_not_connected()}"
            ) from None
        if self._control_wanted:
            assert isinstance(self.sink, ControlSink)
            self._control.attach(self.sink)
        logger.info("MQTT connector %r started on %s", self.name, self._broker_name())

    def _why_not_connected(self) -> str:
        if not self._refused:
            return "is the broker running there?"
        hint = " (for a broker without MQTT 5, use protocol 3.1.1)" if self.protocol == "5" else ""
        return f"the broker refused it: {self._refused}{hint}"

    async def stop(self) -> None:
        """Stop without acknowledging what is not settled: the broker keeps it for next time."""
        self._stopping = True
        if self._control is not None:
            self._control.detach()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        driver, self._driver = self._driver, None
        if driver is not None:
            await driver.close()
        self._client = None
        self._connected = False
        self._inbox.clear()
        logger.info("MQTT connector %r stopped", self.name)

    def _broker_name(self) -> str:
        scheme = "mqtts" if self._broker.tls else "mqtt"
        return f"{scheme}://{self._broker.host}:{self._broker.port}"

    def _make_client(self) -> LoopClient:
        v5 = self.protocol == "5"
        client = LoopClient(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        if self._broker.tls:
            client.tls_set()
        if self._broker.username is not None:
            client.username_pw_set(self._broker.username, self._broker.password)
        broker = self._broker
        if v5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = self.session_expiry
            props.ReceiveMaximum = min(self.window, _RECEIVE_MAXIMUM_LIMIT)
            client.connect_async(
                broker.host, broker.port, self.keepalive, clean_start=False, properties=props
            )
        else:
            client.connect_async(broker.host, broker.port, self.keepalive)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_publish_data = self._on_publish_data
        return client

    # --- paho's callbacks (on the loop thread, from inside the driver's reads) ---------------

    def _on_connect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._refused = str(reason)
            logger.error(
                "MQTT broker %s refused connector %r: %s", self._broker_name(), self.name, reason
            )
            return
        self._generation += 1
        self._connected = True
        if self._driver is not None:
            self._driver.connected()
        logger.info(
            "MQTT connector %r connected to %s as %r (session present: %s)",
            self.name,
            self._broker_name(),
            self.client_id,
            flags.session_present,
        )
        subscriptions: list[tuple[str, int]] = [
            (topic, self.qos) for topic in self.mapping.subscriptions()
        ]
        _, mid = client.subscribe(subscriptions)
        self._subscribe_mid = -1 if mid is None else mid

    def _on_subscribe(
        self,
        client: paho.Client,
        userdata: object,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        # start() returns only once the broker has the subscriptions (SUBACK): a message
        # published after start() then reaches us even on a brand-new session.
        if mid != self._subscribe_mid:
            return
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            logger.error(
                "MQTT broker %s refused subscriptions of connector %r: %s",
                self._broker_name(),
                self.name,
                ", ".join(refused),
            )
        if self._connected_event is not None:
            self._connected_event.set()

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected = False
        if not self._stopping:
            logger.warning(
                "MQTT connector %r lost %s (%s); reconnecting with backoff (0.5 s up to 30 s)",
                self.name,
                self._broker_name(),
                reason,
            )

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        """A message paho decoded (MQTT 5 properties, or split across reads)."""
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            logger.warning("MQTT connector %r dropped a message with a non-UTF-8 topic", self.name)
            return
        self._receive(topic, bytes(msg.payload), msg.qos, msg.mid)

    def _on_publish_data(self, topic: bytes, payload: bytes, qos: int, mid: int) -> None:
        """A message LoopClient decoded itself (most of them)."""
        try:
            text = topic.decode()
        except UnicodeDecodeError:
            logger.warning("MQTT connector %r dropped a message with a non-UTF-8 topic", self.name)
            return
        self._receive(text, payload, qos, mid)

    def _receive(self, topic: str, payload: bytes, qos: int, mid: int) -> None:
        if self._stopping:
            return  # not acknowledged: the broker redelivers it to the next session
        self._counters.received += 1
        inbox = self._inbox
        inbox.append(_Message(topic, payload, qos, mid, self._generation))
        self._in_flight += 1
        if self._in_flight >= self.window and self._driver is not None:
            self._driver.pause_reading()  # the broker holds the rest until slots come free
        wake = self._wake
        if wake is not None and len(inbox) >= self._wake_at and not wake.done():
            wake.set_result(None)

    # --- batches -----------------------------------------------------------------------------

    async def _run(self) -> None:
        """Two stages, so that parsing the next batch overlaps committing this one."""
        parsed: asyncio.Queue[list[_Message]] = asyncio.Queue(maxsize=1)
        reader = asyncio.create_task(self._read(parsed))
        try:
            while True:
                batch = await parsed.get()
                await self._settle_with_retry(batch)
                self._acknowledge(batch)
        finally:
            reader.cancel()

    async def _read(self, parsed: asyncio.Queue[list[_Message]]) -> None:
        while True:
            batch = await self._next_batch()
            for message in batch:
                self._parse(message)
            await parsed.put(batch)

    async def _next_batch(self) -> list[_Message]:
        """Up to ``batch_size`` messages: waits for one, then up to ``batch_delay`` for more."""
        inbox = self._inbox
        await self._inbox_holds(1, None)
        if len(inbox) < self.batch_size and self.batch_delay > 0:
            await self._inbox_holds(self.batch_size, self.batch_delay)
        count = min(len(inbox), self.batch_size)
        return [inbox.popleft() for _ in range(count)]

    async def _inbox_holds(self, count: int, timeout: float | None) -> None:
        """Return once the inbox holds ``count`` messages, or after ``timeout`` seconds."""
        if len(self._inbox) >= count:
            return
        loop = asyncio.get_running_loop()
        wake: asyncio.Future[None] = loop.create_future()
        self._wake, self._wake_at = wake, count
        timer = None if timeout is None else loop.call_later(timeout, _wake_up, wake)
        try:
            await wake
        finally:
            self._wake = None
            if timer is not None:
                timer.cancel()

    def _parse(self, message: _Message) -> None:
        mapping, topic = self.mapping, message.topic
        try:
            route = mapping.match_report(topic)
            if route is not None:
                message.readings = parse_report(mapping, topic, message.payload, route=route)
            elif mapping.response_template and mapping.response_template.match(topic):
                message.response = parse_response(mapping, topic, message.payload)
            elif mapping.status_template and (found := mapping.status_template.match(topic)):
                online = parse_status(message.payload, topic)
                if self._control is not None:
                    self._control.set_status(found["twin_id"], online)
                message.done = True
            else:
                parse_report(mapping, topic, message.payload)  # raises: names the templates
        except ValidationError as err:
            message.error = err

    async def _settle_with_retry(self, batch: list[_Message]) -> None:
        delay = _RETRY_MIN
        while True:
            try:
                await self._settle(batch)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                pending = sum(not m.done for m in batch)
                logger.exception(
                    "MQTT connector %r: the sink failed; %d messages stay unacknowledged, "
                    "retrying in %.1f s",
                    self.name,
                    pending,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)

    async def _settle(self, batch: list[_Message]) -> None:
        """Ingest, complete commands and dead-letter until every message is settled."""
        counters = self._counters
        to_ingest = [m for m in batch if m.readings is not None and not m.done and m.error is None]
        if to_ingest:
            results = await self.sink.ingest(
                [m.readings or [] for m in to_ingest], cause=self.cause
            )
            if len(results) != len(to_ingest):
                raise ConnectorError(
                    f"sink.ingest answered {len(results)} results for {len(to_ingest)} messages"
                )
            counters.batches += 1
            for message, error in zip(to_ingest, results, strict=True):
                if error is None:
                    message.done = True
                    counters.accepted += 1
                else:
                    message.error = error
        for message in batch:
            if message.response is not None and not message.done and message.error is None:
                await self._complete(message)
        for message in batch:
            if message.error is not None and not message.done:
                await self.sink.dead_letter(
                    f"mqtt:{message.topic}", message.payload, str(message.error)
                )
                message.done = True
                counters.dead_lettered += 1

    async def _complete(self, message: _Message) -> None:
        response = message.response
        assert response is not None
        if not isinstance(self.sink, ControlSink):
            message.error = ConnectorError(
                f"command response on {message.topic} but the sink takes no commands"
            )
            return
        try:
            await self.sink.complete_command(
                response.twin_id, response.id, response.status, response.response, cause=self.cause
            )
        except TwinkitError as err:
            message.error = err
            return
        message.done = True

    def _acknowledge(self, batch: list[_Message]) -> None:
        """Acknowledge a settled batch in arrival order (one write), then free its slots.

        A message that came on an earlier connection is not acknowledged: the broker has
        already queued it again for this one, and redelivers it.
        """
        client = self._client
        if client is not None and self._connected:
            generation = self._generation
            mids = [m.mid for m in batch if m.qos > 0 and m.generation == generation]
            stale = sum(m.qos > 0 for m in batch) - len(mids)
            if stale:
                logger.debug("%d messages of an earlier connection left unacknowledged", stale)
            client.ack_many(mids)
        self._in_flight -= len(batch)
        driver = self._driver
        if driver is not None and driver.paused and self._in_flight < self.window:
            driver.resume_reading()


def _wake_up(wake: asyncio.Future[None]) -> None:
    if not wake.done():
        wake.set_result(None)

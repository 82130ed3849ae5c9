"""The MQTT connector: device messages in, acknowledged only after they were committed.

paho-mqtt runs its network loop in its own thread. Each arriving message takes a slot of a
bounded window (a semaphore the network thread blocks on when it is full, so the broker is
back-pressured, never memory) and is handed to the asyncio loop. A batcher coroutine takes up
to ``batch_size`` messages, parses them, hands every parsed message to ``sink.ingest`` in one
call, dead-letters every rejection, and only then acknowledges the whole batch to the broker in
arrival order (paho's manual acks). When the sink raises, nothing is acknowledged and the batch
is retried after a backoff; a connector stopped meanwhile leaves the messages with the broker,
which redelivers them to the next session of the same client id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
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


@dataclass(frozen=True, slots=True)
class _Inbound:
    topic: str
    payload: bytes
    qos: int
    mid: int
    generation: int


@dataclass(slots=True)
class _Work:
    """One message of a batch on its way: what it parsed to, and whether it is settled."""

    message: _Inbound
    readings: list[Reading] | None = None
    response: CommandResponse | None = None
    error: TwinkitError | None = None
    done: bool = False


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
    the broker and the sink (MQTT5 Receive Maximum, and a blocking queue for 3.1.1).
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
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(window)
        self._generation = 0
        self._connected = False
        self._stopping = threading.Event()
        self._client: paho.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Inbound] | None = None
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
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._connected_event = asyncio.Event()
        self._stopping.clear()
        self._slots = threading.BoundedSemaphore(self.window)
        self._client = self._make_client()
        self._control = Control(self, self._client, self.mapping, self._broker_name())
        broker = self._broker
        if self.protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = self.session_expiry
            props.ReceiveMaximum = min(self.window, _RECEIVE_MAXIMUM_LIMIT)
            self._client.connect_async(
                broker.host, broker.port, self.keepalive, clean_start=False, properties=props
            )
        else:
            self._client.connect_async(broker.host, broker.port, self.keepalive)
        self._client.loop_start()
        self._task = asyncio.create_task(self._run(), name=f"twinkit-mqtt-{self.name}")
        try:
            await asyncio.wait_for(self._connected_event.wait(), timeout)
        except TimeoutError:
            await self.stop()
            why = (
                f"the broker refused it: {self._refused}"
                + (
                    " (for a broker without MQTT 5, use protocol 3.1.1)"
                    if self.protocol == "5"
                    else ""
                )
                if self._refused
                else "is the broker running there?"
            )
            raise ConnectorError(
                f"MQTT connector {self.name!r} could not connect to {self._broker_name()} "
                f"within {timeout:g} s; {why}"
            ) from None
        if self._control_wanted:
            assert isinstance(self.sink, ControlSink)
            self._control.attach(self.sink)
        logger.info("MQTT connector %r started on %s", self.name, self._broker_name())

    async def stop(self) -> None:
        """Stop without acknowledging what is not settled: the broker keeps it for next time."""
        self._stopping.set()
        if self._control is not None:
            self._control.detach()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            await asyncio.to_thread(client.loop_stop)
        self._connected = False
        logger.info("MQTT connector %r stopped", self.name)

    def _broker_name(self) -> str:
        scheme = "mqtts" if self._broker.tls else "mqtt"
        return f"{scheme}://{self._broker.host}:{self._broker.port}"

    def _make_client(self) -> paho.Client:
        v5 = self.protocol == "5"
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        # paho annotates the delays as int, but sleeps on floats; 0.5 s is the first backoff.
        client.reconnect_delay_set(min_delay=0.5, max_delay=30)  # type: ignore[arg-type]
        if self._broker.tls:
            client.tls_set()
        if self._broker.username is not None:
            client.username_pw_set(self._broker.username, self._broker.password)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    # --- paho's network thread ---------------------------------------------------------------

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
        with self._lock:
            self._generation += 1
            self._connected = True
        logger.info(
            "MQTT connector %r connected to %s as %r (session present: %s)",
            self.name,
            self._broker_name(),
            self.client_id,
            flags.session_present,
        )
        filters = self.mapping.subscriptions()
        subscriptions: list[tuple[str, int]] = [(topic, self.qos) for topic in filters]
        _, mid = client.subscribe(subscriptions)
        with self._lock:
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
        with self._lock:
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
        if self._loop is not None and self._connected_event is not None:
            self._loop.call_soon_threadsafe(self._connected_event.set)

    def _on_connect_fail(self, client: paho.Client, userdata: object) -> None:
        logger.warning(
            "MQTT connector %r cannot reach %s; retrying with backoff (0.5 s up to 30 s)",
            self.name,
            self._broker_name(),
        )

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            self._connected = False
        if not self._stopping.is_set():
            logger.warning(
                "MQTT connector %r lost %s (%s); reconnecting with backoff (0.5 s up to 30 s)",
                self.name,
                self._broker_name(),
                reason,
            )

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            logger.warning("MQTT connector %r dropped a message with a non-UTF-8 topic", self.name)
            return
        # Take a window slot; while the window is full the network thread waits here, so paho
        # reads nothing more and the broker holds the rest.
        while not self._slots.acquire(timeout=0.2):
            if self._stopping.is_set():
                return  # not acknowledged: the broker redelivers it to the next session
        loop, queue = self._loop, self._queue
        if loop is None or queue is None or self._stopping.is_set():
            self._slots.release()
            return
        self._counters.received += 1
        inbound = _Inbound(topic, bytes(msg.payload), msg.qos, msg.mid, self._generation)
        try:
            loop.call_soon_threadsafe(queue.put_nowait, inbound)
        except RuntimeError:  # the loop closed under us
            self._slots.release()

    # --- the asyncio side --------------------------------------------------------------------

    async def _run(self) -> None:
        """Two stages, so that parsing the next batch overlaps committing this one."""
        assert self._queue is not None
        parsed: asyncio.Queue[list[_Work]] = asyncio.Queue(maxsize=1)
        reader = asyncio.create_task(self._read(self._queue, parsed))
        try:
            while True:
                work = await parsed.get()
                await self._settle_with_retry(work)
                self._acknowledge(work)
        finally:
            reader.cancel()

    async def _read(
        self, queue: asyncio.Queue[_Inbound], parsed: asyncio.Queue[list[_Work]]
    ) -> None:
        while True:
            batch = await self._next_batch(queue)
            await parsed.put([self._parse(message) for message in batch])

    async def _next_batch(self, queue: asyncio.Queue[_Inbound]) -> list[_Inbound]:
        batch = [await queue.get()]
        deadline = time.monotonic() + self.batch_delay
        while len(batch) < self.batch_size:
            if not queue.empty():
                batch.append(queue.get_nowait())
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(queue.get(), left))
            except TimeoutError:
                break
        return batch

    def _parse(self, message: _Inbound) -> _Work:
        work = _Work(message)
        mapping, topic = self.mapping, message.topic
        try:
            if mapping.match_report(topic) is not None:
                work.readings = parse_report(mapping, topic, message.payload)
            elif mapping.response_template and mapping.response_template.match(topic):
                work.response = parse_response(mapping, topic, message.payload)
            elif mapping.status_template and (found := mapping.status_template.match(topic)):
                online = parse_status(message.payload, topic)
                if self._control is not None:
                    self._control.set_status(found["twin_id"], online)
                work.done = True
            else:
                parse_report(mapping, topic, message.payload)  # raises: names the templates
        except ValidationError as err:
            work.error = err
        return work

    async def _settle_with_retry(self, work: list[_Work]) -> None:
        delay = _RETRY_MIN
        while True:
            try:
                await self._settle(work)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                pending = sum(not w.done for w in work)
                logger.exception(
                    "MQTT connector %r: the sink failed; %d messages stay unacknowledged, "
                    "retrying in %.1f s",
                    self.name,
                    pending,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)

    async def _settle(self, work: list[_Work]) -> None:
        """Ingest, complete commands and dead-letter until every message is settled."""
        counters = self._counters
        to_ingest = [w for w in work if w.readings is not None and not w.done and w.error is None]
        if to_ingest:
            results = await self.sink.ingest(
                [w.readings or [] for w in to_ingest], cause=self.cause
            )
            if len(results) != len(to_ingest):
                raise ConnectorError(
                    f"sink.ingest answered {len(results)} results for {len(to_ingest)} messages"
                )
            counters.batches += 1
            for item, error in zip(to_ingest, results, strict=True):
                if error is None:
                    item.done = True
                    counters.accepted += 1
                else:
                    item.error = error
        for item in work:
            if item.response is not None and not item.done and item.error is None:
                await self._complete(item)
        for item in work:
            if item.error is not None and not item.done:
                message = item.message
                await self.sink.dead_letter(
                    f"mqtt:{message.topic}", message.payload, str(item.error)
                )
                item.done = True
                counters.dead_lettered += 1

    async def _complete(self, item: _Work) -> None:
        response = item.response
        assert response is not None
        if not isinstance(self.sink, ControlSink):
            item.error = ConnectorError(
                f"command response on {item.message.topic} but the sink takes no commands"
            )
            return
        try:
            await self.sink.complete_command(
                response.twin_id, response.id, response.status, response.response, cause=self.cause
            )
        except TwinkitError as err:
            item.error = err
            return
        item.done = True

    def _acknowledge(self, work: list[_Work]) -> None:
        """Acknowledge a settled batch in arrival order (MQTT wants PUBACKs in order).

        paho wakes its network thread once per queued packet (a write to its socket pair);
        for a batch of PUBACKs one wake-up at the end is enough, so the batch is queued with
        the wake-up pipe set aside (paho 2.x's ``_sockpairW``) and woken once.
        """
        client = self._client
        with self._lock:
            generation = self._generation if self._connected else None
        wake = getattr(client, "_sockpairW", None)
        if wake is not None:
            client._sockpairW = None  # type: ignore[union-attr]
        try:
            for item in work:
                message = item.message
                try:
                    if message.qos > 0 and client is not None:
                        if message.generation == generation:
                            client.ack(message.mid, message.qos)
                        else:
                            logger.debug(
                                "not acknowledging mid %d of an earlier connection; the broker "
                                "redelivers it",
                                message.mid,
                            )
                finally:
                    self._slots.release()
        finally:
            if wake is not None:
                if client._sockpairW is None:  # type: ignore[union-attr]  # not replaced by a reconnect
                    client._sockpairW = wake  # type: ignore[union-attr]
                with contextlib.suppress(OSError):
                    wake.send(b"0")

"""paho-mqtt driven by the asyncio event loop: no network thread, buffered reads, one PUBACK write.

paho's own thread would compete with the event loop for the interpreter lock and wake it once per
message. Instead :class:`LoopDriver` uses paho's documented pattern for an external loop
(``on_socket_open``/``on_socket_close``/``on_socket_register_write``/``..._unregister_write`` with
``loop_read``/``loop_write``/``loop_misc``, as in paho's ``examples/loop_asyncio.py``), so every
callback, every ack and every publish runs on the loop thread. Only opening a socket (name lookup,
TCP and TLS handshakes), which blocks, runs in a worker thread.

:class:`LoopClient` adds the two things paho's public API lacks, and is the only place in twinkit
that relies on paho internals (``_sock_recv``, ``_sock_close``, ``_create_socket``,
``_packet_queue``, ``_handle_on_message``; checked at import, so a paho that changed them fails loudly):

- paho reads each packet with three ``recv`` calls (type byte, length byte, body); LoopClient
  reads up to 64 KiB at a time and serves paho from that buffer;
- a QoS 0 or 1 PUBLISH that lies whole in that buffer (without MQTT 5 properties) is decoded
  here and handed to ``on_publish_data`` as plain ``(topic, payload, qos, mid)``: paho's
  general packet reader, its ``MQTTMessage`` (with a ``threading.Condition``) and its logging
  cost several times what the rest of ingest costs per message. Every other packet, and every
  PUBLISH split across reads, QoS 2 or with properties, goes through paho as before;
- a batch of PUBACKs is queued as one write instead of one write per message;
- every message goes straight to ``on_message`` (paho first matches each topic against
  per-topic callbacks, which twinkit does not use).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

if TYPE_CHECKING:
    from paho.mqtt.client import SocketLike

__all__ = ["LoopClient", "LoopDriver"]

logger = logging.getLogger(__name__)

_READ_SIZE: Final = 65536
_PACKETS_PER_PASS: Final = 4096  # then let other callbacks of the loop run
_PUBACK: Final = 0x40
_PUBLISH: Final = 0x30
_PUBACK_HEADER: Final = (_PUBACK << 24) | (2 << 16)  # fixed header, remaining length 2, then mid
_MISC_INTERVAL: Final = 1.0
_CLOSE_WAIT: Final = 2.0

for _name in (
    "_sock_recv",
    "_sock_close",
    "_create_socket",
    "_packet_queue",
    "_handle_on_message",
):
    if not callable(getattr(paho.Client, _name, None)):  # pragma: no cover - a paho upgrade
        raise ImportError(
            f"twinkit.connect needs paho.mqtt.client.Client.{_name} (paho-mqtt 2.1 or 2.2); "
            f"the installed paho-mqtt {paho.__version__ if hasattr(paho, '__version__') else '?'}"
            " lacks it"
        )

PublishData = Callable[[bytes, bytes, int, int], None]
"""``on_publish_data(topic, payload, qos, mid)``: a PUBLISH decoded by :class:`LoopClient`
(``topic`` as sent, not yet decoded from UTF-8; ``mid`` 0 for QoS 0)."""


class LoopClient(paho.Client):
    """A paho client with buffered socket reads and batched PUBACKs, for :class:`LoopDriver`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rbuf = b""  # received from the socket, not yet handed to paho
        self._rpos = 0
        self._ready: SocketLike | None = None  # opened off the loop, for the next reconnect()
        self._v5 = self._protocol == paho.MQTTv5
        self.drained = False  # the last read found the buffer empty and the socket would block
        # PUBLISH packets decoded here go to this instead of on_message (None: all to paho)
        self.on_publish_data: PublishData | None = None
        if not isinstance(getattr(self, "_in_packet", None), dict):  # pragma: no cover - paho
            raise ImportError("twinkit.connect needs paho's Client._in_packet (paho-mqtt 2.1/2.2)")

    # --- reads ---------------------------------------------------------------------------------

    def _sock_recv(self, bufsize: int) -> bytes:
        buf, pos = self._rbuf, self._rpos
        if pos >= len(buf):
            try:
                buf = super()._sock_recv(_READ_SIZE)
            except BlockingIOError:
                self.drained = True
                raise
            if not buf:
                return buf  # the broker closed the connection; paho handles it
            pos = 0
        end = pos + bufsize
        self._rbuf, self._rpos = buf, end
        return buf[pos:end] if pos or end < len(buf) else buf

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Handle one packet: a whole PUBLISH in the buffer here, anything else through paho."""
        if self.on_publish_data is not None and self._in_packet["command"] == 0:
            decoded = self._read_publish()
            if decoded is None and self._refill():  # a packet's head only, or nothing yet
                decoded = self._read_publish()
            if decoded:
                return MQTTErrorCode.MQTT_ERR_SUCCESS
        return super().loop_read(max_packets)

    def _refill(self) -> bool:
        """Read more behind what is left in the buffer; False when nothing came (paho's read
        then meets the same would-block, error or end of stream and handles it)."""
        try:
            more = super()._sock_recv(_READ_SIZE)
        except OSError:  # BlockingIOError included
            return False
        if not more:
            return False
        self._rbuf, self._rpos = self._rbuf[self._rpos :] + more, 0
        return True

    def _read_publish(self) -> bool | None:
        """Decode the QoS 0/1 PUBLISH at the head of the buffer and hand it on.

        True when done; None when the buffer ends before the packet does; False (nothing
        consumed) for any other packet: QoS 2, MQTT 5 properties, malformed ones (paho reads
        those and reports what is wrong).
        """
        buf, pos = self._rbuf, self._rpos
        size = len(buf)
        if size - pos < 2:
            return None
        header = buf[pos]
        qos = (header >> 1) & 3
        if header & 0xF0 != _PUBLISH or qos > 1:
            return False
        length, shift, at = 0, 0, pos + 1
        while True:  # the remaining length: 1 to 4 bytes, 7 bits each, low bits first
            if at >= size:
                return None
            byte = buf[at]
            at += 1
            length |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
            if shift > 21:
                return False
        end = at + length
        if end > size:
            return None
        if length < 2:
            return False
        topic_end = at + 2 + ((buf[at] << 8) | buf[at + 1])
        body = topic_end + (2 if qos else 0)
        if topic_end == at + 2 or body + self._v5 > end:
            return False  # an empty topic (MQTT 5: an alias), or lengths that do not fit
        mid = (buf[topic_end] << 8) | buf[topic_end + 1] if qos else 0
        if self._v5:
            if buf[body]:
                return False  # properties: paho decodes them
            body += 1
        topic, payload = buf[at + 2 : topic_end], buf[body:end]
        self._rpos = end
        self._last_bytes_received = paho.time_func()  # what paho's keepalive check reads
        callback = self.on_publish_data
        assert callback is not None
        try:
            callback(topic, payload, qos, mid)
        except Exception:
            logger.exception("MQTT on_publish_data failed on a message to %r", topic)
        return True

    def buffered(self) -> bool:
        """Whether received bytes wait in the buffer (the socket will not signal them again)."""
        return self._rpos < len(self._rbuf)

    def _sock_close(self) -> None:
        self._rbuf, self._rpos = b"", 0
        super()._sock_close()

    def force_close(self) -> None:
        """Close the connection now, without a DISCONNECT packet."""
        self._sock_close()

    def _handle_on_message(self, message: paho.MQTTMessage) -> None:
        # paho matches every topic against its per-topic callbacks first; LoopClient takes
        # none (``message_callback_add`` is not for it), so every message goes to on_message.
        on_message = self.on_message
        if on_message is None:
            return
        try:
            on_message(self, self._userdata, message)
        except Exception:
            logger.exception("MQTT on_message failed on a message to %s", message.topic)

    def message_callback_add(self, sub: str, callback: paho.CallbackOnMessage) -> None:
        raise NotImplementedError("LoopClient hands every message to on_message")

    # --- connecting ----------------------------------------------------------------------------

    def open_socket(self) -> SocketLike:
        """Open the connection's socket (blocking: name lookup, TCP, TLS); run it in a thread."""
        return super()._create_socket()

    def use_socket(self, sock: SocketLike) -> None:
        """Make the next ``reconnect()`` use ``sock`` instead of opening one on the loop."""
        self._ready = sock

    def _create_socket(self) -> SocketLike:
        sock, self._ready = self._ready, None
        return sock if sock is not None else super()._create_socket()

    # --- acks ----------------------------------------------------------------------------------

    def ack_many(self, mids: Sequence[int]) -> None:
        """Queue PUBACKs for these QoS1 message ids, in this order, as one write."""
        if mids:
            packet = struct.pack(f"!{len(mids)}I", *[_PUBACK_HEADER | mid for mid in mids])
            self._packet_queue(_PUBACK, packet, 0, 0)


class LoopDriver:
    """Runs one :class:`LoopClient` on the running asyncio loop, reconnecting with backoff.

    ``open()`` starts connecting; after a lost connection or a failed attempt the next one comes
    after ``min_delay`` seconds, doubling up to ``max_delay``, and back to ``min_delay`` once
    :meth:`connected` is called (the connector calls it on CONNACK). ``pause_reading()`` stops
    reading the socket, so the broker holds what it has not sent (TCP back-pressure), until
    ``resume_reading()``. ``describe`` names the broker in log lines.
    """

    def __init__(
        self,
        client: LoopClient,
        *,
        describe: str,
        min_delay: float = 0.5,
        max_delay: float = 30.0,
    ) -> None:
        self._client = client
        self._loop = asyncio.get_running_loop()
        self._describe = describe
        self._min_delay = min_delay
        self._max_delay = max_delay
        self._delay = min_delay
        self._sock: SocketLike | None = None
        self._paused = False
        self._closing = False
        self._closed = asyncio.Event()
        self._closed.set()
        self._misc: asyncio.TimerHandle | None = None
        self._attempt: asyncio.Task[None] | None = None
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write

    @property
    def paused(self) -> bool:
        return self._paused

    def open(self) -> None:
        """Start connecting (in the background; the client's callbacks tell the outcome)."""
        self._closing = False
        self._schedule(0.0)

    def connected(self) -> None:
        """The broker accepted the connection: the next reconnect starts at the shortest delay."""
        self._delay = self._min_delay

    async def close(self) -> None:
        """Disconnect cleanly (DISCONNECT, then close) and stop reconnecting."""
        self._closing = True
        attempt, self._attempt = self._attempt, None
        if attempt is not None:
            attempt.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await attempt
        client = self._client
        if self._sock is None:
            client.force_close()  # an attempt may have left a socket
            return
        client.disconnect()
        try:
            await asyncio.wait_for(self._closed.wait(), _CLOSE_WAIT)
        except TimeoutError:
            logger.debug(
                "no clean disconnect from %s in %g s; closing", self._describe, _CLOSE_WAIT
            )
        client.force_close()

    def pause_reading(self) -> None:
        if not self._paused:
            self._paused = True
            if self._sock is not None:
                self._loop.remove_reader(self._sock)

    def resume_reading(self) -> None:
        if self._paused:
            self._paused = False
            if self._sock is not None:
                self._loop.add_reader(self._sock, self._on_readable)
                if self._client.buffered():
                    self._loop.call_soon(self._on_readable)

    # --- connecting ----------------------------------------------------------------------------

    def _schedule(self, delay: float) -> None:
        if self._closing or (self._attempt is not None and not self._attempt.done()):
            return
        self._attempt = self._loop.create_task(self._connect(delay), name="twinkit-mqtt-connect")

    async def _connect(self, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        client = self._client
        opening = asyncio.ensure_future(asyncio.to_thread(client.open_socket))
        try:
            sock = await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(_close_opened)  # the thread goes on: close what it opens
            raise
        except (OSError, ValueError) as err:
            self._failed(err)
            return
        if self._closing:
            sock.close()
            return
        client.use_socket(sock)
        try:
            client.reconnect()
        except (OSError, ValueError) as err:
            client.force_close()
            self._failed(err)

    def _failed(self, err: BaseException) -> None:
        delay = self._delay
        self._delay = min(self._delay * 2, self._max_delay)
        logger.warning(
            "cannot reach MQTT broker %s (%s); retrying in %.1f s", self._describe, err, delay
        )
        self._attempt = None
        self._schedule(delay)

    # --- paho's socket callbacks (all on the loop thread) -------------------------------------

    def _on_socket_open(self, client: paho.Client, userdata: object, sock: SocketLike) -> None:
        self._sock = sock
        self._closed.clear()
        if not self._paused:
            self._loop.add_reader(sock, self._on_readable)
        self._misc = self._loop.call_later(_MISC_INTERVAL, self._on_misc)

    def _on_socket_close(self, client: paho.Client, userdata: object, sock: SocketLike) -> None:
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)
        self._sock = None
        self._closed.set()
        if self._misc is not None:
            self._misc.cancel()
            self._misc = None
        if not self._closing:
            delay = self._delay
            self._delay = min(self._delay * 2, self._max_delay)
            logger.info("reconnecting to MQTT broker %s in %.1f s", self._describe, delay)
            self._schedule(delay)

    def _on_register_write(self, client: paho.Client, userdata: object, sock: SocketLike) -> None:
        self._loop.add_writer(sock, self._on_writable)

    def _on_unregister_write(self, client: paho.Client, userdata: object, sock: SocketLike) -> None:
        self._loop.remove_writer(sock)

    # --- loop callbacks ------------------------------------------------------------------------

    def _on_readable(self) -> None:
        """Read and handle every complete packet there is, until the socket would block."""
        client = self._client
        client.drained = False
        for _ in range(_PACKETS_PER_PASS):
            if self._paused or client.drained or self._sock is None:
                return
            if client.loop_read() != paho.MQTT_ERR_SUCCESS:
                return
        if self._sock is not None and not self._paused and client.buffered():
            self._loop.call_soon(self._on_readable)  # the socket would not signal these again

    def _on_writable(self) -> None:
        self._client.loop_write()

    def _on_misc(self) -> None:
        self._misc = None
        if self._sock is None:
            return
        self._client.loop_misc()  # keepalive pings; closes the connection when the broker is gone
        if self._sock is not None:
            self._misc = self._loop.call_later(_MISC_INTERVAL, self._on_misc)


def _close_opened(opening: asyncio.Future[SocketLike]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result().close()

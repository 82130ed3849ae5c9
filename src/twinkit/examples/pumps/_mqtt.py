"""One simulated device's MQTT connection, speaking the connector's default topic mapping.

Per twin ``T`` (prefix ``site``):

===============================  =========  ================================================
``site/T/telemetry``             publish    ``{"ts": s, "values": {name: value}}``
``site/T/properties``            publish    the same, values plain or ``{"value", "ac", "av", "ad"}``
``site/T/desired``               subscribe  ``{name: value, "$version": n}``
``site/T/commands/+``            subscribe  ``{"id", "request", "responseTopic"}``
``site/T/commands/C/response``   publish    ``{"id", "status", "response"}``
``site/T/status``                publish    ``online`` / ``offline`` (retained; ``offline`` is the will)
===============================  =========  ================================================

The link owns a paho client with its network thread; desired values and commands are handed to
a :class:`DeviceHandler` on that thread and answered from there.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from twinkit.errors import ConnectorError, ValidationError
from twinkit.examples.pumps._station import Reply

__all__ = ["Broker", "DeviceHandler", "DeviceLink"]

logger = logging.getLogger(__name__)

_QOS: Final = 1
_DEFAULT_PORTS: Final = {"mqtt": 1883, "tcp": 1883, "mqtts": 8883, "ssl": 8883}


@dataclass(frozen=True, slots=True)
class Broker:
    """Where the broker is: parsed from ``mqtt://[user[:password]@]host[:port]`` (or mqtts)."""

    host: str
    port: int = 1883
    tls: bool = False
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> Broker:
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValidationError(
                "not an MQTT broker URL",
                path="mqtt_url",
                expected="mqtt://host[:port] or mqtts://host[:port]",
                got=url,
            )
        try:
            port = parts.port or _DEFAULT_PORTS[parts.scheme]
        except ValueError as err:
            raise ValidationError(
                "bad port in the MQTT broker URL", path="mqtt_url", expected="1-65535", got=url
            ) from err
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        return cls(parts.hostname, port, parts.scheme in ("mqtts", "ssl"), user, password)


class DeviceHandler(Protocol):
    """What a device does with what twinkit sends it."""

    def set_desired(self, twin_id: str, name: str, value: Any) -> Reply:
        """Apply one desired value; the Reply's value is the property's value afterwards."""
        ...

    def command(self, twin_id: str, name: str, request: Any) -> Reply:
        """Run a command; the Reply's value is its response payload."""
        ...


class DeviceLink:
    """The MQTT connection of one twin's device: status, telemetry, properties and control."""

    def __init__(
        self,
        broker: Broker,
        twin_id: str,
        handler: DeviceHandler,
        *,
        prefix: str = "site",
        keepalive: int = 30,
    ) -> None:
        self.broker = broker
        self.twin_id = twin_id
        self.handler = handler
        self.base = f"{prefix}/{twin_id}"
        self._keepalive = keepalive
        self._ready = threading.Event()
        client_id = f"twinkit-device-{twin_id}-{uuid.uuid4().hex[:8]}"
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if broker.username is not None:
            self._client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            self._client.tls_set_context(ssl.create_default_context())
        self._client.will_set(f"{self.base}/status", "offline", qos=_QOS, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.on_disconnect = self._on_disconnect

    def __repr__(self) -> str:
        return f"DeviceLink({self.twin_id!r}, {self.broker.host}:{self.broker.port})"

    # --- life cycle ----------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Connect, subscribe and announce ``online``; raise ConnectorError if that fails."""
        try:
            self._client.connect(self.broker.host, self.broker.port, self._keepalive)
        except OSError as err:
            raise ConnectorError(
                f"device {self.twin_id!r} could not connect to the MQTT broker at "
                f"{self.broker.host}:{self.broker.port}: {err}"
            ) from err
        self._client.loop_start()
        if not self._ready.wait(timeout):
            self._client.loop_stop()
            raise ConnectorError(
                f"device {self.twin_id!r}: the broker at {self.broker.host}:{self.broker.port} "
                f"did not accept the connection and subscriptions within {timeout:g} s"
            )

    def stop(self, timeout: float = 5.0) -> None:
        """Announce ``offline`` (the will is not sent on a clean disconnect) and disconnect."""
        info = self._client.publish(f"{self.base}/status", "offline", qos=_QOS, retain=True)
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError) as err:
            logger.warning("device %s: could not announce offline: %s", self.twin_id, err)
        self._client.disconnect()
        self._client.loop_stop()

    # --- publishing ----------------------------------------------------------------------

    def publish_telemetry(self, values: Mapping[str, Any], ts: float | None = None) -> None:
        self._publish("telemetry", {"ts": time.time() if ts is None else ts, "values": values})

    def publish_properties(self, values: Mapping[str, Any], ts: float | None = None) -> None:
        self._publish("properties", {"ts": time.time() if ts is None else ts, "values": values})

    def _publish(self, leaf: str, payload: Mapping[str, Any]) -> None:
        info = self._client.publish(f"{self.base}/{leaf}", json.dumps(payload), qos=_QOS)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            logger.warning("device %s: publish to %s failed (rc %s)", self.twin_id, leaf, info.rc)

    # --- paho callbacks (network thread) -------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            logger.error("device %s: the broker refused the connection: %s", self.twin_id, reason)
            return
        client.subscribe([(f"{self.base}/desired", _QOS), (f"{self.base}/commands/+", _QOS)])

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if any(code.is_failure for code in reasons):
            logger.error("device %s: subscriptions refused: %s", self.twin_id, reasons)
            return
        client.publish(f"{self.base}/status", "online", qos=_QOS, retain=True)
        self._ready.set()
        logger.info("device %s online at %s:%s", self.twin_id, self.broker.host, self.broker.port)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            logger.warning("device %s disconnected: %s (reconnecting)", self.twin_id, reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            payload = json.loads(message.payload)
        except ValueError as err:
            logger.warning("device %s: %s is not JSON: %s", self.twin_id, message.topic, err)
            return
        try:
            if message.topic == f"{self.base}/desired":
                self._desired(payload)
            else:
                self._command(message.topic.rpartition("/")[2], payload)
        except Exception:  # a device must survive anything the network sends it
            logger.exception("device %s: failed on a message to %s", self.twin_id, message.topic)

    def _desired(self, payload: Any) -> None:
        if not isinstance(payload, dict):
            logger.warning(
                "device %s: desired values must be an object, got %r", self.twin_id, payload
            )
            return
        version = payload.get("$version")
        if isinstance(version, bool) or not isinstance(version, int):
            logger.warning("device %s: desired values without an integer $version", self.twin_id)
            version = None
        acks: dict[str, Any] = {}
        for name, value in payload.items():
            if name.startswith("$"):
                continue
            reply = self.handler.set_desired(self.twin_id, name, value)
            ack = {"value": reply.value, "ac": reply.code, "ad": reply.description}
            if version is not None:
                ack["av"] = version
            acks[name] = ack
            log = logger.info if reply.ok else logger.warning
            log(
                "device %s: desired %s=%r: %s %s",
                self.twin_id,
                name,
                value,
                reply.code,
                reply.description,
            )
        if acks:
            self.publish_properties(acks)

    def _command(self, name: str, payload: Any) -> None:
        correlation = payload.get("id") if isinstance(payload, dict) else None
        if not isinstance(correlation, str) or not correlation:
            logger.warning("device %s: command %s without an id: %r", self.twin_id, name, payload)
            return
        topic = payload.get("responseTopic") or f"{self.base}/commands/{name}/response"
        if not isinstance(topic, str) or "+" in topic or "#" in topic:
            logger.warning(
                "device %s: command %s has a bad responseTopic %r", self.twin_id, name, topic
            )
            return
        reply = self.handler.command(self.twin_id, name, payload.get("request"))
        # A refusal carries its reason as the response, which the runtime reads as description.
        response = reply.value if reply.ok else reply.description
        answer = {"id": correlation, "status": reply.code, "response": response}
        self._client.publish(topic, json.dumps(answer), qos=_QOS)
        logger.info("device %s: command %s (%s) -> %s", self.twin_id, name, correlation, reply.code)

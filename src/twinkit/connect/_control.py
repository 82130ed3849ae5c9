"""Control over MQTT: desired values and commands out to devices, device status in.

Desired values are published retained (QoS1) so that a device that connects later still gets
the latest one. A command is refused at once, with a ConnectorError, when the connector is
disconnected or the device's last status message said it went offline.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from twinkit.connect._mapping import MqttMapping
from twinkit.connect._payload import encode_command, encode_desired
from twinkit.connect._sink import ControlSink
from twinkit.core import CommandTransport, Event, EventType
from twinkit.errors import ConnectorError, ValidationError

__all__ = ["Control"]

logger = logging.getLogger(__name__)


class _Link(CommandTransport, Protocol):
    """The connector as control sees it."""

    @property
    def connected(self) -> bool: ...

    @property
    def name(self) -> str: ...


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


class Control:
    """The twin → device half of one MQTT connector, and the devices' online status."""

    def __init__(self, link: _Link, client: paho.Client, mapping: MqttMapping, broker: str):
        self._link = link
        self._client = client
        self._mapping = mapping
        self._broker = broker
        self._status: dict[str, tuple[bool, float]] = {}
        self._lock = threading.Lock()
        self._sink: ControlSink | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def attach(self, sink: ControlSink) -> None:
        """Publish the sink's desired values and take its commands."""
        self._sink = sink
        if self._mapping.desired_template is not None:
            self._unsubscribe = sink.subscribe(
                self._on_event, types=[EventType.DESIRED_PROPERTY_SET]
            )
        if self._mapping.command_template is not None:
            sink.set_command_transport(self._link)

    def detach(self) -> None:
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()
        sink, self._sink = self._sink, None
        if sink is not None and self._mapping.command_template is not None:
            sink.set_command_transport(None)

    # --- device status -----------------------------------------------------------------------

    def set_status(self, twin_id: str, online: bool) -> None:
        with self._lock:
            before = self._status.get(twin_id)
            if before is not None and before[0] == online:
                return
            self._status[twin_id] = (online, time.time())
        logger.info("device %s is %s", twin_id, "online" if online else "offline")

    def device_status(self, twin_id: str) -> tuple[bool, float] | None:
        with self._lock:
            return self._status.get(twin_id)

    # --- outbound ----------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if event.type is not EventType.DESIRED_PROPERTY_SET:
            return
        data = event.data
        try:
            self.publish_desired(event.twin_id, data["name"], data["value"], int(data["version"]))
        except (KeyError, TypeError, ValueError, ValidationError, ConnectorError) as err:
            logger.error(
                "cannot publish desired value of %s (event %d): %s", event.twin_id, event.seq, err
            )

    def publish_desired(self, twin_id: str, name: str, value: Any, version: int) -> None:
        """Publish (retained, QoS1) ``{"<name>": value, "$version": version}`` to the device."""
        template = self._mapping.desired_template
        if template is None:
            raise ConnectorError(f"connector {self._link.name!r} has no desired topic mapped")
        topic = template.format(twin_id=twin_id)
        info = self._client.publish(topic, encode_desired(name, value, version), 1, retain=True)
        if info.rc == paho.MQTT_ERR_NO_CONN:
            logger.warning(
                "desired %s of %s queued: connector %r is disconnected from %s",
                name,
                twin_id,
                self._link.name,
                self._broker,
            )
        elif info.rc != paho.MQTT_ERR_SUCCESS:
            raise ConnectorError(
                f"publishing desired {name} of {twin_id} to {topic} failed: "
                f"{paho.error_string(info.rc)}"
            )
        else:
            logger.debug("published desired %s=%r (v%d) to %s", name, value, version, topic)

    def send_command(
        self, twin_id: str, name: str, correlation_id: str, request: Any, timeout: float
    ) -> None:
        """Publish the request (QoS1); ConnectorError when it cannot reach the device now."""
        commands, responses = self._mapping.command_template, self._mapping.response_template
        if commands is None or responses is None:
            raise ConnectorError(
                f"connector {self._link.name!r} has no commands/responses topics mapped"
            )
        if not self._link.connected:
            raise ConnectorError(
                f"cannot send command {name!r} to {twin_id}: connector {self._link.name!r} "
                f"is disconnected from {self._broker}"
            )
        status = self.device_status(twin_id)
        if status is not None and not status[0]:
            raise ConnectorError(f"device {twin_id} is offline (since {_when(status[1])})")
        topic = commands.format(twin_id=twin_id, command=name)
        response_topic = responses.format(twin_id=twin_id, command=name)
        properties = None
        if self._client.protocol == paho.MQTTv5:
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.MessageExpiryInterval = max(1, math.ceil(timeout))
            properties.ResponseTopic = response_topic
            properties.CorrelationData = correlation_id.encode()
        payload = encode_command(correlation_id, request, response_topic)
        info = self._client.publish(topic, payload, 1, properties=properties)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise ConnectorError(
                f"cannot send command {name!r} to {twin_id} on {topic}: "
                f"{paho.error_string(info.rc)}"
            )
        logger.debug("sent command %s %s to %s", correlation_id, name, topic)

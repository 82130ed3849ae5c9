"""Connectors: data between the outside world and twins, through declarative mappings.

``MqttConnector`` feeds a runtime from an MQTT broker (acknowledging each message only after it
was committed or dead-lettered) and publishes desired values and commands back to devices.
``parse_ingest_body`` is the payload side of HTTP ingest, ``replay_dead_letters`` retries
rejected messages, and ``Mosquitto`` is the local broker ``twinkit serve`` supervises.
"""

from __future__ import annotations

from twinkit.connect._mapping import DEFAULT_MAX_PAYLOAD, MqttMapping, TopicTemplate
from twinkit.connect._mosquitto import Mosquitto, find_mosquitto
from twinkit.connect._mqtt import ConnectorStats, MqttConnector
from twinkit.connect._payload import (
    CommandResponse,
    ParsedMessage,
    encode_command,
    encode_desired,
    parse_ingest_body,
    parse_report,
    parse_response,
    parse_status,
    parse_time,
)
from twinkit.connect._replay import ReplayFailure, ReplayReport, replay_dead_letters
from twinkit.connect._sink import ControlSink, IngestSink

__all__ = [
    "DEFAULT_MAX_PAYLOAD",
    "CommandResponse",
    "ConnectorStats",
    "ControlSink",
    "IngestSink",
    "Mosquitto",
    "MqttConnector",
    "MqttMapping",
    "ParsedMessage",
    "ReplayFailure",
    "ReplayReport",
    "TopicTemplate",
    "encode_command",
    "encode_desired",
    "find_mosquitto",
    "parse_ingest_body",
    "parse_report",
    "parse_response",
    "parse_status",
    "parse_time",
    "replay_dead_letters",
]

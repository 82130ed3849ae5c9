"""Events: the immutable, sequenced changes every twin's state is folded from.

An event belongs to one twin and carries that twin's next sequence number, so the log of a
twin is gap-free and totally ordered. ``time`` is when the change happened in the physical
world (a device timestamp where one came), ``recorded`` when twinkit accepted it, and ``cause``
who made it happen: ``token:<id>`` for an API caller, ``connector:<name>`` for ingest,
``system`` for twinkit itself. ``data`` is plain JSON so events store and stream as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

__all__ = ["Event", "EventType"]


class EventType(StrEnum):
    """What happened. Names are past tense, as DTDL and Ditto name their events."""

    TWIN_CREATED = "TwinCreated"
    TWIN_DELETED = "TwinDeleted"
    PROPERTY_REPORTED = "PropertyReported"
    DESIRED_PROPERTY_SET = "DesiredPropertySet"
    DESIRED_PROPERTY_ACKNOWLEDGED = "DesiredPropertyAcknowledged"
    TELEMETRY_RECEIVED = "TelemetryReceived"
    RELATIONSHIP_ADDED = "RelationshipAdded"
    RELATIONSHIP_REMOVED = "RelationshipRemoved"
    COMMAND_INVOKED = "CommandInvoked"
    COMMAND_COMPLETED = "CommandCompleted"
    ALERT_RAISED = "AlertRaised"
    ALERT_ACKNOWLEDGED = "AlertAcknowledged"
    ALERT_CLEARED = "AlertCleared"
    PREDICTION_MADE = "PredictionMade"
    MODEL_CALIBRATED = "ModelCalibrated"
    VALUES_DERIVED = "ValuesDerived"


_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One change of one twin.

    The payload keys per type are:

    ============================== =========================================================
    ``TwinCreated``                ``model``, ``properties`` (initial reported values)
    ``TwinDeleted``                (none)
    ``PropertyReported``           ``name``, ``value`` (``removed``: true when it was removed)
    ``DesiredPropertySet``         ``name``, ``value``, ``version``
    ``DesiredPropertyAcknowledged`` ``name``, ``version``, ``code``, ``description``
    ``TelemetryReceived``          ``values`` (name → value); published, not logged: its
                                   history is the series, and ``seq`` is the twin's version
    ``RelationshipAdded``          ``id``, ``name``, ``target``, ``properties``
    ``RelationshipRemoved``        ``id``
    ``CommandInvoked``             ``id`` (correlation), ``name``, ``request``
    ``CommandCompleted``           ``id``, ``name``, ``status``, ``response``
    ``AlertRaised``                ``name``, ``severity``, ``message``, ``by`` (the cause
                                   again: folds read data only); opens the alert, or updates
                                   the open one of that name
    ``AlertAcknowledged``          ``name``, ``note``, ``by``; the alert stays open
    ``AlertCleared``               ``name``, ``message`` (why), ``by``; closes the alert
    ``ValuesDerived``              ``kind`` (``simulated``, ``residual``...), ``values`` (name →
                                   number); published, not logged, like telemetry: its
                                   history is the series ``"<kind>:<name>"``
    others                         free-form, by the behaviour that raises them
    ============================== =========================================================
    """

    twin_id: str
    seq: int
    type: EventType
    time: float
    recorded: float
    cause: str
    data: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    def to_json(self) -> dict[str, Any]:
        """The wire form (camelCase keys, as the API and WebSocket stream send it)."""
        return {
            "twinId": self.twin_id,
            "seq": self.seq,
            "type": self.type.value,
            "time": self.time,
            "recorded": self.recorded,
            "cause": self.cause,
            "data": dict(self.data),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Event:
        return cls(
            twin_id=obj["twinId"],
            seq=int(obj["seq"]),
            type=EventType(obj["type"]),
            time=float(obj["time"]),
            recorded=float(obj["recorded"]),
            cause=obj["cause"],
            data=MappingProxyType(dict(obj.get("data") or {})),
        )

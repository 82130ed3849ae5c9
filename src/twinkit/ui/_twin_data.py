"""What the twin page shows, shaped from twin state and events without NiceGUI: property rows
with their sync state, relationship links, event rows with who caused them, open alerts.

Everything here is a plain function of its arguments, so the page stays a thin layer of
elements over these and the shaping is tested without a browser.

Open alerts are the twin's own (:attr:`~twinkit.core.Twin.alerts`: raised and not cleared),
as of now or as of the time travelled to.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import Any, Final

import orjson

from twinkit.core import Event, EventType, PropertyState, RelationshipEdge, Twin
from twinkit.model import Content, EnumSchema, PrimitiveSchema, Property, Telemetry, pint_unit
from twinkit.model._quantities import unit_registry

__all__ = [
    "TRANSIENT",
    "Alert",
    "EventRow",
    "PropertyRow",
    "RelationshipLink",
    "SyncState",
    "cause_label",
    "event_row",
    "event_summary",
    "format_duration",
    "format_time",
    "format_value",
    "is_logged",
    "is_numeric",
    "open_alerts",
    "property_rows",
    "relationship_links",
    "sync_state",
    "unit_label",
]

logger = logging.getLogger(__name__)

TRANSIENT: Final = frozenset({EventType.TELEMETRY_RECEIVED, EventType.VALUES_DERIVED})
"""Event types that are published but not logged (their history is the series)."""

_VALUE_CHARS: Final = 120
_UNIT_OVERRIDES: Final = {"revolutionPerMinute": "rpm", "gForce": "g"}


class SyncState(StrEnum):
    """Where a property's desired value stands with the device."""

    NONE = ""  # no desired value was ever set
    IN_SYNC = "in sync"  # acknowledged with 200 and reported back
    PENDING = "pending"  # set, not yet acknowledged and reported
    REJECTED = "rejected"  # the device answered the newest desired version with an error


def sync_state(state: PropertyState) -> SyncState:
    """The sync state of one property (see :class:`SyncState`)."""
    if state.desired_version == 0:
        return SyncState.NONE
    if state.in_sync:
        return SyncState.IN_SYNC
    answered = state.ack_version >= state.desired_version and state.ack_code is not None
    if answered and not 200 <= state.ack_code < 300:  # type: ignore[operator]
        return SyncState.REJECTED
    return SyncState.PENDING


def format_time(seconds: float | None) -> str:
    """``2026-11-24 14:00:03.250Z`` (UTC, milliseconds only where there are some); "" for None."""
    if seconds is None or not math.isfinite(seconds):
        return ""
    stamp = datetime.fromtimestamp(seconds, UTC)
    text = stamp.strftime("%Y-%m-%d %H:%M:%S")
    millis = stamp.microsecond // 1000
    return f"{text}.{millis:03d}Z" if millis else text + "Z"


def format_duration(seconds: float) -> str:
    """``90`` → ``1.5 min``, ``21600`` → ``6 h``: the largest unit of at least one."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if abs(seconds) >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def format_value(value: Any) -> str:
    """A value as one short line: numbers to 6 significant digits, objects as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        text = value
    else:
        try:
            text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        except TypeError:
            text = repr(value)
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"


@cache
def unit_label(unit: str | None) -> str:
    """A DTDL unit term as a short symbol (``litrePerSecond`` → ``l/s``); "" for None."""
    if not unit:
        return ""
    if unit in _UNIT_OVERRIDES:
        return _UNIT_OVERRIDES[unit]
    try:
        return format(unit_registry().Unit(pint_unit(unit)), "~P")
    except Exception:  # an unknown term or a pint without that unit: show the term itself
        logger.debug("no symbol for unit %r", unit)
        return unit


# --- properties -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PropertyRow:
    """One row of the properties table (strings as shown; ``sync`` drives the badge colour)."""

    name: str
    reported: str
    desired: str
    desired_version: int
    ack: str
    sync: SyncState
    writable: bool
    unit: str
    last_changed: str
    last_reported: str
    last_updated: str

    def to_row(self) -> dict[str, Any]:
        """The row as ``ui.table`` takes it (``sync`` as its text)."""
        return {
            "name": self.name,
            "reported": self.reported,
            "desired": self.desired,
            "desiredVersion": self.desired_version or "",
            "ack": self.ack,
            "sync": self.sync.value,
            "writable": self.writable,
            "unit": self.unit,
            "lastChanged": self.last_changed,
            "lastReported": self.last_reported,
            "lastUpdated": self.last_updated,
        }


def _ack_text(state: PropertyState) -> str:
    if state.ack_version == 0:
        return ""
    text = f"v{state.ack_version}: {state.ack_code if state.ack_code is not None else '?'}"
    return f"{text} {state.ack_description}" if state.ack_description else text


def property_rows(twin: Twin, contents: Mapping[str, Content]) -> list[PropertyRow]:
    """Every property of the twin's model (reported or not), then any property the twin holds
    that its model no longer declares; in model order."""
    names = [name for name, content in contents.items() if isinstance(content, Property)]
    names += sorted(name for name in twin.properties if name not in contents)
    rows = []
    for name in names:
        content = contents.get(name)
        state = twin.properties.get(name, PropertyState())
        writable = isinstance(content, Property) and content.writable
        unit = content.unit if isinstance(content, Property) else None
        rows.append(
            PropertyRow(
                name=name,
                reported=format_value(state.reported) if state.has_reported else "",
                desired=format_value(state.desired) if state.desired_version else "",
                desired_version=state.desired_version,
                ack=_ack_text(state),
                sync=sync_state(state),
                writable=writable,
                unit=unit_label(unit),
                last_changed=format_time(state.last_changed),
                last_reported=format_time(state.last_reported),
                last_updated=format_time(state.last_updated),
            )
        )
    return rows


def is_numeric(content: Content | None) -> bool:
    """Whether a content's values can be drawn on a chart (numbers and booleans)."""
    if not isinstance(content, Telemetry | Property):
        return False
    schema = content.schema
    if isinstance(schema, EnumSchema):
        return False
    return isinstance(schema, PrimitiveSchema) and (
        schema.is_numeric or schema is PrimitiveSchema.BOOLEAN
    )


# --- relationships ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RelationshipLink:
    """A relationship seen from this twin: ``outgoing`` (this → other) or incoming."""

    outgoing: bool
    name: str
    other: str
    id: str

    @property
    def label(self) -> str:
        return f"{self.name} → {self.other}" if self.outgoing else f"{self.other} → {self.name}"


def relationship_links(twin: Twin, incoming: Iterable[RelationshipEdge]) -> list[RelationshipLink]:
    """Outgoing relationships, then incoming ones, each by name then the other twin's id."""
    out = sorted(
        (
            RelationshipLink(True, edge.name, edge.target, edge.id)
            for edge in twin.relationships.values()
        ),
        key=lambda link: (link.name, link.other, link.id),
    )
    into = sorted(
        (RelationshipLink(False, edge.name, edge.source, edge.id) for edge in incoming),
        key=lambda link: (link.name, link.other, link.id),
    )
    return out + into


# --- events -----------------------------------------------------------------------------------


def cause_label(cause: str, token_names: Mapping[str, str]) -> str:
    """Who an event's ``cause`` names, in words: a token's name where it is known
    (``token:ab12`` → ``alice (token ab12)``), else the kind and name (``connector mqtt``)."""
    kind, colon, name = cause.partition(":")
    if not colon:
        return "twinkit" if cause == "system" else cause
    if kind == "token":
        known = token_names.get(name)
        return f"{known} (token {name})" if known else f"token {name}"
    return f"{kind} {name}"


def is_logged(event: Event) -> bool:
    """Whether the event is in the twin's log (telemetry and derived values are not)."""
    return event.type not in TRANSIENT


def _ack_summary(data: Mapping[str, Any]) -> str:
    code = data.get("code")
    outcome = "acknowledged" if isinstance(code, int) and 200 <= code < 300 else "rejected"
    described = f" {data['description']}" if data.get("description") else ""
    return f"{data.get('name')} v{data.get('version')} {outcome}: {code}{described}"


def event_summary(event: Event) -> str:
    """One line saying what the event changed (``speedSetpoint = 1450``)."""
    data = event.data
    kind = event.type
    if kind is EventType.TWIN_CREATED:
        return f"created as {data.get('model')}"
    if kind is EventType.TWIN_DELETED:
        return "deleted"
    if kind is EventType.PROPERTY_REPORTED:
        if data.get("removed"):
            return f"{data.get('name')} removed"
        return f"{data.get('name')} = {format_value(data.get('value'))}"
    if kind is EventType.DESIRED_PROPERTY_SET:
        value = format_value(data.get("value"))
        return f"desired {data.get('name')} = {value} (v{data.get('version')})"
    if kind is EventType.DESIRED_PROPERTY_ACKNOWLEDGED:
        return _ack_summary(data)
    if kind is EventType.RELATIONSHIP_ADDED:
        return f"{data.get('name')} → {data.get('target')}"
    if kind is EventType.RELATIONSHIP_REMOVED:
        return f"relationship {data.get('id')} removed"
    if kind is EventType.COMMAND_INVOKED:
        return f"{data.get('name')}({format_value(data.get('request'))})"
    if kind is EventType.COMMAND_COMPLETED:
        return f"{data.get('name')}: {data.get('status')} {format_value(data.get('response'))}"
    if kind is EventType.ALERT_RAISED:
        return f"{data.get('name')} ({data.get('severity')}): {data.get('message')}"
    if kind is EventType.ALERT_ACKNOWLEDGED:
        note = f": {data['note']}" if data.get("note") else ""
        return f"{data.get('name')} acknowledged{note}"
    if kind is EventType.ALERT_CLEARED:
        why = f": {data['message']}" if data.get("message") else ""
        return f"{data.get('name')} cleared{why}"
    if kind is EventType.PREDICTION_MADE:
        on = f" on {data['on']}" if data.get("on") else ""
        return f"{data.get('predictor')} v{data.get('version')}: {data.get('reason')}{on}"
    if kind is EventType.TELEMETRY_RECEIVED or kind is EventType.VALUES_DERIVED:
        values = data.get("values") or {}
        prefix = f"{data['kind']}:" if data.get("kind") else ""
        return ", ".join(f"{prefix}{k} = {format_value(v)}" for k, v in values.items())
    return format_value(dict(data))


@dataclass(frozen=True, slots=True)
class EventRow:
    """One row of the events list."""

    seq: int
    time: str
    type: str
    summary: str
    cause: str

    def to_row(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "type": self.type,
            "summary": self.summary,
            "cause": self.cause,
        }


def event_row(event: Event, token_names: Mapping[str, str]) -> EventRow:
    return EventRow(
        seq=event.seq,
        time=format_time(event.time),
        type=event.type.value,
        summary=event_summary(event),
        cause=cause_label(event.cause, token_names),
    )


# --- alerts -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alert:
    """An open alert of the twin: what, how bad, why, when last raised, by whom."""

    name: str
    severity: str
    message: str
    time: float
    cause: str
    seq: int
    acknowledged_by: str | None = None


def open_alerts(twin: Twin) -> list[Alert]:
    """The twin's open alerts (raised and not cleared), newest first."""
    found = [
        Alert(
            name=state.name,
            severity=state.severity,
            message=state.message,
            time=state.updated,
            cause=state.raised_by or "",
            seq=state.raised_seq,
            acknowledged_by=state.acknowledged_by,
        )
        for state in twin.alerts.values()
    ]
    return sorted(found, key=lambda alert: (alert.time, alert.seq), reverse=True)

"""Twin state, and the fold that turns a twin's events into it.

``apply(twin, event)`` is a pure function: replaying a twin's events from its creation (or
from a snapshot) gives exactly the state the live runtime had. It never raises on an event
that was valid when recorded; deciding validity is the runtime's job.

Times follow Home Assistant's convention: ``last_reported`` moves on every report,
``last_changed`` only when the reported value changes, ``last_updated`` when anything about the
property changes (value, desired value, acknowledgement). A report older than the current
value (device clocks, redelivery) does not roll the current value back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from twinkit.core._alert_state import ALERT_EVENTS, NO_ALERTS, AlertState, alerts_after
from twinkit.core._events import Event, EventType

__all__ = [
    "PropertyState",
    "RelationshipEdge",
    "TelemetryValue",
    "Twin",
    "apply",
    "detached",
    "fold",
    "with_derived",
    "with_telemetry",
    "with_touch",
]

ACK_OK = 200
"""The acknowledgement code of a desired value the device applied (IoT Plug and Play's)."""


@dataclass(frozen=True, slots=True)
class PropertyState:
    """One property of a twin: what the device reports, and what the twin wants it to be."""

    reported: Any = None
    has_reported: bool = False
    reported_time: float | None = None
    desired: Any = None
    desired_version: int = 0  # 0: never set
    ack_version: int = 0
    ack_code: int | None = None
    ack_description: str | None = None
    last_changed: float | None = None
    last_updated: float | None = None
    last_reported: float | None = None

    @property
    def in_sync(self) -> bool:
        """True when there is no desired value, or the device acknowledged and reports it."""
        if self.desired_version == 0:
            return True
        return (
            self.ack_version >= self.desired_version
            and self.ack_code == ACK_OK
            and self.has_reported
            and self.reported == self.desired
        )


@dataclass(frozen=True, slots=True)
class TelemetryValue:
    value: Any
    time: float


@dataclass(frozen=True, slots=True)
class RelationshipEdge:
    """A relationship instance: ``source --name--> target``, with its own properties."""

    id: str
    name: str
    source: str
    target: str
    properties: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


_NO_PROPERTIES: Mapping[str, PropertyState] = MappingProxyType({})
_NO_EDGES: Mapping[str, RelationshipEdge] = MappingProxyType({})
_NO_TELEMETRY: Mapping[str, TelemetryValue] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Twin:
    """The state of one twin after its events up to ``version`` (its last sequence number).

    Immutable, but for ``telemetry`` of a twin of the live graph: the latest values are a
    read-only view that the runtime updates in place as messages are committed (they are not
    versioned state); :func:`detached` copies them.
    """

    id: str
    model: str
    version: int
    created: float
    updated: float
    properties: Mapping[str, PropertyState] = field(default_factory=lambda: _NO_PROPERTIES)
    relationships: Mapping[str, RelationshipEdge] = field(default_factory=lambda: _NO_EDGES)
    telemetry: Mapping[str, TelemetryValue] = field(default_factory=lambda: _NO_TELEMETRY)
    deleted: bool = False
    # Latest derived values by series name ("simulated:flow", "residual:flow"): what twinkit
    # computed about the twin, never mixed with what the device reported (see core/_derived.py).
    derived: Mapping[str, TelemetryValue] = field(default_factory=lambda: _NO_TELEMETRY)
    # Open alerts by name (see core/_alert_state.py): raised, maybe acknowledged, not cleared.
    alerts: Mapping[str, AlertState] = field(default_factory=lambda: NO_ALERTS)

    def reported(self, name: str, default: Any = None) -> Any:
        """The reported value of property ``name``, or ``default`` when none was reported."""
        state = self.properties.get(name)
        return state.reported if state is not None and state.has_reported else default


def _with(mapping: Mapping[str, Any], key: str, value: Any) -> Mapping[str, Any]:
    changed = dict(mapping)
    changed[key] = value
    return MappingProxyType(changed)


def _without(mapping: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    changed = dict(mapping)
    changed.pop(key, None)
    return MappingProxyType(changed)


def _report(state: PropertyState, value: Any, time: float) -> PropertyState:
    if state.reported_time is not None and time < state.reported_time:
        return state  # older than what we have: history only
    if state.has_reported and state.reported == value:
        return _touched(state, time)
    return replace(
        state,
        reported=value,
        has_reported=True,
        reported_time=time,
        last_changed=time,
        last_updated=time,
        last_reported=time,
    )


def _touched(state: PropertyState, time: float) -> PropertyState:
    if state.reported_time is not None and time <= state.reported_time:
        return state
    return replace(state, last_reported=time, reported_time=time)


def _removed(state: PropertyState, time: float) -> PropertyState | None:
    if state.desired_version == 0:
        return None
    return replace(
        state,
        reported=None,
        has_reported=False,
        reported_time=time,
        last_changed=time,
        last_updated=time,
        last_reported=time,
    )


def _reported(twin: Twin, data: Mapping[str, Any], time: float) -> Mapping[str, PropertyState]:
    name = data["name"]
    state = twin.properties.get(name, PropertyState())
    if data.get("removed"):
        gone = _removed(state, time)
        if gone is None:
            return _without(twin.properties, name)
        return _with(twin.properties, name, gone)
    return _with(twin.properties, name, _report(state, data["value"], time))


def with_telemetry(twin: Twin, values: Mapping[str, Any], time: float) -> Twin:
    """``twin`` with newer latest telemetry; an older or equally old value changes nothing.

    Telemetry is not in the event log (its history is the series), so it moves neither the
    twin's version nor ``updated``. "Equally old" keeps the first value, as the series does.
    """
    telemetry: dict[str, TelemetryValue] | None = None
    for name, value in values.items():
        current = twin.telemetry.get(name)
        if current is None or time > current.time:
            if telemetry is None:
                telemetry = dict(twin.telemetry)
            telemetry[name] = TelemetryValue(value, time)
    if telemetry is None:
        return twin
    return replace(twin, telemetry=MappingProxyType(telemetry))


def detached(twin: Twin) -> Twin:
    """``twin`` with a copy of its latest telemetry. A live twin's ``telemetry`` is a view that
    the runtime updates in place (see :mod:`twinkit.core._graph`): take this to keep a twin's
    values of now, or to read it on another thread."""
    return replace(twin, telemetry=MappingProxyType(dict(twin.telemetry)))


def with_derived(twin: Twin, newest: Mapping[str, TelemetryValue]) -> Twin:
    """``twin`` with these derived values (by series name) where they are not older than its
    own (computed again for the same time: the newest computation wins)."""
    derived = dict(twin.derived)
    for name, value in newest.items():
        current = derived.get(name)
        if current is None or value.time >= current.time:
            derived[name] = value
    return replace(twin, derived=MappingProxyType(derived))


def with_touch(twin: Twin, name: str, time: float) -> Twin:
    """``twin`` after a report that repeated property ``name``'s value at ``time``."""
    state = twin.properties.get(name)
    if state is None or not state.has_reported:
        return twin
    touched = _touched(state, time)
    if touched is state:
        return twin
    return replace(twin, properties=_with(twin.properties, name, touched))


def _created(event: Event) -> Twin:
    initial = event.data.get("properties") or {}
    properties = {
        name: _report(PropertyState(), value, event.time) for name, value in initial.items()
    }
    return Twin(
        id=event.twin_id,
        model=str(event.data["model"]),
        version=event.seq,
        created=event.time,
        updated=event.time,
        properties=MappingProxyType(properties),
    )


def apply(twin: Twin | None, event: Event) -> Twin:
    """The twin after ``event``. ``twin`` is None only before its ``TwinCreated``."""
    if event.type is EventType.TWIN_CREATED:
        return _created(event)
    if twin is None:
        raise ValueError(
            f"event {event.type} seq {event.seq} for {event.twin_id} before TwinCreated"
        )
    data = event.data
    out = replace(twin, version=event.seq, updated=max(twin.updated, event.time))
    if event.type is EventType.TWIN_DELETED:
        return replace(out, deleted=True)
    if event.type is EventType.PROPERTY_REPORTED:
        return replace(out, properties=_reported(twin, data, event.time))
    if event.type is EventType.DESIRED_PROPERTY_SET:
        name = data["name"]
        state = replace(
            twin.properties.get(name, PropertyState()),
            desired=data["value"],
            desired_version=int(data["version"]),
            last_updated=event.time,
        )
        return replace(out, properties=_with(twin.properties, name, state))
    if event.type is EventType.DESIRED_PROPERTY_ACKNOWLEDGED:
        name = data["name"]
        state = replace(
            twin.properties.get(name, PropertyState()),
            ack_version=int(data["version"]),
            ack_code=data.get("code"),
            ack_description=data.get("description"),
            last_updated=event.time,
        )
        return replace(out, properties=_with(twin.properties, name, state))
    if event.type is EventType.TELEMETRY_RECEIVED:
        return with_telemetry(out, data["values"], event.time)
    if event.type is EventType.RELATIONSHIP_ADDED:
        edge = RelationshipEdge(
            id=data["id"],
            name=data["name"],
            source=twin.id,
            target=data["target"],
            properties=MappingProxyType(dict(data.get("properties") or {})),
        )
        return replace(out, relationships=_with(twin.relationships, edge.id, edge))
    if event.type is EventType.RELATIONSHIP_REMOVED:
        return replace(out, relationships=_without(twin.relationships, data["id"]))
    if event.type in ALERT_EVENTS:
        alerts = alerts_after(twin.alerts, event.type, event.seq, event.time, data)
        return out if alerts is twin.alerts else replace(out, alerts=alerts)
    return out  # commands, predictions: recorded, no state of their own here


def fold(events: list[Event] | tuple[Event, ...], start: Twin | None = None) -> Twin | None:
    """Apply ``events`` in order to ``start`` (a snapshot, or None for a twin's whole log)."""
    twin = start
    for event in events:
        twin = apply(twin, event)
    return twin

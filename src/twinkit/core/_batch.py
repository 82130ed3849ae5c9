"""One write of the runtime, staged: events, points and touches plus the twins they produce.

A :class:`Batch` works on copies: each staged event is applied at once to a working copy of its
twin, so later steps of the same batch see earlier ones (sequence numbers, "is this value
unchanged?"). Nothing touches the live graph until the store has committed the batch; then
:meth:`Batch.twins` is installed as a whole. Messages are validated before
anything of theirs is staged, so staging never fails half-way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from twinkit.core._events import Event, EventType
from twinkit.core._graph import TwinGraph
from twinkit.core._log import Point, Touch
from twinkit.core._requests import Ack
from twinkit.core._twin import (
    TelemetryValue,
    Twin,
    apply,
    with_derived,
    with_latest,
    with_touch,
)

__all__ = ["Batch"]


@dataclass(slots=True)
class Batch:
    """Staged changes; ``cause`` and ``recorded`` are stamped on every event."""

    graph: TwinGraph
    cause: str
    recorded: float
    events: list[Event] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    touches: list[Touch] = field(default_factory=list)
    published: list[Event] = field(default_factory=list)  # persisted and transient, in order
    twins: dict[str, Twin] = field(default_factory=dict)  # working copies, deleted ones too
    seqs: dict[str, int] = field(default_factory=dict)
    # twin id -> telemetry name -> (time, value): the newest of this batch, made TelemetryValues
    # by finish() (cheap tuples on the hot path; most are overwritten before the batch ends)
    newest: dict[str, dict[str, tuple[float, Any]]] = field(default_factory=dict)
    # twin id -> derived series name -> its newest value of this batch
    newest_derived: dict[str, dict[str, TelemetryValue]] = field(default_factory=dict)

    # --- reading state -------------------------------------------------------------------

    def twin(self, twin_id: str) -> Twin | None:
        """The working state of a live twin (None when it does not exist or was deleted)."""
        twin = self.twins.get(twin_id)
        if twin is None:
            return self.graph.get(twin_id)
        return None if twin.deleted else twin

    def model_of(self, twin_id: str) -> str:
        """The model of a twin this batch touched (deleted in it or not)."""
        twin = self.twins.get(twin_id) or self.graph.get(twin_id)
        assert twin is not None
        return twin.model

    def next_seq(self, twin_id: str) -> int:
        return self.seqs.get(twin_id, self.graph.last_seq(twin_id)) + 1

    # --- staging -------------------------------------------------------------------------

    def record(self, twin_id: str, kind: EventType, data: Mapping[str, Any], time: float) -> Event:
        """Stage a persisted event and apply it to the working copy of its twin."""
        seq = self.next_seq(twin_id)
        event = Event(
            twin_id=twin_id,
            seq=seq,
            type=kind,
            time=time,
            recorded=self.recorded,
            cause=self.cause,
            data=data,
        )
        twin = apply(self.twin(twin_id), event)
        self.seqs[twin_id] = seq
        self.twins[twin_id] = twin
        self.events.append(event)
        self.published.append(event)
        return event

    def report(self, twin: Twin, name: str, value: Any, time: float) -> Twin:
        """A reported property value.

        Every report that is news is also a point of the property's series (its history), so a
        redelivered report, which has the same time, is stored once. A new value is an event;
        an older one (``time`` before the current value's) is history only; the current value
        again only moves ``last_reported`` (a touch).
        """
        state = twin.properties.get(name)
        if state is not None and state.reported_time is not None and time < state.reported_time:
            self.points.append(Point(twin.id, name, time, value))
        elif state is not None and state.has_reported and state.reported == value:
            touched = with_touch(twin, name, time)
            if touched is not twin:
                self.touches.append(Touch(twin.id, name, time))
                self.twins[twin.id] = touched
        else:
            self.points.append(Point(twin.id, name, time, value))
            self.record(twin.id, EventType.PROPERTY_REPORTED, {"name": name, "value": value}, time)
        return self._live(twin.id)

    def acknowledge(self, twin: Twin, name: str, ack: Ack, time: float) -> Twin:
        """A device's acknowledgement of a desired version; a repeated or stale one is no news."""
        state = twin.properties.get(name)
        if state is not None and (
            ack.version < state.ack_version
            or (ack.version == state.ack_version and ack.code == state.ack_code)
        ):
            return twin
        data = {
            "name": name,
            "version": ack.version,
            "code": ack.code,
            "description": ack.description,
        }
        self.record(twin.id, EventType.DESIRED_PROPERTY_ACKNOWLEDGED, data, time)
        return self._live(twin.id)

    def telemetry(self, twin: Twin, values: dict[str, Any], time: float) -> None:
        """Telemetry: points for history, the newest values on the twin, a transient event.

        The newest values are gathered per twin and put on the twin once, by :meth:`finish`.
        """
        twin_id = twin.id
        self.points.extend([Point(twin_id, name, time, value) for name, value in values.items()])
        newest = self.newest.get(twin_id)
        if newest is None:
            newest = self.newest[twin_id] = {}
        current = twin.telemetry
        for name, value in values.items():
            known = newest.get(name)
            if known is None:
                latest = current.get(name)
                if latest is None or time > latest.time:
                    newest[name] = (time, value)
            elif time > known[0]:
                newest[name] = (time, value)
        self.published.append(
            Event(
                twin_id=twin_id,
                seq=twin.version,
                type=EventType.TELEMETRY_RECEIVED,
                time=time,
                recorded=self.recorded,
                cause=self.cause,
                data={"values": values},
            )
        )

    def derived(self, twin: Twin, kind: str, values: Mapping[str, float], time: float) -> None:
        """Derived values (checked by the caller): points of the series ``"<kind>:<name>"``,
        the newest on the twin (by :meth:`finish`), a transient ``ValuesDerived`` event."""
        names = {name: f"{kind}:{name}" for name in values}
        self.points.extend(
            [Point(twin.id, names[name], time, value) for name, value in values.items()]
        )
        newest = self.newest_derived.setdefault(twin.id, {})
        for name, value in values.items():
            known = newest.get(names[name])
            if known is None or time > known.time:
                newest[names[name]] = TelemetryValue(value, time)
        self.published.append(
            Event(
                twin_id=twin.id,
                seq=twin.version,
                type=EventType.VALUES_DERIVED,
                time=time,
                recorded=self.recorded,
                cause=self.cause,
                data={"kind": kind, "values": dict(values)},
            )
        )

    def finish(self) -> None:
        """Put the gathered newest telemetry and derived values on the working twins (before
        they are installed)."""
        for twin_id, newest in self.newest.items():
            twin = self.twin(twin_id)
            if twin is not None and newest:
                latest = {
                    name: TelemetryValue(value, time) for name, (time, value) in newest.items()
                }
                self.twins[twin_id] = with_latest(twin, latest)
        self.newest.clear()
        for twin_id, derived in self.newest_derived.items():
            twin = self.twin(twin_id)
            if twin is not None and derived:
                self.twins[twin_id] = with_derived(twin, derived)
        self.newest_derived.clear()

    def _live(self, twin_id: str) -> Twin:
        twin = self.twin(twin_id)
        assert twin is not None  # reports never delete
        return twin

"""One write of the runtime, staged: events, points and touches plus the twins they produce.

A :class:`Batch` works on copies: each staged event is applied at once to a working copy of its
twin, so later steps of the same batch see earlier ones (sequence numbers, "is this value
unchanged?"). Nothing touches the live graph until the store has committed the batch; then
:meth:`Batch.twins` is installed as a whole, and the batch's newest telemetry
(:attr:`Batch.latest`) is put on the live twins in place (see :mod:`twinkit.core._graph`). Messages are validated before
anything of theirs is staged, so staging never fails half-way.

Telemetry is the hot path of ingest (one reading per device message, thousands per batch): its
points are kept as columns (:class:`PointColumns`), not as one :class:`Point` object each, and
its transient ``TelemetryReceived`` events are made only when somebody listens to them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, overload

from twinkit.core._events import Event, EventType
from twinkit.core._graph import TwinGraph
from twinkit.core._log import Point, Touch
from twinkit.core._requests import Ack
from twinkit.core._subscribers import Audience
from twinkit.core._twin import (
    TelemetryValue,
    Twin,
    apply,
    with_derived,
    with_touch,
)

__all__ = ["Batch", "PointColumns"]


class PointColumns(Sequence[Point]):
    """Points as four columns (twin ids, names, times, values): a ``Sequence[Point]`` whose
    items are made when read, while a store that knows the class reads the columns."""

    __slots__ = ("names", "replace", "times", "twin_ids", "values")

    def __init__(self, points: Iterable[Point] = ()) -> None:
        # True: a point at a (series, time) already stored replaces it (values twinkit
        # computed, where the newest computation wins); False: it is a redelivery, ignored
        self.replace = False
        self.twin_ids: list[str] = []
        self.names: list[str] = []
        self.times: list[float] = []
        self.values: list[Any] = []
        self.extend(points)

    def add(self, twin_id: str, name: str, time: float, value: Any) -> None:
        self.twin_ids.append(twin_id)
        self.names.append(name)
        self.times.append(time)
        self.values.append(value)

    def add_values(self, twin_id: str, values: Mapping[str, Any], time: float) -> None:
        """One point per entry of ``values`` (name -> value), all of one twin and time."""
        count = len(values)
        self.twin_ids.extend(repeat(twin_id, count))
        self.names.extend(values)
        self.times.extend(repeat(time, count))
        self.values.extend(values.values())

    def append(self, point: Point) -> None:
        self.add(point.twin_id, point.name, point.time, point.value)

    def extend(self, points: Iterable[Point]) -> None:
        for point in points:
            self.add(point.twin_id, point.name, point.time, point.value)

    def __len__(self) -> int:
        return len(self.times)

    @overload
    def __getitem__(self, index: int) -> Point: ...

    @overload
    def __getitem__(self, index: slice) -> list[Point]: ...

    def __getitem__(self, index: int | slice) -> Point | list[Point]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return Point(self.twin_ids[index], self.names[index], self.times[index], self.values[index])

    def __iter__(self) -> Iterator[Point]:
        return map(Point, self.twin_ids, self.names, self.times, self.values)

    def __repr__(self) -> str:
        return f"PointColumns({list(self)!r})"


@dataclass(slots=True)
class Batch:
    """Staged changes; ``cause`` and ``recorded`` are stamped on every event.

    ``telemetry_events`` says for which twins to stage ``TelemetryReceived`` events: those
    somebody listens to (one event per reading is most of the cost of staging); None: all.
    """

    graph: TwinGraph
    cause: str
    recorded: float
    telemetry_events: Audience | None = None
    events: list[Event] = field(default_factory=list)
    points: PointColumns = field(default_factory=PointColumns)
    touches: list[Touch] = field(default_factory=list)
    published: list[Event] = field(default_factory=list)  # persisted and transient, in order
    twins: dict[str, Twin] = field(default_factory=dict)  # working copies, deleted ones too
    seqs: dict[str, int] = field(default_factory=dict)
    # twin id -> telemetry name -> (time, value): the newest values of this batch (cheap tuples
    # on the hot path; most are overwritten before the batch ends), made TelemetryValues in
    # `latest` by finish(), for the graph to put on its live twins once the batch is committed
    newest: dict[str, dict[str, tuple[float, Any]]] = field(default_factory=dict)
    latest: dict[str, dict[str, TelemetryValue]] = field(default_factory=dict)
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
            self.points.add(twin.id, name, time, value)
        elif state is not None and state.has_reported and state.reported == value:
            touched = with_touch(twin, name, time)
            if touched is not twin:
                self.touches.append(Touch(twin.id, name, time))
                self.twins[twin.id] = touched
        else:
            self.points.add(twin.id, name, time, value)
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

    def telemetry(self, twin: Twin, values: Mapping[str, Any], time: float) -> None:
        """Telemetry: points for history, the newest values on the twin, a transient event.

        The newest values are gathered per twin and put on the twin once, by :meth:`finish`.
        """
        twin_id = twin.id
        self.points.add_values(twin_id, values, time)
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
        audience = self.telemetry_events
        if audience is None or audience.hears(twin_id, twin.model):
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
        the newest on the twin (by :meth:`finish`), a transient ``ValuesDerived`` event. Values
        for a time that has some already replace them (a new model version answering for the
        same row): the batch's points then all replace, so a batch of derived values holds
        nothing else (``Runtime.record_derived``)."""
        names = {name: f"{kind}:{name}" for name in values}
        self.points.replace = True  # computed again for a time: the newest answer wins
        for name, value in values.items():
            self.points.add(twin.id, names[name], time, value)
        newest = self.newest_derived.setdefault(twin.id, {})
        for name, value in values.items():
            known = newest.get(names[name])
            if known is None or time >= known.time:
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
        """Make the gathered newest telemetry :attr:`latest` (for the graph, after the commit);
        put the derived values on the working twins (before they are installed)."""
        twins = self.twins
        latest = self.latest
        for twin_id, newest in self.newest.items():
            if newest:
                latest[twin_id] = {
                    name: TelemetryValue(value, time) for name, (time, value) in newest.items()
                }
        self.newest.clear()
        for twin_id, derived in self.newest_derived.items():
            live = self.twin(twin_id)
            if live is not None and derived:
                twins[twin_id] = with_derived(live, derived)
        self.newest_derived.clear()

    def _live(self, twin_id: str) -> Twin:
        twin = self.twin(twin_id)
        assert twin is not None  # reports never delete
        return twin

"""Time travel: a twin, or the whole graph, as it was at any time T; what changed between two
times; the history of one property with who changed it.

The state of a twin as of T is the fold (:func:`twinkit.core.apply`) of its events whose
*event time* (when it happened, a device's timestamp where one came) is at or before T, in
``seq`` order, started from the newest history snapshot folded only from such events. A twin
id deleted and created again has several *incarnations*; the one alive at T is the one created
at or before T and not deleted at or before T. Latest telemetry as of T is the newest point at
or before T of each of that incarnation's telemetry series (series of a deleted incarnation are
kept under ``<id>@deleted:<seq of its deletion>``).

Everything here reads through a :class:`HistoryStore` (``SQLiteStore`` is one), whose reads
run on read-only connections beside ingest. Times are float seconds since the epoch (UTC);
aware datetimes and ISO 8601 strings with an offset are accepted too.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, Protocol, TypeVar

from twinkit.core import (
    Ack,
    Event,
    EventType,
    Point,
    PropertyState,
    RelationshipEdge,
    TelemetryValue,
    Twin,
)
from twinkit.errors import ValidationError
from twinkit.model import ModelSet, ModelValidator, compile_validator
from twinkit.model.dtdl import parse
from twinkit.query._timetravel_fold import Working, working_as_of
from twinkit.store._sqlite_history import TwinRows, without_gc

__all__ = [
    "Change",
    "ChangeKind",
    "GraphState",
    "HistoryStore",
    "PropertyChange",
    "PropertyChangeKind",
    "Time",
    "diff",
    "graph_as_of",
    "property_history",
    "twin_as_of",
]

logger = logging.getLogger(__name__)

_R = TypeVar("_R")

Time = float | int | datetime | str
"""A point in time: seconds since the epoch, an aware datetime, or an ISO 8601 string."""

MAX_PAGE: Final = 10_000
"""The most property changes one :func:`property_history` call returns."""


class HistoryStore(Protocol):
    """The reads time travel needs from a store (:class:`~twinkit.store.SQLiteStore` has them)."""

    async def twin_rows_as_of(self, twin_id: str, at: float) -> TwinRows: ...

    async def graph_rows_as_of(
        self, at: float, twin_ids: Sequence[str] | None = None
    ) -> list[TwinRows]: ...

    async def changed_twin_ids(self, start: float, end: float) -> list[str]: ...

    async def points_as_of(self, series_twin_ids: Sequence[str], at: float) -> list[Point]: ...

    async def property_events(
        self,
        twin_id: str,
        name: str,
        *,
        start: float,
        end: float,
        limit: int,
        newest_first: bool,
        after: tuple[float, int] | None = None,
    ) -> list[Event]: ...

    async def models(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class GraphState:
    """Every twin alive at ``time``, by id, with its relationships and latest telemetry then."""

    time: float
    twins: Mapping[str, Twin]

    def relationships(self) -> list[RelationshipEdge]:
        """Every relationship of the graph at ``time``, by source then relationship id."""
        return [
            edge
            for twin_id in sorted(self.twins)
            for _, edge in sorted(self.twins[twin_id].relationships.items())
        ]


class ChangeKind(StrEnum):
    """What a :class:`Change` is about (``before``/``after`` hold values of that kind)."""

    TWIN_CREATED = "twin_created"  # after: the Twin
    TWIN_DELETED = "twin_deleted"  # before: the Twin
    REPORTED = "reported"  # the reported value (None: none reported)
    DESIRED = "desired"  # the desired value (None: never set)
    ACKNOWLEDGED = "acknowledged"  # an Ack (None: none yet)
    RELATIONSHIP_ADDED = "relationship_added"  # after: the RelationshipEdge
    RELATIONSHIP_REMOVED = "relationship_removed"  # before: the RelationshipEdge
    RELATIONSHIP_CHANGED = "relationship_changed"  # same id, other target or properties


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two times. ``name`` is the property name or relationship id
    (None for a whole twin)."""

    kind: ChangeKind
    twin_id: str
    name: str | None
    before: Any
    after: Any


class PropertyChangeKind(StrEnum):
    REPORTED = "reported"  # a reported value (also the initial value at creation)
    REMOVED = "removed"  # the reported value was removed
    DESIRED = "desired"  # a desired value was set (``version`` is its desired version)
    ACKNOWLEDGED = "acknowledged"  # the device answered desired ``version`` with ``code``


@dataclass(frozen=True, slots=True)
class PropertyChange:
    """One change of one property: what, when (``time``: when it happened; ``recorded``: when
    twinkit accepted it) and who (``cause``: ``token:<id>``, ``connector:<name>``, ...)."""

    twin_id: str
    name: str
    kind: PropertyChangeKind
    time: float
    seq: int
    recorded: float
    cause: str
    value: Any = None
    version: int | None = None
    code: int | None = None
    description: str | None = None

    @property
    def cursor(self) -> tuple[float, int]:
        """Pass as ``after=`` to :func:`property_history` for the next page."""
        return (self.time, self.seq)


# -- time -------------------------------------------------------------------------------------


def seconds(value: Time, what: str = "time") -> float:
    """``value`` as float seconds since the epoch (a datetime or ISO string without a zone is
    UTC, as everywhere in twinkit); ValidationError for a malformed string or a value that is
    not finite."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as err:
            raise ValidationError(
                "malformed time",
                path=what,
                expected="an ISO 8601 time (UTC unless it has an offset)",
                got=value,
            ) from err
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(
            "not a time", path=what, expected="finite seconds since the epoch", got=value
        )
    return float(value)


# -- the fold ---------------------------------------------------------------------------------


class _Kinds:
    """Which series names are telemetry, per model (validators compiled once)."""

    def __init__(self, models: ModelSet) -> None:
        self._models = models
        self._validators: dict[str, ModelValidator | None] = {}

    def is_telemetry(self, model_id: str, name: str) -> bool:
        if model_id not in self._validators:
            known = model_id in self._models
            self._validators[model_id] = (
                compile_validator(self._models, model_id) if known else None
            )
        validator = self._validators[model_id]
        return validator is not None and validator.kind(name) == "telemetry"


async def _model_set(store: HistoryStore, models: ModelSet | None) -> ModelSet:
    if models is not None:
        return models
    documents = await store.models()
    return parse(documents) if documents else ModelSet()


async def _with_telemetry(
    store: HistoryStore, alive: Sequence[tuple[Working, str]], at: float, models: ModelSet
) -> dict[str, Twin]:
    """The twins, frozen with their latest telemetry as of ``at`` (from their series)."""
    by_series = {series_id: work for work, series_id in alive}
    points = await store.points_as_of(list(by_series), at)
    return await _off_loop(_frozen, alive, points, by_series, models)


async def _off_loop(work: Callable[..., _R], *args: Any) -> _R:
    """Run CPU-bound folding on a worker thread (the cycle collector paused), so a server's
    event loop keeps serving ingest and requests while a 100k-twin graph is built."""

    def run() -> _R:
        with without_gc():
            return work(*args)

    return await asyncio.to_thread(run)


def _alive(graph: Sequence[Any], at: float) -> list[tuple[Working, str]]:
    return [found for rows in graph if (found := working_as_of(rows, at)) is not None]


def _thawed(alive: Sequence[tuple[Working, str]]) -> dict[str, Twin]:
    return {work.id: work.twin() for work, _ in alive}


def _frozen(
    alive: Sequence[tuple[Working, str]],
    points: Sequence[Point],
    by_series: Mapping[str, Working],
    models: ModelSet,
) -> dict[str, Twin]:
    newest: dict[str, dict[str, TelemetryValue]] = {}
    kinds = _Kinds(models)
    for point in points:
        work = by_series[point.twin_id]
        if kinds.is_telemetry(work.model, point.name):
            values = newest.get(work.id)
            if values is None:
                values = newest[work.id] = {}
            values[point.name] = TelemetryValue(point.value, point.time)
    empty: Mapping[str, TelemetryValue] = MappingProxyType({})
    return {
        work.id: work.twin(MappingProxyType(newest[work.id]) if work.id in newest else empty)
        for work, _ in alive
    }


# -- the public API ---------------------------------------------------------------------------


async def twin_as_of(
    store: HistoryStore, twin_id: str, at: Time, *, models: ModelSet | None = None
) -> Twin | None:
    """The twin as it was at ``at``, latest telemetry included; None when it did not exist then
    (created later, or deleted at or before ``at``). ``models`` (e.g. ``runtime.models``)
    saves reading them from the store."""
    when = seconds(at, "at")
    found = working_as_of(await store.twin_rows_as_of(twin_id, when), when)
    if found is None:
        return None
    twins = await _with_telemetry(store, [found], when, await _model_set(store, models))
    return twins[twin_id]


async def graph_as_of(
    store: HistoryStore,
    at: Time,
    *,
    models: ModelSet | None = None,
    telemetry: bool = True,
) -> GraphState:
    """Every twin alive at ``at``, relationships included; with ``telemetry`` (the default)
    each twin's latest telemetry as of ``at`` too."""
    when = seconds(at, "at")
    return await _graph(store, when, None, models, telemetry=telemetry)


async def _graph(
    store: HistoryStore,
    at: float,
    twin_ids: Sequence[str] | None,
    models: ModelSet | None,
    *,
    telemetry: bool,
) -> GraphState:
    graph = await store.graph_rows_as_of(at, twin_ids)
    alive = await _off_loop(_alive, graph, at)
    del graph
    if telemetry:
        twins = await _with_telemetry(store, alive, at, await _model_set(store, models))
    else:
        twins = await _off_loop(_thawed, alive)
    return GraphState(at, MappingProxyType(twins))


async def diff(
    store: HistoryStore, start: Time, end: Time, *, twin_id: str | None = None
) -> list[Change]:
    """What changed between ``start`` and ``end`` (twins, properties, relationships), for one
    twin or the whole graph, by twin id. Telemetry is left out: its history is the series.

    ``end`` before ``start`` gives the changes that lead back from ``start`` to ``end``.
    """
    first, last = seconds(start, "start"), seconds(end, "end")
    low, high = min(first, last), max(first, last)
    if twin_id is not None:
        ids = [twin_id]
    else:
        ids = await store.changed_twin_ids(low, high)  # no event in (low, high]: no change
    if not ids:
        return []
    before = await _graph(store, first, ids, None, telemetry=False)
    after = await _graph(store, last, ids, None, telemetry=False)
    changes: list[Change] = []
    for tid in ids:
        changes.extend(twin_changes(tid, before.twins.get(tid), after.twins.get(tid)))
    return changes


def twin_changes(twin_id: str, before: Twin | None, after: Twin | None) -> list[Change]:
    """The differences between two states of one twin (None: it did not exist)."""
    if before is not None and after is not None and before.created != after.created:
        return [  # deleted and created again in between
            Change(ChangeKind.TWIN_DELETED, twin_id, None, before, None),
            Change(ChangeKind.TWIN_CREATED, twin_id, None, None, after),
        ]
    if before is None or after is None:
        if before is after:
            return []
        kind = ChangeKind.TWIN_CREATED if before is None else ChangeKind.TWIN_DELETED
        return [Change(kind, twin_id, None, before, after)]
    return _property_changes(twin_id, before, after) + _edge_changes(twin_id, before, after)


def _property_changes(twin_id: str, before: Twin, after: Twin) -> list[Change]:
    changes = []
    for name in sorted(before.properties.keys() | after.properties.keys()):
        old, new = before.properties.get(name), after.properties.get(name)
        reported = [s.reported if s is not None and s.has_reported else None for s in (old, new)]
        has = [s is not None and s.has_reported for s in (old, new)]
        if has[0] != has[1] or reported[0] != reported[1]:
            changes.append(Change(ChangeKind.REPORTED, twin_id, name, *reported))
        desired = [(s.desired, s.desired_version) if s else (None, 0) for s in (old, new)]
        if desired[0] != desired[1]:
            changes.append(Change(ChangeKind.DESIRED, twin_id, name, desired[0][0], desired[1][0]))
        acks = [_ack(s) for s in (old, new)]
        if acks[0] != acks[1]:
            changes.append(Change(ChangeKind.ACKNOWLEDGED, twin_id, name, *acks))
    return changes


def _ack(state: PropertyState | None) -> Ack | None:
    if state is None or state.ack_version == 0:
        return None
    code = -1 if state.ack_code is None else state.ack_code  # None never follows a version
    return Ack(state.ack_version, code, state.ack_description)


def _edge_changes(twin_id: str, before: Twin, after: Twin) -> list[Change]:
    changes = []
    old, new = before.relationships, after.relationships
    for key in sorted(old.keys() | new.keys()):
        edge_before, edge_after = old.get(key), new.get(key)
        if edge_before == edge_after:
            continue
        if edge_before is None:
            kind = ChangeKind.RELATIONSHIP_ADDED
        elif edge_after is None:
            kind = ChangeKind.RELATIONSHIP_REMOVED
        else:
            kind = ChangeKind.RELATIONSHIP_CHANGED
        changes.append(Change(kind, twin_id, key, edge_before, edge_after))
    return changes


async def property_history(
    store: HistoryStore,
    twin_id: str,
    name: str,
    *,
    start: Time | None = None,
    end: Time | None = None,
    limit: int = 100,
    newest_first: bool = True,
    after: tuple[float, int] | None = None,
) -> list[PropertyChange]:
    """Changes of property ``name`` of ``twin_id`` with ``start <= time < end``: reported values
    (the initial one at creation included) and removals, desired values, acknowledgements, each
    with who made it. At most ``limit`` (up to :data:`MAX_PAGE`); for the next page pass the
    last one's :attr:`~PropertyChange.cursor` as ``after``.

    Reports older than the value the twin had when they came are kept as points of the
    property's series only (see :func:`twinkit.store.SQLiteStore.points`), not here.
    """
    _check_name(name)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_PAGE:
        raise ValidationError(
            "bad page size", path="limit", expected=f"an integer in 1..{MAX_PAGE}", got=limit
        )
    low = -math.inf if start is None else seconds(start, "start")
    high = math.inf if end is None else seconds(end, "end")
    events = await store.property_events(
        twin_id,
        name,
        start=low,
        end=high,
        limit=limit,
        newest_first=newest_first,
        after=None if after is None else (seconds(after[0], "after[0]"), int(after[1])),
    )
    return [_property_change(event, name) for event in events]


def _check_name(name: str) -> None:
    if not (isinstance(name, str) and name and name.isascii() and name.replace("_", "a").isalnum()):
        raise ValidationError(
            "bad property name",
            path="name",
            expected="a DTDL content name (letters, digits and underscores)",
            got=name,
        )


def _property_change(event: Event, name: str) -> PropertyChange:
    data = event.data
    change = functools.partial(
        PropertyChange,
        event.twin_id,
        name,
        time=event.time,
        seq=event.seq,
        recorded=event.recorded,
        cause=event.cause,
    )
    if event.type is EventType.TWIN_CREATED:
        return change(PropertyChangeKind.REPORTED, value=data["properties"][name])
    if event.type is EventType.PROPERTY_REPORTED:
        if data.get("removed"):
            return change(PropertyChangeKind.REMOVED)
        return change(PropertyChangeKind.REPORTED, value=data["value"])
    if event.type is EventType.DESIRED_PROPERTY_SET:
        return change(PropertyChangeKind.DESIRED, value=data["value"], version=int(data["version"]))
    return change(
        PropertyChangeKind.ACKNOWLEDGED,
        version=int(data["version"]),
        code=data.get("code"),
        description=data.get("description"),
    )

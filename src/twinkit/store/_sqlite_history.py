"""The SQL of time travel: what the SQLite store keeps of the past, read back by time.

A twin's state as of a time T is the fold of its events whose (event) time is at or before T.
Event times need not grow with ``seq`` (devices stamp their own readings), so
``snapshot_history.time`` is the latest event time folded into a snapshot: a snapshot with
``time <= T`` holds only events at or before T and can start the fold, and the events after
its version are filtered by time. The fold itself (and which incarnation of a deleted and
re-created twin was alive at T) is :mod:`twinkit.query._timetravel`'s job; this module reads
the rows it needs, in a few set-based statements for the whole graph.

A snapshot of the history is the *pure fold of the logged events*: no latest telemetry (that
history is the points) and no touches (a repeated report moves ``last_reported`` without an
event, so it has no place in the past). :func:`history_snapshot` computes it from the previous
one and the events since, whatever state the runtime handed to ``save_snapshot``.

Every function takes a connection and runs on whichever thread owns it: the writer's for
:func:`history_snapshot`, a reader's (``SQLiteStore.read``) for the rest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import orjson

from twinkit.core import (
    Event,
    EventType,
    Point,
    TelemetryValue,
    Twin,
    apply,
    twin_to_json,
)
from twinkit.errors import StoreError
from twinkit.store._sqlite_codec import decode_event, decode_snapshot, dumps, point_value

__all__ = [
    "PROPERTY_EVENT_TYPES",
    "TwinRows",
    "changed_twin_ids",
    "graph_rows",
    "history_snapshot",
    "points_as_of",
    "property_events",
    "twin_rows",
    "without_gc",
]

logger = logging.getLogger(__name__)

_LIFECYCLE: Final = "('TwinCreated', 'TwinDeleted')"
_EVENT_COLUMNS: Final = "e.twin_id, e.seq, e.type, e.time, e.recorded, e.cause, e.data"
_ROW_COLUMNS: Final = "e.twin_id, e.seq, e.type, e.time, e.data"  # an EventRow

# -- snapshots of the history (writer thread) ---------------------------------------------

SELECT_PREVIOUS_HISTORY: Final = (
    "SELECT version, time, data FROM snapshot_history "
    "WHERE twin_id = ? AND version < ? ORDER BY version DESC LIMIT 1"
)
SELECT_HISTORY_VERSION: Final = "SELECT 1 FROM snapshot_history WHERE twin_id = ? AND version = ?"
SELECT_EVENT_RANGE: Final = (
    f"SELECT {_EVENT_COLUMNS} FROM events e "
    "WHERE e.twin_id = ? AND e.seq > ? AND e.seq <= ? ORDER BY e.seq"
)

# -- one twin -------------------------------------------------------------------------------

# The newest snapshot folded only from events at or before T: the twin's snapshot rows from its
# newest version down, stopping at the first one old enough (one primary-key range).
SELECT_TWIN_SNAPSHOT: Final = (
    "SELECT version, data FROM snapshot_history "
    "WHERE twin_id = ? AND time <= ? ORDER BY version DESC LIMIT 1"
)
# Events after the snapshot that the fold may need: those at or before T, and every creation
# and deletion (whose times say which incarnation of the id was alive at T).
SELECT_TWIN_EVENTS: Final = (
    f"SELECT {_ROW_COLUMNS} FROM events e WHERE e.twin_id = ? AND e.seq > ? "
    f"AND (e.time <= ? OR e.type IN {_LIFECYCLE}) ORDER BY e.seq"
)

# -- the whole graph --------------------------------------------------------------------------

# Per twin, the newest snapshot with time <= T: one pass over snapshot_history. SQLite takes a
# bare column (`data`) from the row that gave max(version).
SELECT_GRAPH_SNAPSHOTS: Final = (
    "SELECT twin_id, max(version), data FROM snapshot_history WHERE time <= :at GROUP BY twin_id"
)
# Every twin id is enumerated by index probes (a skip scan written out), then each twin's events
# after its chosen snapshot are one range of the events' primary key: the events the snapshots
# already hold are never read. No ORDER BY: rows come by twin and seq as the loops run, which
# graph_rows checks instead of paying for a sort of every row.
SELECT_GRAPH_EVENTS: Final = f"""
WITH RECURSIVE ids (id) AS (
    SELECT (SELECT min(twin_id) FROM events)
    UNION ALL
    SELECT (SELECT min(twin_id) FROM events WHERE twin_id > ids.id) FROM ids
    WHERE ids.id IS NOT NULL
),
chosen (twin_id, version) AS MATERIALIZED (
    SELECT twin_id, max(version) FROM snapshot_history WHERE time <= :at GROUP BY twin_id
)
SELECT {_ROW_COLUMNS}
FROM ids JOIN events e ON e.twin_id = ids.id
    AND e.seq > coalesce((SELECT version FROM chosen WHERE chosen.twin_id = ids.id), 0)
WHERE ids.id IS NOT NULL AND (e.time <= :at OR e.type IN {_LIFECYCLE})
"""
# The same for some twins only (a JSON array of ids).
SELECT_SOME_SNAPSHOTS: Final = """
SELECT h.twin_id, max(h.version), h.data
FROM json_each(:ids) AS ids JOIN snapshot_history h ON h.twin_id = ids.value
WHERE h.time <= :at GROUP BY h.twin_id
"""
SELECT_SOME_EVENTS: Final = f"""
SELECT {_ROW_COLUMNS}
FROM json_each(:ids) AS ids JOIN events e ON e.twin_id = ids.value
    AND e.seq > coalesce((SELECT max(version) FROM snapshot_history h
                          WHERE h.twin_id = ids.value AND h.time <= :at), 0)
WHERE e.time <= :at OR e.type IN {_LIFECYCLE}
"""
# Twins with an event in (start, end]: the only ones whose state differs between the two times.
SELECT_CHANGED_IDS: Final = (
    "SELECT DISTINCT twin_id FROM events WHERE time > ? AND time <= ? ORDER BY twin_id"
)

# -- telemetry as of T --------------------------------------------------------------------------

# The newest point at or before T of every series of some series twin ids (a JSON array): two
# primary-key probes per series, as the engine's SELECT_LATEST.
SELECT_POINTS_AS_OF: Final = """
SELECT s.twin_id, s.name, p.time, p.value, p.data
FROM json_each(:ids) AS ids JOIN series s ON s.twin_id = ids.value
JOIN points p ON p.series_id = s.id
    AND p.time = (SELECT max(time) FROM points WHERE series_id = s.id AND time <= :at)
ORDER BY s.twin_id, s.name
"""

# -- the history of one property ----------------------------------------------------------------

PROPERTY_EVENT_TYPES: Final = (
    EventType.PROPERTY_REPORTED,
    EventType.DESIRED_PROPERTY_SET,
    EventType.DESIRED_PROPERTY_ACKNOWLEDGED,
)
# One range of the twin's events. `instr` on the stored bytes (orjson writes `"name":"x"`
# without spaces) rejects almost every other event before JSON is parsed; json_extract then
# decides exactly. A creation carries the initial reported values under `properties`.
_PROPERTY_EVENTS: Final = """
SELECT e.seq, e.type, e.time, e.recorded, e.cause, e.data FROM events e
WHERE e.twin_id = :twin AND e.time >= :start AND e.time < :end
    AND ((e.type IN ('PropertyReported', 'DesiredPropertySet', 'DesiredPropertyAcknowledged')
          AND instr(e.data, :needle) > 0
          AND json_extract(CAST(e.data AS TEXT), '$.name') = :name)
      OR (e.type = 'TwinCreated'
          AND json_type(CAST(e.data AS TEXT), :created_path) IS NOT NULL))
"""
SELECT_PROPERTY_NEWEST: Final = (
    _PROPERTY_EVENTS + "AND (e.time, e.seq) < (:time, :seq) "
    "ORDER BY e.time DESC, e.seq DESC LIMIT :limit"
)
SELECT_PROPERTY_OLDEST: Final = (
    _PROPERTY_EVENTS + "AND (e.time, e.seq) > (:time, :seq) ORDER BY e.time, e.seq LIMIT :limit"
)

_NO_TELEMETRY: Final[Mapping[str, TelemetryValue]] = MappingProxyType({})


EventRow = tuple[str, int, str, float, bytes]
"""A stored event as time travel folds it: ``(twin_id, seq, type, time, data)``, ``data`` the
orjson bytes of its payload. Rows, not :class:`~twinkit.core.Event` objects: a whole graph is
hundreds of thousands of them, and building an Event costs more than folding it."""


@dataclass(frozen=True, slots=True)
class TwinRows:
    """What the fold of one twin as of T starts from: the newest snapshot of the history with
    time <= T (None: fold from the first event), and the events after it that may matter (at or
    before T, plus every creation and deletion), by seq."""

    twin_id: str
    snapshot: Twin | None
    events: Sequence[EventRow]


@contextlib.contextmanager
def without_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a large past is built.

    Building a graph of 100k twins allocates millions of objects that all stay alive; each
    generation-2 collection on the way walks all of them again, which doubled the time of
    ``graph_as_of`` (measured: 5.4 s of CPU against 2.7 s). Reference counting still frees
    everything as usual. Process-wide, as the collector is; it is switched back on only if it
    was on, so nested or concurrent uses leave it as they found it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def history_snapshot(
    conn: sqlite3.Connection, twin_id: str, version: int
) -> tuple[float, bytes] | None:
    """``(time, data)`` of the history snapshot of ``twin_id`` at ``version``: the previous one
    folded on with the events since, ``time`` the latest event time in it.

    None (and a warning) when the log does not reach ``version``: a snapshot saved without
    its events has no place in the history, which is only a shortcut through the events.
    """
    previous = conn.execute(SELECT_PREVIOUS_HISTORY, (twin_id, version)).fetchone()
    state: Twin | None = None
    time = -float("inf")
    since = 0
    if previous is not None:
        since, time, data = previous
        state = _twin_from(twin_id, since, data)
    rows = conn.execute(SELECT_EVENT_RANGE, (twin_id, since, version)).fetchall()
    if not rows or rows[-1][1] != version or (state is None and rows[0][2] != "TwinCreated"):
        logger.warning(
            "no history snapshot of twin %r at version %d: expected its events up to seq %d "
            "in the log, got %d of them after seq %d",
            twin_id, version, version, len(rows), since,
        )  # fmt: skip
        return None
    try:
        for row in rows:
            event = _event(row)
            state = apply(state, event)
            time = max(time, event.time)
    except (ValueError, KeyError, TypeError) as err:
        raise StoreError(
            f"the event log of twin {twin_id!r} cannot be folded up to version {version}: "
            f"expected a TwinCreated first and well-formed events, got {err!r}"
        ) from err
    assert state is not None  # rows is not empty
    pure = dataclasses.replace(state, telemetry=_NO_TELEMETRY)
    return time, dumps(twin_to_json(pure))


def has_history_snapshot(conn: sqlite3.Connection, twin_id: str, version: int) -> bool:
    return conn.execute(SELECT_HISTORY_VERSION, (twin_id, version)).fetchone() is not None


def twin_rows(conn: sqlite3.Connection, twin_id: str, at: float) -> TwinRows:
    """The snapshot and events the state of one twin as of ``at`` is folded from."""
    row = conn.execute(SELECT_TWIN_SNAPSHOT, (twin_id, at)).fetchone()
    snapshot = None if row is None else _twin_from(twin_id, row[0], row[1])
    since = 0 if row is None else row[0]
    return TwinRows(
        twin_id, snapshot, conn.execute(SELECT_TWIN_EVENTS, (twin_id, since, at)).fetchall()
    )


def graph_rows(
    conn: sqlite3.Connection, at: float, twin_ids: Sequence[str] | None = None
) -> list[TwinRows]:
    """:func:`twin_rows` of every twin ever created (or of ``twin_ids``), in two statements,
    by twin id."""
    if twin_ids is None:
        params: dict[str, Any] = {"at": at}
        snapshot_sql, events_sql = SELECT_GRAPH_SNAPSHOTS, SELECT_GRAPH_EVENTS
    else:
        params = {"at": at, "ids": orjson.dumps(list(twin_ids)).decode()}
        snapshot_sql, events_sql = SELECT_SOME_SNAPSHOTS, SELECT_SOME_EVENTS
    with without_gc():
        snapshots = {
            tid: _twin_from(tid, version, data)
            for tid, version, data in conn.execute(snapshot_sql, params)
        }
        by_twin, unordered = _by_twin(conn.execute(events_sql, params))
    if unordered:  # not how SQLite runs these statements, but nothing promises the order
        for events in by_twin.values():
            events.sort(key=lambda row: row[1])
    ids = snapshots.keys() | by_twin.keys()
    return [TwinRows(tid, snapshots.get(tid), by_twin.get(tid, [])) for tid in sorted(ids)]


def _by_twin(rows: Iterable[EventRow]) -> tuple[dict[str, list[EventRow]], bool]:
    """Rows grouped by twin, and whether they came out of (twin, seq) order."""
    by_twin: dict[str, list[EventRow]] = {}
    unordered = False
    last: EventRow | None = None
    for row in rows:
        events = by_twin.get(row[0])
        if events is None:
            events = by_twin[row[0]] = []
        elif last is not None and (last[0] != row[0] or last[1] > row[1]):
            unordered = True
        events.append(row)
        last = row
    return by_twin, unordered


def changed_twin_ids(conn: sqlite3.Connection, start: float, end: float) -> list[str]:
    """Ids of the twins with an event whose time is in ``(start, end]``."""
    return [tid for (tid,) in conn.execute(SELECT_CHANGED_IDS, (start, end))]


def points_as_of(
    conn: sqlite3.Connection, series_twin_ids: Sequence[str], at: float
) -> list[Point]:
    """The newest point at or before ``at`` of every series of ``series_twin_ids`` that has one.

    The series of a deleted twin carry ``<id>@deleted:<seq>`` (its deletion's seq) as their
    twin id, and so do the points returned for them.
    """
    ids = orjson.dumps(list(series_twin_ids)).decode()
    try:
        with without_gc():
            return [
                Point(tid, name, time, point_value(value, data))
                for tid, name, time, value, data in conn.execute(
                    SELECT_POINTS_AS_OF, {"ids": ids, "at": at}
                )
            ]
    except orjson.JSONDecodeError as err:
        raise StoreError(
            f"a point as of {at} is unreadable: expected JSON data, got {err}"
        ) from err


def property_events(
    conn: sqlite3.Connection,
    twin_id: str,
    name: str,
    *,
    start: float,
    end: float,
    limit: int,
    newest_first: bool,
    after: tuple[float, int] | None,
) -> list[Event]:
    """Events of ``twin_id`` that changed property ``name`` (its reported value, desired value or
    acknowledgement, or its initial value at creation), ``start <= time < end``, ordered by
    (time, seq) and continuing after the ``(time, seq)`` of ``after`` in that order."""
    if after is None:
        after = (float("inf"), 0) if newest_first else (-float("inf"), 0)
    params: dict[str, Any] = {
        "twin": twin_id,
        "name": name,
        "needle": b'"name":' + orjson.dumps(name),
        "created_path": "$.properties." + orjson.dumps(name).decode(),
        "start": start,
        "end": end,
        "time": after[0],
        "seq": after[1],
        "limit": limit,
    }
    sql = SELECT_PROPERTY_NEWEST if newest_first else SELECT_PROPERTY_OLDEST
    return [_event((twin_id, *row)) for row in conn.execute(sql, params)]


def _event(row: Sequence[Any]) -> Event:
    return decode_event(row, "the history")


def _twin_from(twin_id: str, version: int, data: bytes) -> Twin:
    return decode_snapshot(twin_id, version, data, "the snapshot history")

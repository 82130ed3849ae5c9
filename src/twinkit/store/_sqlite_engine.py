"""The synchronous half of the SQLite store: one connection, used by one thread only.

:class:`SQLiteEngine` does the SQL of the live data (events, points, touches, snapshots);
:class:`~twinkit.store._sqlite_records.RecordsEngine` that of the models, tokens and dead
letters on the same connection. :class:`~twinkit.store.SQLiteStore` runs every call of them
on its single writer thread. Nothing here is thread-safe, and nothing needs to be: the engine
and its connection never leave that thread.

The connection is in autocommit mode (``isolation_level=None``), so transactions are exactly
the ``BEGIN IMMEDIATE ... COMMIT`` written here. ``IMMEDIATE`` takes the write lock up front:
another process writing to the same file waits (up to the busy timeout) at ``BEGIN`` instead of
failing half-way through a batch.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import orjson

from twinkit.core import (
    Event,
    EventType,
    Point,
    Touch,
    Twin,
    apply,
    twin_to_json,
)
from twinkit.core._batch import PointColumns
from twinkit.errors import ConflictError, StoreError, ValidationError
from twinkit.store._sqlite_codec import decode_event, decode_snapshot, dumps, point_value
from twinkit.store._sqlite_engine_points import (
    INSERT_POINT,
    INSERT_POINT_DATA,
    SeriesIds,
    SeriesKey,
    point_rows,
)
from twinkit.store._sqlite_history import has_history_snapshot, history_snapshot
from twinkit.store._sqlite_index import index_all, sync_index
from twinkit.store._sqlite_rollups import RollupTracker
from twinkit.store._sqlite_schema import migrate

__all__ = [
    "INSERT_POINT",
    "INSERT_POINT_DATA",
    "SELECT_LATEST",
    "SELECT_POINTS",
    "SQLiteEngine",
    "Synchronous",
    "connect",
]

logger = logging.getLogger(__name__)

Synchronous = Literal["NORMAL", "FULL"]

BUSY_TIMEOUT_S: Final = 30.0

RETIRE_SERIES: Final = "UPDATE series SET twin_id = ? WHERE twin_id = ?"
DELETE_TOUCHES: Final = "DELETE FROM touches WHERE twin_id = ?"
DELETE_TOUCH: Final = "DELETE FROM touches WHERE twin_id = ? AND name = ?"
INSERT_EVENT: Final = (
    "INSERT INTO events (twin_id, seq, type, time, recorded, cause, data) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
SELECT_EVENTS: Final = (
    "SELECT seq, type, time, recorded, cause, data FROM events "
    "WHERE twin_id = ? AND seq > ? ORDER BY seq"
)
# One index probe per twin (a skip scan written out), instead of a GROUP BY over every event.
SELECT_LAST_SEQS: Final = """
WITH RECURSIVE twins (id) AS (
    SELECT (SELECT min(twin_id) FROM events)
    UNION ALL
    SELECT (SELECT min(twin_id) FROM events WHERE twin_id > twins.id)
    FROM twins WHERE twins.id IS NOT NULL
)
SELECT id, (SELECT max(seq) FROM events WHERE twin_id = twins.id)
FROM twins WHERE id IS NOT NULL
"""
SELECT_POINTS: Final = (
    "SELECT time, value, data FROM points "
    "WHERE series_id = ? AND time >= ? AND time < ? ORDER BY time LIMIT ?"
)
# The newest point of every series, read where it is kept: two primary-key probes per series
# (its max time, then that point), no scan of the points: 0.27 s for 100k series. It cannot move
# back in time, always agrees with the points, and costs `append` nothing; newest-point columns
# on `series`, kept by one UPDATE per series per batch, cost a quarter of the point throughput
# of bench/store.py (60% more CPU per point) when every batch brings every series.
SELECT_LATEST: Final = """
SELECT series.twin_id, series.name, points.time, points.value, points.data
FROM series JOIN points ON points.series_id = series.id
    AND points.time = (SELECT max(time) FROM points WHERE series_id = series.id)
ORDER BY series.twin_id, series.name
"""
UPSERT_TOUCH: Final = (
    "INSERT INTO touches (twin_id, name, time) VALUES (?, ?, ?) "
    "ON CONFLICT (twin_id, name) DO UPDATE SET time = excluded.time "
    "WHERE excluded.time > touches.time"
)
SELECT_TOUCHES: Final = "SELECT twin_id, name, time FROM touches ORDER BY twin_id, name"
# A snapshot older than the one kept (a slow writer, a replay) does not replace it.
UPSERT_SNAPSHOT: Final = (
    "INSERT INTO snapshots (twin_id, version, data) VALUES (?, ?, ?) "
    "ON CONFLICT (twin_id) DO UPDATE SET version = excluded.version, data = excluded.data "
    "WHERE excluded.version >= snapshots.version"
)
SELECT_SNAPSHOT: Final = "SELECT version, data FROM snapshots WHERE twin_id = ?"
SELECT_ALL_SNAPSHOTS: Final = "SELECT twin_id, version, data FROM snapshots"
SELECT_UNSNAPSHOTTED_EVENTS: Final = (
    "SELECT e.twin_id, e.seq, e.type, e.time, e.recorded, e.cause, e.data FROM events e "
    "LEFT JOIN snapshots s ON s.twin_id = e.twin_id "
    "WHERE e.seq > coalesce(s.version, 0) ORDER BY e.twin_id, e.seq"
)
_INDEXED_SINCE: Final = 3  # the schema version that added the query index and its history
INSERT_SNAPSHOT_HISTORY: Final = (
    "INSERT OR IGNORE INTO snapshot_history (twin_id, version, time, data) VALUES (?, ?, ?, ?)"
)


def _newest_touches(touches: Sequence[Touch]) -> list[tuple[str, str, float]]:
    """One row per property: the newest of its touches in the batch."""
    newest: dict[tuple[str, str], float] = {}
    for touch in touches:
        key = (touch.twin_id, touch.name)
        kept = newest.get(key)
        if kept is None or touch.time > kept:
            newest[key] = touch.time
    return [(twin_id, name, time) for (twin_id, name), time in newest.items()]


def connect(where: str, synchronous: Synchronous) -> sqlite3.Connection:
    """Open ``where``, set the pragmas and migrate; the caller's thread owns the connection."""
    try:
        conn = sqlite3.connect(where, isolation_level=None, timeout=BUSY_TIMEOUT_S)
    except sqlite3.Error as err:
        raise StoreError(f"cannot open SQLite database {where}: {err}") from err
    try:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal" and where != ":memory:":
            logger.warning(
                "%s: journal mode is %s, not WAL (a filesystem without it?)", where, mode
            )
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        found = migrate(conn, where)
        if 0 < found < _INDEXED_SINCE:
            SQLiteEngine(conn, where).rebuild_index()
    except sqlite3.Error as err:
        conn.close()
        raise StoreError(f"cannot set up SQLite database {where}: {err}") from err
    except BaseException:
        conn.close()
        raise
    return conn


class SQLiteEngine:
    """Every store operation as a plain, blocking call on one connection."""

    __slots__ = ("_conn", "_rollups", "_series", "_where")

    def __init__(self, conn: sqlite3.Connection, where: str) -> None:
        self._conn = conn
        self._where = where
        self._series = SeriesIds(conn)
        self._rollups = RollupTracker(conn, where)

    @property
    def rollups(self) -> RollupTracker:
        """The dirty minutes of the series, and how their rollups are brought up to date."""
        return self._rollups

    # -- events, points and touches -------------------------------------------------------

    def append(
        self,
        events: Sequence[Event],
        points: Sequence[Point],
        touches: Sequence[Touch],
        twins: Mapping[str, Twin] | None = None,
    ) -> None:
        """Insert the batch in one transaction; nothing of it stays if any row fails.

        ``twins`` is the state of the twins after ``events``; with it the query index follows.
        """
        if not events and not points and not touches:
            return
        event_rows = [self._event_row(event) for event in events]  # encode outside the lock
        touch_rows = _newest_touches(touches)
        columns = points if isinstance(points, PointColumns) else PointColumns(points)
        found: dict[SeriesKey, int] = {}
        minutes: set[tuple[int, float]] = set()
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(INSERT_EVENT, event_rows)
            for twin_id in self._retire_deleted(events):
                # Forgotten before this batch's points, which may be a new twin's of that id
                # (forgetting is safe whatever happens next: a missing id is looked up again).
                self._series.forget(twin_id)
            superseded = [
                (e.twin_id, e.data["name"]) for e in events if e.type is EventType.PROPERTY_REPORTED
            ]
            if superseded:  # a new reported value carries its own last_reported
                conn.executemany(DELETE_TOUCH, superseded)
            if columns:
                series = self._series.resolve(columns, found)
                conn.executemany(*point_rows(columns, series))
                minutes = self._rollups.minutes(series, columns.times)
                self._rollups.stage(minutes)  # late minutes made durable with the points
            if touch_rows:
                conn.executemany(UPSERT_TOUCH, touch_rows)
            if twins:
                sync_index(conn, events, twins)
            conn.execute("COMMIT")
        except sqlite3.IntegrityError as err:
            self._rollback()
            raise self._integrity_error(events, points, touches, err) from err
        except BaseException:
            self._rollback()
            raise
        self._series.remember(found)  # only ids that were committed
        if minutes and self._rollups.commit(minutes):
            flushed = self._rollups.flush()  # nobody flushes: keep the dirty set bounded
            logger.info(
                "flushed the rollups of %d series of %s during append", flushed, self._where
            )

    def _retire_deleted(self, events: Sequence[Event]) -> list[str]:
        """Set a deleted twin's series and touches aside, so that a twin created again under
        the same id starts without them. The series keep their history under the name
        ``<id>@deleted:<seq>``; run before the batch's points, in its transaction."""
        retired = []
        for event in events:
            if event.type is EventType.TWIN_DELETED:
                tombstone = f"{event.twin_id}@deleted:{event.seq}"
                self._conn.execute(RETIRE_SERIES, (tombstone, event.twin_id))
                self._conn.execute(DELETE_TOUCHES, (event.twin_id,))
                retired.append(event.twin_id)
        return retired

    def _event_row(self, event: Event) -> tuple[Any, ...]:
        try:
            data = dumps(event.data)
        except orjson.JSONEncodeError as err:
            raise ValidationError(
                "event data is not JSON",
                path=f"twin {event.twin_id!r} seq {event.seq} ({event.type.value})",
                expected="a mapping of JSON values (str, int, float, bool, None, list, dict)",
                got=str(err),
            ) from err
        return (
            event.twin_id,
            event.seq,
            event.type.value,
            event.time,
            event.recorded,
            event.cause,
            data,
        )

    def series_id(self, twin_id: str, name: str) -> int | None:
        """The id of a series, or None when it has no point yet."""
        return self._series.get(twin_id, name)

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def _integrity_error(
        self,
        events: Sequence[Event],
        points: Sequence[Point],
        touches: Sequence[Touch],
        err: sqlite3.IntegrityError,
    ) -> Exception:
        """A ConflictError naming the first (twin, seq) that was taken; else a StoreError."""
        seen: set[tuple[str, int]] = set()
        for event in events:
            key = (event.twin_id, event.seq)
            if key in seen:
                return ConflictError(
                    f"event seq {event.seq} of twin {event.twin_id!r} appears twice in one batch "
                    f"of {len(events)} events; expected each (twin, seq) once; nothing of the "
                    f"batch was stored in {self._where}"
                )
            seen.add(key)
        exists = "SELECT 1 FROM events WHERE twin_id = ? AND seq = ?"
        for event in events:
            if self._conn.execute(exists, (event.twin_id, event.seq)).fetchone() is not None:
                return ConflictError(
                    f"event seq {event.seq} of twin {event.twin_id!r} is already stored in "
                    f"{self._where}; expected the twin's next free seq; nothing of the batch of "
                    f"{len(events)} events was stored"
                )
        return StoreError(
            f"batch of {len(events)} events, {len(points)} points and {len(touches)} touches "
            f"rejected by {self._where}: {err}; nothing of it was stored"
        )

    def events(self, twin_id: str, since_seq: int) -> list[Event]:
        rows = self._conn.execute(SELECT_EVENTS, (twin_id, since_seq))
        return [self._event((twin_id, *row)) for row in rows]

    def _event(self, row: tuple[str, int, str, float, float, str, bytes]) -> Event:
        return decode_event(row, self._where)

    def load_twins(self) -> tuple[list[Twin], list[Event]]:
        """Every snapshot, and every event after its twin's snapshot (by twin, then seq):
        what a runtime folds at start, in two queries instead of two per twin."""
        snapshots = [
            self._snapshot_from(twin_id, version, data)
            for twin_id, version, data in self._conn.execute(SELECT_ALL_SNAPSHOTS)
        ]
        events = [self._event(row) for row in self._conn.execute(SELECT_UNSNAPSHOTTED_EVENTS)]
        return snapshots, events

    def last_seqs(self) -> dict[str, int]:
        return {twin_id: seq for twin_id, seq in self._conn.execute(SELECT_LAST_SEQS)}

    def points(self, twin_id: str, name: str, start: float, end: float, limit: int) -> list[Point]:
        series_id = self._series.get(twin_id, name)
        if series_id is None:
            return []
        rows = self._conn.execute(SELECT_POINTS, (series_id, start, end, limit)).fetchall()
        try:
            return [
                Point(
                    twin_id,
                    name,
                    time,
                    value if data is None and value is not None else point_value(value, data),
                )
                for time, value, data in rows
            ]
        except orjson.JSONDecodeError as err:
            raise self._unreadable(f"a point of {twin_id!r}/{name!r}", err) from err

    def latest_points(self) -> list[Point]:
        try:
            return [
                Point(twin_id, name, time, point_value(value, data))
                for twin_id, name, time, value, data in self._conn.execute(SELECT_LATEST)
            ]
        except orjson.JSONDecodeError as err:
            raise self._unreadable("the newest point of a series", err) from err

    def touches(self) -> list[Touch]:
        return [Touch(*row) for row in self._conn.execute(SELECT_TOUCHES)]

    def _unreadable(self, what: str, err: Exception) -> StoreError:
        return StoreError(f"{what} in {self._where} is unreadable: expected JSON data, got {err}")

    # -- snapshots -------------------------------------------------------------------------

    def save_snapshot(self, twin: Twin) -> None:
        try:
            data = dumps(twin_to_json(twin))
        except orjson.JSONEncodeError as err:
            raise ValidationError(
                "twin state is not JSON",
                path=f"twin {twin.id!r} version {twin.version}",
                expected="JSON values in properties, telemetry and relationship properties",
                got=str(err),
            ) from err
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(UPSERT_SNAPSHOT, (twin.id, twin.version, data))
            # The history keeps the pure fold of the events (see _sqlite_history.py).
            if not has_history_snapshot(conn, twin.id, twin.version):
                row = history_snapshot(conn, twin.id, twin.version)
                if row is not None:
                    conn.execute(INSERT_SNAPSHOT_HISTORY, (twin.id, twin.version, *row))
            conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def rebuild_index(self) -> None:
        """Write the query index of every twin again from its snapshot and events."""
        snapshots, events = self.load_twins()
        state: dict[str, Twin | None] = {twin.id: twin for twin in snapshots}
        for event in events:
            state[event.twin_id] = apply(state.get(event.twin_id), event)
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table in ("twins", "twin_values", "edges"):
                conn.execute(f"DELETE FROM {table}")
            for twin in state.values():
                if twin is not None:
                    index_all(conn, twin)
            conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        logger.info("rebuilt the query index of %d twins in %s", len(state), self._where)

    def snapshot(self, twin_id: str) -> Twin | None:
        row = self._conn.execute(SELECT_SNAPSHOT, (twin_id,)).fetchone()
        return None if row is None else self._snapshot_from(twin_id, *row)

    def _snapshot_from(self, twin_id: str, version: int, data: bytes) -> Twin:
        return decode_snapshot(twin_id, version, data, self._where)

    def close(self) -> None:
        try:
            self._conn.execute("PRAGMA optimize")  # what SQLite advises before closing
        finally:
            self._conn.close()

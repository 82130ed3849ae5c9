"""The synchronous half of the SQLite store: one connection, used by one thread only.

:class:`SQLiteEngine` does the SQL; :class:`~twinkit.store.SQLiteStore` runs every call of it
on its single writer thread. Nothing here is thread-safe, and nothing needs to be: the engine
and its connection never leave that thread.

The connection is in autocommit mode (``isolation_level=None``), so transactions are exactly
the ``BEGIN IMMEDIATE ... COMMIT`` written here. ``IMMEDIATE`` takes the write lock up front:
another process writing to the same file waits (up to the busy timeout) at ``BEGIN`` instead of
failing half-way through a batch.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, Literal

import orjson

from twinkit.core import Event, EventType, Twin, twin_from_json, twin_to_json
from twinkit.errors import ConflictError, NotFoundError, StoreError, ValidationError
from twinkit.store._protocol import DeadLetter, Point
from twinkit.store._sqlite_schema import migrate

__all__ = ["SELECT_POINTS", "SQLiteEngine", "Synchronous", "connect"]

logger = logging.getLogger(__name__)

Synchronous = Literal["NORMAL", "FULL"]

BUSY_TIMEOUT_S: Final = 30.0

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
INSERT_SERIES: Final = "INSERT OR IGNORE INTO series (twin_id, name) VALUES (?, ?)"
SELECT_SERIES: Final = "SELECT id FROM series WHERE twin_id = ? AND name = ?"
# A redelivered point (same series and time) is ignored: redelivery makes no duplicate.
INSERT_POINT: Final = "INSERT OR IGNORE INTO points (series_id, time, value) VALUES (?, ?, ?)"
SELECT_POINTS: Final = (
    "SELECT time, value FROM points "
    "WHERE series_id = ? AND time >= ? AND time < ? ORDER BY time LIMIT ?"
)
# A snapshot older than the one kept (a slow writer, a replay) does not replace it.
UPSERT_SNAPSHOT: Final = (
    "INSERT INTO snapshots (twin_id, version, data) VALUES (?, ?, ?) "
    "ON CONFLICT (twin_id) DO UPDATE SET version = excluded.version, data = excluded.data "
    "WHERE excluded.version >= snapshots.version"
)
SELECT_SNAPSHOT: Final = "SELECT version, data FROM snapshots WHERE twin_id = ?"
INSERT_DEAD_LETTER: Final = (
    "INSERT INTO dead_letters (source, payload, reason, received) VALUES (?, ?, ?, ?)"
)
SELECT_DEAD_LETTERS: Final = (
    "SELECT id, source, payload, reason, received, replayed FROM dead_letters "
    "{where} ORDER BY id LIMIT ?"
)
UPDATE_REPLAYED: Final = "UPDATE dead_letters SET replayed = ? WHERE id = ?"

_EVENT_TYPES: Final = {member.value: member for member in EventType}


def _default(value: object) -> object:
    """orjson's fallback: read-only mappings (``MappingProxyType``) encode as objects."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _dumps(value: object) -> bytes:
    return orjson.dumps(value, default=_default)


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
        migrate(conn, where)
    except sqlite3.Error as err:
        conn.close()
        raise StoreError(f"cannot set up SQLite database {where}: {err}") from err
    except BaseException:
        conn.close()
        raise
    return conn


class SQLiteEngine:
    """Every store operation as a plain, blocking call on one connection."""

    __slots__ = ("_conn", "_series", "_where")

    def __init__(self, conn: sqlite3.Connection, where: str) -> None:
        self._conn = conn
        self._where = where
        # (twin_id, name) -> series id; series are never deleted, so entries never go stale.
        self._series: dict[tuple[str, str], int] = {}

    # -- events and points ---------------------------------------------------------------

    def append(self, events: Sequence[Event], points: Sequence[Point]) -> None:
        """Insert the batch in one transaction; nothing of it stays if any row fails."""
        if not events and not points:
            return
        event_rows = [self._event_row(event) for event in events]  # encode outside the lock
        new_series: dict[tuple[str, str], int] = {}
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(INSERT_EVENT, event_rows)
            if points:
                conn.executemany(INSERT_POINT, self._point_rows(points, new_series))
            conn.execute("COMMIT")
        except sqlite3.IntegrityError as err:
            self._rollback()
            raise self._integrity_error(events, err) from err
        except BaseException:
            self._rollback()
            raise
        self._series.update(new_series)  # only ids that were committed

    def _event_row(self, event: Event) -> tuple[Any, ...]:
        try:
            data = _dumps(event.data)
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

    def _point_rows(
        self, points: Sequence[Point], new_series: dict[tuple[str, str], int]
    ) -> list[tuple[int, float, float]]:
        known = self._series
        rows = []
        for point in points:
            key = (point.twin_id, point.name)
            series_id = known.get(key)
            if series_id is None:
                series_id = new_series.get(key)
                if series_id is None:
                    series_id = new_series[key] = self._series_id(key)
            rows.append((series_id, point.time, point.value))
        return rows

    def _series_id(self, key: tuple[str, str]) -> int:
        self._conn.execute(INSERT_SERIES, key)
        return int(self._conn.execute(SELECT_SERIES, key).fetchone()[0])

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def _integrity_error(self, events: Sequence[Event], err: sqlite3.IntegrityError) -> Exception:
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
        return StoreError(f"batch of {len(events)} events rejected by {self._where}: {err}")

    def events(self, twin_id: str, since_seq: int) -> list[Event]:
        rows = self._conn.execute(SELECT_EVENTS, (twin_id, since_seq)).fetchall()
        out = []
        for seq, kind, time, recorded, cause, data in rows:
            try:
                event_type = _EVENT_TYPES[kind]
                payload = MappingProxyType(orjson.loads(data))
            except (KeyError, orjson.JSONDecodeError) as err:
                raise StoreError(
                    f"event seq {seq} of twin {twin_id!r} in {self._where} is unreadable: "
                    f"expected a known event type and JSON data, got type {kind!r} ({err!r})"
                ) from err
            out.append(
                Event(
                    twin_id=twin_id,
                    seq=seq,
                    type=event_type,
                    time=time,
                    recorded=recorded,
                    cause=cause,
                    data=payload,
                )
            )
        return out

    def last_seqs(self) -> dict[str, int]:
        return {twin_id: seq for twin_id, seq in self._conn.execute(SELECT_LAST_SEQS)}

    def points(self, twin_id: str, name: str, start: float, end: float, limit: int) -> list[Point]:
        key = (twin_id, name)
        series_id = self._series.get(key)
        if series_id is None:
            row = self._conn.execute(SELECT_SERIES, key).fetchone()
            if row is None:
                return []
            series_id = self._series[key] = int(row[0])
        rows = self._conn.execute(SELECT_POINTS, (series_id, start, end, limit)).fetchall()
        nan = math.nan
        return [Point(twin_id, name, time, nan if value is None else value) for time, value in rows]

    # -- snapshots -------------------------------------------------------------------------

    def save_snapshot(self, twin: Twin) -> None:
        try:
            data = _dumps(twin_to_json(twin))
        except orjson.JSONEncodeError as err:
            raise ValidationError(
                "twin state is not JSON",
                path=f"twin {twin.id!r} version {twin.version}",
                expected="JSON values in properties, telemetry and relationship properties",
                got=str(err),
            ) from err
        self._conn.execute(UPSERT_SNAPSHOT, (twin.id, twin.version, data))

    def snapshot(self, twin_id: str) -> Twin | None:
        row = self._conn.execute(SELECT_SNAPSHOT, (twin_id,)).fetchone()
        if row is None:
            return None
        version, data = row
        try:
            return twin_from_json(orjson.loads(data))
        except (orjson.JSONDecodeError, ValidationError) as err:
            raise StoreError(
                f"snapshot of twin {twin_id!r} at version {version} in {self._where} is "
                f"unreadable: expected the JSON of twin_to_json, got {err}"
            ) from err

    # -- dead letters ----------------------------------------------------------------------

    def add_dead_letter(self, source: str, payload: bytes, reason: str, received: float) -> int:
        cursor = self._conn.execute(INSERT_DEAD_LETTER, (source, payload, reason, received))
        assert cursor.lastrowid is not None  # an INSERT into a rowid table always sets it
        return cursor.lastrowid

    def dead_letters(self, pending_only: bool, limit: int) -> list[DeadLetter]:
        where = "WHERE replayed IS NULL" if pending_only else ""
        rows = self._conn.execute(SELECT_DEAD_LETTERS.format(where=where), (limit,))
        return [DeadLetter(*row) for row in rows]

    def mark_replayed(self, dead_letter_id: int, when: float) -> None:
        cursor = self._conn.execute(UPDATE_REPLAYED, (when, dead_letter_id))
        if cursor.rowcount == 0:
            raise NotFoundError(
                f"dead letter {dead_letter_id} not found in {self._where}; expected the id "
                "add_dead_letter returned"
            )

    def close(self) -> None:
        try:
            self._conn.execute("PRAGMA optimize")  # what SQLite advises before closing
        finally:
            self._conn.close()

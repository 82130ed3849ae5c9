"""The points of an append: series ids found in bulk, rows made from columns.

Writer thread only, like :class:`~twinkit.store._sqlite_engine.SQLiteEngine`, which owns a
:class:`SeriesIds`. Everything here holds the interpreter lock, so it is kept to a few C-level
passes over the batch's columns (:class:`~twinkit.core._batch.PointColumns`): one dictionary
probe per point for its series id, then ``zip`` makes the rows. Series a batch brings for the
first time are created, and their ids read back, by a few statements per batch, not two per
series (a first message from each of 100k twins is 100k new series).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from itertools import chain
from types import MappingProxyType
from typing import Any, Final, cast

import orjson

from twinkit.core import Point
from twinkit.core._batch import PointColumns
from twinkit.errors import StoreError
from twinkit.store._sqlite_codec import point_columns

__all__ = ["INSERT_POINT", "INSERT_POINT_DATA", "SeriesIds", "SeriesKey", "point_rows"]

# New series, _CHUNK at a time, answering the ids of those it inserted (a series that exists
# already is left out: read back with SELECT_SERIES_MANY). One statement of a fixed size, so
# SQLite prepares it once: a short chunk is padded by repeating its last key, which then
# conflicts with itself and is skipped. A third of the time of one INSERT per series and a
# SELECT of their ids (bench/ingest.py, first reports of 100k twins).
_CHUNK: Final = 250
INSERT_SERIES: Final = (
    "INSERT INTO series (twin_id, name) VALUES "
    + ", ".join(["(?, ?)"] * _CHUNK)
    + " ON CONFLICT DO NOTHING RETURNING id, twin_id, name"
)
SELECT_SERIES: Final = "SELECT id FROM series WHERE twin_id = ? AND name = ?"
# The ids of many series at once: a JSON array of [twin_id, name] pairs, each looked up in the
# series' unique index; `key` is the pair's index in the array.
SELECT_SERIES_MANY: Final = (
    "SELECT j.key, s.id FROM json_each(?) AS j JOIN series AS s "
    "ON s.twin_id = json_extract(j.value, '$[0]') AND s.name = json_extract(j.value, '$[1]')"
)
# A redelivered point (same series and time) is ignored: redelivery makes no duplicate. A batch
# of numbers only leaves `data` out (NULL): binding it anyway costs about 10% of throughput.
INSERT_POINT: Final = "INSERT OR IGNORE INTO points (series_id, time, value) VALUES (?, ?, ?)"
INSERT_POINT_DATA: Final = (
    "INSERT OR IGNORE INTO points (series_id, time, value, data) VALUES (?, ?, ?, ?)"
)
# Values twinkit computed (PointColumns.replace): the newest computation for a time wins.
_REPLACING: Final = {
    INSERT_POINT: INSERT_POINT.replace("OR IGNORE", "OR REPLACE"),
    INSERT_POINT_DATA: INSERT_POINT_DATA.replace("OR IGNORE", "OR REPLACE"),
}

_NONE: Final[Mapping[str, int]] = MappingProxyType({})
_FLOAT_ONLY: Final = {float}

SeriesKey = tuple[str, str]


class SeriesIds:
    """The id of every series (twin, name) seen, by twin then name.

    Nested rather than keyed by ``(twin, name)`` tuples: half the memory (60 MB instead of
    124 MB for 100k twins of 10 series) and fewer cache misses per lookup. Series are never
    deleted; a deleted twin's series are renamed (:meth:`forget` drops them here).
    """

    __slots__ = ("_conn", "_ids")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._ids: dict[str, dict[str, int]] = {}

    def get(self, twin_id: str, name: str) -> int | None:
        """The id of a stored series, or None when it has no point yet."""
        series_id = self._ids.get(twin_id, _NONE).get(name)
        if series_id is None:
            row = self._conn.execute(SELECT_SERIES, (twin_id, name)).fetchone()
            if row is None:
                return None
            series_id = int(row[0])
            self.remember({(twin_id, name): series_id})
        return series_id

    def resolve(self, points: PointColumns, found: dict[SeriesKey, int]) -> list[int]:
        """The series id of every point, creating the series that do not exist yet.

        Runs inside the caller's transaction; the ids it had to look up go to ``found``, for
        :meth:`remember` once the transaction committed (a rollback may undo a new series).
        """
        ids = self._ids
        twin_ids, names = points.twin_ids, points.names
        series = [
            ids.get(twin_id, _NONE).get(name) for twin_id, name in zip(twin_ids, names, strict=True)
        ]
        if None not in series:
            return cast(list[int], series)
        missing = list(
            dict.fromkeys(
                key
                for key, sid in zip(zip(twin_ids, names, strict=True), series, strict=True)
                if sid is None
            )
        )
        looked_up = self._create(missing)
        found.update(looked_up)
        return [
            looked_up[key] if sid is None else sid
            for key, sid in zip(zip(twin_ids, names, strict=True), series, strict=True)
        ]

    def _create(self, keys: list[SeriesKey]) -> dict[SeriesKey, int]:
        """Create the series of ``keys`` (distinct) that do not exist; the ids of all."""
        conn = self._conn
        ids: dict[SeriesKey, int] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            chunk += [chunk[-1]] * (_CHUNK - len(chunk))
            for series_id, twin_id, name in conn.execute(INSERT_SERIES, [*chain(*chunk)]):
                ids[twin_id, name] = series_id
        if len(ids) < len(keys):  # some existed (stored before this process knew them)
            known = [key for key in keys if key not in ids]
            rows = conn.execute(SELECT_SERIES_MANY, (orjson.dumps(known),)).fetchall()
            ids.update((known[index], series_id) for index, series_id in rows)
        if len(ids) != len(keys):
            lost = next(key for key in keys if key not in ids)
            raise StoreError(
                f"series {lost[0]!r}/{lost[1]!r} was created but cannot be read back: expected "
                f"one id per series, got {len(ids)} for {len(keys)}"
            )
        return ids

    def remember(self, found: Mapping[SeriesKey, int]) -> None:
        """Keep ids that are committed."""
        ids = self._ids
        for (twin_id, name), series_id in found.items():
            named = ids.get(twin_id)
            if named is None:
                named = ids[twin_id] = {}
            named[name] = series_id

    def forget(self, twin_id: str) -> None:
        """Drop a deleted twin's series (renamed in the store; a new twin of the id starts
        without them)."""
        self._ids.pop(twin_id, None)


def point_rows(points: PointColumns, series: list[int]) -> tuple[str, list[tuple[Any, ...]]]:
    """The statement and rows that insert ``points`` (``series``: their series ids): without
    ``data`` when every value is a float, the hot path of telemetry; replacing a point at the
    same time when ``points.replace``, else leaving it (a redelivery)."""
    statement, rows = _point_rows(points, series)
    return (_REPLACING[statement] if points.replace else statement), rows


def _point_rows(points: PointColumns, series: list[int]) -> tuple[str, list[tuple[Any, ...]]]:
    values = points.values
    if set(map(type, values)) == _FLOAT_ONLY:
        return INSERT_POINT, list(zip(series, points.times, values, strict=True))
    rows: list[tuple[Any, ...]] = []
    with_data = False
    for index, (series_id, time, value) in enumerate(
        zip(series, points.times, values, strict=True)
    ):
        if type(value) is float:
            rows.append((series_id, time, value))
            continue
        point = Point(points.twin_ids[index], points.names[index], time, value)
        number, data = point_columns(point)
        if data is None:
            rows.append((series_id, time, number))
        else:
            rows.append((series_id, time, number, data))
            with_data = True
    if not with_data:
        return INSERT_POINT, rows
    return INSERT_POINT_DATA, [row if len(row) == 4 else (*row, None) for row in rows]

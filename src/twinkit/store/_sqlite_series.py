"""Reads of one series: raw points page by page, and aggregates per bucket from the rollups.

Both run on a read-only connection (``SQLiteStore.read``) inside one read transaction, so the
rollups and the raw points they are merged with come from the same committed state.

Aggregating ``[start, end)`` into buckets of ``width`` seconds aligned to ``origin``: a rollup
level (3600 s, then 60 s) can serve a bucket when it divides both ``width`` and ``origin``,
because each of its rows then falls inside one bucket. :func:`plan` cuts the range into the
largest aligned stretch read from the largest such level, the stretches around it from the
next level, and the unaligned edges from the raw points. Each stretch is grouped into buckets
by SQL (``GROUP BY`` bucket index); the partial aggregates of a bucket that spans several
stretches are then merged with numpy.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import orjson

from twinkit.errors import StoreError
from twinkit.store._sqlite_codec import point_value
from twinkit.store._sqlite_rollups import LEVELS, floor_sql

__all__ = ["Aggregates", "PointPage", "Stretch", "aggregates", "page", "plan"]

_SELECT_SERIES: Final = "SELECT id FROM series WHERE twin_id = ? AND name = ?"
_SELECT_PAGE: Final = (
    "SELECT time, value, data FROM points WHERE series_id = ? AND time >= ? AND time > ? "
    "AND time < ? ORDER BY time LIMIT ?"
)
# The newest points before a time, newest first (a backward range of the primary key).
_SELECT_TAIL: Final = (
    "SELECT time, value, data FROM points WHERE series_id = ? AND time < ? "
    "ORDER BY time DESC LIMIT ?"
)
_K_OF_TIME: Final = floor_sql("time - :origin", ":width")
_K_OF_BUCKET: Final = floor_sql("bucket - :origin", ":width")
_RAW: Final = f"""
SELECT g.k, g.n, g.total, g.lo, g.hi,
    g.ft, (SELECT value FROM points WHERE series_id = :sid AND time = g.ft),
    g.lt, (SELECT value FROM points WHERE series_id = :sid AND time = g.lt)
FROM (
    SELECT {_K_OF_TIME} AS k, count(*) AS n, sum(value) AS total, min(value) AS lo,
        max(value) AS hi, min(time) AS ft, max(time) AS lt
    FROM points
    WHERE series_id = :sid AND time >= :start AND time < :end AND value IS NOT NULL
    GROUP BY k
) AS g ORDER BY g.k
"""
# A bucket's first (last) value is that of its row with the least first_time (greatest
# last_time); the probe stays inside the bucket's rows, so the query is linear in rows.
_ROLLUP: Final = f"""
SELECT g.k, g.n, g.total, g.lo, g.hi,
    g.ft, (SELECT first FROM rollups WHERE series_id = :sid AND width = :level
        AND bucket >= max(:start, :origin + g.k * :width)
        AND bucket < min(:end, :origin + (g.k + 1) * :width) AND first_time = g.ft LIMIT 1),
    g.lt, (SELECT last FROM rollups WHERE series_id = :sid AND width = :level
        AND bucket >= max(:start, :origin + g.k * :width)
        AND bucket < min(:end, :origin + (g.k + 1) * :width) AND last_time = g.lt LIMIT 1)
FROM (
    SELECT {_K_OF_BUCKET} AS k, sum(count) AS n, sum(sum) AS total, min(min) AS lo,
        max(max) AS hi, min(first_time) AS ft, max(last_time) AS lt
    FROM rollups
    WHERE series_id = :sid AND width = :level AND bucket >= :start AND bucket < :end
    GROUP BY k
) AS g ORDER BY g.k
"""

_FloatArray = npt.NDArray[np.float64]
_IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Stretch:
    """A part of a queried range and where it is read from: ``level`` 0 is the raw points."""

    level: int
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class PointPage:
    """Raw points of one series in time order; ``more`` when the range has more after them."""

    times: list[float]
    values: list[Any]
    more: bool


@dataclass(frozen=True, slots=True)
class Aggregates:
    """Aggregates of the numeric points of one series per non-empty bucket, by bucket.

    Bucket ``k`` is ``[origin + k * width, origin + (k + 1) * width)``. Booleans count as 0/1;
    NaN and non-numeric values are left out. ``stretches`` tells where each part came from.
    """

    bucket: _IntArray
    count: _IntArray
    sum: _FloatArray
    min: _FloatArray
    max: _FloatArray
    first_time: _FloatArray
    first: _FloatArray
    last_time: _FloatArray
    last: _FloatArray
    stretches: tuple[Stretch, ...]


def series_id(conn: sqlite3.Connection, twin_id: str, name: str) -> int | None:
    row = conn.execute(_SELECT_SERIES, (twin_id, name)).fetchone()
    return None if row is None else int(row[0])


def page(
    conn: sqlite3.Connection,
    *,
    twin_id: str,
    name: str,
    start: float,
    end: float,
    after: float,
    limit: int,
) -> PointPage:
    """At most ``limit`` points with ``start <= time < end`` and ``time > after``."""
    sid = series_id(conn, twin_id, name)
    if sid is None:
        return PointPage([], [], more=False)
    rows = conn.execute(_SELECT_PAGE, (sid, start, after, end, limit + 1)).fetchall()
    more = len(rows) > limit
    return _page_of(rows[:limit], more, twin_id, name)


def tail(conn: sqlite3.Connection, *, twin_id: str, name: str, end: float, limit: int) -> PointPage:
    """The newest ``limit`` points with ``time < end``, in time order; ``more`` when older
    ones exist."""
    sid = series_id(conn, twin_id, name)
    if sid is None:
        return PointPage([], [], more=False)
    rows = conn.execute(_SELECT_TAIL, (sid, end, limit + 1)).fetchall()
    more = len(rows) > limit
    return _page_of(rows[:limit][::-1], more, twin_id, name)


def _page_of(rows: list[Any], more: bool, twin_id: str, name: str) -> PointPage:
    try:
        values = [
            value if data is None and value is not None else point_value(value, data)
            for _, value, data in rows
        ]
    except orjson.JSONDecodeError as err:
        raise StoreError(
            f"a point of {twin_id!r}/{name!r} is unreadable: expected JSON data, got {err}"
        ) from err
    return PointPage([row[0] for row in rows], values, more)


def plan(start: float, end: float, levels: tuple[int, ...]) -> list[Stretch]:
    """``[start, end)`` cut into stretches: the largest level's aligned middle, then smaller
    levels around it, raw points at the edges (in time order, empty stretches left out)."""
    if start >= end:
        return []
    if not levels:
        return [Stretch(0, start, end)]
    level, rest = levels[0], levels[1:]
    a, b = float(math.ceil(start / level) * level), float(math.floor(end / level) * level)
    if a >= b:
        return plan(start, end, rest)
    return [*plan(start, a, rest), Stretch(level, a, b), *plan(b, end, rest)]


def levels_for(width: float, origin: float) -> tuple[int, ...]:
    """The rollup levels whose rows each fall inside one bucket of ``width`` at ``origin``."""
    return tuple(level for level in LEVELS if width % level == 0 and origin % level == 0)


def aggregates(
    conn: sqlite3.Connection,
    *,
    twin_id: str,
    name: str,
    start: float,
    end: float,
    width: float,
    origin: float,
    use_rollups: bool = True,
) -> Aggregates:
    """The buckets of ``[start, end)`` that hold numeric points (see the module docstring)."""
    stretches = plan(start, end, levels_for(width, origin) if use_rollups else ())
    sid = series_id(conn, twin_id, name)
    rows: list[tuple[Any, ...]] = []
    if sid is not None:
        conn.execute("BEGIN")  # one snapshot for every stretch
        try:
            for stretch in stretches:
                params = {
                    "sid": sid,
                    "start": stretch.start,
                    "end": stretch.end,
                    "width": width,
                    "origin": origin,
                    "level": stretch.level,
                }
                rows.extend(conn.execute(_ROLLUP if stretch.level else _RAW, params))
        finally:
            conn.execute("COMMIT")
    return _merge(rows, tuple(stretches))


def _merge(rows: list[tuple[Any, ...]], stretches: tuple[Stretch, ...]) -> Aggregates:
    """One entry per bucket from the partial rows (in time order, so by bucket)."""
    table = np.array(rows, dtype=np.float64).reshape(len(rows), 9)  # None becomes NaN
    k = table[:, 0].astype(np.int64)
    if not len(k):
        e = np.zeros(0, np.float64)
        return Aggregates(k, k, e, e, e, e, e, e, e, stretches)
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    ends = np.r_[starts[1:], len(k)].astype(np.int64)

    def fold(column: int, ufunc: np.ufunc) -> _FloatArray:
        return np.asarray(ufunc.reduceat(table[:, column], starts), dtype=np.float64)

    return Aggregates(
        bucket=k[starts],
        count=fold(1, np.add).astype(np.int64),
        sum=fold(2, np.add),
        min=fold(3, np.fmin),
        max=fold(4, np.fmax),
        first_time=table[starts, 5],
        first=table[starts, 6],
        last_time=table[ends - 1, 7],
        last=table[ends - 1, 8],
        stretches=stretches,
    )

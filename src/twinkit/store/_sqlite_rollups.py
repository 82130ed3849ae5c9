"""Rollups of every series at 1 minute and 1 hour, kept up to date beside ingest.

A rollup row holds the partial aggregates of the numeric points of one bucket (count, sum, min,
max, first and last by time), so that a long range is read from a few thousand rows instead of
millions of points, and buckets of any multiple of a level merge the rows they cover.

How they follow ingest (:class:`RollupTracker`, on the writer thread, owned by the engine):

- ``append`` records in memory the (series, minute) of every point it commits: one set built
  from the batch's columns in C, no SQL (and no Python loop) per point.
- :meth:`RollupTracker.flush` recomputes the dirty minutes of a series *from its raw points*
  (one ``GROUP BY`` per run of minutes), then the hours around them from the minute rows. A
  redelivered point (ignored by ``INSERT OR IGNORE``) is therefore never counted twice, and a
  late point simply makes its old minute dirty again.
- Crash safety without a write per batch: a point whose minute is older than its series'
  newest 1-minute row (its *mark*) is also written to ``rollup_dirty`` in the append
  transaction. Everything else that a crash can leave stale is at or after the mark, so on the
  next start every series recomputes from its mark onward plus its ``rollup_dirty`` minutes.
- Retention purges raw points only after flushing them and records how far it went in
  ``rollup_sealed``: the rollups of those minutes are final (a point arriving later for them
  is kept raw until the next purge but does not replace what the rollup already summarises).
  Minutes that never had a rollup row are still computed from late raw points, so history
  imported into a gap gets its rollups.
"""

from __future__ import annotations

import itertools
import logging
import math
import operator
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Final

__all__ = [
    "DIRTY_LIMIT",
    "HOUR",
    "LEVELS",
    "MINUTE",
    "RollupTracker",
    "floor_sql",
]

logger = logging.getLogger(__name__)

MINUTE: Final = 60.0
HOUR: Final = 3600.0
LEVELS: Final = (3600, 60)
"""The rollup widths in seconds, largest first, both aligned to the epoch."""

DIRTY_LIMIT: Final = 100_000
"""Dirty (series, minute) pairs kept before ``append`` flushes by itself (about 10 MB); the
maintenance task normally flushes long before."""

_RUN_GAP: Final = 10  # dirty minutes closer than this are recomputed by one query
_NEG: Final = -math.inf
_POS: Final = math.inf
_minute_of: Final = itemgetter(1)


def floor_sql(expr: str, width: str) -> str:
    """SQL for ``floor(expr / width)`` as an integer, without SQLite's optional math functions.

    ``CAST`` truncates toward zero and the division may round up to the next integer; the
    comparison takes one off in both cases. ``expr`` and ``width`` are SQL text from this
    package (columns, parameters, constants), never user input.
    """
    quotient = f"CAST(({expr}) / ({width}) AS INTEGER)"
    return f"({quotient} - (({expr}) < {quotient} * ({width})))"


_MINUTE_OF_TIME: Final = floor_sql("time", "60") + " * 60"
_HOUR_OF_BUCKET: Final = floor_sql("bucket", "3600") + " * 3600"

_COLUMNS: Final = (
    "series_id, width, bucket, count, sum, min, max, first_time, first, last_time, last"
)
_MINUTES_FROM_POINTS: Final = f"""
INSERT {{verb}} INTO rollups ({_COLUMNS})
SELECT :sid, 60, g.bucket, g.n, g.total, g.lo, g.hi,
    g.ft, (SELECT value FROM points WHERE series_id = :sid AND time = g.ft),
    g.lt, (SELECT value FROM points WHERE series_id = :sid AND time = g.lt)
FROM (
    SELECT {_MINUTE_OF_TIME} AS bucket, count(*) AS n, sum(value) AS total,
        min(value) AS lo, max(value) AS hi, min(time) AS ft, max(time) AS lt
    FROM points
    WHERE series_id = :sid AND time >= :start AND time < :end AND value IS NOT NULL
    GROUP BY bucket
) AS g
"""
_HOURS_FROM_MINUTES: Final = f"""
INSERT {{verb}} INTO rollups ({_COLUMNS})
SELECT :sid, 3600, g.bucket, g.n, g.total, g.lo, g.hi,
    g.ft, (SELECT first FROM rollups WHERE series_id = :sid AND width = 60
        AND bucket >= g.bucket AND bucket < g.bucket + 3600 AND first_time = g.ft LIMIT 1),
    g.lt, (SELECT last FROM rollups WHERE series_id = :sid AND width = 60
        AND bucket >= g.bucket AND bucket < g.bucket + 3600 AND last_time = g.lt LIMIT 1)
FROM (
    SELECT {_HOUR_OF_BUCKET} AS bucket, sum(count) AS n, sum(sum) AS total,
        min(min) AS lo, max(max) AS hi, min(first_time) AS ft, max(last_time) AS lt
    FROM rollups
    WHERE series_id = :sid AND width = 60 AND bucket >= :start AND bucket < :end
    GROUP BY 1
) AS g
"""
_REBUILD: Final = {
    (60, False): _MINUTES_FROM_POINTS.format(verb=""),
    (60, True): _MINUTES_FROM_POINTS.format(verb="OR IGNORE"),
    (3600, False): _HOURS_FROM_MINUTES.format(verb=""),
    (3600, True): _HOURS_FROM_MINUTES.format(verb="OR IGNORE"),
}
_DELETE_ROLLUPS: Final = (
    "DELETE FROM rollups WHERE series_id = :sid AND width = :width "
    "AND bucket >= :start AND bucket < :end"
)
_SELECT_MARKS: Final = (
    "SELECT id, (SELECT max(bucket) FROM rollups WHERE series_id = series.id AND width = 60) "
    "FROM series"
)
_SELECT_MARK: Final = "SELECT max(bucket) FROM rollups WHERE series_id = ? AND width = 60"
_SELECT_DIRTY: Final = "SELECT series_id, minute FROM rollup_dirty"
_INSERT_DIRTY: Final = "INSERT OR IGNORE INTO rollup_dirty (series_id, minute) VALUES (?, ?)"
_DELETE_DIRTY: Final = "DELETE FROM rollup_dirty WHERE series_id = ?"
_SELECT_SEALED: Final = "SELECT series_id, raw_before, minute_before FROM rollup_sealed"
_UPSERT_SEALED: Final = """
INSERT INTO rollup_sealed (series_id, raw_before, minute_before) VALUES (?, ?, ?)
ON CONFLICT (series_id) DO UPDATE SET
    raw_before = max(raw_before, excluded.raw_before),
    minute_before = max(minute_before, excluded.minute_before)
"""


@dataclass(frozen=True, slots=True)
class _Work:
    """What one flush recomputes for one series: minute indexes, and everything from ``tail``."""

    minutes: tuple[float, ...]
    tail: float | None


class RollupTracker:
    """The dirty minutes of every series and the SQL that brings their rollups up to date.

    Writer thread only, like the engine that owns it. State is loaded from the database the
    first time it is needed (crash recovery; see the module docstring).
    """

    __slots__ = (
        "_conn",
        "_dirty",
        "_loaded",
        "_marks",
        "_max_mark",
        "_persisted",
        "_sealed",
        "_tails",
        "_where",
    )

    def __init__(self, conn: sqlite3.Connection, where: str) -> None:
        self._conn = conn
        self._where = where
        self._loaded = False
        # (series id, minute index) of committed points not yet in the rollups.
        self._dirty: set[tuple[int, float]] = set()
        # Series -> its newest minute index with a 1-minute row; an older point is "late".
        self._marks: dict[int, float] = {}
        self._max_mark = _NEG  # >= every mark: a batch at or after it has no late point
        # Series -> recompute every minute from this index on (set by recovery).
        self._tails: dict[int, float] = {}
        # Series with rows in rollup_dirty, and the (raw, minute) seal of purged series.
        self._persisted: set[int] = set()
        self._sealed: dict[int, tuple[float, float]] = {}

    @staticmethod
    def minutes(series: Iterable[int], times: Iterable[float]) -> set[tuple[int, float]]:
        """The (series id, minute index) of points, from their series ids and times."""
        return set(
            zip(series, map(operator.floordiv, times, itertools.repeat(MINUTE)), strict=True)
        )

    @property
    def dirty_count(self) -> int:
        """Dirty (series, minute) pairs in memory."""
        return len(self._dirty)

    def stage(self, batch: set[tuple[int, float]]) -> None:
        """In the append transaction: persist the minutes of ``batch`` older than their mark."""
        self._load()
        if not batch or min(batch, key=_minute_of)[1] >= self._max_mark:
            return  # the common case: nothing older than any flushed minute
        marks = self._marks
        late = [(sid, m * MINUTE) for sid, m in batch if m < marks.get(sid, _NEG)]
        if late:
            self._conn.executemany(_INSERT_DIRTY, late)
            self._persisted.update(sid for sid, _ in late)

    def commit(self, batch: set[tuple[int, float]]) -> bool:
        """After the append committed: remember ``batch``; True when too much is dirty."""
        self._dirty |= batch
        return len(self._dirty) > DIRTY_LIMIT

    def pending(self, series: Collection[int] | None = None) -> int:
        """How many series (of ``series``, or of all) have rollups to recompute."""
        self._load()
        dirty = {sid for sid, _ in self._dirty} | self._tails.keys()
        return len(dirty if series is None else dirty & set(series))

    def flush(self, series: Collection[int] | None = None, max_series: int | None = None) -> int:
        """Recompute the rollups of the dirty series (of ``series``, or all, at most
        ``max_series`` of them) in one transaction; returns how many series were flushed."""
        self._load()
        work = self._take(series, max_series)
        if not work:
            return 0
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sid, item in work.items():
                self._recompute(sid, item)
                if sid in self._persisted:
                    conn.execute(_DELETE_DIRTY, (sid,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        for sid, item in work.items():
            self._dirty.difference_update((sid, m) for m in item.minutes)
            self._tails.pop(sid, None)
            self._persisted.discard(sid)
            self._set_mark(sid)
        return len(work)

    def seal(self, series_id: int, raw_before: float, minute_before: float) -> None:
        """In a purge transaction: raw points before ``raw_before`` and minute rows before
        ``minute_before`` are gone, so the rollups over them are final."""
        old_raw, old_minute = self._sealed.get(series_id, (_NEG, _NEG))
        raw_before, minute_before = max(raw_before, old_raw), max(minute_before, old_minute)
        self._conn.execute(_UPSERT_SEALED, (series_id, raw_before, minute_before))
        self._sealed[series_id] = (raw_before, minute_before)

    def reload_seals(self) -> None:
        """Read the seals again (after a purge transaction rolled back)."""
        self._sealed = {
            sid: (raw_before, minute_before)
            for sid, raw_before, minute_before in self._conn.execute(_SELECT_SEALED)
        }

    # -- internals -------------------------------------------------------------------------

    def _load(self) -> None:
        """Read the marks, seals and persisted dirty minutes; every series recomputes from its
        mark on (what a crash may have left stale)."""
        if self._loaded:
            return
        conn = self._conn
        marks = {
            sid: _NEG if bucket is None else bucket / MINUTE
            for sid, bucket in conn.execute(_SELECT_MARKS)
        }
        for sid, mark in marks.items():
            self._tails[sid] = min(mark, self._tails.get(sid, _POS))
        self._marks = marks
        self._max_mark = max(marks.values(), default=_NEG)
        for sid, minute in conn.execute(_SELECT_DIRTY):
            self._dirty.add((sid, minute // MINUTE))
            self._persisted.add(sid)
        self.reload_seals()
        self._loaded = True
        logger.debug("rollups of %d series loaded from %s", len(marks), self._where)

    def _take(self, series: Collection[int] | None, max_series: int | None) -> dict[int, _Work]:
        """The work of the dirty series chosen, by series id."""
        wanted = None if series is None else set(series)
        pairs = sorted(pair for pair in self._dirty if wanted is None or pair[0] in wanted)
        by_series = {
            sid: tuple(m for _, m in group)
            for sid, group in itertools.groupby(pairs, key=itemgetter(0))
        }
        for sid in self._tails:
            if wanted is None or sid in wanted:
                by_series.setdefault(sid, ())
        chosen = sorted(by_series)[:max_series] if max_series is not None else sorted(by_series)
        return {sid: _Work(by_series[sid], self._tails.get(sid)) for sid in chosen}

    def _recompute(self, sid: int, work: _Work) -> None:
        raw_before, minute_before = self._sealed.get(sid, (_NEG, _NEG))
        minutes = [m for m in work.minutes if work.tail is None or m < work.tail]
        spans = [(a * MINUTE, (b + 1) * MINUTE) for a, b in _runs(minutes, _RUN_GAP)]
        if work.tail is not None:
            spans.append((work.tail * MINUTE, _POS))
        hours: list[tuple[float, float]] = []
        for start, end in spans:
            for span in _split(start, end, raw_before):
                self._rebuild(sid, 60, span)
            hours.append((_floor(start, HOUR), _ceil(end, HOUR)))
        for start, end in _merge(hours):
            for span in _split(start, end, minute_before):
                self._rebuild(sid, 3600, span)

    def _rebuild(self, sid: int, width: int, span: tuple[float, float, bool]) -> None:
        """Replace the ``width`` rows of ``[start, end)``, or only add missing ones when the
        span is sealed (its finer data is purged)."""
        start, end, sealed = span
        params = {"sid": sid, "width": width, "start": start, "end": end}
        if not sealed:
            self._conn.execute(_DELETE_ROLLUPS, params)
        self._conn.execute(_REBUILD[width, sealed], params)

    def _set_mark(self, sid: int) -> None:
        (bucket,) = self._conn.execute(_SELECT_MARK, (sid,)).fetchone()
        if bucket is None:
            self._marks.pop(sid, None)
            return
        mark = bucket / MINUTE
        self._marks[sid] = mark
        self._max_mark = max(self._max_mark, mark)

    def iter_dirty_series(self) -> Iterator[int]:
        """Series with something to recompute (for tests and logs)."""
        self._load()
        yield from sorted({sid for sid, _ in self._dirty} | self._tails.keys())


def _runs(values: Sequence[float], gap: int) -> list[tuple[float, float]]:
    """Sorted integral ``values`` as ``(first, last)`` runs, joining gaps of up to ``gap``."""
    runs: list[tuple[float, float]] = []
    for value in values:
        if runs and value - runs[-1][1] <= gap:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    return runs


def _merge(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Overlapping or touching ``[start, end)`` spans joined, in order."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _split(start: float, end: float, seal: float) -> list[tuple[float, float, bool]]:
    """``[start, end)`` cut at ``seal``: the part before it is sealed (final)."""
    if seal <= start:
        return [(start, end, False)]
    if seal >= end:
        return [(start, end, True)]
    return [(start, seal, True), (seal, end, False)]


def _floor(value: float, width: float) -> float:
    return value if math.isinf(value) else (value // width) * width


def _ceil(value: float, width: float) -> float:
    return value if math.isinf(value) else -((-value) // width) * width

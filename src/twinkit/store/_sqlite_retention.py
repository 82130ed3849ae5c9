"""Retention: how long raw points and rollups are kept, and the purge that enforces it.

A rule names a scope and three ages in seconds (``None`` keeps forever): raw points, 1-minute
rollups, 1-hour rollups, with ``raw <= rollup_1m <= rollup_1h`` so that a range always has a
coarser level left when a finer one is gone. Scopes, the most specific winning as a whole:

- ``series:<twin id>/<name>``: one series;
- ``model:<dtmi>``: the series of every twin whose model is exactly that DTMI (models that
  extend it are not implied: a rule is about one kind of twin, and a base model is often shared
  by unrelated kinds);
- ``default``: every other series.

The series of a deleted twin keep their history under ``<id>@deleted:<seq>`` and follow the
default rule (or a ``series:`` rule under that name).

The purge works in chunks, each one short write transaction on the writer thread, so ingest
batches interleave with it. Before it deletes anything of a series it flushes that series'
dirty rollups; raw points go by whole minutes, and the rollup tracker records how far they went
(``rollup_sealed``) so later flushes keep the rollups that summarise purged points.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections import deque
from dataclasses import dataclass
from typing import Final

from twinkit.errors import NotFoundError, ValidationError
from twinkit.store._sqlite_rollups import HOUR, MINUTE, RollupTracker

__all__ = [
    "PurgeTask",
    "RetentionRule",
    "delete_rule",
    "plan_purge",
    "purge_chunk",
    "rules",
    "set_rule",
    "validate_rule",
]

logger = logging.getLogger(__name__)

_SCOPE_FORMS: Final = "'default', 'model:<dtmi>' or 'series:<twin id>/<telemetry name>'"
_SELECT_RULES: Final = "SELECT scope, raw, rollup_1m, rollup_1h FROM retention ORDER BY scope"
_UPSERT_RULE: Final = (
    "INSERT INTO retention (scope, raw, rollup_1m, rollup_1h) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (scope) DO UPDATE SET raw = excluded.raw, rollup_1m = excluded.rollup_1m, "
    "rollup_1h = excluded.rollup_1h"
)
_DELETE_RULE: Final = "DELETE FROM retention WHERE scope = ?"
_SELECT_SERIES: Final = """
SELECT s.id, s.twin_id, s.name, t.model,
    (SELECT min(time) FROM points WHERE series_id = s.id),
    (SELECT min(bucket) FROM rollups WHERE series_id = s.id AND width = 60),
    (SELECT min(bucket) FROM rollups WHERE series_id = s.id AND width = 3600)
FROM series AS s LEFT JOIN twins AS t ON t.id = s.twin_id
"""
_NTH_POINT: Final = (
    "SELECT time FROM points WHERE series_id = ? AND time < ? ORDER BY time LIMIT 1 OFFSET ?"
)
_DELETE_POINTS: Final = "DELETE FROM points WHERE series_id = ? AND time < ?"
_NTH_ROLLUP: Final = (
    "SELECT bucket FROM rollups WHERE series_id = ? AND width = ? AND bucket < ? "
    "ORDER BY bucket LIMIT 1 OFFSET ?"
)
_DELETE_ROLLUPS: Final = "DELETE FROM rollups WHERE series_id = ? AND width = ? AND bucket < ?"
_TASKS_PER_CHUNK: Final = 64


@dataclass(frozen=True, slots=True)
class RetentionRule:
    """How long the data of a scope is kept, in seconds; ``None`` keeps it forever."""

    scope: str
    raw: float | None = None
    rollup_1m: float | None = None
    rollup_1h: float | None = None


@dataclass(frozen=True, slots=True)
class PurgeTask:
    """What to delete of one series: everything before each cutoff (None: nothing)."""

    series_id: int
    raw_before: float | None
    minute_before: float | None
    hour_before: float | None


def validate_rule(rule: RetentionRule) -> RetentionRule:
    """``rule`` with its ages as floats; ValidationError naming the field that does not fit."""
    _check_scope(rule.scope)
    ages: list[float | None] = []
    for field in ("raw", "rollup_1m", "rollup_1h"):
        age = getattr(rule, field)
        if age is not None and (
            isinstance(age, bool)
            or not isinstance(age, int | float)
            or not math.isfinite(age)
            or age <= 0
        ):
            raise ValidationError(
                "bad retention age",
                path=f"retention {rule.scope!r}.{field}",
                expected="None (keep forever) or a number of seconds > 0",
                got=age,
            )
        ages.append(None if age is None else float(age))
    longest = [math.inf if age is None else age for age in ages]
    if not longest[0] <= longest[1] <= longest[2]:
        raise ValidationError(
            "retention ages out of order",
            path=f"retention {rule.scope!r}",
            expected="raw <= rollup_1m <= rollup_1h (None is forever): coarser data lives longer",
            got={"raw": ages[0], "rollup_1m": ages[1], "rollup_1h": ages[2]},
        )
    return RetentionRule(rule.scope, *ages)


def _check_scope(scope: object) -> None:
    if isinstance(scope, str):
        if scope == "default":
            return
        kind, _, rest = scope.partition(":")
        if kind == "model" and rest:
            return
        twin_id, _, name = rest.rpartition("/")
        if kind == "series" and twin_id and name:
            return
    raise ValidationError(
        "bad retention scope", path="retention scope", expected=_SCOPE_FORMS, got=scope
    )


def set_rule(conn: sqlite3.Connection, rule: RetentionRule) -> None:
    """Keep ``rule`` (already validated), replacing the scope's previous rule."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_UPSERT_RULE, (rule.scope, rule.raw, rule.rollup_1m, rule.rollup_1h))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def delete_rule(conn: sqlite3.Connection, scope: str) -> None:
    """Forget the rule of ``scope``; NotFoundError when there is none."""
    _check_scope(scope)
    if conn.execute(_DELETE_RULE, (scope,)).rowcount == 0:
        raise NotFoundError(f"no retention rule for scope {scope!r}; expected one that is set")


def rules(conn: sqlite3.Connection) -> list[RetentionRule]:
    """Every rule, by scope."""
    return [RetentionRule(*row) for row in conn.execute(_SELECT_RULES)]


def plan_purge(conn: sqlite3.Connection, now: float) -> list[PurgeTask]:
    """What the rules ask to delete at ``now``: cutoffs on whole hours, only series that hold
    something older. Read-only; a reader connection will do."""
    by_scope = {rule.scope: rule for rule in rules(conn)}
    if not by_scope:
        return []
    tasks = []
    for sid, twin_id, name, model, oldest, oldest_1m, oldest_1h in conn.execute(_SELECT_SERIES):
        rule = (
            by_scope.get(f"series:{twin_id}/{name}")
            or (by_scope.get(f"model:{model}") if model is not None else None)
            or by_scope.get("default")
        )
        if rule is None:
            continue
        # raw points not flushed yet become rollups before the purge deletes anything
        task = PurgeTask(
            sid,
            _cutoff(now, rule.raw, oldest),
            _cutoff(now, rule.rollup_1m, _least(oldest_1m, oldest)),
            _cutoff(now, rule.rollup_1h, _least(oldest_1h, oldest)),
        )
        if (task.raw_before, task.minute_before, task.hour_before) != (None, None, None):
            tasks.append(task)
    return tasks


def _least(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _cutoff(now: float, age: float | None, oldest: float | None) -> float | None:
    if age is None or oldest is None:
        return None
    cutoff = ((now - age) // HOUR) * HOUR
    return cutoff if oldest < cutoff else None


def purge_chunk(
    conn: sqlite3.Connection, tracker: RollupTracker, tasks: deque[PurgeTask], budget: int
) -> int:
    """Delete up to about ``budget`` rows for the first tasks in one transaction, after
    flushing their series; a task that is done leaves ``tasks``. Returns the rows deleted."""
    chosen = [tasks[i].series_id for i in range(min(len(tasks), _TASKS_PER_CHUNK))]
    tracker.flush(chosen)  # the purge never deletes what the rollups do not hold yet
    deleted = 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        for _ in range(len(chosen)):
            task = tasks[0]
            rows, rest = _purge_one(conn, tracker, task, budget - deleted)
            deleted += rows
            if rest is not None:
                tasks[0] = rest
                break
            tasks.popleft()
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        tracker.reload_seals()
        raise
    return deleted


def _purge_one(
    conn: sqlite3.Connection, tracker: RollupTracker, task: PurgeTask, budget: int
) -> tuple[int, PurgeTask | None]:
    """Rows deleted for ``task`` within ``budget``, and what is left of it (None: done)."""
    sid, deleted = task.series_id, 0
    if task.raw_before is not None:
        upto, done = _boundary(
            conn, _NTH_POINT, (sid,), cutoff=task.raw_before, budget=budget, unit=MINUTE
        )
        deleted += conn.execute(_DELETE_POINTS, (sid, upto)).rowcount
        tracker.seal(sid, raw_before=upto, minute_before=-math.inf)
        if not done:
            return deleted, task
    if task.minute_before is not None:
        cut = task.minute_before
        upto, done = _boundary(
            conn, _NTH_ROLLUP, (sid, 60), cutoff=cut, budget=budget - deleted, unit=MINUTE
        )
        deleted += conn.execute(_DELETE_ROLLUPS, (sid, 60, upto)).rowcount
        tracker.seal(sid, raw_before=-math.inf, minute_before=upto)
        if not done:
            return deleted, PurgeTask(sid, None, cut, task.hour_before)
    if task.hour_before is not None:
        cut = task.hour_before
        upto, done = _boundary(
            conn, _NTH_ROLLUP, (sid, 3600), cutoff=cut, budget=budget - deleted, unit=HOUR
        )
        deleted += conn.execute(_DELETE_ROLLUPS, (sid, 3600, upto)).rowcount
        if not done:
            return deleted, PurgeTask(sid, None, None, cut)
    return deleted, None


def _boundary(
    conn: sqlite3.Connection,
    nth: str,
    key: tuple[int, ...],
    *,
    cutoff: float,
    budget: int,
    unit: float,
) -> tuple[float, bool]:
    """Where a chunk of about ``budget`` rows before ``cutoff`` ends, on a whole ``unit``, at
    least one unit past the oldest row; and whether that is the cutoff itself."""
    row = conn.execute(nth, (*key, cutoff, max(budget, 1))).fetchone()
    if row is None:
        return cutoff, True
    (first,) = conn.execute(nth, (*key, cutoff, 0)).fetchone()
    upto = max((row[0] // unit) * unit, (first // unit + 1) * unit)
    return min(upto, cutoff), upto >= cutoff

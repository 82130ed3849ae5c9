"""What-if scenarios in SQLite: their records, and simulated points kept apart from reality's.

A scenario (:class:`ScenarioRecord`) is a row of ``scenarios``: its name, the JSON of its spec,
where its run stands (status, progress, the error it failed with) and who started it. Its
simulated series live in ``scenario_series`` and ``scenario_points``, tables of their own, so a
scenario can never be mistaken for a measurement and deleting one cannot touch reality.

The plain functions here run on the store's connections; :class:`ScenarioMethods` is the async
face :class:`~twinkit.store.SQLiteStore` inherits (writes on its writer thread, reads on
read-only connections beside it). Deleting a scenario removes its points in transactions of
:data:`DELETE_CHUNK` rows, so a large one does not hold the writer for long.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
import orjson

from twinkit.errors import ConflictError, NotFoundError, StoreError, ValidationError

__all__ = [
    "DELETE_CHUNK",
    "ScenarioBuckets",
    "ScenarioMethods",
    "ScenarioPoints",
    "ScenarioRecord",
    "ScenarioStatus",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_FloatArray = npt.NDArray[np.float64]

DELETE_CHUNK: Final = 50_000
"""Points deleted per transaction when a scenario is deleted."""


class ScenarioStatus(StrEnum):
    """Where a scenario's run stands; the last three are final."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in (ScenarioStatus.DONE, ScenarioStatus.FAILED, ScenarioStatus.CANCELLED)


@dataclass(frozen=True, slots=True)
class ScenarioRecord:
    """A scenario as kept: ``spec`` is the JSON of its spec, ``cause`` who ran it
    (``token:<id>``), ``progress`` the fraction of its horizon simulated (0 to 1)."""

    name: str
    spec: Mapping[str, Any]
    status: ScenarioStatus
    created: float
    cause: str
    progress: float = 0.0
    error: str | None = None
    started: float | None = None
    finished: float | None = None


@dataclass(frozen=True, slots=True)
class ScenarioPoints:
    """Points of one simulated series (``name``) of one twin, times in epoch seconds."""

    twin_id: str
    name: str
    times: _FloatArray
    values: _FloatArray


@dataclass(frozen=True, slots=True)
class ScenarioBuckets:
    """Aggregates per non-empty bucket ``k`` (``[start + k * width, start + (k + 1) * width)``)
    of the numeric points of one scenario series."""

    bucket: npt.NDArray[np.int64]
    count: npt.NDArray[np.int64]
    mean: _FloatArray
    min: _FloatArray
    max: _FloatArray


_COLUMNS: Final = "name, spec, status, progress, error, created, started, finished, cause"
_INSERT: Final = f"INSERT INTO scenarios ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_SELECT_ONE: Final = f"SELECT {_COLUMNS} FROM scenarios WHERE name = ?"
_SELECT_ALL: Final = f"SELECT {_COLUMNS} FROM scenarios ORDER BY created, rowid"
_UPDATABLE: Final = ("status", "progress", "error", "started", "finished")
_SERIES_ID: Final = "SELECT id FROM scenario_series WHERE scenario = ? AND twin_id = ? AND name = ?"
_INSERT_SERIES: Final = (
    "INSERT OR IGNORE INTO scenario_series (scenario, twin_id, name) VALUES (?, ?, ?)"
)
# A point at a time already kept replaces it: writing a chunk twice changes nothing.
_INSERT_POINT: Final = (
    "INSERT OR REPLACE INTO scenario_points (series_id, time, value) VALUES (?, ?, ?)"
)
_SELECT_SERIES: Final = (
    "SELECT twin_id, name FROM scenario_series WHERE scenario = ? ORDER BY twin_id, name"
)
_SELECT_POINTS: Final = (
    "SELECT time, value FROM scenario_points WHERE series_id = ? AND time >= ? AND time < ? "
    "ORDER BY time"
)
_SELECT_BUCKETS: Final = """
SELECT CAST((time - :start) / :width AS INTEGER) AS k, count(*), avg(value), min(value),
    max(value)
FROM scenario_points
WHERE series_id = :sid AND time >= :start AND time < :end AND value IS NOT NULL
GROUP BY k ORDER BY k
"""
_DELETE_POINTS: Final = (
    "DELETE FROM scenario_points WHERE series_id = :sid AND time IN "
    "(SELECT time FROM scenario_points WHERE series_id = :sid ORDER BY time LIMIT :n)"
)


# -- records ---------------------------------------------------------------------------------


def _record(row: Sequence[Any], where: str) -> ScenarioRecord:
    name, spec, status, progress, error, created, started, finished, cause = row
    try:
        decoded = orjson.loads(spec)
    except orjson.JSONDecodeError as err:
        raise StoreError(
            f"scenario {name!r} in {where} is unreadable: expected a JSON spec, got {err}"
        ) from err
    return ScenarioRecord(
        name=name,
        spec=decoded,
        status=ScenarioStatus(status),
        created=created,
        cause=cause,
        progress=progress,
        error=error,
        started=started,
        finished=finished,
    )


def _status(value: object, name: str) -> ScenarioStatus:
    try:
        return ScenarioStatus(str(value))
    except ValueError:
        raise ValidationError(
            "unknown scenario status",
            path=f"scenario {name}/status",
            expected=" | ".join(s.value for s in ScenarioStatus),
            got=value,
        ) from None


def _not_found(name: str, where: str) -> NotFoundError:
    return NotFoundError(
        f"scenario {name!r} not found in {where}; expected the name of a kept scenario",
        where=f"scenario {name}",
    )


def add_record(conn: sqlite3.Connection, where: str, record: ScenarioRecord) -> None:
    try:
        spec = orjson.dumps(dict(record.spec))
    except (orjson.JSONEncodeError, TypeError) as err:
        raise ValidationError(
            "a scenario spec must be JSON",
            path=f"scenario {record.name}/spec",
            expected="JSON values only",
            got=str(err),
        ) from err
    row = (
        record.name,
        spec,
        _status(record.status, record.name).value,
        record.progress,
        record.error,
        record.created,
        record.started,
        record.finished,
        record.cause,
    )
    try:
        conn.execute(_INSERT, row)
    except sqlite3.IntegrityError as err:
        raise ConflictError(
            f"a scenario named {record.name!r} is already kept in {where}; expected a new "
            "name (or delete the old scenario first)",
            where=f"scenario {record.name}",
        ) from err


def get_record(conn: sqlite3.Connection, where: str, name: str) -> ScenarioRecord:
    row = conn.execute(_SELECT_ONE, (name,)).fetchone()
    if row is None:
        raise _not_found(name, where)
    return _record(row, where)


def all_records(conn: sqlite3.Connection, where: str) -> list[ScenarioRecord]:
    return [_record(row, where) for row in conn.execute(_SELECT_ALL)]


def update_record(
    conn: sqlite3.Connection, where: str, name: str, changes: Mapping[str, Any]
) -> ScenarioRecord:
    values = {key: value for key, value in changes.items() if value is not None}
    unknown = set(values) - set(_UPDATABLE)
    if unknown:
        raise ValidationError(
            "not a field of a scenario that changes",
            path=f"scenario {name}",
            expected=f"some of {list(_UPDATABLE)}",
            got=sorted(unknown),
        )
    if "status" in values:
        values["status"] = _status(values["status"], name).value
    progress = values.get("progress")
    if progress is not None and not (isinstance(progress, float | int) and 0 <= progress <= 1):
        raise ValidationError(
            "scenario progress out of range",
            path=f"scenario {name}/progress",
            expected="a fraction from 0 to 1",
            got=progress,
        )
    if values:
        assignments = ", ".join(f"{key} = :{key}" for key in values)
        cursor = conn.execute(
            f"UPDATE scenarios SET {assignments} WHERE name = :name", {**values, "name": name}
        )
        if cursor.rowcount == 0:
            raise _not_found(name, where)
    return get_record(conn, where, name)


# -- points ----------------------------------------------------------------------------------


def _series_id(conn: sqlite3.Connection, scenario: str, twin_id: str, name: str) -> int | None:
    row = conn.execute(_SERIES_ID, (scenario, twin_id, name)).fetchone()
    return None if row is None else int(row[0])


def add_points(
    conn: sqlite3.Connection, where: str, name: str, chunk: Sequence[ScenarioPoints]
) -> int:
    """Insert every series of ``chunk`` in one transaction; returns the points written."""
    written = 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("SELECT 1 FROM scenarios WHERE name = ?", (name,)).fetchone() is None:
            raise _not_found(name, where)
        for points in chunk:
            if len(points.times) != len(points.values):
                raise ValidationError(
                    "scenario points with as many times as values",
                    path=f"scenario {name}/{points.twin_id}/{points.name}",
                    expected=f"{len(points.times)} values",
                    got=len(points.values),
                )
            conn.execute(_INSERT_SERIES, (name, points.twin_id, points.name))
            sid = _series_id(conn, name, points.twin_id, points.name)
            assert sid is not None  # inserted just above, in this transaction
            rows = list(
                zip(
                    itertools.repeat(sid),
                    np.asarray(points.times, dtype=np.float64).tolist(),
                    np.asarray(points.values, dtype=np.float64).tolist(),
                    strict=False,
                )
            )
            conn.executemany(_INSERT_POINT, rows)
            written += len(rows)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return written


def series_of(conn: sqlite3.Connection, where: str, name: str) -> list[tuple[str, str]]:
    get_record(conn, where, name)
    return [(str(t), str(n)) for t, n in conn.execute(_SELECT_SERIES, (name,))]


def _existing_series(
    conn: sqlite3.Connection, where: str, name: str, twin_id: str, series: str
) -> int | None:
    """The series id, None when the scenario has no such series (yet); NotFoundError when the
    scenario itself is unknown."""
    sid = _series_id(conn, name, twin_id, series)
    if sid is None:
        get_record(conn, where, name)
    return sid


def points_of(
    conn: sqlite3.Connection,
    where: str,
    *,
    name: str,
    twin_id: str,
    series: str,
    start: float,
    end: float,
) -> ScenarioPoints:
    sid = _existing_series(conn, where, name, twin_id, series)
    rows = [] if sid is None else conn.execute(_SELECT_POINTS, (sid, start, end)).fetchall()
    table = np.array(rows, dtype=np.float64).reshape(len(rows), 2)  # NULL (NaN) as NaN
    return ScenarioPoints(twin_id, series, table[:, 0].copy(), table[:, 1].copy())


def buckets_of(
    conn: sqlite3.Connection,
    where: str,
    *,
    name: str,
    twin_id: str,
    series: str,
    start: float,
    end: float,
    width: float,
) -> ScenarioBuckets:
    if not (math.isfinite(width) and width > 0):
        raise ValidationError("bad bucket width", path="width", expected="seconds > 0", got=width)
    sid = _existing_series(conn, where, name, twin_id, series)
    params = {"sid": sid, "start": start, "end": end, "width": width}
    rows = [] if sid is None else conn.execute(_SELECT_BUCKETS, params).fetchall()
    table = np.array(rows, dtype=np.float64).reshape(len(rows), 5)
    return ScenarioBuckets(
        bucket=table[:, 0].astype(np.int64),
        count=table[:, 1].astype(np.int64),
        mean=table[:, 2].copy(),
        min=table[:, 3].copy(),
        max=table[:, 4].copy(),
    )


def delete_points_chunk(conn: sqlite3.Connection, name: str, limit: int) -> int:
    """Delete up to ``limit`` points of the scenario's series (one transaction); 0 when none
    are left."""
    ids = [
        row[0] for row in conn.execute("SELECT id FROM scenario_series WHERE scenario = ?", (name,))
    ]
    deleted = 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sid in ids:
            if deleted >= limit:
                break
            cursor = conn.execute(_DELETE_POINTS, {"sid": sid, "n": limit - deleted})
            deleted += cursor.rowcount
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return deleted


def delete_record(conn: sqlite3.Connection, where: str, name: str) -> None:
    """Delete the scenario's (by now empty) series and its record, in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "DELETE FROM scenario_points WHERE series_id IN "
            "(SELECT id FROM scenario_series WHERE scenario = ?)",
            (name,),
        )
        conn.execute("DELETE FROM scenario_series WHERE scenario = ?", (name,))
        if conn.execute("DELETE FROM scenarios WHERE name = ?", (name,)).rowcount == 0:
            raise _not_found(name, where)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


# -- the async face --------------------------------------------------------------------------


class _Host(Protocol):
    """What :class:`ScenarioMethods` needs of the store it is mixed into."""

    _conn: sqlite3.Connection

    @property
    def path(self) -> str: ...

    async def _run(self, what: str, call: Callable[[], _T]) -> _T: ...

    async def read(self, what: str, call: Callable[[sqlite3.Connection], _T]) -> _T: ...


class ScenarioMethods:
    """The scenario methods of :class:`~twinkit.store.SQLiteStore` (a mixin)."""

    __slots__ = ()

    async def add_scenario(self: _Host, record: ScenarioRecord) -> None:
        """Keep a new scenario; ConflictError when its name is taken."""
        await self._run(
            f"adding scenario {record.name!r}",
            functools.partial(add_record, self._conn, self.path, record),
        )

    async def update_scenario(
        self: _Host,
        name: str,
        *,
        status: ScenarioStatus | None = None,
        progress: float | None = None,
        error: str | None = None,
        started: float | None = None,
        finished: float | None = None,
    ) -> ScenarioRecord:
        """Set the given fields of a scenario (None leaves one as it is); returns it as kept."""
        changes = {
            "status": status,
            "progress": progress,
            "error": error,
            "started": started,
            "finished": finished,
        }
        return await self._run(
            f"updating scenario {name!r}",
            functools.partial(update_record, self._conn, self.path, name, changes),
        )

    async def scenario(self: _Host, name: str) -> ScenarioRecord:
        """One scenario; NotFoundError for an unknown name."""
        return await self.read(
            f"reading scenario {name!r}",
            functools.partial(get_record, where=self.path, name=name),
        )

    async def scenarios(self: _Host) -> list[ScenarioRecord]:
        """Every scenario, oldest first."""
        return await self.read("listing scenarios", functools.partial(all_records, where=self.path))

    async def delete_scenario(self: _Host, name: str) -> None:
        """Forget a scenario and every point of it (in chunks); NotFoundError when unknown."""
        await self._run(
            f"reading scenario {name!r}", functools.partial(get_record, self._conn, self.path, name)
        )
        removed = 0
        while True:
            done = await self._run(
                f"deleting points of scenario {name!r}",
                functools.partial(delete_points_chunk, self._conn, name, DELETE_CHUNK),
            )
            removed += done
            if done == 0:
                break
        await self._run(
            f"deleting scenario {name!r}",
            functools.partial(delete_record, self._conn, self.path, name),
        )
        logger.info("deleted scenario %s and its %d points from %s", name, removed, self.path)

    async def add_scenario_points(self: _Host, name: str, chunk: Sequence[ScenarioPoints]) -> int:
        """Keep simulated points of a scenario in one transaction; returns how many."""
        return await self._run(
            f"writing points of scenario {name!r}",
            functools.partial(add_points, self._conn, self.path, name, chunk),
        )

    async def scenario_series(self: _Host, name: str) -> list[tuple[str, str]]:
        """(twin id, series name) of every series of a scenario, sorted."""
        return await self.read(
            f"listing series of scenario {name!r}",
            functools.partial(series_of, where=self.path, name=name),
        )

    async def scenario_points(
        self: _Host, name: str, twin_id: str, series: str, start: float, end: float
    ) -> ScenarioPoints:
        """Points of one scenario series with ``start <= time < end``, by time (none when the
        scenario has no such series)."""
        return await self.read(
            f"reading {twin_id!r}/{series!r} of scenario {name!r}",
            functools.partial(
                points_of,
                where=self.path,
                name=name,
                twin_id=twin_id,
                series=series,
                start=start,
                end=end,
            ),
        )

    async def scenario_buckets(
        self: _Host,
        name: str,
        twin_id: str,
        series: str,
        start: float,
        end: float,
        *,
        width: float,
    ) -> ScenarioBuckets:
        """Count, mean, min and max per bucket of ``width`` seconds from ``start``."""
        return await self.read(
            f"aggregating {twin_id!r}/{series!r} of scenario {name!r}",
            functools.partial(
                buckets_of,
                where=self.path,
                name=name,
                twin_id=twin_id,
                series=series,
                start=start,
                end=end,
                width=width,
            ),
        )

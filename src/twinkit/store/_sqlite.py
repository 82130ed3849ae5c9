"""The embedded store: SQLite from the standard library, behind the async Store protocol.

Async API, synchronous engine. All SQLite work runs on one dedicated thread that owns the only
connection (:class:`~twinkit.store._sqlite_engine.SQLiteEngine`); coroutines hand it calls and
await the result, so the event loop never blocks on disk, and calls run one at a time in the
order they were made. A batch is one ``BEGIN IMMEDIATE ... COMMIT`` with ``executemany``.

Durability: the database is in WAL mode. With ``synchronous="FULL"`` (the default) the WAL is
synced on every commit, so a batch acknowledged after ``append`` returns survives power loss
too, at the cost of one fsync per batch (3-4% of throughput measured by ``bench/store.py``):
twinkit promises that an acknowledged message is durable. ``synchronous="NORMAL"`` keeps every
commit atomic and safe from a process crash, but the last commits before a power cut or an OS
crash may be rolled back on the next open; the database itself is never corrupted.

Cancelling a coroutine that awaits a write does not cancel the write: once handed to the
thread, it commits or rolls back as a whole.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from twinkit.core import Event, Point, Touch, Twin
from twinkit.errors import StoreError, ValidationError
from twinkit.store import _sqlite_history as _history
from twinkit.store import _sqlite_retention as _retention
from twinkit.store import _sqlite_series as _series
from twinkit.store._protocol import DeadLetter, Store, TokenRecord
from twinkit.store._sqlite_engine import BUSY_TIMEOUT_S, SQLiteEngine, Synchronous, connect
from twinkit.store._sqlite_history import TwinRows
from twinkit.store._sqlite_maintenance import Maintenance
from twinkit.store._sqlite_predictors import PredictorMethods
from twinkit.store._sqlite_readers import ReaderPool
from twinkit.store._sqlite_records import RecordsEngine
from twinkit.store._sqlite_scenarios import ScenarioMethods

__all__ = ["SQLiteStore"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_SYNCHRONOUS = ("NORMAL", "FULL")


class SQLiteStore(ScenarioMethods, PredictorMethods):
    """A :class:`~twinkit.store.Store` in one SQLite file (or in memory).

    Open with ``store = await SQLiteStore.open(path)`` and ``await store.close()`` when done,
    or ``async with await SQLiteStore.open(path) as store:``. The what-if scenario methods
    come from :class:`~twinkit.store._sqlite_scenarios.ScenarioMethods`, the predictor registry
    methods from :class:`~twinkit.store._sqlite_predictors.PredictorMethods`.
    """

    __slots__ = (
        "_closed",
        "_conn",
        "_engine",
        "_executor",
        "_maintenance",
        "_readers",
        "_records",
        "_where",
    )

    def __init__(self, conn: sqlite3.Connection, executor: ThreadPoolExecutor, where: str) -> None:
        """Use :meth:`open`; this takes a connection made on ``executor``'s one thread."""
        self._conn = conn
        self._engine = SQLiteEngine(conn, where)
        self._records = RecordsEngine(conn, where)
        self._executor = executor
        self._readers = None if _in_memory(where) else ReaderPool(where, BUSY_TIMEOUT_S)
        self._where = where
        self._closed = False
        self._maintenance: Maintenance | None = None

    @classmethod
    async def open(
        cls, path: str | os.PathLike[str], *, synchronous: Synchronous = "FULL"
    ) -> SQLiteStore:
        """Open (creating and migrating if needed) the database at ``path`` or ``":memory:"``."""
        if synchronous not in _SYNCHRONOUS:
            raise ValidationError(
                "unknown SQLite synchronous mode",
                path="SQLiteStore.open(synchronous=...)",
                expected=" or ".join(repr(mode) for mode in _SYNCHRONOUS),
                got=synchronous,
            )
        where = os.fspath(path)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="twinkit-sqlite")
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(executor, connect, where, synchronous)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        logger.debug("opened %s (synchronous=%s)", where, synchronous)
        return cls(conn, executor, where)

    async def __aenter__(self) -> SQLiteStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def path(self) -> str:
        """The database file, or ``":memory:"``."""
        return self._where

    async def _run(self, what: str, call: Callable[[], _T]) -> _T:
        """Run ``call`` on the store's thread; SQLite errors become StoreErrors naming ``what``."""
        if self._closed:
            raise StoreError(f"{what} on {self._where}: expected an open store, got a closed one")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, call)
        except sqlite3.Error as err:
            raise StoreError(f"{what} failed on {self._where}: {err}") from err

    async def read(self, what: str, call: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``call(connection)`` on a read-only connection, beside the writer (WAL).

        ``call`` sees the last committed state; it must not write. For an in-memory database
        it runs on the writer's thread. SQLite errors become StoreErrors naming ``what``.
        """
        if self._closed:
            raise StoreError(f"{what} on {self._where}: expected an open store, got a closed one")
        readers = self._readers
        if readers is None:
            return await self._run(what, functools.partial(call, self._conn))
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                readers.executor, functools.partial(readers.call, call)
            )
        except sqlite3.Error as err:
            raise StoreError(f"{what} failed on {self._where}: {err}") from err

    # -- the live data ---------------------------------------------------------------------

    async def append(
        self,
        events: Sequence[Event],
        points: Sequence[Point] = (),
        touches: Sequence[Touch] = (),
        twins: Mapping[str, Twin] | None = None,
    ) -> None:
        """Write a batch in one transaction. A (twin, seq) already stored is a ConflictError.

        A point at a (series, time) already stored is ignored, as is a touch older than the one
        kept for its property: a redelivered message changes nothing. ``twins`` (each changed
        twin's state after ``events``) keeps the query index of the graph up to date.
        """
        await self._run(
            "append", functools.partial(self._engine.append, events, points, touches, twins)
        )

    async def events(self, twin_id: str, since_seq: int = 0) -> list[Event]:
        """The twin's events with ``seq > since_seq``, in order."""
        return await self._run(
            f"reading events of twin {twin_id!r}",
            functools.partial(self._engine.events, twin_id, since_seq),
        )

    async def load_twins(self) -> tuple[list[Twin], list[Event]]:
        """Every snapshot, and every event after its twin's snapshot, by twin then seq."""
        return await self._run("loading twins", self._engine.load_twins)

    async def last_seqs(self) -> dict[str, int]:
        """Every twin's last sequence number (for the runtime to resume after a restart)."""
        return await self._run("reading last seqs", self._engine.last_seqs)

    async def save_snapshot(self, twin: Twin) -> None:
        """Keep ``twin`` unless a snapshot of a newer version of it is already kept."""
        await self._run(
            f"saving snapshot of twin {twin.id!r}",
            functools.partial(self._engine.save_snapshot, twin),
        )

    async def snapshot(self, twin_id: str) -> Twin | None:
        """The newest snapshot of the twin, or None."""
        return await self._run(
            f"reading snapshot of twin {twin_id!r}",
            functools.partial(self._engine.snapshot, twin_id),
        )

    async def points(
        self, twin_id: str, name: str, start: float, end: float, limit: int | None = None
    ) -> list[Point]:
        """Points of one series with ``start <= time < end``, by time.

        Values come back as they were sent (NaN, booleans, strings and other JSON included),
        except that every number comes back as a float.
        """
        if limit is not None and limit < 0:
            raise ValidationError(
                "negative point limit",
                path=f"points of {twin_id!r}/{name!r}",
                expected="None or a count >= 0",
                got=limit,
            )
        return await self._run(
            f"reading points of {twin_id!r}/{name!r}",
            functools.partial(
                self._engine.points, twin_id, name, start, end, -1 if limit is None else limit
            ),
        )

    async def latest_points(self) -> list[Point]:
        """The newest point of every series, by twin and name (values as in :meth:`points`)."""
        return await self._run("reading the newest points", self._engine.latest_points)

    async def touches(self) -> list[Touch]:
        """The newest touch of every property, by twin and name."""
        return await self._run("reading touches", self._engine.touches)

    # -- history ---------------------------------------------------------------------------
    # Time travel reads (see _sqlite_history.py); all on read-only connections (read()).

    async def twin_rows_as_of(self, twin_id: str, at: float) -> TwinRows:
        """The history snapshot and events that the state of one twin as of ``at`` folds."""
        return await self.read(
            f"reading the history of twin {twin_id!r} as of {at}",
            functools.partial(_history.twin_rows, twin_id=twin_id, at=at),
        )

    async def graph_rows_as_of(
        self, at: float, twin_ids: Sequence[str] | None = None
    ) -> list[TwinRows]:
        """:meth:`twin_rows_as_of` of every twin ever created (or of ``twin_ids``), by id."""
        return await self.read(
            f"reading the history of the graph as of {at}",
            functools.partial(_history.graph_rows, at=at, twin_ids=twin_ids),
        )

    async def changed_twin_ids(self, start: float, end: float) -> list[str]:
        """Ids of the twins with an event whose time is in ``(start, end]``, sorted."""
        return await self.read(
            f"finding twins changed between {start} and {end}",
            functools.partial(_history.changed_twin_ids, start=start, end=end),
        )

    async def points_as_of(self, series_twin_ids: Sequence[str], at: float) -> list[Point]:
        """The newest point at or before ``at`` of every series of these twin ids (a deleted
        twin's series are under ``<id>@deleted:<seq>``), by series twin id and name."""
        return await self.read(
            f"reading the series of {len(series_twin_ids)} twins as of {at}",
            functools.partial(_history.points_as_of, series_twin_ids=series_twin_ids, at=at),
        )

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
    ) -> list[Event]:
        """Events that changed property ``name`` of ``twin_id`` with ``start <= time < end``,
        by (time, seq), newest or oldest first, from after the ``(time, seq)`` ``after``."""
        return await self.read(
            f"reading the history of property {name!r} of twin {twin_id!r}",
            functools.partial(
                _history.property_events,
                twin_id=twin_id,
                name=name,
                start=start,
                end=end,
                limit=limit,
                newest_first=newest_first,
                after=after,
            ),
        )

    # -- series ----------------------------------------------------------------------------
    # Series queries, rollups and retention: _sqlite_series.py (reads), _sqlite_rollups.py,
    # _sqlite_retention.py, _sqlite_maintenance.py. Reads run on read-only connections.

    async def series_page(
        self, twin_id: str, name: str, start: float, end: float, *, after: float, limit: int
    ) -> _series.PointPage:
        """At most ``limit`` raw points with ``start <= time < end`` and ``time > after``."""
        return await self.read(
            f"reading points of {twin_id!r}/{name!r}",
            functools.partial(
                _series.page,
                twin_id=twin_id,
                name=name,
                start=start,
                end=end,
                after=after,
                limit=limit,
            ),
        )

    async def series_tail(
        self, twin_id: str, name: str, end: float, *, limit: int
    ) -> _series.PointPage:
        """The newest ``limit`` raw points with ``time < end``, in time order."""
        return await self.read(
            f"reading the newest points of {twin_id!r}/{name!r}",
            functools.partial(_series.tail, twin_id=twin_id, name=name, end=end, limit=limit),
        )

    async def series_aggregates(
        self,
        twin_id: str,
        name: str,
        start: float,
        end: float,
        *,
        width: float,
        origin: float = 0.0,
        use_rollups: bool = True,
    ) -> _series.Aggregates:
        """Aggregates per bucket of ``width`` seconds (aligned to ``origin``) over
        ``[start, end)``, read from the rollups where they fit; the series' dirty rollups are
        flushed first, so the result equals aggregating the raw points."""
        await self._run(
            f"flushing the rollups of {twin_id!r}/{name!r}",
            functools.partial(self._flush_series, twin_id, name),
        )
        return await self.read(
            f"aggregating {twin_id!r}/{name!r}",
            functools.partial(
                _series.aggregates,
                twin_id=twin_id,
                name=name,
                start=start,
                end=end,
                width=width,
                origin=origin,
                use_rollups=use_rollups,
            ),
        )

    def _flush_series(self, twin_id: str, name: str) -> None:
        series_id = self._engine.series_id(twin_id, name)
        if series_id is not None:
            self._engine.rollups.flush([series_id])

    async def flush_rollups(self, *, chunk: int = 500) -> int:
        """Bring the rollups of every dirty series up to date, ``chunk`` series per writer
        call so that ingest goes on in between; returns the series flushed."""
        rollups = self._engine.rollups
        pending = await self._run("counting dirty rollups", rollups.pending)
        flushed = 0
        for _ in range(-(-pending // chunk)):
            done = await self._run(
                "flushing rollups", functools.partial(rollups.flush, None, chunk)
            )
            if not done:
                break
            flushed += done
        return flushed

    async def set_retention(self, rule: _retention.RetentionRule) -> _retention.RetentionRule:
        """Keep a retention rule (replacing its scope's); returns it as kept."""
        rule = _retention.validate_rule(rule)
        await self._run(
            f"setting retention of {rule.scope!r}",
            functools.partial(_retention.set_rule, self._conn, rule),
        )
        return rule

    async def delete_retention(self, scope: str) -> None:
        """Forget the retention rule of ``scope``; NotFoundError when there is none."""
        await self._run(
            f"deleting retention of {scope!r}",
            functools.partial(_retention.delete_rule, self._conn, scope),
        )

    async def retention_rules(self) -> list[_retention.RetentionRule]:
        """Every retention rule, by scope."""
        return await self.read("reading retention rules", _retention.rules)

    async def purge(self, now: float | None = None, *, chunk: int = 5000) -> int:
        """Delete what the retention rules no longer keep at ``now`` (default: the clock), in
        transactions of about ``chunk`` rows; returns the rows deleted."""
        when = time.time() if now is None else now
        tasks = deque(
            await self.read(
                "planning the retention purge", functools.partial(_retention.plan_purge, now=when)
            )
        )
        deleted = 0
        step = functools.partial(
            _retention.purge_chunk, self._conn, self._engine.rollups, tasks, chunk
        )
        while tasks:
            deleted += await self._run("purging by retention", step)
        if deleted:
            logger.info("retention purged %d rows from %s", deleted, self._where)
        return deleted

    async def analyze(self) -> int:
        """Refresh SQLite's query planner statistics (a bounded ``ANALYZE``: about a thousand
        rows per index, milliseconds); returns the number of tables with statistics.

        Twin queries need them: without, a join may start from the less selective side.
        The maintenance task calls this every purge round; call it after a bulk load.
        """

        def run() -> int:
            self._conn.execute("PRAGMA analysis_limit = 1000")
            self._conn.execute("ANALYZE")
            row = self._conn.execute("SELECT count(DISTINCT tbl) FROM sqlite_stat1").fetchone()
            return int(row[0])

        return await self._run("refreshing planner statistics", run)

    def start_maintenance(
        self, *, interval: float = 5.0, purge_interval: float = 600.0
    ) -> Maintenance:
        """Flush rollups every ``interval`` s and purge by retention every ``purge_interval``
        s in the background until :meth:`close`; a second call returns the running task."""
        if self._maintenance is None or not self._maintenance.running:
            self._maintenance = Maintenance(self, interval=interval, purge_interval=purge_interval)
            self._maintenance.start()
        return self._maintenance

    # -- models ----------------------------------------------------------------------------

    async def save_models(self, documents: Sequence[dict[str, Any]], uploaded: float) -> None:
        """Keep DTDL interface documents by their ``@id``, all in one transaction or none.

        An ``@id`` already kept with the same JSON is skipped (keeping its first upload time);
        with a different document it is a ConflictError naming the id, and nothing is kept.
        """
        await self._run(
            f"saving {len(documents)} model documents",
            functools.partial(self._records.save_models, documents, uploaded),
        )

    async def models(self) -> list[dict[str, Any]]:
        """Every kept DTDL document, in upload order."""
        return await self._run("reading models", self._records.models)

    async def delete_model(self, model_id: str) -> None:
        """Forget the model; NotFoundError when it is not kept."""
        await self._run(
            f"deleting model {model_id!r}",
            functools.partial(self._records.delete_model, model_id),
        )

    # -- tokens ----------------------------------------------------------------------------

    async def add_token(self, record: TokenRecord) -> None:
        """Keep a new token; ConflictError when its id or its hash is already kept."""
        await self._run(
            f"adding token {record.id!r}", functools.partial(self._records.add_token, record)
        )

    async def token_by_hash(self, hash: bytes) -> TokenRecord | None:
        """The token with this hash, revoked or not, or None."""
        return await self._run(
            "looking up a token", functools.partial(self._records.token_by_hash, hash)
        )

    async def tokens(self) -> list[TokenRecord]:
        """Every token, revoked ones included, by creation time."""
        return await self._run("listing tokens", self._records.tokens)

    async def revoke_token(self, token_id: str, when: float) -> None:
        """Mark the token revoked at ``when`` (a second revocation keeps the first time)."""
        await self._run(
            f"revoking token {token_id!r}",
            functools.partial(self._records.revoke_token, token_id, when),
        )

    # -- dead letters ----------------------------------------------------------------------

    async def add_dead_letter(
        self, source: str, payload: bytes, reason: str, received: float
    ) -> int:
        """Keep a rejected message; returns its id."""
        return await self._run(
            f"keeping a dead letter from {source!r}",
            functools.partial(self._records.add_dead_letter, source, payload, reason, received),
        )

    async def dead_letters(
        self, *, pending_only: bool = True, limit: int = 100
    ) -> list[DeadLetter]:
        """Dead letters, oldest first; only those not yet replayed unless ``pending_only=False``."""
        return await self._run(
            "listing dead letters",
            functools.partial(self._records.dead_letters, pending_only, limit),
        )

    async def dead_letter(self, dead_letter_id: int) -> DeadLetter:
        """One dead letter, replayed or not; NotFoundError for an unknown id."""
        return await self._run(
            f"reading dead letter {dead_letter_id}",
            functools.partial(self._records.dead_letter, dead_letter_id),
        )

    async def mark_replayed(self, dead_letter_id: int, when: float) -> None:
        """Record that the dead letter was replayed at ``when``; NotFoundError for an unknown id."""
        await self._run(
            f"marking dead letter {dead_letter_id} replayed",
            functools.partial(self._records.mark_replayed, dead_letter_id, when),
        )

    async def close(self) -> None:
        """Close the connection and stop the thread; closing twice is harmless."""
        if self._closed:
            return
        try:
            if self._maintenance is not None:
                await self._maintenance.stop()
            if self._readers is not None:
                await asyncio.to_thread(self._readers.close)
            await self._run("close", self._engine.close)
        finally:
            self._closed = True
            self._executor.shutdown(wait=True)
            logger.debug("closed %s", self._where)


def _in_memory(where: str) -> bool:
    return where in {":memory:", ""} or where.startswith("file::memory:")


if TYPE_CHECKING:

    def _is_a_store(store: SQLiteStore) -> Store:
        """Never called: makes mypy check that SQLiteStore implements every Store method."""
        return store

"""Bulk export: series points and twin documents to Parquet or CSV, streamed in chunks.

Series are read one series at a time and one page of at most ``chunk_rows`` points at a time
(keyset pages on the ``(series_id, time)`` primary key, on the store's reader threads), turned
into Arrow record batches and written with pyarrow's incremental Parquet and CSV writers. Memory
stays at about one chunk whatever the history's size. A file is written under a temporary name
beside the target and renamed when complete, so a failed export leaves no half file behind.

The long format of the series file is described in :mod:`twinkit.query._bulk`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import sqlite3
import time as _time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

import numpy as np
import orjson
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pyarrow.csv as pa_csv  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from twinkit.errors import NotFoundError, ValidationError
from twinkit.model import ModelSet
from twinkit.model.dtdl import parse
from twinkit.query._bulk import (
    MAX_SECONDS,
    BulkStore,
    Format,
    ProgressFactory,
    file_format,
    seconds_to_ns,
)
from twinkit.store._sqlite_index import twin_document

__all__ = [
    "SERIES_SCHEMA",
    "ExportSummary",
    "SeriesFilter",
    "SeriesRef",
    "export_series",
    "export_twins",
    "iter_series_batches",
    "list_series",
    "series_table",
    "twin_table",
    "twins_to_table",
    "write_table",
]

logger = logging.getLogger(__name__)

SERIES_SCHEMA: Final = pa.schema(
    [
        ("twin_id", pa.string()),
        ("name", pa.string()),
        ("time", pa.timestamp("ns", tz="UTC")),
        ("value", pa.float64()),
        ("json", pa.string()),
    ]
)
"""The long format of exported series (see :mod:`twinkit.query._bulk`)."""

_DELETED: Final = "@deleted:"  # retired series of a deleted twin: "<id>@deleted:<seq>"
_SELECT_SERIES: Final = "SELECT id, twin_id, name FROM series ORDER BY twin_id, name"
_SELECT_TWIN_MODELS: Final = "SELECT id, model FROM twins"
_SELECT_TWINS: Final = "SELECT id, model, version, doc FROM twins ORDER BY id"
_FIRST_PAGE: Final = (
    "SELECT time, value, data FROM points "
    "WHERE series_id = ? AND time >= ? AND time < ? ORDER BY time LIMIT ?"
)
_NEXT_PAGE: Final = (
    "SELECT time, value, data FROM points "
    "WHERE series_id = ? AND time > ? AND time < ? ORDER BY time LIMIT ?"
)
_COUNT: Final = "SELECT count(*) FROM points WHERE series_id = ? AND time >= ? AND time < ?"
_CSV_TIME: Final = "%Y-%m-%dT%H:%M:%SZ"  # %S of a nanosecond timestamp has 9 decimals
_PROPERTY_PREFIX: Final = "properties."


@dataclass(frozen=True, slots=True)
class SeriesFilter:
    """Which series and points to export; an empty tuple means "all".

    ``models`` takes the twins of those models and of models extending them. ``start`` and
    ``end`` bound point times (seconds since the epoch, ``start <= time < end``).
    ``include_deleted`` adds the history of deleted twins, kept under ``<id>@deleted:<seq>``.
    """

    twins: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    start: float | None = None
    end: float | None = None
    include_deleted: bool = False

    def __post_init__(self) -> None:
        for label, bound in (("start", self.start), ("end", self.end)):
            if bound is not None and math.isnan(bound):
                raise ValidationError(
                    f"series filter {label} is NaN", path=label, expected="a time", got=bound
                )
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValidationError(
                "empty time range",
                path="start/end",
                expected="start before end",
                got=f"start {self.start}, end {self.end}",
            )

    @property
    def bounds(self) -> tuple[float, float]:
        """``(start, end)`` with infinities for open ends."""
        start = -math.inf if self.start is None else self.start
        return start, math.inf if self.end is None else self.end


@dataclass(frozen=True, slots=True)
class SeriesRef:
    """One stored series: its key in the store, its twin and its content name."""

    id: int
    twin_id: str
    name: str


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What an export wrote: ``rows`` points or twins from ``items`` series or twins."""

    path: Path
    format: Format
    rows: int
    items: int
    seconds: float
    bytes: int


# --- choosing ------------------------------------------------------------------------------


async def _model_set(store: BulkStore) -> ModelSet:
    documents = await store.models()
    return parse(documents) if documents else ModelSet()


async def twins_of_models(store: BulkStore, models: Sequence[str]) -> set[str]:
    """Ids of the live twins whose model is one of ``models`` or extends one of them."""
    model_set = await _model_set(store)
    for model in models:
        if model not in model_set:
            raise NotFoundError(
                f"model {model!r} not found: expected one of the store's models "
                f"({', '.join(sorted(str(m) for m in model_set)) or 'none'})",
                where=model,
            )
    rows = await store.read(
        "reading twin models", lambda conn: conn.execute(_SELECT_TWIN_MODELS).fetchall()
    )
    matches: dict[str, bool] = {}
    found = set()
    for twin_id, model in rows:
        hit = matches.get(model)
        if hit is None:
            hit = matches[model] = model in model_set and any(
                model_set.is_a(model, base) for base in models
            )
        if hit:
            found.add(twin_id)
    return found


async def list_series(store: BulkStore, where: SeriesFilter = SeriesFilter()) -> list[SeriesRef]:
    """The stored series ``where`` selects, by twin id then name."""
    rows: list[tuple[int, str, str]] = await store.read(
        "listing series", lambda conn: conn.execute(_SELECT_SERIES).fetchall()
    )
    twins = set(where.twins)
    if where.models:
        of_models = await twins_of_models(store, where.models)
        twins = of_models if not twins else twins & of_models
        if not twins:
            return []
    names = set(where.names)
    selected = []
    for series_id, twin_id, name in rows:
        live_id, deleted, _ = twin_id.partition(_DELETED)
        if deleted and not where.include_deleted:
            continue
        if (twins and live_id not in twins) or (names and name not in names):
            continue
        selected.append(SeriesRef(series_id, twin_id, name))
    return selected


# --- reading points ------------------------------------------------------------------------


def _page(
    conn: sqlite3.Connection,
    ref: SeriesRef,
    *,
    after: float | None,
    start: float,
    end: float,
    limit: int,
) -> tuple[pa.RecordBatch, float] | None:
    """Up to ``limit`` points of ``ref`` from ``start`` (or after ``after``) as a record batch,
    with the stored time of the last one (where the next page starts)."""
    if after is None:
        rows = conn.execute(_FIRST_PAGE, (ref.id, start, end, limit)).fetchall()
    else:
        rows = conn.execute(_NEXT_PAGE, (ref.id, after, end, limit)).fetchall()
    if not rows:
        return None
    count = len(rows)
    times, values, data = zip(*rows, strict=True)
    seconds = np.array(times, dtype=np.float64)
    if seconds[0] <= -MAX_SECONDS or seconds[-1] >= MAX_SECONDS:
        raise ValidationError(
            "a point time cannot be written as a nanosecond timestamp",
            path=f"series {ref.twin_id!r}/{ref.name!r}",
            expected="times between the years 1677 and 2262",
            got=float(seconds[0] if seconds[0] <= -MAX_SECONDS else seconds[-1]),
        )
    numbers = np.array(values, dtype=np.float64)  # None (NULL: NaN or not a number) -> NaN
    if any(item is not None for item in data):
        missing = np.array(
            [v is None and d is not None for v, d in zip(values, data, strict=True)], dtype=bool
        )
        value = pa.array(numbers, mask=missing)
        text = pa.array([None if d is None else bytes(d).decode() for d in data], pa.string())
    else:
        value = pa.array(numbers)
        text = pa.nulls(count, pa.string())
    columns = [
        pa.repeat(ref.twin_id, count),
        pa.repeat(ref.name, count),
        pa.array(seconds_to_ns(seconds)).cast(SERIES_SCHEMA.field("time").type),
        value,
        text,
    ]
    return pa.RecordBatch.from_arrays(columns, schema=SERIES_SCHEMA), float(seconds[-1])


async def iter_series_batches(
    store: BulkStore,
    where: SeriesFilter = SeriesFilter(),
    *,
    chunk_rows: int = 100_000,
    series: Sequence[SeriesRef] | None = None,
) -> AsyncIterator[pa.RecordBatch]:
    """Record batches (:data:`SERIES_SCHEMA`) of the selected points, series by series, each
    of at most ``chunk_rows`` points in time order. ``series`` skips the listing when the caller
    already has it (from :func:`list_series` with the same filter)."""
    if chunk_rows < 1:
        raise ValidationError(
            "chunk size too small", path="chunk_rows", expected="at least 1", got=chunk_rows
        )
    start, end = where.bounds
    for ref in await list_series(store, where) if series is None else series:
        after: float | None = None
        while True:
            page = await store.read(
                f"reading points of {ref.twin_id!r}/{ref.name!r}",
                functools.partial(
                    _page, ref=ref, after=after, start=start, end=end, limit=chunk_rows
                ),
            )
            if page is None:
                break
            batch, after = page
            yield batch
            if batch.num_rows < chunk_rows:
                break


async def series_table(store: BulkStore, where: SeriesFilter = SeriesFilter()) -> pa.Table:
    """The selected points as one Arrow table (in memory: for ranges that fit; ``.to_pandas()``
    gives a DataFrame). Large exports should stream with :func:`export_series`."""
    batches = [batch async for batch in iter_series_batches(store, where)]
    return pa.Table.from_batches(batches, schema=SERIES_SCHEMA)


async def _count(store: BulkStore, series: Sequence[SeriesRef], where: SeriesFilter) -> int:
    start, end = where.bounds

    def count(conn: sqlite3.Connection) -> int:
        return sum(int(conn.execute(_COUNT, (s.id, start, end)).fetchone()[0]) for s in series)

    return await store.read("counting points", count)


# --- writing -------------------------------------------------------------------------------


class _TableWriter:
    """Writes tables of one schema to a Parquet or CSV file, chunk after chunk."""

    def __init__(self, path: Path, fmt: Format, schema: pa.Schema) -> None:
        self._format = fmt
        self._csv_time = [i for i, f in enumerate(schema) if pa.types.is_timestamp(f.type)]
        if fmt == "parquet":
            self._writer: Any = pq.ParquetWriter(path, schema, compression="zstd")
        else:
            csv_schema = schema
            for index in self._csv_time:
                csv_schema = csv_schema.set(index, pa.field(schema[index].name, pa.string()))
            self._writer = pa_csv.CSVWriter(path, csv_schema)

    def write(self, table: pa.Table) -> None:
        if self._format == "csv":
            for index in self._csv_time:
                iso = pc.strftime(table.column(index), format=_CSV_TIME)
                table = table.set_column(index, table.schema[index].name, iso)
        self._writer.write_table(table)

    def close(self) -> None:
        self._writer.close()


@contextlib.contextmanager
def _atomic(path: Path) -> Any:
    """A temporary path beside ``path``, renamed to it on success and removed on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its file is private (0600); the writer creates this one as any file.
    partial = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
    try:
        yield partial
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_table(table: pa.Table, out: str | Path, *, format: str | None = None) -> Path:
    """Write an Arrow table to Parquet or CSV (by ``format`` or the file name), atomically."""
    path = Path(out)
    fmt = file_format(path, format)
    with _atomic(path) as partial:
        writer = _TableWriter(partial, fmt, table.schema)
        try:
            writer.write(table)
        finally:
            writer.close()
    return path


async def export_series(
    store: BulkStore,
    out: str | Path,
    *,
    format: str | None = None,
    where: SeriesFilter = SeriesFilter(),
    chunk_rows: int = 100_000,
    progress: ProgressFactory | None = None,
) -> ExportSummary:
    """Write the selected points to ``out`` in the long format, streaming in chunks.

    ``format`` is ``"parquet"`` or ``"csv"``; by default the file name's suffix decides.
    Small series are gathered so that Parquet row groups hold about ``chunk_rows`` rows.
    """
    began = _time.perf_counter()
    path = Path(out)
    fmt = file_format(path, format)
    series = await list_series(store, where)
    bar = None
    if progress is not None:
        bar = progress(f"export {path.name}", await _count(store, series, where))
    rows = 0
    try:
        with _atomic(path) as partial:
            writer = _TableWriter(partial, fmt, SERIES_SCHEMA)
            try:
                pending: list[pa.RecordBatch] = []
                held = 0
                batches = iter_series_batches(store, where, chunk_rows=chunk_rows, series=series)
                async for batch in batches:
                    pending.append(batch)
                    held += batch.num_rows
                    if held >= chunk_rows:
                        await _flush(writer, pending)
                        rows, held = rows + held, 0
                    if bar is not None:
                        bar.update(batch.num_rows)
                if pending:
                    await _flush(writer, pending)
                    rows += held
            finally:
                writer.close()
    finally:
        if bar is not None:
            bar.close()
    return _summary(path, fmt, rows, len(series), began)


async def _flush(writer: _TableWriter, pending: list[pa.RecordBatch]) -> None:
    table = pa.Table.from_batches(pending, schema=SERIES_SCHEMA)
    pending.clear()
    await asyncio.to_thread(writer.write, table)


def _summary(path: Path, fmt: Format, rows: int, items: int, began: float) -> ExportSummary:
    seconds = _time.perf_counter() - began
    logger.info("exported %d rows of %d items to %s in %.2f s", rows, items, path, seconds)
    return ExportSummary(path, fmt, rows, items, seconds, path.stat().st_size)


# --- twins ---------------------------------------------------------------------------------


def _column(values: list[Any]) -> pa.Array:
    """A property column: typed when every value has one simple type, else JSON text."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pa.array(values, pa.bool_())
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    if all(isinstance(v, str) for v in present):
        return pa.array(values, pa.string())
    return pa.array([None if v is None else orjson.dumps(v).decode() for v in values], pa.string())


def twins_to_table(rows: Iterable[tuple[str, str, int, Mapping[str, Any]]]) -> pa.Table:
    """One row per twin ``(id, model, version, document)``: the document as JSON text, plus
    a ``properties.<name>`` column per reported top-level property (typed when simple)."""
    ids, models, versions, documents = [], [], [], []
    properties: dict[str, list[Any]] = {}
    for index, (twin_id, model, version, document) in enumerate(rows):
        ids.append(twin_id)
        models.append(model)
        versions.append(version)
        documents.append(orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS).decode())
        for key, value in document.items():
            if not key.startswith("$"):
                properties.setdefault(key, [None] * index).append(value)
        for column in properties.values():
            if len(column) <= index:
                column.append(None)
    arrays = {
        "id": pa.array(ids, pa.string()),
        "model": pa.array(models, pa.string()),
        "version": pa.array(versions, pa.int64()),
        "document": pa.array(documents, pa.string()),
    }
    for key in sorted(properties):
        arrays[_PROPERTY_PREFIX + key] = _column(properties[key])
    return pa.table(arrays)


async def twin_table(
    store: BulkStore,
    *,
    twins: Sequence[str] = (),
    models: Sequence[str] = (),
    as_of: float | None = None,
) -> pa.Table:
    """The selected twins (all by default) as :func:`twins_to_table` lays them out: their
    current state from the store's query index, or their state at ``as_of`` (time travel)."""
    if as_of is not None:
        return await _twin_table_as_of(store, twins, models, as_of)
    wanted = set(twins)
    if models:
        of_models = await twins_of_models(store, models)
        wanted = of_models if not wanted else wanted & of_models
        if not wanted:
            return twins_to_table([])
    rows = await store.read(
        "reading twin documents", lambda conn: conn.execute(_SELECT_TWINS).fetchall()
    )
    selected = (
        (twin_id, model, version, orjson.loads(doc))
        for twin_id, model, version, doc in rows
        if not (twins or models) or twin_id in wanted
    )
    return twins_to_table(selected)


async def _twin_table_as_of(
    store: BulkStore, twins: Sequence[str], models: Sequence[str], at: float
) -> pa.Table:
    from twinkit.query._timetravel import HistoryStore, graph_as_of

    if not hasattr(store, "graph_rows_as_of"):
        raise ValidationError(
            "this store keeps no history to travel in",
            path="as_of",
            expected="a store with time travel (SQLiteStore)",
            got=type(store).__name__,
        )
    model_set = await _model_set(store)
    for model in models:
        if model not in model_set:
            raise NotFoundError(f"model {model!r} not found", where=model)
    state = await graph_as_of(cast("HistoryStore", store), at, models=model_set, telemetry=False)
    wanted = set(twins)
    selected = [
        state.twins[twin_id]
        for twin_id in sorted(state.twins)
        if (not wanted or twin_id in wanted)
        and (not models or any(model_set.is_a(state.twins[twin_id].model, base) for base in models))
    ]
    return twins_to_table((t.id, t.model, t.version, twin_document(t)) for t in selected)


async def export_twins(
    store: BulkStore,
    out: str | Path,
    *,
    format: str | None = None,
    twins: Sequence[str] = (),
    models: Sequence[str] = (),
    as_of: float | None = None,
    progress: ProgressFactory | None = None,
) -> ExportSummary:
    """Write the selected twins to ``out``, one row per twin: their current state, or their
    state at ``as_of`` (seconds since the epoch)."""
    began = _time.perf_counter()
    path = Path(out)
    fmt = file_format(path, format)
    table = await twin_table(store, twins=twins, models=models, as_of=as_of)
    bar = None if progress is None else progress(f"export {path.name}", table.num_rows)
    try:
        await asyncio.to_thread(write_table, table, path, format=fmt)
        if bar is not None:
            bar.update(table.num_rows)
    finally:
        if bar is not None:
            bar.close()
    return _summary(path, fmt, table.num_rows, table.num_rows, began)

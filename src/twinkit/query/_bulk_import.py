"""Bulk import: history from CSV or Parquet files into series, through the runtime's ingest.

Two layouts:

- **long**: columns ``twin_id, name, time, value`` (and ``json``, as :mod:`twinkit.query._bulk`
  describes); ``twin_id`` may be left out when one twin is given. ``name`` may carry a unit,
  ``temperature[degF]``.
- **wide**: a time column and one column per telemetry or property of one twin, headers such
  as ``flow`` or ``temperature[degF]``.

Every row becomes one device message for :meth:`Runtime.ingest <twinkit.core.Runtime.ingest>`,
a chunk of rows one ingest call (one transaction): the model validates each value, a point older
than a property's current value becomes history only, a newer one its current value. A unit in
a header is converted to the unit the model declares for that content; a unit that cannot be is
an error for the whole file, naming the column, before anything is imported.

A row that does not go in (no time, unknown twin or content, a value the model refuses, a broken
CSV line) is *rejected*: reported with file, row, column, expected and got, and kept as a dead
letter with source ``import:<file>:<row>`` and an ingest record ``{"twinId", "ts", "values"}``
as payload. The other rows are imported. Rows are counted from 1 after the header, so row N of
a CSV file is its line N + 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import logging
import time as _time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import orjson
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.csv as pa_csv  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from twinkit.core import Runtime
from twinkit.errors import NotFoundError, ValidationError
from twinkit.query._bulk import Format, ProgressBar, ProgressFactory, file_format
from twinkit.query._bulk_columns import TIME_UNITS, TimeUnit, parse_times
from twinkit.query._bulk_plans import (
    LongPlan,
    Plan,
    Prepared,
    RejectedRow,
    WidePlan,
    record,
    rejection,
)

__all__ = ["ImportOptions", "ImportSummary", "Layout", "RejectedRow", "import_file"]

logger = logging.getLogger(__name__)

Layout = Literal["long", "wide"]
_LONG: Final = ("twin_id", "name", "value")
_CSV_BLOCK: Final = 4 << 20


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """How to read a file; the defaults detect what they can.

    ``format`` ("parquet"/"csv") defaults to the file name's suffix; ``layout`` to long when
    the file has ``name`` and ``value`` columns, else wide. ``twin`` is the twin of a wide file
    (or of a long one without ``twin_id``). ``time_unit`` is "iso", "s", "ms", "us" or "ns"
    (default: timestamps and ISO text as they are, epoch numbers by their size).
    ``chunk_rows`` rows go to the runtime per transaction; ``keep_rejected`` rejected rows are
    kept in the summary (all are counted and dead-lettered).
    """

    format: str | None = None
    layout: Layout | None = None
    twin: str | None = None
    time_column: str = "time"
    time_unit: TimeUnit | None = None
    ignore_columns: tuple[str, ...] = ()
    chunk_rows: int = 50_000
    cause: str | None = None
    keep_rejected: int = 1000

    def __post_init__(self) -> None:
        if self.chunk_rows < 1:
            raise ValidationError(
                "chunk size too small",
                path="chunk_rows",
                expected="at least 1",
                got=self.chunk_rows,
            )
        if self.time_unit is not None and self.time_unit not in TIME_UNITS:
            raise ValidationError(
                "unknown time unit",
                path="time_unit",
                expected=", ".join(TIME_UNITS),
                got=self.time_unit,
            )
        if self.layout is not None and self.layout not in ("long", "wide"):
            raise ValidationError(
                "unknown layout", path="layout", expected="'long' or 'wide'", got=self.layout
            )


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import did. ``rejected`` holds the first rejected rows (up to ``keep_rejected``);
    ``rows_empty`` counts rows without any value (skipped, not rejected)."""

    file: str
    format: Format
    layout: Layout
    rows_read: int
    rows_imported: int
    rows_rejected: int
    rows_empty: int
    values_imported: int
    seconds: float
    rejected: tuple[RejectedRow, ...] = ()

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0


# --- reading the file ----------------------------------------------------------------------


@dataclass(slots=True)
class _Source:
    """The file's columns, its row count when known, its batches, and the CSV lines skipped."""

    columns: list[str]
    total: int | None
    batches: Iterator[pa.RecordBatch]
    broken: list[tuple[int | None, str]] = field(default_factory=list)  # (row, text)


def _open(path: Path, fmt: Format, chunk_rows: int) -> _Source:
    if not path.is_file():
        raise NotFoundError(f"file {str(path)!r} not found: expected a CSV or Parquet file")
    try:
        if fmt == "parquet":
            parquet = pq.ParquetFile(path)
            batches = parquet.iter_batches(batch_size=chunk_rows)
            return _Source(parquet.schema_arrow.names, parquet.metadata.num_rows, batches)
        return _open_csv(path, chunk_rows)
    except (pa.ArrowException, OSError, UnicodeDecodeError, csv.Error) as err:
        raise ValidationError(
            f"cannot read {path} as {fmt}", path=str(path), expected=f"a {fmt} file", got=str(err)
        ) from err


def _open_csv(path: Path, chunk_rows: int) -> _Source:
    with path.open(newline="", encoding="utf-8-sig") as text:
        header = next(csv.reader(text), None)
    if not header:
        raise ValidationError(
            "empty CSV file", path=str(path), expected="a header line, then rows", got=""
        )
    source = _Source(header, None, iter(()))

    def skip(row: Any) -> str:
        number = None if row.number is None else row.number - 1
        source.broken.append((number, f"{row.actual_columns} fields: {row.text}"))
        return "skip"

    reader = pa_csv.open_csv(
        path,
        read_options=pa_csv.ReadOptions(block_size=_CSV_BLOCK, use_threads=False),
        parse_options=pa_csv.ParseOptions(invalid_row_handler=skip),
        convert_options=pa_csv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()),
            null_values=[""],
            strings_can_be_null=True,
        ),
    )
    source.batches = _rechunk(reader, chunk_rows)
    return source


def _rechunk(batches: Any, rows: int) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        for start in range(0, batch.num_rows, rows):
            yield batch.slice(start, rows)


def _check_columns(columns: Sequence[str], options: ImportOptions, file: str) -> Layout:
    doubled = sorted({c for c in columns if list(columns).count(c) > 1})
    if doubled:
        raise ValidationError(
            "a column name appears twice", path=file, expected="distinct names", got=doubled
        )
    if options.time_column not in columns:
        raise ValidationError(
            f"no time column {options.time_column!r}",
            path=file,
            expected=f"a column {options.time_column!r} (or name it with the time column option)",
            got=list(columns),
        )
    layout = options.layout or ("long" if {"name", "value"} <= set(columns) else "wide")
    if layout == "long":
        needed = [c for c in _LONG if c not in columns and not (c == "twin_id" and options.twin)]
        if needed:
            raise ValidationError(
                "missing columns for the long layout",
                path=file,
                expected="twin_id (or a twin given), name, time, value, and optionally json",
                got=list(columns),
            )
    elif options.twin is None:
        raise ValidationError(
            "a wide file needs the twin its columns belong to",
            path=file,
            expected="a twin id (--twin), or a long file with columns twin_id, name, time, value",
            got=list(columns),
        )
    return layout


# --- running -------------------------------------------------------------------------------


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return str(value)


class _Run:
    """The state of one import: row numbering, the time unit found, tallies, rejections."""

    def __init__(self, runtime: Runtime, plan: Plan, file: str, options: ImportOptions):
        self._runtime = runtime
        self._plan = plan
        self.file = file
        self._file = file
        self._options = options
        self._cause = options.cause or f"import:{Path(file).name}"
        self._unit = options.time_unit
        self._next_row = 1
        self._skipped: list[int] = []
        self._broken_seen = 0
        self._broken_pending: list[tuple[int | None, str]] = []
        self.read = self.imported = self.rejected = self.empty = self.values = 0
        self.kept: list[RejectedRow] = []

    def _numbers(self, count: int, broken: list[tuple[int | None, str]]) -> np.ndarray[Any, Any]:
        """File row numbers of the next ``count`` rows, stepping over skipped CSV lines."""
        fresh = broken[self._broken_seen :]
        self._skipped = sorted([*self._skipped, *(r for r, _ in fresh if r is not None)])
        numbers = np.arange(self._next_row, self._next_row + count)
        for skipped in self._skipped:
            numbers[numbers >= skipped] += 1
        if count:
            self._next_row = int(numbers[-1]) + 1
        self._skipped = [r for r in self._skipped if r >= self._next_row]
        return numbers

    def _take_broken(
        self, broken: list[tuple[int | None, str]], *, everything: bool = False
    ) -> list[tuple[RejectedRow, bytes]]:
        """The CSV lines the reader skipped among the rows numbered so far (or all of them)."""
        fresh = broken[self._broken_seen :]
        self._broken_seen += len(fresh)
        pending = [*self._broken_pending, *fresh]
        due = [b for b in pending if everything or b[0] is None or b[0] < self._next_row]
        self._broken_pending = [b for b in pending if b not in due]
        self.read += len(due)
        reason, expected = "not a CSV row of the header's width", "one field per column"
        return [
            (RejectedRow(self._file, row, None, reason, expected, text), text.encode())
            for row, text in due
        ]

    async def finish(self, broken: list[tuple[int | None, str]]) -> None:
        """Reject the skipped CSV lines after the last batch."""
        for rejected, payload in self._take_broken(broken, everything=True):
            await self._reject(rejected, payload)

    def prepare(
        self, batch: pa.RecordBatch, broken: list[tuple[int | None, str]]
    ) -> tuple[Prepared, list[tuple[RejectedRow, bytes]]]:
        """Parse one chunk: its messages, and the rows (and skipped CSV lines) rejected."""
        rows = self._numbers(batch.num_rows, broken)
        rejections = self._take_broken(broken)
        try:
            times = parse_times(batch.column(self._options.time_column), self._unit)
        except ValidationError as err:
            raise ValidationError(
                f"{err.message} in column {self._options.time_column!r}",
                path=self._file,
                expected=err.expected,
                got=err.got,
            ) from err
        self._unit = self._unit or times.unit
        prepared = self._plan.prepare(batch, rows, times)
        self.read += batch.num_rows
        self.empty += prepared.empty
        return prepared, rejections

    async def commit(self, prepared: Prepared, rejections: list[tuple[RejectedRow, bytes]]) -> None:
        """Ingest a prepared chunk, then reject what did not go in, in row order."""
        results = await self._runtime.ingest(prepared.messages, cause=self._cause)
        for message, row, error in zip(prepared.messages, prepared.rows, results, strict=True):
            reading = message[0]
            if error is None:
                self.imported += 1
                self.values += len(reading.values)
                continue
            column = self._plan.column_of(error)
            kept = record(reading.twin_id, reading.time, dict(reading.values))
            prepared.rejected.append((rejection(self._file, row, column, error), kept))
        for rejected, kept in prepared.rejected:
            payload = orjson.dumps(kept, default=_json_default, option=orjson.OPT_SERIALIZE_NUMPY)
            rejections.append((rejected, payload))
        rejections.sort(key=lambda item: item[0].row or 0)
        for rejected, payload in rejections:
            await self._reject(rejected, payload)

    async def _reject(self, rejected: RejectedRow, payload: bytes) -> None:
        self.rejected += 1
        if len(self.kept) < self._options.keep_rejected:
            self.kept.append(rejected)
        source = f"import:{self._file}:{'?' if rejected.row is None else rejected.row}"
        await self._runtime.dead_letter(source, payload, str(rejected))


async def _prefetched(batches: Iterator[pa.RecordBatch], file: str) -> Any:
    """The batches, the next one read on a thread while the caller works on the current one."""

    def read() -> pa.RecordBatch | None:
        try:
            return next(batches, None)
        except (pa.ArrowException, UnicodeDecodeError) as err:
            raise ValidationError(
                f"cannot read {file}", path=file, expected="a readable file", got=str(err)
            ) from err

    pending = asyncio.ensure_future(asyncio.to_thread(read))
    try:
        while (batch := await pending) is not None:
            pending = asyncio.ensure_future(asyncio.to_thread(read))
            yield batch
    finally:
        with contextlib.suppress(Exception):
            await pending  # let the reader thread finish before the file closes


async def _pipeline(run: _Run, source: _Source, bar: ProgressBar | None) -> None:
    """Read, parse and commit chunk after chunk, three at a time: chunk n + 1 is read on a
    thread and chunk n parsed while chunk n - 1 is written by the store's thread."""
    committing: asyncio.Future[None] | None = None
    try:
        async for batch in _prefetched(source.batches, run.file):
            prepared, rejections = run.prepare(batch, source.broken)
            if committing is not None:
                await committing
            committing = asyncio.ensure_future(run.commit(prepared, rejections))
            if bar is not None:
                bar.update(batch.num_rows)
        if committing is not None:
            await committing
            committing = None
        await run.finish(source.broken)
    finally:
        if committing is not None and not committing.done():
            with contextlib.suppress(Exception):
                await committing  # a failed parse: let the chunk before it finish


def _plan(
    runtime: Runtime, layout: Layout, columns: Sequence[str], options: ImportOptions, file: str
) -> Plan:
    if layout == "long":
        return LongPlan(
            runtime, columns, twin_id=options.twin, time_column=options.time_column, file=file
        )
    assert options.twin is not None  # checked with the columns
    return WidePlan(
        runtime,
        columns,
        twin_id=options.twin,
        time_column=options.time_column,
        ignore=options.ignore_columns,
        file=file,
    )


async def import_file(
    runtime: Runtime,
    path: str | Path,
    options: ImportOptions = ImportOptions(),
    *,
    progress: ProgressFactory | None = None,
) -> ImportSummary:
    """Import one CSV or Parquet file of history into ``runtime``'s twins (see the module).

    File-level problems (unreadable file, missing columns, an unknown twin for a wide file, a
    column the model lacks or whose unit does not convert) raise before anything is imported;
    row-level ones are rejected rows in the summary and in the dead letters.
    """
    began = _time.perf_counter()
    file = str(path)
    fmt = file_format(file, options.format)
    source = await asyncio.to_thread(_open, Path(file), fmt, options.chunk_rows)
    layout = _check_columns(source.columns, options, file)
    run = _Run(runtime, _plan(runtime, layout, source.columns, options, file), file, options)
    bar = None if progress is None else progress(f"import {Path(file).name}", source.total)
    try:
        await _pipeline(run, source, bar)
    finally:
        if bar is not None:
            bar.close()
    seconds = _time.perf_counter() - began
    logger.info(
        "imported %s: %d rows read, %d imported, %d rejected in %.2f s",
        file,
        run.read,
        run.imported,
        run.rejected,
        seconds,
    )
    return ImportSummary(
        file,
        fmt,
        layout,
        run.read,
        run.imported,
        run.rejected,
        run.empty,
        run.values,
        seconds,
        tuple(run.kept),
    )

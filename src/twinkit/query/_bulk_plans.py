"""Rows of an imported chunk turned into device messages, one plan per file layout.

A plan turns a record batch (plus its parsed times and row numbers) into one message per row
for the runtime's ingest, and rejects, before ingest, the rows that cannot become one: no time,
an unknown twin or content (long layout), a broken ``json`` cell, no value. See
:mod:`twinkit.query._bulk_import` for the layouts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

from twinkit.core import Reading, Runtime
from twinkit.errors import NotFoundError, TwinkitError, ValidationError
from twinkit.query._bulk_columns import (
    Target,
    Times,
    decode_cells,
    decode_json_cells,
    decode_text,
    resolve_target,
)

__all__ = ["LongPlan", "Plan", "Prepared", "RejectedRow", "WidePlan", "record", "rejection"]


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """One row that was not imported, and why. ``row`` counts data rows from 1 (None when the
    CSV reader could not tell)."""

    file: str
    row: int | None
    column: str | None
    reason: str
    expected: str | None = None
    got: object = None

    def __str__(self) -> str:
        where = f"{self.file}: row {'?' if self.row is None else self.row}"
        if self.column is not None:
            where += f", column {self.column!r}"
        text = f"{where}: {self.reason}"
        if self.expected is None:
            return text
        return text + f"; expected {self.expected}; got {_short(self.got)}"


def _short(value: object, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(slots=True)
class Prepared:
    """A chunk turned into messages (one per row), plus the rows rejected before ingest."""

    messages: list[list[Reading]] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    rejected: list[tuple[RejectedRow, dict[str, Any]]] = field(default_factory=list)
    empty: int = 0


class Plan(Protocol):
    """Turns chunks of one file layout into messages."""

    def prepare(self, batch: pa.RecordBatch, rows: np.ndarray[Any, Any], times: Times) -> Prepared:
        """Messages of the batch's rows (``rows`` are their numbers in the file)."""
        ...

    def column_of(self, error: TwinkitError) -> str | None:
        """The column an ingest error is about."""
        ...


def record(twin_id: Any, when: Any, values: dict[str, Any]) -> dict[str, Any]:
    """A rejected row as an HTTP ingest record: the dead letter's payload."""
    return {"twinId": twin_id, "ts": when, "values": values}


def _reject_time(file: str, column: str, row: int, raw: Any, times: Times) -> RejectedRow:
    return RejectedRow(file, row, column, "not a time", times.expected, raw)


class WidePlan:
    """One twin; a column per content, converted to the model's units."""

    def __init__(
        self,
        runtime: Runtime,
        columns: Sequence[str],
        *,
        twin_id: str,
        time_column: str,
        ignore: Sequence[str],
        file: str,
    ):
        twin = runtime.get(twin_id)
        skipped = {time_column, *ignore}
        self._targets = [
            resolve_target(runtime.models, twin.model, header)
            for header in columns
            if header not in skipped
        ]
        names: dict[str, str] = {}
        for target in self._targets:
            if target.name in names:
                raise ValidationError(
                    f"columns {names[target.name]!r} and {target.header!r} both feed {target.name!r}",
                    model=twin.model,
                    path=file,
                    expected="one column per telemetry or property",
                    got=[names[target.name], target.header],
                )
            names[target.name] = target.header
        self._headers = names
        self._twin = twin.id
        self._time_column = time_column
        self._file = file

    def prepare(self, batch: pa.RecordBatch, rows: np.ndarray[Any, Any], times: Times) -> Prepared:
        every = np.arange(batch.num_rows)
        names = [target.name for target in self._targets]
        columns = [
            decode_cells(batch.column(target.header)).values(target, every)
            for target in self._targets
        ]
        out = Prepared()
        twin, seconds, bad = self._twin, times.seconds.tolist(), times.bad
        for index, cells in enumerate(zip(*columns, strict=True) if columns else ()):
            values = {
                name: value for name, value in zip(names, cells, strict=True) if value is not None
            }
            if bad[index]:
                raw = batch.column(self._time_column)[index].as_py()
                row = _reject_time(self._file, self._time_column, int(rows[index]), raw, times)
                out.rejected.append((row, record(twin, raw, values)))
            elif not values:
                out.empty += 1
            else:
                out.messages.append([Reading(twin, values, seconds[index])])
                out.rows.append(int(rows[index]))
        if not columns:
            out.empty += batch.num_rows
        return out

    def column_of(self, error: TwinkitError) -> str | None:
        if not isinstance(error, ValidationError) or not error.path:
            return None
        for name, header in self._headers.items():
            if error.path == name or error.path.startswith(name + "/"):
                return header
        return error.path


def _codes(column: pa.Array) -> tuple[np.ndarray[Any, Any], list[Any]]:
    """Dictionary codes of a text column (-1 for an empty cell) and the distinct texts."""
    encoded = pc.dictionary_encode(column.cast(pa.string()))
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary.to_pylist()


def _groups(*codes: np.ndarray[Any, Any]) -> list[np.ndarray[Any, Any]]:
    """Row indices grouped by equal code tuples, each group in row order."""
    key = np.zeros(len(codes[0]), dtype=np.int64)
    for column in codes:
        key = key * (int(column.max(initial=-1)) + 2) + (column + 1)
    order = np.argsort(key, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(key[order])) + 1) if len(order) else []


class LongPlan:
    """One row per point: ``twin_id`` (or the twin given), ``name``, ``value``/``json``."""

    def __init__(
        self,
        runtime: Runtime,
        columns: Sequence[str],
        *,
        twin_id: str | None,
        time_column: str,
        file: str,
    ):
        self._runtime = runtime
        self._twin = None if "twin_id" in columns else twin_id
        self._json = "json" in columns
        self._time_column = time_column
        self._file = file
        self._targets: dict[tuple[str, str], Target | TwinkitError] = {}

    def _target(self, twin_id: str, header: str) -> Target | TwinkitError:
        key = (twin_id, header)
        found = self._targets.get(key)
        if found is None:
            twin = self._runtime.find(twin_id)
            if twin is None:
                found = NotFoundError(
                    f"twin {twin_id!r} not found: create it before importing its history",
                    where=twin_id,
                )
            else:
                try:
                    found = resolve_target(self._runtime.models, twin.model, header)
                except ValidationError as err:
                    found = err
            self._targets[key] = found
        return found

    def _values(
        self,
        batch: pa.RecordBatch,
        groups: list[np.ndarray[Any, Any]],
        twins: list[Any],
        names: list[Any],
    ) -> tuple[list[Any], list[str | None], dict[int, tuple[str, TwinkitError]]]:
        """Per row: its converted value, its content name, or the problem of its group."""
        count = batch.num_rows
        cells = decode_cells(batch.column("value"))
        json_values, json_present, broken = (
            decode_json_cells(batch.column("json")) if self._json else ([], None, [])
        )
        values: list[Any] = [None] * count
        contents: list[str | None] = [None] * count
        problems: dict[int, tuple[str, TwinkitError]] = {}
        for group in groups:
            first = int(group[0])
            target = self._target_of(twins[first], names[first])
            if isinstance(target, TwinkitError):
                column = "name" if isinstance(target, ValidationError) else "twin_id"
                problems.update((int(i), (column, target)) for i in group)
                continue
            for i, cell in zip(group.tolist(), cells.values(target, group), strict=True):
                given = json_present is not None and json_present[i]
                values[i] = target.convert(json_values[i]) if given else cell
                contents[i] = target.name
        for i in broken:
            problems[i] = ("json", ValidationError("not JSON", expected="JSON text", got=None))
        return values, contents, problems

    def _target_of(self, twin_id: Any, header: Any) -> Target | TwinkitError:
        if twin_id is None:
            return NotFoundError("no twin id", where="twin_id")
        if header is None:
            return ValidationError("no content name", expected="a telemetry or property name")
        return self._target(twin_id, header)

    def prepare(self, batch: pa.RecordBatch, rows: np.ndarray[Any, Any], times: Times) -> Prepared:
        count = batch.num_rows
        twin_column = (
            batch.column("twin_id") if self._twin is None else pa.repeat(self._twin, count)
        )
        twin_codes, twin_texts = _codes(twin_column)
        name_codes, name_texts = _codes(batch.column("name"))
        twins = [None if c < 0 else twin_texts[c] for c in twin_codes.tolist()]
        names = [None if c < 0 else name_texts[c] for c in name_codes.tolist()]
        groups = _groups(twin_codes, name_codes)
        values, contents, problems = self._values(batch, groups, twins, names)
        out = Prepared()
        seconds, bad = times.seconds.tolist(), times.bad
        for i in range(count):
            row = int(rows[i])
            problem = problems.get(i)
            if problem is not None or bad[i] or values[i] is None:
                out.rejected.append(
                    self._rejected(
                        batch, index=i, row=row, problem=problem, times=times, value=values[i]
                    )
                )
                continue
            twin, content = twins[i], contents[i]
            assert twin is not None and content is not None  # else a problem
            out.messages.append([Reading(twin, {content: values[i]}, seconds[i])])
            out.rows.append(row)
        return out

    def _rejected(
        self,
        batch: pa.RecordBatch,
        *,
        index: int,
        row: int,
        problem: tuple[str, TwinkitError] | None,
        times: Times,
        value: Any,
    ) -> tuple[RejectedRow, dict[str, Any]]:
        raw_time = batch.column(self._time_column)[index].as_py()
        twin = self._twin or batch.column("twin_id")[index].as_py()
        name = batch.column("name")[index].as_py()
        if value is None:
            value = batch.column("value")[index].as_py()
            value = decode_text(value) if isinstance(value, str) else value
        kept = record(twin, raw_time, {str(name): value})
        if problem is not None:
            column, error = problem
            return rejection(self._file, row, column, error), kept
        if times.bad[index]:
            return _reject_time(self._file, self._time_column, row, raw_time, times), kept
        return RejectedRow(self._file, row, "value", "no value", "a value", None), kept

    def column_of(self, error: TwinkitError) -> str | None:
        return "value" if isinstance(error, ValidationError) else "twin_id"


def rejection(file: str, row: int | None, column: str | None, error: TwinkitError) -> RejectedRow:
    """The rejected row for an error (its message, expected and got when it has them)."""
    if isinstance(error, ValidationError):
        return RejectedRow(file, row, column, error.message, error.expected, error.got)
    return RejectedRow(file, row, column, str(error))

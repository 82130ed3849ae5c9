"""The rows a live model sees: one ring buffer of numpy rows per twin and model.

A :class:`RowBuffer` turns a twin's data as it arrives (telemetry, reported properties,
derived values, each a few names at a time) into the rows :mod:`twinkit.predict._training`
builds from history, so a model sees in service what it saw in training:

- raw: a row per data time, each column the newest value of its input (a late reading,
  older than the newest row, is counted and dropped; one at the newest row's time updates it);
- resampled by ``w`` seconds: a row per bucket ``[k*w, (k+1)*w)`` with values of inputs, at
  the bucket's start, with the newest values at its end; a bucket's row is complete, and
  appended, when any data of the twin from a later bucket arrives.

No row is made before every input has a value. Appending is O(inputs): no allocation but the
row itself, no DataFrame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["RowBuffer", "number"]

_FloatArray = npt.NDArray[np.float64]


def number(value: Any) -> float | None:
    """A reading as a float (booleans as 0/1); None for a NaN or something not a number."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


class RowBuffer:
    """The newest ``capacity`` rows of ``columns``; see the module docstring."""

    __slots__ = (
        "_bucket",
        "_count",
        "_head",
        "_index",
        "_latest",
        "_missing",
        "_times",
        "_values",
        "columns",
        "late",
        "minimum",
        "resample",
    )

    def __init__(
        self,
        columns: Sequence[str],
        capacity: int,
        resample: float | None = None,
        *,
        minimum: int | None = None,
    ) -> None:
        """``minimum``: the rows from which the buffer counts as :attr:`full` (ready for a
        model that answers from fewer rows than its window; None: ``capacity``)."""
        self.columns = tuple(columns)
        self.resample = resample
        self.minimum = capacity if minimum is None else max(1, min(minimum, capacity))
        self.late = 0  # readings older than the newest row, dropped
        self._index = {name: column for column, name in enumerate(self.columns)}
        self._times = np.zeros(capacity, dtype=np.float64)
        self._values = np.zeros((capacity, len(self.columns)), dtype=np.float64)
        self._count = 0
        self._head = 0  # where the next row goes
        self._latest = np.full(len(self.columns), np.nan)
        self._missing = len(self.columns)  # inputs without a value yet
        self._bucket: float | None = None  # the open bucket (resampled)

    @property
    def capacity(self) -> int:
        return len(self._times)

    def __len__(self) -> int:
        return self._count

    @property
    def full(self) -> bool:
        """Whether it holds enough rows to predict on (:attr:`minimum`)."""
        return self._count >= self.minimum

    @property
    def newest(self) -> float | None:
        """The time of the newest row (None before the first)."""
        return None if not self._count else float(self._times[(self._head - 1) % self.capacity])

    def seed(self, values: Mapping[str, Any]) -> None:
        """Start from these values (the twin's latest) where nothing came yet."""
        for name, value in values.items():
            column = self._index.get(name)
            found = number(value)
            if column is not None and found is not None and math.isnan(self._latest[column]):
                self._latest[column] = found
                self._missing -= 1

    def add(self, time: float, values: Mapping[str, Any]) -> bool:
        """Take the readings at ``time``; True when a row was appended or its newest row
        changed (a window worth predicting on), False otherwise."""
        if self.resample is not None:
            return self._add_bucketed(time, values)
        newest = self.newest
        if newest is not None and time < newest:
            self.late += any(name in self._index for name in values)
            return False
        if not self._take(values) or self._missing:
            return False
        if newest is not None and time == newest:
            self._values[(self._head - 1) % self.capacity] = self._latest
        else:
            self._append(time)
        return True

    def _add_bucketed(self, time: float, values: Mapping[str, Any]) -> bool:
        assert self.resample is not None
        bucket = math.floor(time / self.resample)
        newest = self.newest
        if (self._bucket is not None and bucket < self._bucket) or (
            newest is not None and bucket * self.resample <= newest
        ):
            self.late += any(name in self._index for name in values)
            return False
        appended = False
        if self._bucket is not None and bucket > self._bucket:
            if not self._missing:
                self._append(self._bucket * self.resample)
                appended = True
            self._bucket = None
        if self._take(values):
            self._bucket = bucket  # open: it has values of inputs
        return appended

    def _take(self, values: Mapping[str, Any]) -> bool:
        """Put the readings of inputs into the latest values; True when any was one."""
        took = False
        for name, value in values.items():
            column = self._index.get(name)
            if column is not None:
                found = number(value)
                if found is not None:
                    if self._missing and math.isnan(self._latest[column]):
                        self._missing -= 1
                    self._latest[column] = found
                    took = True
        return took

    def _append(self, time: float) -> None:
        self._times[self._head] = time
        self._values[self._head] = self._latest
        self._head = (self._head + 1) % self.capacity
        self._count = min(self._count + 1, self.capacity)

    def window(self, rows: int | None = None) -> tuple[_FloatArray, _FloatArray]:
        """Copies of the newest ``rows`` rows (all when None), oldest first."""
        count = self._count if rows is None else min(rows, self._count)
        order = (self._head - count + np.arange(count)) % self.capacity
        return self._times[order], self._values[order]

    def backfill(self, times: _FloatArray, values: _FloatArray) -> int:
        """Put rows from history (oldest first) before the rows held: those older than the
        oldest held row, as many as fit; the history's newest values seed inputs that have
        none yet. How many rows it took."""
        held_times, held_values = self.window()
        if len(held_times):
            older = times < held_times[0]
            times, values = times[older], values[older]
        if not len(times):
            return 0
        for column in range(len(self.columns)):
            if math.isnan(self._latest[column]):
                self._latest[column] = values[-1, column]
                self._missing -= 1
        all_times = np.concatenate([times, held_times])[-self.capacity :]
        all_values = np.concatenate([values, held_values])[-self.capacity :]
        count = len(all_times)
        self._times[:count], self._values[:count] = all_times, all_values
        self._count, self._head = count, count % self.capacity
        return count - len(held_times)

    def resized(self, capacity: int) -> RowBuffer:
        """A buffer of the same columns with ``capacity`` rows, holding the newest of these."""
        other = RowBuffer(self.columns, capacity, self.resample, minimum=self.minimum)
        times, values = self.window(capacity)
        count = len(times)
        other._times[:count], other._values[:count] = times, values
        other._count, other._head = count, count % capacity
        other._latest = self._latest.copy()
        other._missing = self._missing
        other._bucket = self._bucket
        other.late = self.late
        return other

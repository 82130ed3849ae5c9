"""What a forecaster sees: readings put on a regular grid, and the features built from it.

Telemetry comes at irregular times (a device's jitter, lost messages, bursts). Before any
feature is computed, readings are put on a grid of ``step`` seconds that ends at the newest
reading: grid point ``t_k`` holds the mean of the finite readings in ``(t_k - step, t_k]``.
A grid point with no reading is interpolated linearly between its neighbours when those are
at most ``max_gap`` seconds apart; past a longer gap, before the first reading and after the
last one it stays missing (NaN). Features that touch a missing point are missing too: such
samples are left out of training, and a live window with one is refused with the place of
the gap.

Features at an origin ``t`` (the forecast is made at ``t`` for ``t + h``):

- the target's value, its change over each lag, and per rolling window its mean (relative to
  the value) and standard deviation;
- per exogenous input: its value, its change over each exogenous lag and its rolling means;
- the time of day (or of any ``period``) as two harmonics, sine and cosine;
- with ``seasonal``: the target one period ago at ``t + h`` relative to now, and its change
  one period ago over the same span (the seasonal-naive forecast as a feature).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from twinkit.errors import ValidationError

__all__ = [
    "Features",
    "Grid",
    "check_readings",
    "frame_readings",
    "instant",
    "resample",
    "seconds_of",
    "select_columns",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_EPS: Final = 1e-9


@dataclass(frozen=True, slots=True)
class Features:
    """How a forecaster reads history, all in seconds (lags and windows multiples of ``step``).

    ``period`` is the length of the season (a day by default; 0 for none): it gives the
    time-of-day features and, with ``seasonal``, the value one period ago.
    """

    step: float = 60.0
    lags: tuple[float, ...] = (60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0)
    windows: tuple[float, ...] = (900.0, 3600.0)
    exogenous_lags: tuple[float, ...] = (300.0, 900.0)
    period: float = 86_400.0
    seasonal: bool = False
    max_gap: float = 300.0

    def __post_init__(self) -> None:
        _positive(self.step, "features.step")
        _positive(self.max_gap, "features.max_gap")
        for name in ("lags", "windows", "exogenous_lags"):
            for i, value in enumerate(getattr(self, name)):
                self.steps_of(value, f"features.{name}[{i}]")
        if self.period != 0.0:
            self.steps_of(self.period, "features.period")
        if self.seasonal and self.period == 0.0:
            raise ValidationError(
                "seasonal features need a period",
                path="features.period",
                expected="a period in seconds (e.g. 86400) when seasonal=True",
                got=self.period,
            )

    @classmethod
    def of(cls, value: Features | Mapping[str, Any] | None) -> Features:
        """Features as given, the defaults for None, or built from a mapping of their fields
        (JSON parameters: lists for the lags and windows)."""
        if value is None or isinstance(value, Features):
            return value or cls()
        where = "Forecaster(features=...)"
        if not isinstance(value, Mapping):
            raise ValidationError(
                "bad features", path=where, expected="Features(...) or a mapping", got=value
            )
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValidationError(
                "unknown feature settings",
                path=f"{where}/{unknown[0]}",
                expected=" | ".join(names),
                got=unknown,
            )
        given: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in value.items()
        }
        try:
            return cls(**given)
        except TypeError as err:  # a list where a number goes, or the other way round
            raise ValidationError(
                "bad feature settings",
                path=where,
                expected="numbers of seconds, lists of them for lags and windows",
                got=dict(value),
            ) from err

    def steps_of(self, seconds: float, where: str) -> int:
        """``seconds`` as a whole number of steps (at least one), or a ValidationError."""
        _positive(seconds, where)
        count = round(seconds / self.step)
        if count < 1 or abs(count * self.step - seconds) > 1e-6 * max(1.0, seconds):
            raise ValidationError(
                "not a whole number of grid steps",
                path=where,
                expected=f"a positive multiple of the step, {self.step:g} s",
                got=seconds,
            )
        return count

    def reach(self, exogenous: bool = True) -> int:
        """How many grid steps before the origin the features read (with or without
        exogenous inputs)."""
        lags = (*self.lags, *self.exogenous_lags) if exogenous else self.lags
        spans = [self.steps_of(s, "lag") for s in lags]
        spans += [self.steps_of(w, "window") - 1 for w in self.windows]
        if self.seasonal:
            spans.append(self.steps_of(self.period, "period"))
        return max(spans, default=0)

    def names(self, target: str, exogenous: Sequence[str], horizon: float) -> list[str]:
        """The feature names, in the order of :meth:`matrix`'s columns."""
        names = [target]
        names += [f"{target} - {target}[-{lag:g}s]" for lag in self.lags]
        for window in self.windows:
            names += [f"mean {target}[{window:g}s] - {target}", f"std {target}[{window:g}s]"]
        for name in exogenous:
            names.append(name)
            names += [f"{name} - {name}[-{lag:g}s]" for lag in self.exogenous_lags]
            names += [f"mean {name}[{window:g}s] - {name}" for window in self.windows]
        if self.period:
            names += ["sin day", "cos day", "sin 2 day", "cos 2 day"]
        if self.seasonal:
            back = f"{self.period - horizon:g}s"
            names += [
                f"{target}[-{back}] - {target}",
                f"{target}[-{back}] - {target}[-{self.period:g}s]",
            ]
        return names

    def matrix(self, grid: Grid, origins: IntArray, horizon: int) -> FloatArray:
        """Features (one row per origin index into ``grid``) for a forecast ``horizon`` steps
        ahead; every origin must be at least :meth:`reach` steps into the grid."""
        values = grid.values
        y = values[:, 0]
        columns: list[FloatArray] = [y[origins]]
        columns += [y[origins] - y[origins - self.steps_of(lag, "lag")] for lag in self.lags]
        for window in self.windows:
            mean, std = _rolling(y, self.steps_of(window, "window"), origins)
            columns += [mean - y[origins], std]
        for j in range(1, values.shape[1]):
            x = values[:, j]
            columns.append(x[origins])
            columns += [
                x[origins] - x[origins - self.steps_of(g, "lag")] for g in self.exogenous_lags
            ]
            for window in self.windows:
                columns.append(
                    _rolling(x, self.steps_of(window, "window"), origins)[0] - x[origins]
                )
        if self.period:
            phase = 2.0 * math.pi * np.mod(grid.times[origins], self.period) / self.period
            columns += [np.sin(phase), np.cos(phase), np.sin(2 * phase), np.cos(2 * phase)]
        if self.seasonal:
            back = origins - self.steps_of(self.period, "period")
            columns += [y[back + horizon] - y[origins], y[back + horizon] - y[back]]
        return np.column_stack(columns)


@dataclass(frozen=True, slots=True)
class Grid:
    """Readings on a regular grid: ``values[k, j]`` is column ``j`` over ``(times[k] - step,
    times[k]]`` (NaN where missing); ``times`` ascend by ``step`` to the newest reading."""

    times: FloatArray
    values: FloatArray
    step: float

    def missing(self, lo: int, hi: int) -> tuple[int, int] | None:
        """The newest ``(row, column)`` with a missing value among rows ``lo..hi``, or None."""
        bad = np.argwhere(np.isnan(self.values[lo : hi + 1]))
        if not len(bad):
            return None
        row, column = bad[-1]
        return lo + int(row), int(column)


def resample(
    times: FloatArray, values: FloatArray, *, step: float, max_gap: float, end: float | None = None
) -> Grid:
    """Put readings (``times`` ascending, ``values`` one column per input, NaN for missing) on
    the grid of ``step`` seconds ending at ``end`` (the newest reading by default)."""
    last = float(times[-1]) if end is None else end
    back = np.floor((last - times) / step + _EPS).astype(np.int64)
    keep = back >= 0
    back = back[keep]
    size = int(back.max()) + 1
    position = size - 1 - back
    grid = np.empty((size, values.shape[1]))
    for j in range(values.shape[1]):
        column = values[keep, j]
        finite = np.isfinite(column)
        sums = np.bincount(position[finite], weights=column[finite], minlength=size)
        counts = np.bincount(position[finite], minlength=size)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / counts
        grid[:, j] = _bridge(means, counts > 0, max(1, math.floor(max_gap / step + _EPS)))
    return Grid(last - step * np.arange(size - 1, -1, -1, dtype=np.float64), grid, step)


def _bridge(means: FloatArray, known: npt.NDArray[np.bool_], span: int) -> FloatArray:
    """Interpolate missing points between known ones at most ``span`` points apart."""
    at = np.flatnonzero(known)
    out = np.full(len(means), np.nan)
    if not len(at):
        return out
    positions = np.arange(len(means))
    out[:] = np.interp(positions, at, means[at])
    before = np.searchsorted(at, positions, side="right") - 1
    after = np.minimum(before + 1, len(at) - 1)
    gap = at[after] - at[np.maximum(before, 0)]
    bad = (before < 0) | (positions > at[-1]) | ((gap > span) & ~known)
    out[bad] = np.nan
    return out


def _rolling(x: FloatArray, width: int, origins: IntArray) -> tuple[FloatArray, FloatArray]:
    """Mean and standard deviation of ``x[o - width + 1 .. o]`` per origin (NaN if any is)."""
    centre = float(np.nanmean(x)) if np.isfinite(x).any() else 0.0
    shifted = np.nan_to_num(x - centre)
    zero = np.zeros(1)
    sums = np.concatenate([zero, np.cumsum(shifted)])
    squares = np.concatenate([zero, np.cumsum(shifted * shifted)])
    gaps = np.concatenate([zero, np.cumsum(np.isnan(x))])
    hi, lo = origins + 1, origins + 1 - width
    mean = (sums[hi] - sums[lo]) / width
    var = np.maximum((squares[hi] - squares[lo]) / width - mean * mean, 0.0)
    hole = gaps[hi] - gaps[lo] > 0
    return np.where(hole, np.nan, mean + centre), np.where(hole, np.nan, np.sqrt(var))


def seconds_of(index: pd.Index, where: str) -> FloatArray:
    """A frame's time index as seconds since the epoch: numbers as they are, datetimes (naive
    ones taken as UTC) converted; anything else is a ValidationError."""
    if isinstance(index, pd.DatetimeIndex):
        stamps = index if index.tz is not None else index.tz_localize(UTC)
        nanos = stamps.tz_convert(UTC).as_unit("ns").asi8
        return np.asarray(nanos, dtype=np.float64) / 1e9
    try:
        return np.asarray(index, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValidationError(
            "history is not indexed by time",
            path=f"{where}.index",
            expected="seconds since the epoch or a DatetimeIndex",
            got=f"{index.dtype} index, e.g. {index[:3].tolist()}",
        ) from err


def frame_readings(
    frame: pd.DataFrame, inputs: Sequence[str], where: str
) -> tuple[FloatArray, FloatArray]:
    """A history frame's times (seconds) and its ``inputs`` columns, checked as readings."""
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(
            "history must be frames",
            path=where,
            expected="a pandas DataFrame indexed by time, one column per input",
            got=type(frame).__name__,
        )
    times = seconds_of(frame.index, where)
    present = [str(c) for c in frame.columns]
    missing = [name for name in inputs if name not in present]
    if missing:
        raise ValidationError(
            "history lacks an input of the forecaster",
            path=f"{where}/{missing[0]}",
            expected=f"columns {list(inputs)}",
            got=present,
        )
    try:
        values = frame[list(inputs)].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValidationError(
            "history has non-numeric readings",
            path=where,
            expected=f"numbers (NaN for missing) in {list(inputs)}",
            got=str(err),
        ) from err
    check_readings(times, values, inputs, where)
    return times, values


def select_columns(
    values: FloatArray, columns: Sequence[str], wanted: Sequence[str], where: str
) -> FloatArray:
    """The ``wanted`` columns of a window's ``values`` in that order, or a ValidationError."""
    index = {name: i for i, name in enumerate(columns)}
    missing = [name for name in wanted if name not in index]
    if missing:
        raise ValidationError(
            "window lacks an input of the forecaster",
            path=f"{where}/{missing[0]}",
            expected=f"columns {list(wanted)}",
            got=list(columns),
        )
    return np.asarray(values[:, [index[name] for name in wanted]], dtype=np.float64)


def check_readings(
    times: FloatArray, values: FloatArray, columns: Sequence[str], where: str
) -> None:
    """Times finite and in order, values finite or NaN (missing): else a ValidationError that
    names the row."""
    if not len(times):
        raise ValidationError(
            "no readings", path=where, expected="at least one row of readings", got="0 rows"
        )
    bad = np.flatnonzero(~np.isfinite(times))
    if len(bad):
        raise ValidationError(
            "a reading has no valid time",
            path=f"{where}/times[{bad[0]}]",
            expected="finite seconds since the epoch",
            got=float(times[bad[0]]),
        )
    back = np.flatnonzero(np.diff(times) < 0)
    if len(back):
        row = int(back[0]) + 1
        raise ValidationError(
            "readings are out of time order",
            path=f"{where}/times[{row}]",
            expected=f"times ascending: at or after {instant(times[row - 1])}",
            got=instant(times[row]),
        )
    rows, cols = np.nonzero(np.isinf(values))
    if len(rows):
        raise ValidationError(
            "a reading is infinite",
            path=f"{where}/{columns[cols[0]]} at {instant(times[rows[0]])}",
            expected="a finite number (NaN marks a missing reading)",
            got=float(values[rows[0], cols[0]]),
        )


def instant(seconds: float) -> str:
    """A time for messages: ISO 8601 UTC when it looks like an epoch time, else seconds."""
    if 1e8 <= seconds < 32_503_680_000:  # 1973 to 3000
        return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
    return f"{seconds:g} s"


def _positive(value: float, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValidationError("must be positive", path=where, expected="seconds > 0", got=value)
    if not math.isfinite(value):
        raise ValidationError("must be finite", path=where, expected="seconds > 0", got=value)

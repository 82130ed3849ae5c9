"""Series queries: raw points page by page, buckets of any width, aligned frames, retention.

Times are seconds since the epoch (UTC); :func:`series_range`, :func:`downsample` and
:func:`frame` also take ``datetime`` objects and ISO 8601 strings (a string without a zone is
UTC), and widths and ages also take ``timedelta``. Buckets are ``[origin + k * width,
origin + (k + 1) * width)``; results are indexed by bucket start as a UTC ``DatetimeIndex``.

Aggregates see the numeric points only: booleans count as 0/1, NaN and non-numeric values
(strings, objects) are left out. An empty bucket has no value (NaN) except for ``count``,
which is 0 there and is never filled. Long ranges are read from the 1-minute and 1-hour
rollups whenever the width and origin are whole multiples of them; the result is the same as
aggregating the raw points (see ``docs/series.md``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, Protocol, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd

from twinkit.errors import ValidationError
from twinkit.store._sqlite_retention import RetentionRule
from twinkit.store._sqlite_series import Aggregates, PointPage

__all__ = [
    "Agg",
    "Fill",
    "RetentionRule",
    "SeriesPage",
    "SeriesStore",
    "delete_retention",
    "downsample",
    "frame",
    "retention_rules",
    "series_range",
    "series_tail",
    "set_retention",
]

Agg = Literal["avg", "min", "max", "count", "first", "last", "sum"]
Fill = Literal["none", "previous", "linear"]
Instant = float | int | datetime | str
Duration = float | int | timedelta

MAX_PAGE: Final = 100_000
"""The most points one page may hold."""
MAX_BUCKETS: Final = 10_000_000
"""The most buckets one query may produce (80 MB per column)."""

_AGGS: Final = get_args(Agg)
_FILLS: Final = get_args(Fill)
_FloatArray = npt.NDArray[np.float64]


class SeriesStore(Protocol):
    """The store methods these queries use (implemented by ``SQLiteStore``)."""

    async def series_page(
        self, twin_id: str, name: str, start: float, end: float, *, after: float, limit: int
    ) -> PointPage: ...

    async def series_tail(
        self, twin_id: str, name: str, end: float, *, limit: int
    ) -> PointPage: ...

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
    ) -> Aggregates: ...

    async def set_retention(self, rule: RetentionRule) -> RetentionRule: ...

    async def delete_retention(self, scope: str) -> None: ...

    async def retention_rules(self) -> list[RetentionRule]: ...


@dataclass(frozen=True, slots=True)
class SeriesPage:
    """One page of raw points, in time order.

    ``values`` is float64 (NaN for NaN) when every value is a number or a boolean, else an
    object array of the values as sent. ``next_after`` is the ``after`` of the next page, None
    on the last one.
    """

    twin_id: str
    name: str
    times: _FloatArray
    values: npt.NDArray[Any]
    next_after: float | None

    def to_series(self) -> pd.Series:
        """The page as a pandas Series indexed by UTC time."""
        return pd.Series(self.values, index=_index(self.times), name=self.name)


async def series_range(
    store: SeriesStore,
    twin_id: str,
    name: str,
    start: Instant,
    end: Instant,
    *,
    after: Instant | None = None,
    limit: int = 1000,
) -> SeriesPage:
    """Raw points of one series with ``start <= time < end``, at most ``limit`` of them;
    pass ``page.next_after`` as ``after`` to read on (``after`` itself is excluded)."""
    lo, hi = _range(start, end)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise ValidationError(
            "bad page size",
            path=f"series_range({twin_id!r}, {name!r}, limit=...)",
            expected=f"an integer from 1 to {MAX_PAGE}",
            got=limit,
        )
    cursor = -math.inf if after is None else _seconds(after, "after")
    found = await store.series_page(twin_id, name, lo, hi, after=cursor, limit=limit)
    last = float(found.times[-1]) if found.more else None
    return _series_page(twin_id, name, found.times, found.values, last)


async def series_tail(
    store: SeriesStore, twin_id: str, name: str, end: Instant, *, count: int = 1000
) -> SeriesPage:
    """The newest ``count`` raw points of one series with ``time < end``, in time order (what
    a model that needs the last rows of a twin reads; ``end`` may be ``math.inf``: the newest
    of all); ``next_after`` is always None."""
    hi = math.inf if end == math.inf else _seconds(end, "end")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_PAGE:
        raise ValidationError(
            "bad point count",
            path=f"series_tail({twin_id!r}, {name!r}, count=...)",
            expected=f"an integer from 1 to {MAX_PAGE}",
            got=count,
        )
    found = await store.series_tail(twin_id, name, hi, limit=count)
    return _series_page(twin_id, name, found.times, found.values, None)


def _series_page(
    twin_id: str, name: str, times: list[float], values: list[Any], next_after: float | None
) -> SeriesPage:
    numeric = all(type(v) is float or type(v) is int for v in values)
    return SeriesPage(
        twin_id,
        name,
        np.array(times, dtype=np.float64),
        np.array(values, dtype=np.float64) if numeric else np.array(values, dtype=object),
        next_after,
    )


async def downsample(
    store: SeriesStore,
    twin_id: str,
    name: str,
    start: Instant,
    end: Instant,
    *,
    width: Duration,
    agg: Agg = "avg",
    fill: Fill = "none",
    origin: Instant = 0.0,
) -> pd.Series:
    """One value per bucket of ``width`` over ``[start, end)``, empty buckets filled by
    ``fill``: ``none`` (NaN), ``previous`` (the last value before) or ``linear`` (between
    the neighbours; none before the first or after the last value)."""
    lo, hi, step, zero, ks = _buckets(start, end, width, origin)
    _check_agg(agg, fill)
    found = await store.series_aggregates(twin_id, name, lo, hi, width=step, origin=zero)
    values = _column(found, agg, ks)
    return pd.Series(_filled(values, agg, fill), index=_index(zero + ks * step), name=name)


async def frame(
    store: SeriesStore,
    series: Sequence[tuple[str, str]],
    start: Instant,
    end: Instant,
    *,
    width: Duration,
    agg: Agg = "avg",
    fill: Fill = "none",
    origin: Instant = 0.0,
) -> pd.DataFrame:
    """Several series downsampled onto the same buckets: one column ``"<twin id>/<name>"``
    per ``(twin id, name)``, in the order given."""
    lo, hi, step, zero, ks = _buckets(start, end, width, origin)
    _check_agg(agg, fill)
    if not series:
        raise ValidationError(
            "no series to put in a frame",
            path="frame(series=...)",
            expected="at least one (twin id, name) pair",
            got=list(series),
        )
    columns: dict[str, npt.NDArray[Any]] = {}
    for twin_id, name in series:
        found = await store.series_aggregates(twin_id, name, lo, hi, width=step, origin=zero)
        columns[f"{twin_id}/{name}"] = _filled(_column(found, agg, ks), agg, fill)
    return pd.DataFrame(columns, index=_index(zero + ks * step))


async def set_retention(
    store: SeriesStore,
    scope: str,
    *,
    raw: Duration | None = None,
    rollup_1m: Duration | None = None,
    rollup_1h: Duration | None = None,
) -> RetentionRule:
    """Keep raw points, 1-minute and 1-hour rollups of ``scope`` for these ages (None:
    forever). ``scope`` is ``default``, ``model:<dtmi>`` or ``series:<twin id>/<name>``;
    the most specific rule of a series wins."""
    ages = [
        None if age is None else _duration(age, field)
        for age, field in ((raw, "raw"), (rollup_1m, "rollup_1m"), (rollup_1h, "rollup_1h"))
    ]
    return await store.set_retention(RetentionRule(scope, *ages))


async def retention_rules(store: SeriesStore) -> list[RetentionRule]:
    """Every retention rule, by scope."""
    return await store.retention_rules()


async def delete_retention(store: SeriesStore, scope: str) -> None:
    """Forget the rule of ``scope``; NotFoundError when there is none."""
    await store.delete_retention(scope)


# -- arguments --------------------------------------------------------------------------------


def _seconds(value: Instant, what: str) -> float:
    """Seconds since the epoch of a number, a datetime or an ISO 8601 string (naive is UTC)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as err:
            raise ValidationError(
                f"bad {what} time",
                path=what,
                expected="seconds since the epoch, a datetime or an ISO 8601 string",
                got=value,
            ) from err
    if isinstance(value, datetime):
        stamp = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return stamp.timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(
            f"bad {what} time",
            path=what,
            expected="finite seconds since the epoch, a datetime or an ISO 8601 string",
            got=value,
        )
    return float(value)


def _duration(value: Duration, what: str) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not (math.isfinite(seconds) and seconds > 0)
    ):
        raise ValidationError(
            f"bad {what}", path=what, expected="seconds > 0 or a positive timedelta", got=value
        )
    return float(seconds)


def _range(start: Instant, end: Instant) -> tuple[float, float]:
    lo, hi = _seconds(start, "start"), _seconds(end, "end")
    if lo > hi:
        raise ValidationError(
            "time range ends before it starts",
            path="start, end",
            expected="start <= end",
            got=(lo, hi),
        )
    return lo, hi


def _buckets(
    start: Instant, end: Instant, width: Duration, origin: Instant
) -> tuple[float, float, float, float, npt.NDArray[np.int64]]:
    """The range, width, origin and the indexes of every bucket the range touches."""
    lo, hi = _range(start, end)
    step, zero = _duration(width, "width"), _seconds(origin, "origin")
    first = math.floor((lo - zero) / step)
    last = math.ceil((hi - zero) / step) if hi > lo else first
    if last - first > MAX_BUCKETS:
        raise ValidationError(
            "too many buckets",
            path="width",
            expected=f"at most {MAX_BUCKETS:,} buckets over the range (a wider width)",
            got=f"{last - first:,} buckets of {step} s",
        )
    return lo, hi, step, zero, np.arange(first, last, dtype=np.int64)


def _check_agg(agg: str, fill: str) -> None:
    if agg not in _AGGS:
        raise ValidationError("unknown aggregate", path="agg", expected=" | ".join(_AGGS), got=agg)
    if fill not in _FILLS:
        raise ValidationError(
            "unknown gap fill", path="fill", expected=" | ".join(_FILLS), got=fill
        )


# -- results ----------------------------------------------------------------------------------


def _column(found: Aggregates, agg: str, ks: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
    """The aggregate ``agg`` on every bucket ``ks`` (NaN, or 0 for count, where empty)."""
    where = np.searchsorted(ks, found.bucket)
    inside = (where < len(ks)) & (ks[np.minimum(where, len(ks) - 1)] == found.bucket)
    if agg == "count":
        counts = np.zeros(len(ks), dtype=np.int64)
        counts[where[inside]] = found.count[inside]
        return counts
    source = {
        "avg": found.sum / np.maximum(found.count, 1),
        "min": found.min,
        "max": found.max,
        "first": found.first,
        "last": found.last,
        "sum": found.sum,
    }[agg]
    values = np.full(len(ks), np.nan)
    values[where[inside]] = source[inside]
    return values


def _filled(values: npt.NDArray[Any], agg: str, fill: str) -> npt.NDArray[Any]:
    if agg == "count" or fill == "none":
        return values
    known = np.flatnonzero(~np.isnan(values))
    if not len(known):
        return values
    if fill == "previous":
        last_known = np.maximum.accumulate(np.where(np.isnan(values), -1, np.arange(len(values))))
        out = values[np.maximum(last_known, 0)]
        out[last_known < 0] = np.nan
        return np.asarray(out, dtype=np.float64)
    positions = np.arange(len(values))
    out = np.interp(positions, known, values[known])
    out[(positions < known[0]) | (positions > known[-1])] = np.nan
    return np.asarray(out, dtype=np.float64)


def _index(times: npt.NDArray[np.floating[Any]]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(times, unit="s", utc=True), name="time")

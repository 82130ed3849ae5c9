"""A scenario's series, and the scenario against reality on the same time grid.

:func:`scenario_series` reads one simulated series of a scenario, raw or averaged into ``N``
equal buckets over the scenario's horizon. :func:`compare_scenario` puts it beside the twin's
real series of the same name over the same span: on the scenario's own times (reality held
from its last point at or before each time, as the twin would have shown it) or on the same
``N`` buckets (reality averaged per bucket, an empty bucket holding the value before it), with
``difference = scenario - reality``. Reality after now (a scenario that looks ahead) is
NaN, and so is reality before the series' first point. :func:`plot_scenario` draws such a comparison (matplotlib, loaded
when called).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from twinkit.core import Point
from twinkit.errors import NotFoundError, ValidationError
from twinkit.store import ScenarioBuckets, ScenarioPoints, ScenarioRecord
from twinkit.store._sqlite_series import Aggregates

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "MAX_BUCKETS",
    "MAX_RAW",
    "ScenarioReader",
    "compare_scenario",
    "plot_scenario",
    "scenario_series",
    "scenario_window",
]

MAX_BUCKETS: Final = 100_000
MAX_RAW: Final = 2_000_000
"""The most real points a raw comparison reads (beyond: compare in buckets)."""
_FloatArray = npt.NDArray[np.float64]


class ScenarioReader(Protocol):
    """The store reads these functions use (``SQLiteStore`` has them)."""

    async def scenario(self, name: str) -> ScenarioRecord: ...

    async def scenario_series(self, name: str) -> list[tuple[str, str]]: ...

    async def scenario_points(
        self, name: str, twin_id: str, series: str, start: float, end: float
    ) -> ScenarioPoints: ...

    async def scenario_buckets(
        self, name: str, twin_id: str, series: str, start: float, end: float, *, width: float
    ) -> ScenarioBuckets: ...

    async def points(
        self, twin_id: str, name: str, start: float, end: float, limit: int | None = None
    ) -> list[Point]: ...

    async def points_as_of(self, series_twin_ids: Sequence[str], at: float) -> list[Point]: ...

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


def scenario_window(record: ScenarioRecord) -> tuple[float, float]:
    """The fork time and horizon of a kept scenario."""
    at, horizon = record.spec.get("at"), record.spec.get("horizon")
    if not isinstance(at, int | float) or not isinstance(horizon, int | float):
        raise ValidationError(
            f"scenario {record.name!r} has no resolved fork time and horizon",
            path=f"scenario {record.name}/spec",
            expected="numbers at and horizon",
            got={"at": at, "horizon": horizon},
        )
    return float(at), float(horizon)


def _check_buckets(buckets: int | None) -> None:
    if buckets is None:
        return
    if isinstance(buckets, bool) or not isinstance(buckets, int) or not 0 < buckets <= MAX_BUCKETS:
        raise ValidationError(
            "bad bucket count",
            path="buckets",
            expected=f"an integer from 1 to {MAX_BUCKETS:,} (or none for raw points)",
            got=buckets,
        )


def _index(times: _FloatArray) -> pd.DatetimeIndex:
    micros = np.round(np.asarray(times, dtype=np.float64) * 1e6).astype(np.int64)
    return pd.DatetimeIndex(pd.to_datetime(micros, unit="us", utc=True), name="time")


def _end(at: float, horizon: float) -> float:
    """Just after the last point (at ``at + horizon``), so a half-open range keeps it."""
    return math.nextafter(at + horizon, math.inf)


def _merge(k: npt.NDArray[np.int64], count: Any, mean: Any, n: int) -> _FloatArray:
    """Means per bucket ``0..n-1`` from partial groups (the point at the very end of the
    horizon falls in bucket ``n`` and joins the last one)."""
    k = np.minimum(k, n - 1)
    weights = np.asarray(count, dtype=np.float64)
    sums = np.bincount(k, weights=np.nan_to_num(np.asarray(mean) * weights), minlength=n)
    counts = np.bincount(k, weights=weights, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)[:n]


async def _require_series(
    store: ScenarioReader, record: ScenarioRecord, twin_id: str, series: str
) -> None:
    """NotFoundError naming the series there are, when a finished scenario lacks this one."""
    if not record.status.final:
        return  # still running: the series may not have its first chunk yet
    found = await store.scenario_series(record.name)
    if (twin_id, series) not in found:
        listed = ", ".join(f"{t}/{n}" for t, n in found[:20]) or "none"
        raise NotFoundError(
            f"scenario {record.name!r} has no series {twin_id}/{series}; expected one of: {listed}",
            where=f"scenario {record.name}/{twin_id}/{series}",
        )


async def _simulated(
    store: ScenarioReader, record: ScenarioRecord, twin_id: str, series: str, buckets: int | None
) -> tuple[_FloatArray, _FloatArray]:
    at, horizon = scenario_window(record)
    if buckets is None:
        raw = await store.scenario_points(record.name, twin_id, series, at, _end(at, horizon))
        times, values = raw.times, raw.values
    else:
        width = horizon / buckets
        found = await store.scenario_buckets(
            record.name, twin_id, series, at, _end(at, horizon), width=width
        )
        times = at + width * np.arange(buckets, dtype=np.float64)
        values = _merge(found.bucket, found.count, found.mean, buckets)
        if not found.bucket.size:
            times, values = times[:0], values[:0]
    if not times.size:
        await _require_series(store, record, twin_id, series)
    return times, values


async def scenario_series(
    store: ScenarioReader, name: str, twin_id: str, series: str, *, buckets: int | None = None
) -> pd.Series:
    """One simulated series of scenario ``name`` on a UTC time index: every point, or the
    mean of each of ``buckets`` equal buckets over the horizon (NaN where empty)."""
    _check_buckets(buckets)
    record = await store.scenario(name)
    times, values = await _simulated(store, record, twin_id, series, buckets)
    return pd.Series(values, index=_index(times), name=series)


def _float(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, int | float) else math.nan


async def _reality_before(store: ScenarioReader, twin_id: str, series: str, at: float) -> float:
    for point in await store.points_as_of([twin_id], at):
        if point.twin_id == twin_id and point.name == series:
            return _float(point.value)
    return math.nan


async def _reality(
    store: ScenarioReader,
    twin_id: str,
    series: str,
    grid: _FloatArray,
    *,
    window: tuple[float, float],
    buckets: int | None,
) -> _FloatArray:
    """Reality on ``grid``: held from the point at or before each time (raw), or averaged per
    bucket with empty buckets holding the value before them."""
    at, horizon = window
    before = await _reality_before(store, twin_id, series, at)
    if buckets is None:
        points = await store.points(twin_id, series, at, _end(at, horizon), MAX_RAW + 1)
        if len(points) > MAX_RAW:
            raise ValidationError(
                f"reality has more than {MAX_RAW:,} points of {twin_id}/{series} over the "
                "scenario's horizon",
                path="buckets",
                expected="a number of buckets to compare a span this long",
                got=None,
            )
        times = np.array([at, *(p.time for p in points)], dtype=np.float64)
        values = np.array([before, *(_float(p.value) for p in points)], dtype=np.float64)
        return values[np.maximum(np.searchsorted(times, grid, side="right") - 1, 0)]
    width = horizon / buckets
    found = await store.series_aggregates(
        twin_id, series, at, _end(at, horizon), width=width, origin=at
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        means = _merge(found.bucket, found.count, found.sum / found.count, buckets)
    held = pd.Series(np.concatenate([[before], means])).ffill().to_numpy(dtype=np.float64)
    return np.array(held[1:], dtype=np.float64)  # a writable copy


async def compare_scenario(
    store: ScenarioReader,
    name: str,
    twin_id: str,
    series: str,
    *,
    buckets: int | None = None,
    reality: str | None = None,
    now: float | None = None,
) -> pd.DataFrame:
    """Scenario ``name``'s series beside the twin's real series (``reality``, the same name by
    default) on one time grid: columns ``scenario``, ``reality``, ``difference``. Reality is
    NaN after ``now`` (the clock by default): a scenario may look ahead of it."""
    _check_buckets(buckets)
    record = await store.scenario(name)
    window = scenario_window(record)
    times, simulated = await _simulated(store, record, twin_id, series, buckets)
    if buckets is not None:  # the whole grid, so reality shows even where the run had not been
        at, horizon = window
        grid = at + (horizon / buckets) * np.arange(buckets, dtype=np.float64)
        if not times.size:
            simulated = np.full(buckets, np.nan)
        times = grid
    real = await _reality(store, twin_id, reality or series, times, window=window, buckets=buckets)
    real[times > (time.time() if now is None else now)] = np.nan
    frame = pd.DataFrame(
        {"scenario": simulated, "reality": real, "difference": simulated - real},
        index=_index(times),
    )
    frame.attrs.update(scenario=name, twin=twin_id, series=series, at=window[0])
    return frame


def plot_scenario(
    comparison: pd.DataFrame,
    *,
    title: str | None = None,
    ax: Axes | None = None,
    path: str | Path | None = None,
) -> Axes:
    """Draw a comparison (from :func:`compare_scenario` or ``Client.compare_scenario``):
    reality solid, the scenario dashed. Draws on ``ax`` when given; with ``path`` (and no
    ``ax``) saves the figure there without pyplot (safe in servers and threads); else a new
    pyplot figure. Needs matplotlib."""
    missing = [c for c in ("scenario", "reality") if c not in comparison.columns]
    if missing:
        raise ValidationError(
            "not a scenario comparison",
            path="comparison",
            expected="a frame with columns scenario and reality (compare_scenario's)",
            got=list(comparison.columns),
        )
    figure = None
    if ax is None:
        if path is not None:
            from matplotlib.figure import Figure

            figure = Figure(figsize=(9, 4), layout="constrained")
            ax = figure.subplots()
        else:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(9, 4), layout="constrained")
    attrs = comparison.attrs
    label = f"{attrs.get('twin', '')}/{attrs.get('series', '')}".strip("/") or "value"
    ax.plot(comparison.index, comparison["reality"], label="reality", color="black")
    ax.plot(
        comparison.index,
        comparison["scenario"],
        label=f"scenario {attrs.get('scenario', '')}".strip(),
        linestyle="--",
        color="tab:orange",
    )
    ax.set_ylabel(label)
    ax.set_xlabel("time (UTC)")
    ax.set_title(title or f"{label}: scenario against reality")
    ax.legend()
    if figure is not None and path is not None:
        figure.savefig(path)
    return ax

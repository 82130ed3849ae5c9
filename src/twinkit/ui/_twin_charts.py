"""The twin page's charts as data: which series go on which chart, how finely to read a time
range, the ECharts options of a chart, dataZoom events, and live points from events.

One chart per numeric telemetry of the twin's model (and per numeric property with derived
values), each holding the measured series and its derived ones: ``simulated:<name>`` (dashed),
``predicted:<name>`` with ``predicted:<name>_lower``/``_upper`` drawn as a band, and
``residual:<name>`` on a second axis at the right (it lives around zero). Derived series
whose name matches no content get a chart of their own; ``…anomaly_threshold`` joins the chart
of its ``…anomaly_score``.

Times on the charts are milliseconds since the epoch (ECharts' time axis) in UTC.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from twinkit.core import PREDICTED, RESIDUAL, SIMULATED, Event, EventType
from twinkit.core._derived import split_derived
from twinkit.model import Content, Property, Telemetry
from twinkit.ui._twin_data import is_numeric, unit_label

__all__ = [
    "CHARTS_SHOWN",
    "GAP_POINTS",
    "MAX_LIVE_POINTS",
    "NICE_WIDTHS",
    "TARGET_POINTS",
    "ChartSpec",
    "Line",
    "Role",
    "SeriesData",
    "append_live",
    "band_pairs",
    "bucket_width",
    "chart_options",
    "chart_specs",
    "default_charts",
    "live_patch",
    "live_rows",
    "zoom_range",
]

CHARTS_SHOWN: Final = 8
"""Charts a page shows at first (the rest are a pick away): a pump has 13 telemetries."""
GAP_POINTS: Final = 3
"""Missing values in a row that break a line (fewer are joined over)."""
TARGET_POINTS: Final = 1500
"""About how many points one line of a chart gets from history (a year: 6-hour buckets)."""
MAX_LIVE_POINTS: Final = 3000
"""Points one line keeps while live; the oldest go first (history has them all)."""
NICE_WIDTHS: Final = (
    1.0, 2.0, 5.0, 10.0, 15.0, 30.0,
    60.0, 120.0, 300.0, 600.0, 900.0, 1800.0,
    3600.0, 7200.0, 10800.0, 21600.0, 43200.0,
    86400.0, 2 * 86400.0, 7 * 86400.0, 30 * 86400.0,
)  # fmt: skip
"""Bucket widths in seconds; from one minute up they are whole minutes/hours, which the
store serves from its 1-minute and 1-hour rollups."""

_ANOMALY_SCORE: Final = "anomaly_score"
_ANOMALY_THRESHOLD: Final = "anomaly_threshold"
_FloatArray = npt.NDArray[np.float64]
Pair = tuple[float, float | None]
"""One point of an ECharts line: milliseconds since the epoch, and the value (None: a gap)."""


class Role(StrEnum):
    """What a line on a chart is; decides its style and axis."""

    MEASURED = "measured"
    SIMULATED = "simulated"
    PREDICTED = "predicted"
    RESIDUAL = "residual"
    THRESHOLD = "threshold"
    DERIVED = "derived"  # another kind of derived value


_STYLE: Final[Mapping[Role, Mapping[str, Any]]] = {
    Role.MEASURED: {"color": "#1f77b4", "type": "solid", "width": 1.5},
    Role.SIMULATED: {"color": "#ff7f0e", "type": "dashed", "width": 1.5},
    Role.PREDICTED: {"color": "#9467bd", "type": "solid", "width": 1.5},
    Role.RESIDUAL: {"color": "#7f7f7f", "type": "dotted", "width": 1},
    Role.THRESHOLD: {"color": "#d62728", "type": "dashed", "width": 1},
    Role.DERIVED: {"color": "#2ca02c", "type": "solid", "width": 1.5},
}
_BAND_COLOR: Final = "rgba(148, 103, 189, 0.18)"


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a chart: the store series it reads, and its interval band if it has one."""

    series: str
    label: str
    role: Role
    lower: str | None = None
    upper: str | None = None

    def names(self) -> list[str]:
        """The store series this line reads (the line's own first)."""
        return [self.series] + [name for name in (self.lower, self.upper) if name is not None]


@dataclass(frozen=True, slots=True)
class ChartSpec:
    """One chart: ``key`` is the content (or derived name) it is about."""

    key: str
    title: str
    unit: str
    lines: tuple[Line, ...]

    def names(self) -> list[str]:
        return [name for line in self.lines for name in line.names()]


@dataclass(slots=True)
class SeriesData:
    """Points of one store series: times in seconds, values as floats (NaN: no value)."""

    times: _FloatArray = field(default_factory=lambda: np.empty(0))
    values: _FloatArray = field(default_factory=lambda: np.empty(0))
    width: float | None = None  # bucket width in seconds; None: raw points


# --- which series on which chart --------------------------------------------------------------


def _base_of(kind: str, name: str) -> tuple[str, Role, str | None]:
    """The chart key, role and band side (``lower``/``upper``) of a derived series."""
    if kind == PREDICTED:
        if name.endswith(_ANOMALY_THRESHOLD):
            return name[: -len(_ANOMALY_THRESHOLD)] + _ANOMALY_SCORE, Role.THRESHOLD, None
        for side in ("lower", "upper"):
            if name.endswith("_" + side) and len(name) > len(side) + 1:
                return name[: -len(side) - 1], Role.PREDICTED, side
        return name, Role.PREDICTED, None
    if kind == SIMULATED:
        return name, Role.SIMULATED, None
    if kind == RESIDUAL:
        return name, Role.RESIDUAL, None
    return name, Role.DERIVED, None


def _derived_lines(derived: Iterable[str]) -> dict[str, list[Line]]:
    """Derived series grouped by chart key, a prediction's bounds folded into its band."""
    plain: dict[str, dict[tuple[Role, str], str]] = {}
    bands: dict[str, dict[str, str]] = {}
    for series in sorted(set(derived)):
        split = split_derived(series)
        if split is None:
            continue
        key, role, side = _base_of(*split)
        if side is not None:
            bands.setdefault(key, {})[side] = series
        else:
            plain.setdefault(key, {})[(role, split[0])] = series
    grouped: dict[str, list[Line]] = {}
    order = list(Role)
    for key in sorted(set(plain) | set(bands)):
        lines = []
        band = bands.get(key, {})
        for (role, kind), series in sorted(
            plain.get(key, {}).items(), key=lambda i: order.index(i[0][0])
        ):
            label = series if role is Role.DERIVED else kind
            if role is Role.PREDICTED:
                lines.append(Line(series, label, role, band.get("lower"), band.get("upper")))
                band = {}
            else:
                lines.append(Line(series, label, role))
        if band:  # bounds without a value: draw the band around nothing
            lower, upper = band.get("lower"), band.get("upper")
            anchor = lower or upper
            assert anchor is not None
            lines.append(Line(anchor, f"{PREDICTED} interval", Role.PREDICTED, lower, upper))
        grouped[key] = lines
    return grouped


def chart_specs(contents: Mapping[str, Content], derived: Iterable[str]) -> list[ChartSpec]:
    """The charts of a twin whose model has ``contents`` and that has the ``derived`` series
    (e.g. the keys of ``twin.derived``): numeric telemetry in model order, then numeric
    properties with derived values, then derived values of no content, by name."""
    grouped = _derived_lines(derived)
    specs: list[ChartSpec] = []
    for name, content in contents.items():
        if isinstance(content, Telemetry) and is_numeric(content):
            specs.append(_content_spec(name, content, grouped.pop(name, [])))
    for name, content in contents.items():
        if isinstance(content, Property) and name in grouped and is_numeric(content):
            specs.append(_content_spec(name, content, grouped.pop(name)))
    for key, lines in sorted(grouped.items()):  # no content, or one that cannot be charted
        specs.append(ChartSpec(key, key, "", tuple(lines)))
    return specs


def default_charts(
    specs: Sequence[ChartSpec], with_data: Collection[str] = (), limit: int = CHARTS_SHOWN
) -> list[str]:
    """The keys of the charts shown at first, at most ``limit``, in the order of ``specs``:
    those with derived lines (simulated, predicted), then those of ``with_data`` (e.g. the
    twin's latest telemetry); the first ``limit`` charts when no chart has either."""
    rich = [spec.key for spec in specs if len(spec.lines) > 1]
    fed = [spec.key for spec in specs if len(spec.lines) <= 1 and spec.key in with_data]
    chosen = set((rich + fed)[:limit]) or {spec.key for spec in specs[:limit]}
    return [spec.key for spec in specs if spec.key in chosen]


def _content_spec(name: str, content: Telemetry | Property, lines: list[Line]) -> ChartSpec:
    measured = Line(name, "measured", Role.MEASURED)
    return ChartSpec(name, name, unit_label(content.unit), (measured, *lines))


# --- how finely to read -----------------------------------------------------------------------


def bucket_width(start: float, end: float, target: int = TARGET_POINTS) -> float:
    """The smallest of :data:`NICE_WIDTHS` giving at most ``target`` buckets over the range
    (the largest one for ranges longer than that allows)."""
    wanted = max(end - start, 0.0) / max(target, 1)
    for width in NICE_WIDTHS:
        if width >= wanted:
            return width
    return NICE_WIDTHS[-1] * math.ceil(wanted / NICE_WIDTHS[-1])


# --- chart options ----------------------------------------------------------------------------


def _kept(missing: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Which points to draw: every value, and the first of each run of at least
    :data:`GAP_POINTS` missing ones (its None breaks the line). Shorter runs are left out so
    that the line joins over them: hourly data in 30-minute buckets is a line, not dots."""
    keep = ~missing
    where = np.flatnonzero(missing)
    if len(where):
        breaks = np.diff(where) > 1
        starts = where[np.r_[True, breaks]]
        ends = where[np.r_[breaks, True]]
        keep[starts[ends - starts + 1 >= GAP_POINTS]] = True
    return keep


def _pairs(data: SeriesData | None) -> list[Pair]:
    """``(ms, value)`` points; tuples, which NiceGUI sends as they are (lists it would wrap
    one by one in observable collections)."""
    if data is None:
        return []
    missing = ~np.isfinite(data.values)
    keep = _kept(missing)
    times = np.round(data.times[keep] * 1000.0, 3).tolist()
    values = data.values[keep].tolist()
    return [
        (t, None if gap else v)
        for t, v, gap in zip(times, values, missing[keep].tolist(), strict=True)
    ]


def band_pairs(lower: SeriesData | None, upper: SeriesData | None) -> tuple[list[Pair], list[Pair]]:
    """The two stacked series of a band: the lower bound, and the width above it, on the
    lower bound's times (an upper bound at another time is matched to none)."""
    if lower is None or upper is None:
        return [], []
    at = dict(zip(upper.times.tolist(), upper.values.tolist(), strict=True))
    high = np.array([at.get(t, math.nan) for t in lower.times.tolist()], dtype=np.float64)
    low = lower.values
    missing = ~(np.isfinite(low) & np.isfinite(high))
    keep = _kept(missing)
    times = np.round(lower.times[keep] * 1000.0, 3).tolist()
    gaps = missing[keep].tolist()
    base = [
        (t, None if gap else v) for t, v, gap in zip(times, low[keep].tolist(), gaps, strict=True)
    ]
    width = [
        (t, None if gap else v)
        for t, v, gap in zip(times, (high - low)[keep].tolist(), gaps, strict=True)
    ]
    return base, width


def _line_series(line: Line, data: Mapping[str, SeriesData]) -> list[dict[str, Any]]:
    style = _STYLE[line.role]
    out: list[dict[str, Any]] = []
    if line.lower is not None and line.upper is not None:
        base, width = band_pairs(data.get(line.lower), data.get(line.upper))
        stack = f"band:{line.series}"
        common = {"type": "line", "stack": stack, "symbol": "none", "silent": True}
        common["lineStyle"] = {"opacity": 0}
        out.append({**common, "id": line.lower, "name": f"{line.label} lower", "data": base})
        out.append(
            {
                **common,
                "id": line.upper,
                "name": f"{line.label} interval",
                "data": width,
                "areaStyle": {"color": _BAND_COLOR},
                "itemStyle": {"color": _BAND_COLOR},
                "tooltip": {"show": False},
            }
        )
    if line.series not in (line.lower, line.upper):
        out.append(
            {
                "type": "line",
                "id": line.series,
                "name": line.label,
                "data": _pairs(data.get(line.series)),
                "showSymbol": False,
                "connectNulls": False,
                "lineStyle": dict(style),
                "itemStyle": {"color": style["color"]},
                "yAxisIndex": 1 if line.role is Role.RESIDUAL else 0,
                "animation": False,
                **({"step": "end"} if line.role is Role.THRESHOLD else {}),
            }
        )
    return out


def _zoom_controls() -> list[dict[str, Any]]:
    """Zoom inside the chart (Ctrl + wheel, drag) and a slider under it, over the whole axis."""
    return [
        {
            "type": "inside",
            "xAxisIndex": 0,
            "start": 0,
            "end": 100,
            "zoomOnMouseWheel": "ctrl",  # a plain wheel scrolls the page
            "moveOnMouseWheel": False,
        },
        {"type": "slider", "xAxisIndex": 0, "start": 0, "end": 100, "height": 18, "bottom": 8},
    ]


def chart_options(
    spec: ChartSpec,
    data: Mapping[str, SeriesData],
    start: float,
    end: float,
    *,
    marker: float | None = None,
) -> dict[str, Any]:
    """ECharts options of one chart over ``[start, end]`` (seconds), with a vertical line at
    ``marker`` (the time-travel instant) when given. dataZoom covers the whole axis: a zoom
    is read back with :func:`zoom_range` and the page loads that range."""
    series: list[dict[str, Any]] = []
    for line in spec.lines:
        series.extend(_line_series(line, data))
    if marker is not None and series:
        series[-1]["markLine"] = {
            "silent": True,
            "symbol": "none",
            "lineStyle": {"color": "#d62728", "type": "solid"},
            "label": {"formatter": "then"},
            "data": [{"xAxis": round(marker * 1000.0, 3)}],
        }
    has_residual = any(line.role is Role.RESIDUAL for line in spec.lines)
    lowers = {line.lower for line in spec.lines if line.upper is not None}
    name = f"{spec.title} ({spec.unit})" if spec.unit else spec.title
    y_axes: list[dict[str, Any]] = [{"type": "value", "scale": True}]
    if has_residual:
        y_axes.append({"type": "value", "scale": True, "splitLine": {"show": False}})
    return {
        "useUTC": True,
        "animation": False,
        "title": {"text": name, "left": 8, "top": 4, "textStyle": {"fontSize": 13}},
        "tooltip": {"trigger": "axis"},
        "legend": {
            "top": 4,
            "right": 8,
            "type": "scroll",
            "data": [s["name"] for s in series if s["id"] not in lowers],
        },
        "grid": {"left": 56, "right": 56 if has_residual else 20, "top": 36, "bottom": 56},
        "xAxis": {
            "type": "time",
            "min": round(start * 1000.0, 3),
            "max": round(end * 1000.0, 3),
        },
        "yAxis": y_axes,
        "dataZoom": _zoom_controls(),
        "series": series,
    }


def zoom_range(args: Any, start: float, end: float) -> tuple[float, float] | None:
    """The time range (seconds) a ``datazoom`` event of a chart over ``[start, end]`` asks
    for, from its percentages (``start``/``end``, or the first of ``batch``); None when the
    event holds none or the range is the whole axis."""
    if not isinstance(args, Mapping):
        return None
    source: Any = args
    batch = args.get("batch")
    if isinstance(batch, Sequence) and batch and isinstance(batch[0], Mapping):
        source = batch[0]
    lo, hi = source.get("start"), source.get("end")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lo, hi)):
        return None
    lo_pct, hi_pct = sorted((min(max(float(lo), 0.0), 100.0), min(max(float(hi), 0.0), 100.0)))
    if lo_pct <= 0.0 and hi_pct >= 100.0:
        return None
    span = end - start
    low, high = start + span * lo_pct / 100.0, start + span * hi_pct / 100.0
    if high - low < 1e-3:  # ECharts can zoom to a point; keep a millisecond
        high = low + 1e-3
    return low, high


# --- live -------------------------------------------------------------------------------------


def _event_values(event: Event) -> Mapping[str, Any]:
    data = event.data
    if event.type is EventType.TELEMETRY_RECEIVED:
        values: Mapping[str, Any] = data.get("values") or {}
        return values
    if event.type is EventType.PROPERTY_REPORTED and not data.get("removed"):
        return {str(data.get("name")): data.get("value")}
    if event.type is EventType.VALUES_DERIVED:
        kind = data.get("kind")
        return {f"{kind}:{name}": value for name, value in (data.get("values") or {}).items()}
    return {}


def live_rows(events: Iterable[Event], wanted: Iterable[str]) -> dict[str, SeriesData]:
    """New points of the ``wanted`` series in ``events``, by series, in time order; values
    that are not numbers (strings, objects) are left out, booleans count as 0/1."""
    names = set(wanted)
    times: dict[str, list[float]] = {}
    values: dict[str, list[float]] = {}
    for event in events:
        for name, value in _event_values(event).items():
            if name not in names or isinstance(value, str) or value is None:
                continue
            if not isinstance(value, int | float):
                continue
            times.setdefault(name, []).append(event.time)
            values.setdefault(name, []).append(float(value))
    out = {}
    for name, stamps in times.items():
        order = np.argsort(np.asarray(stamps), kind="stable")
        out[name] = SeriesData(
            np.asarray(stamps, dtype=np.float64)[order],
            np.asarray(values[name], dtype=np.float64)[order],
        )
    return out


def append_live(
    data: dict[str, SeriesData], new: Mapping[str, SeriesData], start: float
) -> dict[str, SeriesData]:
    """Add ``new`` points to ``data`` (in place) and drop those before ``start`` and beyond
    :data:`MAX_LIVE_POINTS` per series; returns the points that were added, by series."""
    added: dict[str, SeriesData] = {}
    for name, points in new.items():
        if not len(points.times):
            continue
        old = data.get(name, SeriesData())
        times = np.concatenate([old.times, points.times])
        values = np.concatenate([old.values, points.values])
        keep = times >= start
        times, values = times[keep], values[keep]
        if len(times) > MAX_LIVE_POINTS:
            times, values = times[-MAX_LIVE_POINTS:], values[-MAX_LIVE_POINTS:]
        data[name] = SeriesData(times, values, old.width)
        added[name] = points
    for name, kept in list(data.items()):
        if name not in new and len(kept.times) and kept.times[0] < start:
            keep = kept.times >= start
            data[name] = SeriesData(kept.times[keep], kept.values[keep], kept.width)
    return added


def live_patch(spec: ChartSpec, added: Mapping[str, SeriesData]) -> dict[str, list[Pair]]:
    """The points to append to each ECharts series of ``spec`` (by series id) for the points
    ``added`` (from :func:`append_live`); empty when none of the chart's series got any."""
    patch: dict[str, list[Pair]] = {}
    for line in spec.lines:
        if line.lower is not None and line.upper is not None:
            base, width = band_pairs(added.get(line.lower), added.get(line.upper))
            if base:
                patch[line.lower], patch[line.upper] = base, width
        if line.series not in (line.lower, line.upper) and line.series in added:
            patch[line.series] = _pairs(added[line.series])
    return patch

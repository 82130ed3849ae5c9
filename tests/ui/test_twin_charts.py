"""The twin page's charts as data: series grouped on charts, bucket widths, ECharts options
with bands, dataZoom ranges and live points."""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest

from twinkit.core import Event, EventType
from twinkit.model.dtdl import parse
from twinkit.ui._twin_charts import (
    MAX_LIVE_POINTS,
    NICE_WIDTHS,
    TARGET_POINTS,
    Role,
    SeriesData,
    append_live,
    band_pairs,
    bucket_width,
    chart_options,
    chart_specs,
    default_charts,
    live_patch,
    live_rows,
    zoom_range,
)

PUMP = "dtmi:ui:ChartPump;1"
MODELS: list[dict[str, Any]] = [
    {
        "@context": ["dtmi:dtdl:context;3", "dtmi:dtdl:extension:quantitativeTypes;1"],
        "@id": PUMP,
        "@type": "Interface",
        "contents": [
            {
                "@type": ["Telemetry", "VolumeFlowRate"],
                "name": "flow",
                "schema": "double",
                "unit": "litrePerSecond",
            },
            {"@type": "Telemetry", "name": "vibration", "schema": "double"},
            {"@type": "Telemetry", "name": "note", "schema": "string"},
            {"@type": "Property", "name": "level", "schema": "double"},
            {"@type": "Property", "name": "rated", "schema": "double"},
        ],
    }
]
YEAR = 365 * 86400.0


def contents() -> Any:
    return parse(MODELS).contents(PUMP)


def data(times: list[float], values: list[float], width: float | None = None) -> SeriesData:
    return SeriesData(np.array(times, dtype=float), np.array(values, dtype=float), width)


# --- which series on which chart --------------------------------------------------------------


def test_chart_specs_put_derived_series_on_their_contents_chart() -> None:
    derived = [
        "simulated:flow",
        "residual:flow",
        "predicted:flow",
        "predicted:flow_lower",
        "predicted:flow_upper",
        "simulated:level",  # a property's derived values bring its chart
        "predicted:anomaly_score",
        "predicted:anomaly_threshold",
        "predicted:rul",
        "not a derived name",
    ]
    specs = {spec.key: spec for spec in chart_specs(contents(), derived)}
    assert list(specs) == ["flow", "vibration", "level", "anomaly_score", "rul"]
    flow = specs["flow"]
    assert flow.unit == "l/s"
    assert [(line.series, line.role) for line in flow.lines] == [
        ("flow", Role.MEASURED),
        ("simulated:flow", Role.SIMULATED),
        ("predicted:flow", Role.PREDICTED),
        ("residual:flow", Role.RESIDUAL),
    ]
    band = flow.lines[2]
    assert (band.lower, band.upper) == ("predicted:flow_lower", "predicted:flow_upper")
    assert [line.series for line in specs["vibration"].lines] == ["vibration"]
    assert [line.series for line in specs["level"].lines] == ["level", "simulated:level"]
    assert [(line.series, line.role) for line in specs["anomaly_score"].lines] == [
        ("predicted:anomaly_score", Role.PREDICTED),
        ("predicted:anomaly_threshold", Role.THRESHOLD),
    ]
    assert "rated" not in specs and "note" not in specs  # no derived values / not numeric


def test_bounds_without_a_value_still_make_a_band() -> None:
    (spec,) = [s for s in chart_specs({}, ["predicted:x_lower", "predicted:x_upper"])]
    (line,) = spec.lines
    assert (line.lower, line.upper) == ("predicted:x_lower", "predicted:x_upper")
    options = chart_options(spec, {}, 0.0, 1.0)
    assert [s["id"] for s in options["series"]] == ["predicted:x_lower", "predicted:x_upper"]


def test_default_charts_prefer_derived_lines_then_data() -> None:
    specs = chart_specs(contents(), ["simulated:vibration", "simulated:level"])
    assert default_charts(specs, limit=1) == ["vibration"]
    assert default_charts(specs, ["flow"], limit=3) == ["flow", "vibration", "level"]
    assert default_charts(specs, limit=2) == ["vibration", "level"]
    assert default_charts(specs) == ["vibration", "level"]  # flow has no data: not at first
    plain = chart_specs(contents(), [])
    assert default_charts(plain, limit=1) == ["flow"]  # nothing has data: the first ones


# --- bucket widths ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("span", "width"),
    [(60.0, 1.0), (3600.0, 5.0), (86400.0, 60.0), (7 * 86400.0, 600.0), (YEAR, 21600.0)],
)
def test_bucket_width_keeps_a_range_to_target_points(span: float, width: float) -> None:
    found = bucket_width(1e9, 1e9 + span)
    assert found == width
    assert span / found <= TARGET_POINTS
    assert span / found > TARGET_POINTS / 10 or found == NICE_WIDTHS[0]


def test_bucket_widths_from_a_minute_up_are_served_by_rollups() -> None:
    for width in NICE_WIDTHS:
        if width >= 60:
            assert width % 60 == 0
        if width >= 3600:
            assert width % 3600 == 0
    assert bucket_width(0.0, 100 * YEAR) % NICE_WIDTHS[-1] == 0  # beyond the list: multiples


# --- options ----------------------------------------------------------------------------------


def test_chart_options_draw_measured_lines_a_band_and_residuals_on_a_second_axis() -> None:
    spec = next(
        s
        for s in chart_specs(
            contents(),
            ["predicted:flow", "predicted:flow_lower", "predicted:flow_upper", "residual:flow"],
        )
        if s.key == "flow"
    )
    series = {
        "flow": data([10.0, 11.0, 12.0], [1.0, math.nan, 3.0]),
        "predicted:flow": data([10.0, 11.0], [1.5, 2.5]),
        "predicted:flow_lower": data([10.0, 11.0], [1.0, 2.0]),
        "predicted:flow_upper": data([10.0, 11.0], [2.0, 3.5]),
        "residual:flow": data([10.0], [-0.5]),
    }
    options = chart_options(spec, series, 5.0, 15.0, marker=12.0)
    assert options["xAxis"] == {"type": "time", "min": 5000.0, "max": 15000.0}
    by_id = {s["id"]: s for s in options["series"]}
    assert by_id["flow"]["data"] == [(10000.0, 1.0), (12000.0, 3.0)]  # joined over one gap
    assert by_id["predicted:flow_lower"]["data"] == [(10000.0, 1.0), (11000.0, 2.0)]
    assert by_id["predicted:flow_upper"]["data"] == [(10000.0, 1.0), (11000.0, 1.5)]  # widths
    assert by_id["predicted:flow_lower"]["stack"] == by_id["predicted:flow_upper"]["stack"]
    assert "areaStyle" in by_id["predicted:flow_upper"]
    assert by_id["residual:flow"]["yAxisIndex"] == 1 and len(options["yAxis"]) == 2
    assert options["series"][-1]["markLine"]["data"] == [{"xAxis": 12000.0}]
    assert options["title"]["text"] == "flow (l/s)"
    assert "predicted lower" not in options["legend"]["data"]


def test_band_pairs_match_bounds_by_time() -> None:
    times = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    lower = data(times, [0.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    upper = data([2.0, 6.0, 7.0], [4.0, 9.0, 9.0])
    base, width = band_pairs(lower, upper)
    assert base == [(2000.0, 1.0), (3000.0, None), (6000.0, 1.0)]
    assert width == [(2000.0, 3.0), (3000.0, None), (6000.0, 8.0)]
    assert band_pairs(None, data([1.0], [1.0])) == ([], [])


def test_short_gaps_are_joined_and_long_ones_break_the_line() -> None:
    spec = chart_specs(contents(), [])[0]
    nan = math.nan
    values = [1.0, nan, 2.0, nan, nan, nan, nan, 3.0, nan]
    options = chart_options(spec, {"flow": data(list(range(9)), values)}, 0.0, 9.0)
    assert options["series"][0]["data"] == [
        (0.0, 1.0),
        (2000.0, 2.0),
        (3000.0, None),  # four missing in a row: a break
        (7000.0, 3.0),
    ]


# --- zoom -------------------------------------------------------------------------------------


def test_zoom_range_maps_percentages_onto_the_axis() -> None:
    assert zoom_range({"start": 25, "end": 50}, 100.0, 500.0) == (200.0, 300.0)
    assert zoom_range({"batch": [{"start": 0, "end": 10}]}, 0.0, 1000.0) == (0.0, 100.0)
    assert zoom_range({"start": 80, "end": 120}, 0.0, 100.0) == (80.0, 100.0)
    assert zoom_range({"start": 0, "end": 100}, 0.0, 100.0) is None  # the whole axis
    assert zoom_range({"batch": []}, 0.0, 100.0) is None
    assert zoom_range({"start": "a", "end": 3}, 0.0, 100.0) is None
    assert zoom_range(None, 0.0, 100.0) is None
    low, high = zoom_range({"start": 50, "end": 50}, 0.0, 100.0) or (0.0, 0.0)
    assert high > low == 50.0


# --- live -------------------------------------------------------------------------------------


def live_event(kind: EventType, data_: dict[str, Any], time: float) -> Event:
    return Event(
        twin_id="p",
        seq=1,
        type=kind,
        time=time,
        recorded=time,
        cause="connector:mqtt",
        data=MappingProxyType(data_),
    )


def test_live_rows_take_wanted_numeric_values_in_time_order() -> None:
    events = [
        live_event(EventType.TELEMETRY_RECEIVED, {"values": {"flow": 2.0, "note": "x"}}, 20.0),
        live_event(EventType.TELEMETRY_RECEIVED, {"values": {"flow": 1.0, "other": 5}}, 10.0),
        live_event(EventType.PROPERTY_REPORTED, {"name": "level", "value": True}, 15.0),
        live_event(EventType.PROPERTY_REPORTED, {"name": "level", "removed": True}, 16.0),
        live_event(EventType.VALUES_DERIVED, {"kind": "simulated", "values": {"flow": 1.5}}, 12.0),
        live_event(EventType.ALERT_RAISED, {"name": "flow"}, 13.0),
    ]
    rows = live_rows(events, ["flow", "level", "simulated:flow", "note"])
    assert sorted(rows) == ["flow", "level", "simulated:flow"]
    assert rows["flow"].times.tolist() == [10.0, 20.0] and rows["flow"].values.tolist() == [1, 2]
    assert rows["level"].values.tolist() == [1.0]
    assert rows["simulated:flow"].times.tolist() == [12.0]


def test_append_live_trims_to_the_window_and_caps_points() -> None:
    held = {"flow": data([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]), "idle": data([0.5, 9.0], [0.0, 1.0])}
    added = append_live(held, {"flow": data([4.0], [4.0])}, start=2.0)
    assert held["flow"].times.tolist() == [2.0, 3.0, 4.0]
    assert held["idle"].times.tolist() == [9.0]  # trimmed although nothing new came
    assert list(added) == ["flow"]
    many = np.arange(MAX_LIVE_POINTS + 10, dtype=float)
    append_live(held, {"flow": SeriesData(many + 10, many)}, start=0.0)
    assert len(held["flow"].times) == MAX_LIVE_POINTS
    assert held["flow"].times[-1] == many[-1] + 10


def test_live_patch_sends_new_points_per_echarts_series() -> None:
    spec = next(
        s
        for s in chart_specs(
            contents(), ["predicted:flow", "predicted:flow_lower", "predicted:flow_upper"]
        )
        if s.key == "flow"
    )
    added = {
        "flow": data([1.0], [5.0]),
        "predicted:flow_lower": data([1.0], [4.0]),
        "predicted:flow_upper": data([1.0], [7.0]),
    }
    assert live_patch(spec, added) == {
        "flow": [(1000.0, 5.0)],
        "predicted:flow_lower": [(1000.0, 4.0)],
        "predicted:flow_upper": [(1000.0, 3.0)],
    }
    assert live_patch(spec, {"vibration": data([1.0], [1.0])}) == {}

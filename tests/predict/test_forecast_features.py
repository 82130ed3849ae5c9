"""Readings onto the forecasting grid, and the features built from it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from twinkit.errors import ValidationError
from twinkit.predict._forecast_features import (
    Features,
    check_readings,
    resample,
    seconds_of,
)

T0 = 1_704_067_200.0


def one_column(values: list[float]) -> np.ndarray:
    return np.array(values, dtype=np.float64).reshape(-1, 1)


def test_grid_points_average_the_readings_of_the_step_before_them() -> None:
    # Buckets are (t - 60, t], anchored at the newest reading.
    times = T0 + np.array([0.0, 30.0, 60.0, 70.0, 119.0, 120.0])
    grid = resample(times, one_column([1, 2, 3, 5, 7, 9]), step=60.0, max_gap=300.0)
    assert grid.times.tolist() == [T0, T0 + 60.0, T0 + 120.0]
    assert grid.values[:, 0].tolist() == [1.0, 2.5, 7.0]


def test_the_grid_ends_at_the_newest_reading_whatever_its_phase() -> None:
    times = T0 + np.array([13.0, 73.0, 133.0])
    grid = resample(times, one_column([1, 2, 3]), step=60.0, max_gap=300.0)
    assert grid.times[-1] == T0 + 133.0
    assert grid.values[:, 0].tolist() == [1.0, 2.0, 3.0]


def test_short_gaps_are_bridged_linearly_and_long_ones_stay_missing() -> None:
    times = T0 + np.array([0.0, 60.0, 240.0, 300.0, 900.0])  # 3 missing, then 9 missing
    grid = resample(times, one_column([0, 1, 4, 5, 15]), step=60.0, max_gap=300.0)
    level = grid.values[:, 0]
    assert level[:6].tolist() == pytest.approx([0, 1, 2, 3, 4, 5])
    assert np.isnan(level[6:15]).all()
    assert level[15] == 15.0
    assert grid.missing(0, 15) == (14, 0)
    assert grid.missing(0, 5) is None


def test_nan_readings_count_as_missing_per_column() -> None:
    times = T0 + np.arange(4) * 60.0
    values = np.array([[1.0, 10.0], [np.nan, 20.0], [3.0, np.nan], [4.0, np.nan]])
    grid = resample(times, values, step=60.0, max_gap=120.0)
    assert grid.values[:, 0].tolist() == [1.0, 2.0, 3.0, 4.0]  # bridged
    assert grid.values[:2, 1].tolist() == [10.0, 20.0]
    assert np.isnan(grid.values[2:, 1]).all()  # nothing after the last reading


def test_features_read_lags_windows_and_time_of_day() -> None:
    features = Features(step=60.0, lags=(60.0, 180.0), windows=(180.0,), exogenous_lags=(60.0,))
    times = T0 + np.arange(10) * 60.0
    y = np.arange(10, dtype=np.float64) ** 2
    x = np.full(10, 3.0)
    grid = resample(times, np.column_stack([y, x]), step=60.0, max_gap=300.0)
    assert features.reach() == 3
    names = features.names("level", ["inflow"], 900.0)
    row = features.matrix(grid, np.array([5]), 1)[0]
    assert len(row) == len(names)
    got = dict(zip(names, row, strict=True))
    assert got["level"] == 25.0
    assert got["level - level[-60s]"] == 25.0 - 16.0
    assert got["level - level[-180s]"] == 25.0 - 4.0
    assert got["mean level[180s] - level"] == pytest.approx((9 + 16 + 25) / 3 - 25)
    assert got["std level[180s]"] == pytest.approx(np.std([9.0, 16.0, 25.0]))
    assert got["inflow"] == 3.0
    assert got["inflow - inflow[-60s]"] == 0.0
    phase = 2 * math.pi * 300.0 / 86_400.0  # T0 is midnight: the origin is 00:05
    assert got["sin day"] == pytest.approx(math.sin(phase))
    assert got["cos 2 day"] == pytest.approx(math.cos(2 * phase))


def test_seasonal_features_look_one_period_back() -> None:
    features = Features(step=60.0, lags=(60.0,), windows=(), period=600.0, seasonal=True)
    times = T0 + np.arange(30) * 60.0
    y = np.arange(30, dtype=np.float64)
    grid = resample(times, y.reshape(-1, 1), step=60.0, max_gap=60.0)
    assert features.reach(exogenous=False) == 10
    names = features.names("y", [], 120.0)
    got = dict(zip(names, features.matrix(grid, np.array([20]), 2)[0], strict=True))
    # One period (10 steps) back from the target (step 22) is step 12; from the origin, 10.
    assert got["y[-480s] - y"] == 12.0 - 20.0
    assert got["y[-480s] - y[-600s]"] == 12.0 - 10.0


def test_a_feature_touching_a_missing_point_is_missing() -> None:
    features = Features(step=60.0, lags=(60.0,), windows=(120.0,), exogenous_lags=(), period=0.0)
    y = np.array([1.0, 2.0, np.nan, 4.0, 5.0, 6.0])
    grid = resample(T0 + np.arange(6) * 60.0, y.reshape(-1, 1), step=60.0, max_gap=30.0)
    rows = features.matrix(grid, np.array([2, 3, 4, 5]), 1)
    assert np.isnan(rows[:2]).any(axis=1).tolist() == [True, True]
    assert not np.isnan(rows[2:]).any()


@pytest.mark.parametrize(
    ("field", "value"),
    [("lags", (90.0,)), ("windows", (0.0,)), ("exogenous_lags", (-60.0,)), ("period", 1000.0)],
)
def test_feature_spans_must_be_whole_steps(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=r"grid steps|positive") as caught:
        Features(**{field: value})  # type: ignore[arg-type]
    assert caught.value.path is not None and field in caught.value.path


def test_seasonal_features_need_a_period() -> None:
    with pytest.raises(ValidationError, match="need a period"):
        Features(period=0.0, seasonal=True)


def test_time_indexes_become_epoch_seconds() -> None:
    stamps = pd.date_range("2024-01-01", periods=3, freq="min", tz="UTC")
    assert seconds_of(stamps, "f").tolist() == [T0, T0 + 60.0, T0 + 120.0]
    naive = pd.date_range("2024-01-01", periods=2, freq="min")
    assert seconds_of(naive, "f").tolist() == [T0, T0 + 60.0]
    assert seconds_of(pd.Index([1.5, 2.5]), "f").tolist() == [1.5, 2.5]
    with pytest.raises(ValidationError, match="not indexed by time") as caught:
        seconds_of(pd.Index(["a", "b"]), "history[2]")
    assert caught.value.path == "history[2].index"


def test_readings_out_of_order_are_refused_with_their_row() -> None:
    times = T0 + np.array([0.0, 60.0, 30.0])
    with pytest.raises(ValidationError, match="out of time order") as caught:
        check_readings(times, one_column([1, 2, 3]), ["level"], "window of tank-1")
    assert caught.value.path == "window of tank-1/times[2]"
    assert "2024-01-01T00:00:30Z" in str(caught.value)


def test_infinite_readings_and_times_are_refused_with_where() -> None:
    with pytest.raises(ValidationError, match="infinite") as caught:
        check_readings(T0 + np.arange(3.0), one_column([1, np.inf, 3]), ["level"], "history[0]")
    assert caught.value.path == "history[0]/level at 2024-01-01T00:00:01Z"
    with pytest.raises(ValidationError, match="no valid time") as caught:
        check_readings(np.array([T0, np.nan]), one_column([1, 2]), ["level"], "history[0]")
    assert caught.value.path == "history[0]/times[1]"
    with pytest.raises(ValidationError, match="no readings"):
        check_readings(np.empty(0), np.empty((0, 1)), ["level"], "history[0]")

"""The tank-level forecaster on the pump station's own physics: accuracy against the
baselines, interval coverage on held-out days, the Predictor protocol and its errors."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import pytest
from forecast_station import Operation, station_history

from twinkit.errors import ValidationError
from twinkit.predict import Prediction, Predictor, Window
from twinkit.predict._forecast import Forecaster
from twinkit.predict._forecast_eval import evaluate_forecaster
from twinkit.predict._forecast_features import Features

DAY = 1440  # rows: one reading a minute
TRAIN_DAYS = 8
EXOGENOUS = ("inflow", "outflow")


@pytest.fixture(scope="module")
def station() -> pd.DataFrame:
    """Eleven days of the station at one reading a minute: eight to learn, three held out."""
    return station_history(11, seed=5)


@pytest.fixture(scope="module")
def forecaster(station: pd.DataFrame) -> Forecaster:
    model = Forecaster("level", exogenous=EXOGENOUS, horizons=(900.0, 3600.0))
    model.fit([station.iloc[: TRAIN_DAYS * DAY]])
    return model


@pytest.fixture(scope="module")
def held_out(station: pd.DataFrame) -> pd.DataFrame:
    return station.iloc[TRAIN_DAYS * DAY :]


def window_at(frame: pd.DataFrame, row: int, rows: int, twin_id: str = "tank-1") -> Window:
    return Window.of(twin_id, frame.iloc[row - rows + 1 : row + 1])


def test_forecasts_beat_persistence_and_seasonal_naive_an_hour_ahead(
    forecaster: Forecaster, held_out: pd.DataFrame
) -> None:
    hour = evaluate_forecaster(forecaster, [held_out]).score(3600.0)
    assert hour.samples > 2 * DAY
    assert hour.mae < 0.8 * hour.persistence_mae
    assert hour.rmse < 0.8 * hour.persistence_rmse
    assert hour.mae < hour.seasonal_mae
    assert hour.skill > 0.2


def test_intervals_cover_about_their_level_on_held_out_days(
    forecaster: Forecaster, held_out: pd.DataFrame
) -> None:
    levels = (0.5, 0.8, 0.9, 0.95)
    evaluation = evaluate_forecaster(forecaster, [held_out], levels=levels)
    for score in evaluation.horizons:
        for level in levels:
            assert score.coverage[level] == pytest.approx(level, abs=0.06), (score.horizon, level)
        widths = [score.width[level] for level in levels]
        assert widths == sorted(widths) and widths[0] > 0
    figures = evaluation.figures()
    assert figures["coverage@3600@0.9"] == evaluation.score(3600.0).coverage[0.9]


def test_a_window_gives_one_prediction_per_horizon_as_the_backtest_does(
    forecaster: Forecaster, held_out: pd.DataFrame
) -> None:
    row = 600
    predictions = forecaster.predict(window_at(held_out, row, forecaster.window))
    assert [p.name for p in predictions] == ["level@900", "level@3600"]
    assert [p.horizon for p in predictions] == [900.0, 3600.0]
    backtest = forecaster.backtest(held_out.iloc[row - forecaster.window + 1 : row + 1])
    last = backtest[backtest["time"] == held_out.index[row]].set_index("horizon")
    for prediction in predictions:
        assert isinstance(prediction, Prediction)
        assert prediction.level == 0.9
        assert prediction.lower is not None and prediction.upper is not None
        assert prediction.lower < prediction.value < prediction.upper
        expected = last.loc[prediction.horizon]
        assert prediction.value == pytest.approx(expected["value"])
        assert prediction.lower == pytest.approx(expected["lower@0.9"])
        assert prediction.upper == pytest.approx(expected["upper@0.9"])


def test_many_windows_are_answered_as_each_would_be_alone(
    forecaster: Forecaster, held_out: pd.DataFrame
) -> None:
    rows = forecaster.window
    windows = [window_at(held_out, row, rows, f"tank-{row}") for row in (300, 1200, 2500)]
    together = forecaster.predict_many(windows)
    assert together == [forecaster.predict(window) for window in windows]
    assert forecaster.predict_many([]) == []
    with pytest.raises(ValidationError, match="window too short") as caught:
        forecaster.predict_many([*windows, window_at(held_out, 400, 10, "tank-x")])
    assert caught.value.path == "window of tank-x"


def test_it_is_a_predictor_whose_window_covers_its_history(forecaster: Forecaster) -> None:
    assert isinstance(forecaster, Predictor)
    assert forecaster.inputs == ("level", "inflow", "outflow")
    assert forecaster.history == 3600.0  # the longest lag
    assert forecaster.window == math.ceil(1.25 * 3600.0 / 60.0) + 1  # trained at 1 per minute
    assert forecaster.fitted
    assert "fitted" in repr(forecaster)


def test_irregular_readings_are_resampled_to_the_same_forecast(
    forecaster: Forecaster, held_out: pd.DataFrame
) -> None:
    rows = held_out.iloc[900 - forecaster.window + 1 : 901]
    regular = forecaster.predict(Window.of("tank-1", rows))
    rng = np.random.default_rng(1)
    keep = np.concatenate([rng.random(len(rows) - 1) > 0.2, [True]])  # lose a fifth
    jitter = np.concatenate([rng.uniform(-20.0, 0.0, len(rows) - 1), [0.0]])
    irregular = rows[keep].set_axis(rows.index[keep] + jitter[keep])
    shuffled_columns = irregular[["outflow", "level", "inflow"]]
    bumpy = forecaster.predict(Window.of("tank-1", shuffled_columns))
    for a, b in zip(regular, bumpy, strict=True):
        assert a.name == b.name
        assert b.value == pytest.approx(a.value, abs=0.1)


def test_a_fitted_forecaster_survives_pickling(
    forecaster: Forecaster, held_out: pd.DataFrame
) -> None:
    window = window_at(held_out, 2000, forecaster.window)
    restored = pickle.loads(pickle.dumps(forecaster))
    assert restored.predict(window) == forecaster.predict(window)


def test_fitting_reports_progress_and_metrics(station: pd.DataFrame) -> None:
    seen: list[float] = []
    model = Forecaster("level", exogenous=EXOGENOUS, horizons=(300.0, 900.0, 1800.0), folds=3)
    metrics = model.fit([station.iloc[: 3 * DAY]], progress=seen.append)
    assert seen == pytest.approx([k / 12 for k in range(1, 13)])  # 3 horizons x (3 folds + 1)
    for h in ("300", "900", "1800"):
        assert 0 < metrics[f"mae@{h}"] < metrics[f"persistence_mae@{h}"]
        assert metrics[f"width@{h}"] > 0
        # Cross-conformal: every sample is calibrated on once, by a model that did not see it.
        assert metrics[f"calibration_samples@{h}"] == metrics[f"samples@{h}"] > 3000


def test_split_conformal_holds_out_the_end_of_each_frame(station: pd.DataFrame) -> None:
    seen: list[float] = []
    model = Forecaster("level", horizons=(900.0,), folds=1, calibration=0.25)
    metrics = model.fit(
        [station.iloc[: 2 * DAY], station.iloc[2 * DAY : 4 * DAY]], progress=seen.append
    )
    assert seen == [1.0]
    # Per frame: 2880 grid points less an hour of lags and 15 minutes of targets.
    usable = 2 * (2 * DAY - 60 - 15)
    assert metrics["samples@900"] == usable
    assert metrics["calibration_samples@900"] == pytest.approx(0.25 * usable, abs=40)
    assert len(model.calibration_scores(900.0)) == metrics["calibration_samples@900"]


def test_frames_indexed_by_datetimes_fit_the_same_as_by_seconds(station: pd.DataFrame) -> None:
    frame = station.iloc[: 2 * DAY]
    dated = frame.set_axis(pd.to_datetime(frame.index, unit="s", utc=True).rename("time"))
    by_seconds = Forecaster("level", horizons=(900.0,), method="ridge").fit([frame])
    by_dates = Forecaster("level", horizons=(900.0,), method="ridge").fit([dated])
    assert by_dates == pytest.approx(by_seconds)


def test_settings_can_come_as_json_parameters() -> None:
    params = {
        "target": "level",
        "exogenous": ["inflow"],
        "horizons": [600, 1200],
        "features": {
            "step": 120,
            "lags": [120, 600],
            "windows": [1200],
            "exogenous_lags": [240],
            "seasonal": True,
        },
    }
    model = Forecaster(**params)  # type: ignore[arg-type]
    assert model.features == Features(
        step=120.0, lags=(120.0, 600.0), windows=(1200.0,), exogenous_lags=(240.0,), seasonal=True
    )
    assert model.horizons == (600.0, 1200.0)
    assert model.history == 86_400.0  # one period back, for the seasonal features


def test_a_regressor_of_ones_own_can_be_plugged_in(station: pd.DataFrame) -> None:
    from sklearn.linear_model import Ridge

    model = Forecaster("level", horizons=(300.0,), method=lambda: Ridge(alpha=10.0), folds=2)
    metrics = model.fit([station.iloc[: 2 * DAY]])
    assert metrics["mae@300"] < metrics["persistence_mae@300"]


def test_adaptive_intervals_keep_their_coverage_when_the_demand_gets_wilder(
    station: pd.DataFrame,
) -> None:
    wilder = station_history(2.5, seed=9, operation=Operation(jitter=12.0))
    train = [station.iloc[: 4 * DAY]]
    static = Forecaster("level", exogenous=EXOGENOUS, horizons=(900.0,), method="ridge")
    adaptive = Forecaster(
        "level", exogenous=EXOGENOUS, horizons=(900.0,), method="ridge", adapt=0.02
    )
    static.fit(train)
    adaptive.fit(train)
    before = evaluate_forecaster(static, [wilder], levels=(0.9,)).score(900.0)
    after = evaluate_forecaster(adaptive, [wilder], levels=(0.9,)).score(900.0)
    assert before.coverage[0.9] < 0.8
    assert after.coverage[0.9] == pytest.approx(0.9, abs=0.03)
    assert after.width[0.9] > before.width[0.9]
    # Live, the same adaptation happens window by window as the truth arrives, per twin.
    level = wilder["level"].to_numpy()
    hits, widths = [], []
    for row in range(adaptive.window, len(wilder) - 15, 3):
        live = adaptive.predict(window_at(wilder, row, adaptive.window))[0]
        assert live.lower is not None and live.upper is not None
        hits.append(live.lower <= level[row + 15] <= live.upper)
        widths.append(width(live))
    assert np.mean(hits) == pytest.approx(0.9, abs=0.04)
    fixed = static.predict(window_at(wilder, row, static.window))[0]
    fresh = adaptive.predict(window_at(wilder, row, adaptive.window, twin_id="tank-2"))[0]
    assert live.value == pytest.approx(fixed.value)
    assert np.mean(widths) > 1.3 * width(fixed)
    assert width(fresh) == pytest.approx(width(fixed))


def width(prediction: Prediction) -> float:
    assert prediction.lower is not None and prediction.upper is not None
    return prediction.upper - prediction.lower


# --- errors -------------------------------------------------------------------------------


def test_an_unfitted_forecaster_says_so(held_out: pd.DataFrame) -> None:
    model = Forecaster("level")
    with pytest.raises(ValidationError, match="not fitted") as caught:
        model.predict(window_at(held_out, 200, 100))
    assert caught.value.path == "forecaster of level"
    assert "call fit" in str(caught.value)
    with pytest.raises(ValidationError, match="not fitted"):
        model.backtest(held_out)


def test_too_short_a_history_says_how_long_it_must_be(station: pd.DataFrame) -> None:
    model = Forecaster("level", horizons=(900.0, 3600.0))
    with pytest.raises(ValidationError, match="history too short") as caught:
        model.fit([station.iloc[:150]])
    assert caught.value.path == "forecaster of level/horizon 900 s"
    assert "to calibrate per fold" in str(caught.value) and "h without gaps" in str(caught.value)
    with pytest.raises(ValidationError, match="no history"):
        model.fit([])
    with pytest.raises(ValidationError, match="wrap a single frame"):
        model.fit(station)  # type: ignore[arg-type]


def test_too_short_a_window_is_refused_with_what_it_needs(
    forecaster: Forecaster, held_out: pd.DataFrame
) -> None:
    with pytest.raises(ValidationError, match="window too short") as caught:
        forecaster.predict(window_at(held_out, 300, 30))
    assert caught.value.path == "window of tank-1"
    assert "3600 s" in str(caught.value) and "30 rows" in str(caught.value)


def test_a_gap_in_the_window_is_refused_with_its_place(
    forecaster: Forecaster, held_out: pd.DataFrame
) -> None:
    rows = held_out.iloc[400 - forecaster.window + 1 : 401].copy()
    rows.iloc[-30:-20, rows.columns.get_loc("outflow")] = np.nan  # ten minutes lost
    with pytest.raises(ValidationError, match="gap the forecaster cannot bridge") as caught:
        forecaster.predict(Window.of("tank-1", rows))
    assert caught.value.path == "window of tank-1/outflow"
    assert "none usable from 2024-01-09T" in str(caught.value)
    rows.iloc[-30:-20, rows.columns.get_loc("outflow")] = held_out["outflow"].iloc[371:381]
    rows.iloc[-1, rows.columns.get_loc("level")] = np.nan  # the newest level is missing
    with pytest.raises(ValidationError, match="cannot bridge") as caught:
        forecaster.predict(Window.of("tank-1", rows))
    assert caught.value.path == "window of tank-1/level"
    rows.iloc[-3:-1, rows.columns.get_loc("level")] = np.nan  # a short gap inside is bridged
    rows.iloc[-1, rows.columns.get_loc("level")] = held_out["level"].iloc[400]
    assert len(forecaster.predict(Window.of("tank-1", rows))) == 2


def test_a_window_out_of_order_or_without_an_input_is_refused(
    forecaster: Forecaster, held_out: pd.DataFrame
) -> None:
    rows = held_out.iloc[500 - forecaster.window + 1 : 501]
    times = rows.index.to_numpy().copy()
    times[10], times[11] = times[11], times[10]
    with pytest.raises(ValidationError, match="out of time order") as caught:
        forecaster.predict(Window.of("tank-1", rows.set_axis(times)))
    assert caught.value.path == "window of tank-1/times[11]"
    with pytest.raises(ValidationError, match="lacks an input") as caught:
        forecaster.predict(Window.of("tank-1", rows[["level", "inflow"]]))
    assert caught.value.path == "window of tank-1/outflow"


def test_bad_history_is_refused_with_the_frame_and_row(station: pd.DataFrame) -> None:
    model = Forecaster("level", exogenous=EXOGENOUS, method="ridge")
    broken = station.iloc[:DAY].copy()
    broken.iloc[100, 0] = np.inf
    with pytest.raises(ValidationError, match="infinite") as caught:
        model.fit([station.iloc[:DAY], broken])
    assert caught.value.path == "history[1]/level at 2024-01-01T01:41:00Z"
    with pytest.raises(ValidationError, match="lacks an input") as caught:
        model.fit([station.iloc[:DAY][["level", "inflow"]]])
    assert caught.value.path == "history[0]/outflow"
    words = station.iloc[:DAY].astype({"inflow": object})
    words.iloc[5, 1] = "high"
    with pytest.raises(ValidationError, match="non-numeric") as caught:
        model.fit([words])
    assert caught.value.path == "history[0]"


@pytest.mark.parametrize(
    ("arguments", "where"),
    [
        ({"horizons": (90.0,)}, "horizons[0]"),
        ({"horizons": ()}, "Forecaster(horizons=...)"),
        ({"horizons": (60.0, 60.0)}, "Forecaster(horizons=...)"),
        ({"level": 1.0}, "Forecaster(level=...)"),
        ({"calibration": 0.0}, "Forecaster(calibration=...)"),
        ({"adapt": -0.1}, "Forecaster(adapt=...)"),
        ({"exogenous": ("level",)}, "Forecaster(exogenous=...)"),
        ({"method": "forest"}, "Forecaster(method=...)"),
        ({"folds": 0}, "Forecaster(folds=...)"),
        ({"exogenous": "inflow"}, "Forecaster(exogenous=...)"),
        ({"features": {"lag": [60]}}, "Forecaster(features=...)/lag"),
        ({"features": {"lags": 60}}, "Forecaster(features=...)"),
        ({"features": {"lags": [90]}}, "features.lags[0]"),
    ],
)
def test_bad_settings_are_refused_where_they_are(arguments: dict[str, object], where: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Forecaster("level", **arguments)  # type: ignore[arg-type]
    assert caught.value.path == where

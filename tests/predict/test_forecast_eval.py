"""Scoring forecasts per horizon, and rolling-origin evaluation with refits."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest
from forecast_station import station_history

from twinkit.errors import ValidationError
from twinkit.predict._forecast import Forecaster
from twinkit.predict._forecast_eval import evaluate_forecaster, rolling_origin, summarize
from twinkit.predict._protocol import Progress, TrainingSet

DAY = 1440


@pytest.fixture(scope="module")
def station() -> pd.DataFrame:
    return station_history(4, seed=8)


def test_scores_are_computed_per_horizon_from_the_backtest_rows() -> None:
    backtest = pd.DataFrame(
        {
            "time": [0.0, 60.0, 120.0, 0.0, 60.0],
            "horizon": [60.0, 60.0, 60.0, 120.0, 120.0],
            "value": [1.0, 2.0, 3.0, 1.0, 1.0],
            "lower@0.5": [0.5, 1.5, 2.5, 0.0, 0.0],
            "upper@0.5": [1.5, 2.5, 3.5, 2.0, 2.0],
            "actual": [1.0, 3.0, np.nan, 4.0, 1.5],
            "persistence": [0.0, 1.0, 2.0, 0.0, 1.0],
            "seasonal": [np.nan, 2.0, 2.0, 1.0, np.nan],
        }
    )
    evaluation = summarize([backtest], (0.5,))
    minute, two = evaluation.score(60.0), evaluation.score(120.0)
    assert minute.samples == 2  # the row without an actual value is left out
    assert minute.mae == 0.5 and minute.rmse == pytest.approx(np.sqrt(0.5))
    assert minute.persistence_mae == 1.5 and minute.skill == pytest.approx(1 - 0.5 / 1.5)
    assert (minute.seasonal_mae, minute.seasonal_samples) == (1.0, 1)
    assert minute.coverage[0.5] == 0.5 and minute.width[0.5] == 1.0
    assert two.mae == pytest.approx(1.75) and two.coverage[0.5] == 0.5
    assert two.seasonal_mae == 3.0
    table = evaluation.table()
    assert table.index.tolist() == [60.0, 120.0]
    assert table.loc[120.0, "coverage@0.5"] == 0.5
    assert evaluation.figures()["seasonal_mae@120"] == 3.0
    with pytest.raises(ValidationError, match="no score for this horizon"):
        evaluation.score(30.0)


def test_evaluating_a_forecaster_adds_its_own_level(station: pd.DataFrame) -> None:
    model = Forecaster("level", horizons=(300.0,), level=0.8, method="ridge", folds=2)
    model.fit([station.iloc[: 2 * DAY]])
    evaluation = evaluate_forecaster(model, [station.iloc[2 * DAY :]], levels=(0.5,), every=300.0)
    score = evaluation.score(300.0)
    assert sorted(score.coverage) == [0.5, 0.8]
    # One origin every five minutes from the first hour (lags) to five minutes before the
    # last grid point (the truth must be there).
    first, last = 60, 2 * DAY - 1 - 5
    assert score.samples == (last - first) // 5 + 1
    assert score.mae < score.persistence_mae


class Recording(Forecaster):
    """A forecaster that remembers the newest time it was fitted on."""

    def __init__(self, seen: list[float]) -> None:
        super().__init__("level", exogenous=("inflow", "outflow"), horizons=(300.0, 900.0))
        self.method = "ridge"
        self.folds = 2
        self.seen = seen

    def fit(self, history: TrainingSet, *, progress: Progress | None = None) -> Mapping[str, float]:
        self.seen.append(max(float(frame.index[-1]) for frame in history))
        return super().fit(history, progress=progress)


def test_rolling_origin_refits_before_each_block_and_scores_only_after_it(
    station: pd.DataFrame,
) -> None:
    seen: list[float] = []
    made: list[Recording] = []

    def make() -> Recording:
        made.append(Recording(seen))
        return made[-1]

    steps: list[float] = []
    evaluation = rolling_origin(make, [station], folds=3, test=0.5, progress=steps.append)
    assert steps == pytest.approx([1 / 3, 2 / 3, 1.0])
    first, last = float(station.index[0]), float(station.index[-1])
    cuts = [last - 0.5 * (last - first) + k * 0.5 * (last - first) / 3 for k in range(3)]
    assert seen == pytest.approx(cuts, abs=60.0)  # each fit ends at its block's start
    five = evaluation.score(300.0)
    # Every origin of the last two days has one forecast, less the last five minutes.
    assert five.samples == pytest.approx(2 * DAY - 5, abs=3)
    assert five.mae < five.persistence_mae
    assert 0.8 < five.coverage[0.9] < 0.98


def test_rolling_origin_refuses_bad_settings(station: pd.DataFrame) -> None:
    def make() -> Forecaster:
        return Forecaster("level", method="ridge")

    with pytest.raises(ValidationError, match="folds") as caught:
        rolling_origin(make, [station], folds=0)
    assert caught.value.path == "rolling_origin(folds=...)"
    with pytest.raises(ValidationError, match="test share"):
        rolling_origin(make, [station], test=1.0)
    with pytest.raises(ValidationError, match="no frames"):
        rolling_origin(make, [])


def test_held_out_data_too_short_to_score_says_so(station: pd.DataFrame) -> None:
    model = Forecaster("level", horizons=(300.0,), method="ridge", folds=2)
    model.fit([station.iloc[: 2 * DAY]])
    with pytest.raises(ValidationError, match="no forecast to score") as caught:
        evaluate_forecaster(model, [station.iloc[2 * DAY : 2 * DAY + 63]])
    assert "longer than the forecaster's history" in str(caught.value)
    with pytest.raises(ValidationError, match="wrap a single frame"):
        evaluate_forecaster(model, station)  # type: ignore[arg-type]

"""The RUL predictor end to end on a few real FD001 engines, and its errors."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twinkit.errors import ValidationError
from twinkit.predict import Prediction, Predictor, Window
from twinkit.predict._cmapss import CMAPSS_SENSORS, CMAPSS_SETTINGS, CmapssSubset, load_cmapss
from twinkit.predict._rul import RulConfig, RulPredictor, _dataset
from twinkit.predict._rul_features import FeatureSpec
from twinkit.predict._rul_metrics import interval_coverage, rmse

SMALL = RulConfig(members=("boosting", "ridge"), size=60, folds=3, regimes=1)
TINY = replace(SMALL, size=15, folds=2)


@pytest.fixture(scope="module")
def fd001(shared_data: Path) -> CmapssSubset:
    return load_cmapss(shared_data / "cmapss", "FD001")


@pytest.fixture(scope="module")
def trained(fd001: CmapssSubset) -> RulPredictor:
    predictor = RulPredictor(SMALL)
    predictor.fit(fd001.train[:30])
    return predictor


def window_of(predictor: RulPredictor, frame: pd.DataFrame, rows: int | None = None) -> Window:
    part = frame[list(predictor.inputs)]
    return Window.of("engine", part if rows is None else part.iloc[:rows])


def test_a_few_engines_beat_the_mean_predictor_by_far(
    trained: RulPredictor, fd001: CmapssSubset
) -> None:
    engines, truth = fd001.test[:40], fd001.test_rul[:40]
    evaluation = trained.evaluate(engines, truth)
    baseline = rmse(np.full(40, truth.mean()), truth)  # the best constant guess, ~40 cycles
    assert baseline > 35
    assert evaluation.rmse < 0.5 * baseline
    assert evaluation.rmse_capped <= evaluation.rmse
    assert evaluation.predicted.min() >= 0 and evaluation.predicted.max() <= 125
    # coverage is the share of true values inside their interval, as computed by hand
    inside = (evaluation.lower <= truth) & (truth <= evaluation.upper)
    assert evaluation.coverage == inside.mean()
    assert evaluation.coverage == interval_coverage(evaluation.lower, evaluation.upper, truth)
    assert evaluation.coverage_capped >= 0.6  # a 90 % interval from 30 training engines


def test_one_prediction_with_its_interval(trained: RulPredictor, fd001: CmapssSubset) -> None:
    assert isinstance(trained, Predictor)
    (estimate,) = trained.predict(window_of(trained, fd001.test[0]))
    assert isinstance(estimate, Prediction)
    assert estimate.name == "rul" and estimate.level == 0.9 and estimate.horizon is None
    assert estimate.lower is not None and estimate.upper is not None
    assert 0 <= estimate.lower <= estimate.value <= estimate.upper <= 125


def test_inputs_are_age_settings_and_the_sensors_that_vary(trained: RulPredictor) -> None:
    sensors = [s for s in CMAPSS_SENSORS if s not in ("s1", "s5", "s6", "s10", "s16", "s18", "s19")]
    assert tuple(trained.inputs) == ("cycle", *CMAPSS_SETTINGS, *sensors)
    assert trained.window == 300
    assert trained.metrics["regimes"] == 1 and trained.metrics["sensors"] == 14
    assert RulPredictor().inputs == ("cycle", *CMAPSS_SETTINGS, *CMAPSS_SENSORS)


def test_an_untrained_predictor_refuses(fd001: CmapssSubset) -> None:
    predictor = RulPredictor(SMALL)
    window = Window.of("engine", fd001.test[0][list(predictor.inputs)])
    for call in (
        lambda: predictor.predict(window),
        lambda: predictor.evaluate(fd001.test[:1], fd001.test_rul[:1]),
        lambda: predictor.predict_engine(fd001.test[0]),
        lambda: predictor.metrics,
    ):
        with pytest.raises(ValidationError, match="not trained") as caught:
            call()
        assert caught.value.expected == "fit(history) before predict/evaluate"


def test_short_histories(trained: RulPredictor, fd001: CmapssSubset) -> None:
    engine = fd001.test[0]
    with pytest.raises(ValidationError, match="too short a history") as caught:
        trained.predict(window_of(trained, engine, rows=4))
    assert caught.value.got == 4
    assert "at least 5 cycles" in str(caught.value)
    # from min_history on, a young engine gets an estimate from the cycles it has
    (young,) = trained.predict(window_of(trained, engine, rows=5))
    assert young.value > 90  # five cycles into its life, an engine is healthy


def test_bad_windows(trained: RulPredictor, fd001: CmapssSubset) -> None:
    frame = fd001.test[0]
    swapped = frame[list(trained.inputs)[::-1]]
    with pytest.raises(ValidationError, match="columns do not match") as caught:
        trained.predict(Window.of("engine-7", swapped))
    assert caught.value.path == "window of engine-7"
    broken = frame[list(trained.inputs)].copy()
    broken.iloc[-1, 5] = np.nan
    with pytest.raises(ValidationError, match="not finite"):
        trained.predict(Window.of("engine", broken))


def test_live_windows_equal_the_offline_pass(trained: RulPredictor, fd001: CmapssSubset) -> None:
    engine = fd001.test[3]
    estimates, lower, upper = trained.predict_engine(engine)
    assert np.isnan(estimates[:4]).all()
    part = engine[list(trained.inputs)]
    for row in (4, 20, len(engine) - 1):
        start = max(0, row + 1 - trained.window)
        (estimate,) = trained.predict(Window.of("engine", part.iloc[start : row + 1]))
        assert estimate.value == pytest.approx(estimates[row])
        assert (estimate.lower, estimate.upper) == pytest.approx((lower[row], upper[row]))
    # a window longer than needed answers the same as the newest `window` rows
    (full,) = trained.predict(Window.of("engine", part))
    assert full.value == pytest.approx(estimates[-1])


def test_targets_are_remaining_cycles_capped(fd001: CmapssSubset) -> None:
    config = replace(SMALL, cap=50.0, min_history=3)
    tables = [
        np.column_stack((np.arange(1.0, n + 1), np.zeros((n, 3)), np.ones((n, 2))))
        for n in (80, 30)
    ]
    signals = [np.zeros((len(t), 1)) for t in tables]
    data = _dataset(config, tables, signals, None)
    first = data.target[data.engine == 0]
    assert len(first) == 80 - 2  # rows from the third cycle on
    assert first.max() == 50.0 and first[-1] == 0.0
    assert np.array_equal(first[-51:], np.arange(50.0, -1, -1))  # linear to failure
    assert np.array_equal(data.remaining[data.engine == 1], np.arange(27.0, -1, -1))
    assert np.array_equal(data.target[data.engine == 1], np.arange(27.0, -1, -1))


def test_training_is_seeded_reproducible_and_shows_progress(fd001: CmapssSubset) -> None:
    steps: list[float] = []
    first, second = RulPredictor(TINY), RulPredictor(TINY)
    first.fit(fd001.train[:8], progress=steps.append)
    second.fit(fd001.train[:8])
    assert steps == sorted(steps) and steps[-1] == 1.0 and len(steps) == 2 * (2 + 1)
    window = Window.of("engine", fd001.test[5][list(first.inputs)])
    assert first.predict(window) == second.predict(window)
    copy = pickle.loads(pickle.dumps(first))  # the registry keeps models as pickles
    assert copy.predict(window) == first.predict(window)
    metrics = {k: v for k, v in first.metrics.items() if k != "training_seconds"}
    assert metrics == {k: v for k, v in second.metrics.items() if k != "training_seconds"}


def test_training_errors(fd001: CmapssSubset) -> None:
    predictor = RulPredictor(TINY)
    with pytest.raises(ValidationError, match="too few training engines"):
        predictor.fit(fd001.train[:1])
    lacking = [fd001.train[0].drop(columns=["s7"]), fd001.train[1]]
    with pytest.raises(ValidationError, match="lacks input columns") as caught:
        predictor.fit(lacking)
    assert caught.value.path == "engine 1"
    broken = fd001.train[1].copy()
    broken.iloc[10, 6] = np.inf
    with pytest.raises(ValidationError, match="not finite") as caught:
        predictor.fit([fd001.train[0], broken])
    assert caught.value.path == "engine 2, row 10"
    with pytest.raises(ValidationError, match="lacks input columns"):
        predictor.fit([pd.DataFrame({"cycle": [1.0]}), fd001.train[1]])
    assert not predictor.fitted


@pytest.mark.parametrize(
    "bad",
    [
        {"members": ("boosting", "magic")},
        {"members": ()},
        {"level": 1.0},
        {"cap": 0.0},
        {"min_history": 0},
        {"min_history": 500},
        {"sensors": ()},
    ],
)
def test_bad_configs(bad: dict) -> None:
    with pytest.raises(ValidationError):
        RulConfig(**bad)


def test_without_age_and_health_index(fd001: CmapssSubset) -> None:
    config = replace(
        TINY, age=None, health_index=False, features=FeatureSpec(means=(5, 30), slopes=(30,))
    )
    predictor = RulPredictor(config)
    predictor.fit(fd001.train[:8])
    assert predictor.inputs[0] == "setting1"
    assert predictor.window == 30
    (estimate,) = predictor.predict(Window.of("engine", fd001.test[0][list(predictor.inputs)]))
    assert 0 <= estimate.value <= 125


@pytest.mark.slow
def test_six_operating_regimes_end_to_end(fd001: CmapssSubset) -> None:
    """FD001 moved to FD002's six flight conditions (each cycle drawn at random, sensors shifted
    and scaled per condition): the regimes are found and the estimates match the original's."""
    rng = np.random.default_rng(11)
    centres = np.array(
        [
            [0, 0, 100],
            [10, 0.25, 100],
            [20, 0.7, 100],
            [25, 0.62, 60],
            [35, 0.84, 100],
            [42, 0.84, 100],
        ]
    )
    gain = rng.uniform(0.5, 2.0, size=(6, 21))
    shift = rng.uniform(-300, 300, size=(6, 21))

    def moved(frame: pd.DataFrame) -> pd.DataFrame:
        regime = rng.integers(0, 6, len(frame))
        copy = frame.copy()
        settings = copy[list(CMAPSS_SETTINGS)].to_numpy()
        copy[list(CMAPSS_SETTINGS)] = centres[regime] + settings - [0, 0, 100]
        copy[list(CMAPSS_SENSORS)] = (
            copy[list(CMAPSS_SENSORS)].to_numpy() * gain[regime] + shift[regime]
        )
        return copy

    config = replace(SMALL, regimes=None, size=30, folds=2)
    original, six = RulPredictor(config), RulPredictor(config)
    original.fit(fd001.train[:20])
    six.fit([moved(frame) for frame in fd001.train[:20]])
    assert original.metrics["regimes"] == 1 and six.metrics["regimes"] == 6
    truth = fd001.test_rul[:30]
    plain = original.evaluate(fd001.test[:30], truth)
    shifted = six.evaluate([moved(frame) for frame in fd001.test[:30]], truth)
    assert shifted.rmse < 0.6 * rmse(np.full(30, truth.mean()), truth)
    assert abs(shifted.rmse - plain.rmse) < 3.0
    assert np.corrcoef(shifted.predicted, plain.predicted)[0, 1] > 0.95

"""Windowed features: training (every row at once) and live (one window) give the same numbers."""

from __future__ import annotations

import numpy as np
import pytest

from twinkit.errors import ValidationError
from twinkit.predict._rul_features import FeatureSpec, WindowFeatures, history_features

SPEC = FeatureSpec(means=(1, 4, 10), slopes=(3, 10), smoothing=(0.2, 0.5), smoothing_span=6)


def test_live_features_equal_training_features_at_every_row() -> None:
    rng = np.random.default_rng(0)
    signals = rng.normal(size=(40, 3)).cumsum(axis=0)
    age = np.arange(1.0, 41.0)
    every = history_features(SPEC, signals, age)
    live = WindowFeatures(SPEC)
    assert every.shape == (40, len(SPEC.names(["a", "b", "c"])))
    for row in range(40):
        start = max(0, row + 1 - SPEC.window)  # a live runner holds the newest `window` rows
        assert np.allclose(live(signals[start : row + 1], age[row]), every[row], atol=1e-10)
        # a longer window than needed gives the same answer
        assert np.allclose(live(signals[: row + 1], age[row]), every[row], atol=1e-10)


def test_features_mean_what_their_names_say() -> None:
    signal = np.column_stack((np.arange(20.0) * 2 + 5,))  # slope 2 per cycle
    every = history_features(SPEC, signal, np.arange(1.0, 21.0))
    names = SPEC.names(["x"])
    row = dict(zip(names, every[-1], strict=True))
    assert row["x:last"] == 43.0
    assert row["x:mean4"] == pytest.approx(np.mean([37, 39, 41, 43]))
    assert row["x:mean10"] == pytest.approx(np.mean(np.arange(10, 20) * 2 + 5))
    assert row["x:slope3"] == pytest.approx(2.0)
    assert row["x:slope10"] == pytest.approx(2.0)
    weights = 0.8 ** np.arange(5, -1, -1)
    assert row["x:ewm0.2"] == pytest.approx(weights @ signal[-6:, 0] / weights.sum())
    assert row["age"] == 20.0


def test_a_young_history_uses_the_rows_it_has() -> None:
    signal = np.array([[1.0], [3.0]])
    row = dict(
        zip(
            SPEC.names(["x"]), history_features(SPEC, signal, np.array([1.0, 2.0]))[-1], strict=True
        )
    )
    assert row["x:mean10"] == 2.0
    assert row["x:slope10"] == 2.0
    first = dict(
        zip(SPEC.names(["x"]), history_features(SPEC, signal, np.array([1.0, 2.0]))[0], strict=True)
    )
    assert first["x:slope3"] == 0.0  # one row has no slope
    live = WindowFeatures(SPEC)
    assert np.allclose(
        live(signal[:1], 1.0), history_features(SPEC, signal, np.array([1.0, 2.0]))[0]
    )


def test_the_window_is_the_longest_feature_and_age_is_optional() -> None:
    assert SPEC.window == 10
    assert FeatureSpec().window == 300
    without = FeatureSpec(means=(2,), slopes=(), smoothing=(), smoothing_span=1, age=False)
    assert without.names(["x"]) == ("x:last", "x:mean2")
    assert history_features(without, np.ones((3, 1)), np.zeros(3)).shape == (3, 2)
    assert WindowFeatures(without)(np.ones((3, 1)), 9.0).shape == (2,)


@pytest.mark.parametrize(
    "bad",
    [
        {"means": ()},
        {"means": (0,)},
        {"slopes": (-1,)},
        {"smoothing": (1.0,)},
        {"smoothing_span": 0},
    ],
)
def test_bad_specs_are_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        FeatureSpec(**bad)

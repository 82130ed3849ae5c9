"""RMSE, the PHM08 score, interval coverage and conformal interval tables."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twinkit.errors import ValidationError
from twinkit.predict._rul_metrics import RulEvaluation, interval_coverage, phm08_score, rmse
from twinkit.predict._rul_train import IntervalTable, engine_folds, stack_weights


def test_rmse_and_phm08_by_hand() -> None:
    assert rmse([10, 20], [13, 16]) == pytest.approx(math.sqrt((9 + 16) / 2))
    # early by 13 costs e - 1; late by 10 costs e - 1; exact costs nothing
    assert phm08_score([0, 30, 5], [13, 20, 5]) == pytest.approx(2 * (math.e - 1))
    # late is punished harder than early by the same amount
    assert phm08_score([30], [20]) > phm08_score([10], [20])


def test_coverage_counts_the_ends_as_inside() -> None:
    assert interval_coverage([0, 5, 10, 3], [10, 5, 20, 4], [10, 5, 9, 5]) == 0.5
    with pytest.raises(ValidationError, match="lower bound above"):
        interval_coverage([5], [4], [4.5])


def test_metric_inputs_must_pair_up() -> None:
    with pytest.raises(ValidationError, match="same length"):
        rmse([1, 2], [1])
    with pytest.raises(ValidationError, match="same length"):
        phm08_score([], [])


def test_evaluation_reports_capped_and_uncapped() -> None:
    evaluation = RulEvaluation(
        predicted=np.array([125.0, 50.0]),
        lower=np.array([100.0, 40.0]),
        upper=np.array([125.0, 60.0]),
        true=np.array([145.0, 55.0]),
        cap=125.0,
        level=0.9,
    )
    figures = evaluation.figures()
    assert figures["rmse"] == pytest.approx(math.sqrt((400 + 25) / 2))
    assert figures["rmse_capped"] == pytest.approx(math.sqrt(25 / 2))
    assert figures["coverage"] == 0.5 and figures["coverage_capped"] == 1.0
    assert figures["mean_width"] == 22.5


def test_interval_table_covers_held_out_residuals_per_band() -> None:
    rng = np.random.default_rng(1)
    predicted = rng.uniform(0, 125, 20000)
    noise = np.where(predicted < 60, 2.0, 10.0)  # near failure the estimate is sharper
    target = predicted + rng.normal(size=20000) * noise
    groups = np.arange(20000) // 100  # 200 "engines"
    table = IntervalTable.calibrate(predicted, target, groups, level=0.9, bands=4, cap=1e9)
    fresh = rng.uniform(0, 125, 20000)
    truth = fresh + rng.normal(size=20000) * np.where(fresh < 60, 2.0, 10.0)
    lower, upper = table.intervals(fresh)
    assert 0.88 <= interval_coverage(lower, upper, truth) <= 0.94
    width = upper - lower
    assert width[fresh < 30].mean() < 0.4 * width[fresh > 90].mean()
    assert table.interval(float(fresh[0])) == pytest.approx((lower[0], upper[0]))


def test_an_empty_band_falls_back_to_all_residuals() -> None:
    predicted = np.array([0.0] * 5 + [10.0] * 5)  # edges at 0 and 10: nothing lies below 0
    target = predicted + np.array([-1, 1, -1, 1, 0, -2, 2, -2, 2, 0])
    table = IntervalTable.calibrate(predicted, target, np.arange(10), level=0.5, bands=3, cap=125.0)
    assert len(table.edges) == 2
    low, high = table.interval(5.0)
    assert np.isfinite([low, high]).all() and low < 5.0 < high


def test_intervals_stay_within_zero_and_the_cap_and_hold_the_estimate() -> None:
    table = IntervalTable(np.array([]), np.array([-30.0]), np.array([40.0]), 0.9, 125.0)
    assert table.interval(10.0) == (0.0, 50.0)
    assert table.interval(120.0) == (90.0, 125.0)
    shifted = IntervalTable(np.array([]), np.array([5.0]), np.array([9.0]), 0.9, 125.0)
    low, high = shifted.interval(50.0)
    assert low <= 50.0 <= high


def test_engine_folds_are_balanced_and_seeded() -> None:
    folds = engine_folds(23, 5, seed=4)
    assert sorted(np.bincount(folds).tolist()) == [4, 4, 5, 5, 5]
    assert np.array_equal(folds, engine_folds(23, 5, seed=4))
    assert not np.array_equal(folds, engine_folds(23, 5, seed=5))
    with pytest.raises(ValidationError, match="folds"):
        engine_folds(3, 5, seed=0)


def test_stack_weights_prefer_the_member_that_fits() -> None:
    rng = np.random.default_rng(2)
    target = rng.uniform(0, 100, 500)
    good, bad = target + rng.normal(size=500), rng.uniform(0, 100, 500)
    weights = stack_weights(np.column_stack((good, bad)), target)
    assert weights.sum() == pytest.approx(1.0)
    assert weights[0] > 0.95

"""Conformal half-widths, and adaptive conformal inference replayed and live."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from twinkit.predict._forecast_conformal import (
    AdaptiveTracker,
    adaptive_half_widths,
    conformal_quantile,
    min_calibration,
)


def test_the_half_width_is_the_conformal_rank_of_the_scores() -> None:
    scores = np.arange(1.0, 100.0)  # 99 scores: rank ceil(100 * 0.9) = 90
    assert conformal_quantile(scores, 0.9) == 90.0
    assert conformal_quantile(scores, 0.5) == 50.0
    assert conformal_quantile(scores, 0.999) == 99.0  # out of reach: the largest
    assert conformal_quantile(scores, 0.0) == 0.0
    assert min_calibration(0.9) == 9
    assert min_calibration(0.95) == 19


def test_split_conformal_covers_exchangeable_errors_at_its_level() -> None:
    rng = np.random.default_rng(3)
    calibration = np.sort(np.abs(rng.standard_t(3, size=500)))
    fresh = np.abs(rng.standard_t(3, size=20_000))
    for level in (0.5, 0.8, 0.9, 0.95):
        covered = np.mean(fresh <= conformal_quantile(calibration, level))
        assert covered == pytest.approx(level, abs=0.03)


def test_adaptive_widths_grow_when_errors_outgrow_the_calibration() -> None:
    rng = np.random.default_rng(4)
    scores = np.sort(np.abs(rng.normal(size=400)))
    origins = np.arange(3000) * 60.0
    errors = np.abs(rng.normal(scale=2.0, size=3000))  # twice the calibrated spread
    static = conformal_quantile(scores, 0.9)
    assert np.mean(errors <= static) < 0.65
    half = adaptive_half_widths(
        scores, 0.9, gamma=0.02, origins=origins, horizon=600.0, errors=errors
    )
    assert np.mean(errors <= half) == pytest.approx(0.9, abs=0.02)
    assert half[-500:].mean() > 1.5 * static
    # Feedback comes once the horizon has passed: the first ten forecasts (made before the
    # first one's target time) keep the static width; the eleventh has one truth to go by.
    assert (half[:10] == static).all()
    assert half[10] != static


def test_adaptive_widths_without_drift_stay_near_the_static_ones() -> None:
    rng = np.random.default_rng(5)
    scores = np.sort(np.abs(rng.normal(size=1000)))
    errors = np.abs(rng.normal(size=4000))
    half = adaptive_half_widths(
        scores, 0.8, gamma=0.005, origins=np.arange(4000.0), horizon=1.0, errors=errors
    )
    assert np.median(half) == pytest.approx(conformal_quantile(scores, 0.8), rel=0.1)
    assert np.mean(errors <= half) == pytest.approx(0.8, abs=0.02)


def test_the_live_tracker_adapts_per_twin_and_horizon_as_truth_arrives() -> None:
    tracker = AdaptiveTracker([60.0, 120.0], level=0.9, gamma=0.05, every=60.0)
    times = np.arange(0.0, 600.0, 60.0)
    truth = np.zeros(len(times))
    for t in times[:5]:
        tracker.record("tank-1", float(t), 60.0, value=5.0, half=1.0)  # all will miss
        tracker.record("tank-1", float(t) + 1.0, 60.0, value=0.0, half=1.0)  # too soon: dropped
    tracker.settle("tank-1", times, truth)
    assert tracker.level("tank-1", 60.0) == pytest.approx(0.9 + 5 * 0.05 * 0.9)
    assert tracker.level("tank-1", 120.0) == pytest.approx(0.9)
    assert tracker.level("tank-2", 60.0) == pytest.approx(0.9)
    restored = pickle.loads(pickle.dumps(tracker))
    assert restored.level("tank-1", 60.0) == tracker.level("tank-1", 60.0)
    tracker.forget("tank-1")
    assert tracker.level("tank-1", 60.0) == pytest.approx(0.9)


def test_the_live_tracker_hits_narrow_the_interval() -> None:
    tracker = AdaptiveTracker([60.0], level=0.9, gamma=0.05, every=60.0)
    for t in range(4):
        tracker.record("p", t * 60.0, 60.0, value=0.0, half=1.0)
    tracker.settle("p", np.array([0.0, 300.0]), np.array([0.5, 0.5]))
    assert tracker.level("p", 60.0) == pytest.approx(0.9 - 4 * 0.05 * 0.1)

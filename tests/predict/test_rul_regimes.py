"""Operating-regime normalisation: one regime (FD001) and six (FD001 moved to six conditions)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from twinkit.errors import ValidationError
from twinkit.predict._cmapss import CMAPSS_SENSORS, CMAPSS_SETTINGS, load_cmapss
from twinkit.predict._rul_regimes import Regimes, detect_regimes, fit_regimes

# The six flight conditions of FD002/FD004: altitude (kft), Mach number, throttle angle.
CONDITIONS = np.array(
    [[0, 0, 100], [10, 0.25, 100], [20, 0.7, 100], [25, 0.62, 60], [35, 0.84, 100], [42, 0.84, 100]]
)


@pytest.fixture(scope="module")
def fd001(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    """Settings and sensors of 30 FD001 training engines."""
    frames = load_cmapss(shared_data / "cmapss", "FD001").train[:30]
    settings = np.vstack([f[list(CMAPSS_SETTINGS)].to_numpy() for f in frames])
    sensors = np.vstack([f[list(CMAPSS_SENSORS)].to_numpy() for f in frames])
    return settings, sensors


def six_regimes(
    settings: np.ndarray, sensors: np.ndarray, regime: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rows moved to flight condition ``regime[i]``: settings to its centre (keeping FD001's
    own jitter), every sensor shifted and scaled differently in each condition."""
    rng = np.random.default_rng(7)
    gain = rng.uniform(0.5, 2.0, size=(6, sensors.shape[1]))
    shift = rng.uniform(-300, 300, size=(6, sensors.shape[1]))
    jitter = settings - settings.mean(axis=0)
    return CONDITIONS[regime] + jitter, sensors * gain[regime] + shift[regime]


def test_fd001_is_one_regime_and_drops_its_constant_sensors(fd001: tuple) -> None:
    settings, sensors = fd001
    assert detect_regimes(settings) == 1
    regimes = fit_regimes(settings, sensors, CMAPSS_SENSORS)
    assert regimes.count == 1
    # s1, s5, s10, s16, s18, s19 never change; s6 flips between two readings.
    assert regimes.dropped == ("s1", "s5", "s6", "s10", "s16", "s18", "s19")
    assert len(regimes.sensors) == 14
    normalised = regimes.normalise(
        settings, sensors[:, [CMAPSS_SENSORS.index(s) for s in regimes.sensors]]
    )
    assert np.allclose(normalised.mean(axis=0), 0, atol=1e-9)
    assert np.allclose(normalised.std(axis=0), 1)


def test_six_regimes_normalise_exactly_as_one(fd001: tuple) -> None:
    """Each of six regimes holds a full copy of the data, shifted and scaled its own way:
    standardising per regime must give back the single-regime result, row for row."""
    settings, sensors = fd001
    one = fit_regimes(settings, sensors, CMAPSS_SENSORS, count=1)
    kept = [CMAPSS_SENSORS.index(s) for s in one.sensors]
    expected = one.normalise(settings, sensors[:, kept])

    regime = np.repeat(np.arange(6), len(settings))
    moved_settings, moved_sensors = six_regimes(
        np.tile(settings, (6, 1)), np.tile(sensors, (6, 1)), regime
    )
    assert detect_regimes(moved_settings) == 6
    six = fit_regimes(moved_settings, moved_sensors, CMAPSS_SENSORS)
    assert six.count == 6
    assert six.sensors == one.sensors
    found = six.normalise(moved_settings, moved_sensors[:, kept])
    assert np.allclose(found, np.tile(expected, (6, 1)), atol=1e-8)


def test_six_regimes_drawn_at_random_match_closely(fd001: tuple) -> None:
    """Rows spread at random over six conditions: per-regime statistics come from a sixth of
    the rows each, so the result matches the single-regime one up to sampling noise."""
    settings, sensors = fd001
    one = fit_regimes(settings, sensors, CMAPSS_SENSORS, count=1)
    kept = [CMAPSS_SENSORS.index(s) for s in one.sensors]
    expected = one.normalise(settings, sensors[:, kept])
    regime = np.random.default_rng(3).integers(0, 6, len(settings))
    moved_settings, moved_sensors = six_regimes(settings, sensors, regime)
    six = fit_regimes(moved_settings, moved_sensors, CMAPSS_SENSORS)
    assert six.count == 6
    # every row lands in the regime it was moved to (up to the clusters' numbering)
    found_regime = six.assign(moved_settings)
    pairs = set(zip(regime.tolist(), found_regime.tolist(), strict=True))
    assert len(pairs) == 6
    found = six.normalise(moved_settings, moved_sensors[:, kept])
    assert np.abs(found - expected).mean() < 0.05
    assert np.abs(found - expected).max() < 0.6
    assert np.corrcoef(found.ravel(), expected.ravel())[0, 1] > 0.995
    # without the regimes, the raw spread is the flight conditions, not wear
    pooled = (moved_sensors[:, kept] - moved_sensors[:, kept].mean(0)) / moved_sensors[:, kept].std(
        0
    )
    assert np.corrcoef(pooled.ravel(), expected.ravel())[0, 1] < 0.5


def test_given_count_and_bad_inputs(fd001: tuple) -> None:
    settings, sensors = fd001
    assert fit_regimes(settings, sensors, CMAPSS_SENSORS, count=1).count == 1
    with pytest.raises(ValidationError, match="regime count"):
        fit_regimes(settings, sensors, CMAPSS_SENSORS, count=0)
    with pytest.raises(ValidationError, match="sensor names"):
        fit_regimes(settings, sensors, CMAPSS_SENSORS[:5])
    with pytest.raises(ValidationError, match="same rows"):
        fit_regimes(settings[:10], sensors, CMAPSS_SENSORS)
    constant = np.ones((50, 2))
    with pytest.raises(ValidationError, match="every sensor is constant"):
        fit_regimes(settings[:50], constant, ("a", "b"), count=1)


def test_a_regime_where_a_sensor_is_flat_keeps_it_finite() -> None:
    settings = np.repeat(np.array([[0.0], [1.0]]), 50, axis=0)
    sensors = np.column_stack((np.r_[np.full(50, 3.0), np.arange(50.0)], np.arange(100.0)))
    regimes = fit_regimes(settings, sensors, ("flat-in-one", "ramp"), count=2)
    assert isinstance(regimes, Regimes)
    normalised = regimes.normalise(settings, sensors)
    assert np.isfinite(normalised).all()
    flat = regimes.assign(settings[:1])[0]
    assert regimes.std[flat, 0] == 1.0

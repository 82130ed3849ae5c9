"""Univariate detectors: CUSUM on shadow residuals, EWMA charts and robust z-scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twinkit.errors import ValidationError
from twinkit.predict._detect_stats import EwmaDetector, ResidualCusumDetector, RobustZDetector
from twinkit.predict._protocol import Window

RESIDUALS = ("residual:flow", "residual:bearingTemperature")


def residuals(rows: int, seed: int, start: float = 0.0) -> pd.DataFrame:
    """Measured minus simulated for a healthy pump: noise around a small steady model bias."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "residual:flow": 0.02 + rng.normal(0, 0.05, rows),
            "residual:bearingTemperature": -0.3 + rng.normal(0, 0.2, rows),
        },
        index=pd.Index(start + np.arange(rows, dtype=np.float64), name="time"),
    )


def naive_cusum(z: np.ndarray, k: float, span: int) -> np.ndarray:
    """The textbook recursion, restarted ``span`` rows before each row (one column)."""
    out = np.zeros(len(z))
    for t in range(len(z)):
        high = low = 0.0
        for x in z[max(0, t - span + 1) : t + 1]:
            high = max(0.0, high + x - k)
            low = max(0.0, low - x - k)
        out[t] = max(high, low)
    return out


@pytest.fixture(scope="module")
def cusum() -> ResidualCusumDetector:
    detector = ResidualCusumDetector(RESIDUALS, k=0.5, span=60)
    detector.fit([residuals(600, 1), residuals(600, 2, start=600.0)])
    return detector


def test_the_windowed_cusum_is_the_textbook_recursion(cusum: ResidualCusumDetector) -> None:
    frame = residuals(200, 3)
    frame.iloc[100:, 0] += 0.08
    scores = cusum.score_frame(frame)
    assert cusum._scaler is not None
    z = cusum._scaler(frame.to_numpy())
    expected = np.maximum(naive_cusum(z[:, 0], 0.5, 60), naive_cusum(z[:, 1], 0.5, 60))
    np.testing.assert_allclose(scores, expected, rtol=1e-9, atol=1e-12)


def test_a_small_bias_on_one_residual_is_caught_and_named(cusum: ResidualCusumDetector) -> None:
    frame = residuals(400, 4, start=5000.0)
    frame.iloc[200:, 0] += 0.05  # one standard deviation: a clogging strainer, slowly
    alarms = cusum.alarms_frame(frame)
    assert not alarms[:200].any()
    first = int(np.argmax(alarms[200:]))
    assert alarms[200:].any() and first < 40 and alarms[260:].all()
    answer = cusum.score(Window.of("pump-1", frame.iloc[-cusum.window :]))
    assert answer.anomalous and answer.contributions is not None
    assert (
        answer.contributions["residual:flow"] > answer.contributions["residual:bearingTemperature"]
    )


def test_a_steady_model_bias_is_not_a_fault(cusum: ResidualCusumDetector) -> None:
    # The bearing temperature model is 0.3 K off all along: the training median absorbs it.
    assert not cusum.alarms_frame(residuals(1000, 5)).any()
    assert cusum.window == 60 and cusum.warmup == 1


def test_cusum_settings_are_checked() -> None:
    with pytest.raises(ValidationError) as caught:
        ResidualCusumDetector(RESIDUALS, k=-1.0)
    assert caught.value.path == "k"
    with pytest.raises(ValidationError) as caught:
        ResidualCusumDetector(RESIDUALS, span=1)
    assert caught.value.path == "span"


def test_an_ewma_chart_catches_a_shift_too_small_for_single_readings() -> None:
    history = [residuals(1000, 6)]
    chart, single = (
        EwmaDetector(RESIDUALS, alpha=0.1, span=60),
        RobustZDetector(RESIDUALS, smooth=1),
    )
    chart.fit(history)
    single.fit(history)
    frame = residuals(600, 7)
    frame.iloc[300:, 0] += 0.1  # two standard deviations of the flow residual
    assert chart.alarms_frame(frame)[:300].mean() < 0.02
    assert chart.alarms_frame(frame)[360:].mean() > 0.9
    assert single.alarms_frame(frame)[300:].mean() < 0.2


def test_robust_z_is_not_thrown_by_outliers_in_training() -> None:
    clean, dirty = residuals(500, 8), residuals(500, 8)
    dirty.iloc[::50, 0] += 5.0  # ten wild readings among 500
    by_clean, by_dirty = RobustZDetector(RESIDUALS, smooth=1), RobustZDetector(RESIDUALS, smooth=1)
    by_clean.fit([clean])
    by_dirty.fit([dirty])
    assert by_clean._scaler is not None and by_dirty._scaler is not None
    np.testing.assert_allclose(by_dirty._scaler.scale, by_clean._scaler.scale, rtol=0.05)


def test_a_quantised_input_gets_a_usable_robust_scale() -> None:
    # A flow meter that reads 32.0 most of the time has a zero MAD; the scale must not be zero.
    frame = residuals(400, 9)
    frame["residual:flow"] = np.where(np.arange(400) % 10 == 0, 33.0, 32.0)
    detector = RobustZDetector(RESIDUALS, smooth=1)
    detector.fit([frame])
    assert detector._scaler is not None and detector._scaler.scale[0] == pytest.approx(0.12533)
    assert detector.threshold < 20

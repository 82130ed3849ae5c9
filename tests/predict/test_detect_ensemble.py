"""Detectors combined: agreement on average, contributions, and the chosen default."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from twinkit.errors import ValidationError
from twinkit.predict._detect import BatchDetector
from twinkit.predict._detect_ensemble import EnsembleDetector, default_detector
from twinkit.predict._detect_multi import PcaDetector
from twinkit.predict._detect_stats import EwmaDetector
from twinkit.predict._protocol import Detector, Window

INPUTS = ("flow", "current", "vibration", "motorTemperature")


def pump(rows: int, seed: int, start: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    load = rng.normal(0.0, 1.0, rows)
    t = start + np.arange(rows, dtype=np.float64)
    return pd.DataFrame(
        {
            "flow": 10 + 2 * load + rng.normal(0, 0.1, rows),
            "current": 5 + 1.5 * load + rng.normal(0, 0.05, rows),
            "vibration": 1 + rng.normal(0, 0.1, rows),
            "motorTemperature": 60 + rng.normal(0, 0.05, rows).cumsum() * 0.1,
        },
        index=pd.Index(t, name="time"),
    )


@pytest.fixture(scope="module")
def pair() -> EnsembleDetector:
    ensemble = EnsembleDetector([PcaDetector(INPUTS[:3]), EwmaDetector(INPUTS)], margin=1.2)
    ensemble.fit([pump(800, 1)])
    return ensemble


def test_the_score_is_the_geometric_mean_of_the_members_ratios(pair: EnsembleDetector) -> None:
    frame = pump(300, 2)
    frame.iloc[150:, 2] += 0.5
    pca, ewma = pair.members
    expected = np.sqrt(
        np.maximum(pca.score_frame(frame) / pca.threshold, 1e-12)
        * np.maximum(ewma.score_frame(frame) / ewma.threshold, 1e-12)
    )
    np.testing.assert_allclose(pair.score_frame(frame), expected, rtol=1e-12)
    assert pair.threshold == 1.2
    assert tuple(pair.inputs) == INPUTS and pair.window == max(pca.window, ewma.window)
    assert isinstance(pair, Detector) and isinstance(pair, BatchDetector)


def test_a_window_scores_as_the_frame_and_names_the_sensor(pair: EnsembleDetector) -> None:
    frame = pump(300, 3)
    frame.iloc[150:, 2] += 1.0
    batch = pair.score_frame(frame)
    answer = pair.score(Window.of("pump-2", frame.iloc[-pair.window :]))
    assert answer.score == pytest.approx(batch[-1], rel=1e-9) and answer.anomalous
    assert answer.contributions is not None
    assert max(answer.contributions, key=answer.contributions.__getitem__) == "vibration"
    assert sum(answer.contributions.values()) == pytest.approx(answer.score, rel=1e-9)


def test_fit_reports_every_members_metrics_and_progress() -> None:
    seen: list[float] = []
    ensemble = EnsembleDetector([PcaDetector(INPUTS), EwmaDetector(INPUTS)])
    metrics = ensemble.fit([pump(200, 4)], progress=seen.append)
    assert metrics["member0.components"] >= 1 and metrics["member1.threshold"] > 0
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)


def test_an_unfitted_ensemble_refuses_to_score() -> None:
    ensemble = EnsembleDetector([PcaDetector(INPUTS)])
    assert ensemble.threshold == np.inf and not ensemble.fitted
    with pytest.raises(ValidationError, match="EnsembleDetector is not fitted"):
        ensemble.score_frame(pump(10, 1))
    with pytest.raises(ValidationError, match="not fitted"):
        ensemble.score(Window.of("p", pump(10, 1)))


@pytest.mark.parametrize("members", [[], [object()]])
def test_members_must_be_detectors(members: list[object]) -> None:
    with pytest.raises(ValidationError) as caught:
        EnsembleDetector(members)  # type: ignore[arg-type]
    assert caught.value.path == "members"


def test_the_default_detector_learns_a_pump_and_survives_pickling() -> None:
    detector = default_detector(INPUTS, slow=["motorTemperature"])
    detector.fit([pump(400, 5), pump(400, 6, start=400.0)])
    frame = pump(600, 7, start=2000.0)
    frame["motorTemperature"] += 4.0  # warmer today: not a fault, judged by its rate
    frame.iloc[300:, 0] -= 3.0  # a closing valve: the flow drops, the current does not
    alarms = detector.score_frame(frame) > detector.threshold
    assert alarms[:300].mean() < 0.02 and alarms[320:].mean() > 0.95
    copy = pickle.loads(pickle.dumps(detector))
    np.testing.assert_array_equal(copy.score_frame(frame), detector.score_frame(frame))


def test_many_windows_score_as_one_at_a_time(pair: EnsembleDetector) -> None:
    frames = [pump(120, seed=20 + i) for i in range(3)]
    frames[2].iloc[-30:, 2] += 1.0
    windows = [Window.of(f"pump-{i}", f) for i, f in enumerate(frames)]
    many = pair.score_many(windows)
    one = [pair.score(w) for w in windows]
    assert [a.score for a in many] == pytest.approx([a.score for a in one], rel=1e-9)
    assert many[2].anomalous and not many[0].anomalous

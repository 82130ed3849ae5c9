"""Every detector: learns normal from history only, catches shifts and spikes, scores live as offline."""

from __future__ import annotations

import pickle
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from twinkit.errors import ValidationError
from twinkit.predict._detect import BatchDetector, Features, FittedDetector
from twinkit.predict._detect_learned import AutoencoderDetector, SimilarityDetector
from twinkit.predict._detect_multi import IsolationForestDetector, PcaDetector
from twinkit.predict._detect_stats import EwmaDetector, RobustZDetector
from twinkit.predict._protocol import Detector, Window

INPUTS = ("flow", "current", "vibration", "temperature")


def plant(rows: int, seed: int, start: float = 0.0) -> pd.DataFrame:
    """A pump in normal operation: flow and current follow the load; a slow temperature."""
    rng = np.random.default_rng(seed)
    load = rng.normal(0.0, 1.0, rows)
    t = start + np.arange(rows, dtype=np.float64)
    return pd.DataFrame(
        {
            "flow": 10 + 2 * load + rng.normal(0, 0.1, rows),
            "current": 5 + 1.5 * load + rng.normal(0, 0.05, rows),
            "vibration": 1 + rng.normal(0, 0.1, rows),
            "temperature": 40 + 0.5 * np.sin(t / 200) + rng.normal(0, 0.05, rows),
        },
        index=pd.Index(t, name="time"),
    )


FACTORIES: dict[str, Callable[[], FittedDetector]] = {
    "robust_z": lambda: RobustZDetector(INPUTS),
    "ewma": lambda: EwmaDetector(INPUTS),
    "pca": lambda: PcaDetector(INPUTS),
    "iforest": lambda: IsolationForestDetector(INPUTS, trees=50),
    "similarity": lambda: SimilarityDetector(INPUTS),
    "autoencoder": lambda: AutoencoderDetector(INPUTS, hidden=(8, 2, 8), epochs=40),
}
WITH_CONTRIBUTIONS = ("robust_z", "ewma", "pca", "similarity", "autoencoder")


@pytest.fixture(scope="module")
def fitted() -> dict[str, FittedDetector]:
    """Each kind fitted once on the same 2,000 normal rows (two units of 1,000)."""
    history = [plant(1000, seed=1), plant(1000, seed=2, start=1000.0)]
    detectors = {}
    for name, make in FACTORIES.items():
        detector = make()
        detector.fit(history)
        detectors[name] = detector
    return detectors


@pytest.mark.parametrize("name", FACTORIES)
def test_detectors_satisfy_the_protocols(name: str) -> None:
    detector = FACTORIES[name]()
    assert isinstance(detector, Detector) and isinstance(detector, BatchDetector)
    assert tuple(detector.inputs) == INPUTS and detector.window >= 1


@pytest.mark.parametrize("name", [n for n in FACTORIES if n != "iforest"])
def test_quiet_on_normal_data_and_catch_a_shift(
    name: str, fitted: dict[str, FittedDetector]
) -> None:
    detector = fitted[name]
    test = plant(600, seed=7, start=5000.0)
    test.iloc[300:, test.columns.get_loc("vibration")] += 1.0  # ten of its standard deviations
    alarms = detector.alarms_frame(test)
    assert alarms[:300].mean() <= 0.03, f"{name} raised {alarms[:300].sum()} false alarms"
    assert alarms[310:].mean() >= 0.95, f"{name} missed {(~alarms[310:]).sum()} shifted rows"


@pytest.mark.parametrize("name", WITH_CONTRIBUTIONS)
def test_contributions_name_the_sensor_that_moved(
    name: str, fitted: dict[str, FittedDetector]
) -> None:
    detector = fitted[name]
    frame = plant(100, seed=8)
    frame.iloc[60:, frame.columns.get_loc("vibration")] += 1.0
    answer = detector.score(Window.of("pump-1", frame))
    assert answer.anomalous and answer.threshold == detector.threshold
    assert answer.contributions is not None and set(answer.contributions) == set(INPUTS)
    assert max(answer.contributions, key=lambda k: answer.contributions[k]) == "vibration"  # type: ignore[index]


def test_isolation_forest_gives_no_contributions(fitted: dict[str, FittedDetector]) -> None:
    assert fitted["iforest"].score(Window.of("p", plant(5, seed=3))).contributions is None


def test_pca_contributions_add_up_to_its_score(fitted: dict[str, FittedDetector]) -> None:
    frame = plant(50, seed=9)
    frame.iloc[-10:, frame.columns.get_loc("current")] -= 2.5
    answer = fitted["pca"].score(Window.of("p", frame))
    assert answer.contributions is not None
    assert sum(answer.contributions.values()) == pytest.approx(answer.score, rel=1e-9)


def test_the_isolation_forest_needs_a_fault_in_several_inputs(
    fitted: dict[str, FittedDetector],
) -> None:
    # Random splits rarely pick the one input that moved, so a single-sensor shift hardly
    # shortens the isolation paths; a fault that moves flow, current and vibration does.
    test = plant(600, seed=7, start=5000.0)
    test.iloc[300:, test.columns.get_loc("vibration")] += 1.0
    single = fitted["iforest"].alarms_frame(test)
    test.iloc[300:, test.columns.get_loc("flow")] += 8.0
    test.iloc[300:, test.columns.get_loc("current")] -= 6.0
    several = fitted["iforest"].alarms_frame(test)
    assert not several[:300].any() and several[300:].mean() >= 0.8
    assert single[300:].mean() < 0.1


@pytest.mark.parametrize(
    ("name", "caught"), [("pca", 0.95), ("similarity", 0.8), ("autoencoder", 0.4)]
)
def test_multivariate_detectors_catch_a_broken_relationship(
    name: str, caught: float, fitted: dict[str, FittedDetector]
) -> None:
    # The current reading sticks at 7 A, inside its usual range, while the flow goes on
    # moving: only the joint behaviour is wrong, which a per-sensor check cannot see.
    test = plant(600, seed=11, start=9000.0)
    test.iloc[300:, test.columns.get_loc("current")] = 7.0
    alarms = fitted[name].alarms_frame(test)
    assert alarms[:300].mean() <= 0.01 and alarms[310:].mean() >= caught
    assert not fitted["robust_z"].alarms_frame(test).any()


@pytest.mark.parametrize("name", ["ewma", "pca", "similarity"])
def test_a_spike_raises_an_alarm(name: str, fitted: dict[str, FittedDetector]) -> None:
    test = plant(200, seed=13)
    test.iloc[100, test.columns.get_loc("vibration")] += 20.0
    alarms = fitted[name].alarms_frame(test)
    assert alarms[100] and not alarms[:100].any()


def test_the_rolling_median_ignores_a_single_spike(fitted: dict[str, FittedDetector]) -> None:
    test = plant(200, seed=13)
    test.iloc[100, test.columns.get_loc("vibration")] += 20.0
    assert not fitted["robust_z"].alarms_frame(test).any()


@pytest.mark.parametrize("name", FACTORIES)
def test_a_live_window_scores_as_the_frame_scores_its_last_row(
    name: str, fitted: dict[str, FittedDetector]
) -> None:
    detector = fitted[name]
    frame = plant(300, seed=21)
    frame.iloc[150:, frame.columns.get_loc("flow")] += 3.0
    batch = detector.score_frame(frame)
    for end in (0, 2, detector.window - 1, 149, 160, 299):
        window = frame.iloc[max(0, end - detector.window + 1) : end + 1]
        assert detector.score(Window.of("p", window)).score == pytest.approx(batch[end], rel=1e-9)
    # A longer window changes nothing: only the newest `window` rows count.
    assert detector.score(Window.of("p", frame)).score == pytest.approx(batch[-1], rel=1e-9)


@pytest.mark.parametrize("name", FACTORIES)
def test_the_threshold_comes_from_training_data_only(name: str) -> None:
    history = [plant(400, seed=31)]
    first, second = FACTORIES[name](), FACTORIES[name]()
    metrics = first.fit(history)
    second.fit(history)
    assert first.threshold == second.threshold == metrics["threshold"] > 0
    shifted = plant(300, seed=32)
    shifted["flow"] += 50.0
    first.score_frame(shifted)  # scoring anything, however wild, leaves the threshold alone
    assert first.threshold == second.threshold
    # quantile 1 and margin m: m times the largest training score, so no training row alarms.
    assert metrics["train_alarm_rate"] == 0.0


def test_threshold_is_margin_times_the_training_quantile() -> None:
    history = [plant(400, seed=41)]
    detector = RobustZDetector(INPUTS, smooth=1, quantile=0.99, margin=2.0)
    detector.fit(history)
    values = history[0].to_numpy()
    centre = np.median(values, axis=0)
    scale = 1.4826 * np.median(np.abs(values - centre), axis=0)
    scores = np.abs((values - centre) / scale).max(axis=1)
    assert detector.threshold == pytest.approx(2.0 * np.quantile(scores, 0.99))


def test_fitting_reports_progress_from_zero_to_one() -> None:
    seen: list[float] = []
    AutoencoderDetector(INPUTS, hidden=(4,), epochs=5).fit([plant(100, 1)], progress=seen.append)
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen) and len(seen) >= 7


@pytest.mark.parametrize("name", FACTORIES)
def test_a_fitted_detector_pickles(name: str, fitted: dict[str, FittedDetector]) -> None:
    frame = plant(120, seed=51)
    copy = pickle.loads(pickle.dumps(fitted[name]))
    np.testing.assert_array_equal(copy.score_frame(frame), fitted[name].score_frame(frame))


# --- inputs that cannot be learned from ---------------------------------------------------


@pytest.mark.parametrize("history", [[], [pd.DataFrame(columns=list(INPUTS))], [plant(10, 1)]])
def test_too_little_history_is_refused(history: list[pd.DataFrame]) -> None:
    with pytest.raises(ValidationError, match="not enough history") as caught:
        PcaDetector(INPUTS).fit(history)
    assert "PcaDetector.fit" in str(caught.value) and "at least 20 rows" in str(caught.value)


def test_missing_columns_are_named_with_their_frame() -> None:
    history = [plant(50, 1), plant(50, 2).drop(columns=["current", "flow"])]
    with pytest.raises(ValidationError) as caught:
        EwmaDetector(INPUTS).fit(history)
    text = str(caught.value)
    assert "history[1]" in text and "'current'" in text and "'flow'" in text


def test_a_nan_is_named_by_frame_column_and_time() -> None:
    frame = plant(50, 1, start=1000.0)
    frame.loc[1017.0, "vibration"] = np.nan
    with pytest.raises(ValidationError, match="NaN or infinite") as caught:
        SimilarityDetector(INPUTS).fit([plant(50, 2), frame])
    assert "history[1]: vibration at 1017.0" in str(caught.value)


def test_history_must_be_a_list_of_frames() -> None:
    with pytest.raises(ValidationError, match="sequence of frames"):
        PcaDetector(INPUTS).fit(plant(50, 1))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="not a frame") as caught:
        PcaDetector(INPUTS).fit([plant(50, 1), plant(50, 2).to_numpy()])  # type: ignore[list-item]
    assert "history[1]" in str(caught.value)


def test_text_where_numbers_belong_is_refused() -> None:
    frame = plant(30, 1).astype(object)
    frame.iloc[3, 0] = "broken"
    with pytest.raises(ValidationError, match="not numbers"):
        RobustZDetector(INPUTS).fit([frame])


@pytest.mark.parametrize("name", FACTORIES)
def test_an_unfitted_detector_refuses_to_score(name: str) -> None:
    detector = FACTORIES[name]()
    assert detector.threshold == np.inf and not detector.fitted
    with pytest.raises(ValidationError, match="is not fitted") as caught:
        detector.score(Window.of("p", plant(5, 1)))
    assert "fit(history)" in str(caught.value)
    with pytest.raises(ValidationError, match="is not fitted"):
        detector.score_frame(plant(5, 1))


def test_windows_without_an_input_or_with_a_nan_are_refused(
    fitted: dict[str, FittedDetector],
) -> None:
    detector = fitted["pca"]
    with pytest.raises(ValidationError, match="lacks inputs") as caught:
        detector.score(Window.of("pump-7", plant(5, 1).drop(columns=["vibration"])))
    assert "pump-7" in str(caught.value)
    frame = plant(5, 1)
    frame.iloc[4, 0] = np.inf
    with pytest.raises(ValidationError, match="NaN or infinite") as caught:
        detector.score(Window.of("pump-7", frame))
    assert "flow at 4.0" in str(caught.value)
    with pytest.raises(ValidationError, match="columns \\['temperature'\\] are missing"):
        detector.score_frame(plant(5, 1).drop(columns=["temperature"]))


@pytest.mark.parametrize(
    ("make", "path"),
    [
        (lambda: PcaDetector([]), "inputs"),
        (lambda: PcaDetector(["a", "a"]), "inputs"),
        (lambda: PcaDetector(INPUTS, smooth=0), "smooth"),
        (lambda: PcaDetector(INPUTS, slow=["pressure"]), "slow"),
        (lambda: PcaDetector(INPUTS, quantile=1.5), "quantile"),
        (lambda: PcaDetector(INPUTS, margin=0.0), "margin"),
        (lambda: PcaDetector(INPUTS, variance=0.0), "variance"),
        (lambda: IsolationForestDetector(INPUTS, trees=0), "trees"),
        (lambda: SimilarityDetector(INPUTS, neighbours=0), "neighbours"),
        (lambda: AutoencoderDetector(INPUTS, hidden=()), "hidden"),
        (lambda: EwmaDetector(INPUTS, alpha=0.0), "alpha"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(make: Callable[[], object], path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        make()
    assert caught.value.path == path


# --- features ------------------------------------------------------------------------------


def test_features_smooth_causally_and_turn_slow_inputs_into_rates() -> None:
    values = np.array([[1.0, 10.0], [2.0, 10.0], [3.0, 13.0], [10.0, 16.0]])
    mean = Features(("a", "b"), smooth=2).compute(values)
    np.testing.assert_allclose(mean[:, 0], [1.0, 1.5, 2.5, 6.5])  # the first row repeats before
    median = Features(("a", "b"), smooth=3, statistic="median").compute(values)
    np.testing.assert_allclose(median[:, 0], [1.0, 1.0, 2.0, 3.0])
    ewma = Features(("a", "b"), smooth=2, statistic="ewma", alpha=0.5).compute(values)
    np.testing.assert_allclose(
        ewma[:, 0], [1.0, (0.5 * 1 + 2) / 1.5, (0.5 * 2 + 3) / 1.5, (0.5 * 3 + 10) / 1.5]
    )
    rates = Features(("a", "b"), smooth=1, slow=("b",), rate_lag=2).compute(values)
    np.testing.assert_allclose(rates[:, 1], [0.0, 0.0, 3.0, 6.0])
    np.testing.assert_allclose(rates[:, 0], values[:, 0])
    assert Features(("a", "b"), smooth=5, slow=("b",), rate_lag=30).rows == 35


def test_a_slow_input_judged_by_its_rate_tolerates_another_level() -> None:
    history = [plant(1000, seed=61)]
    warmer = plant(400, seed=62, start=1000.0)
    warmer["temperature"] += 3.0  # a warmer day: the motor runs 3 K hotter, nothing is wrong
    by_level, by_rate = PcaDetector(INPUTS), PcaDetector(INPUTS, slow=["temperature"])
    by_level.fit(history)
    by_rate.fit(history)
    assert by_level.alarms_frame(warmer).mean() > 0.9
    assert by_rate.alarms_frame(warmer).mean() < 0.03
    assert by_rate.window == by_rate.warmup == 5 + 30


@pytest.mark.parametrize("name", FACTORIES)
def test_many_windows_score_as_one_at_a_time(name: str, fitted: dict[str, FittedDetector]) -> None:
    detector = fitted[name]
    frames = [plant(80, seed=70 + i) for i in range(4)]
    frames[1].iloc[-20:, 2] += 1.0
    windows = [Window.of(f"pump-{i}", f) for i, f in enumerate(frames)]
    young = frames[0].iloc[: max(detector.warmup - 1, 1)]  # warming up (but for iforest)
    windows.append(Window.of("pump-new", young))
    many = detector.score_many(windows)
    one = [detector.score(w) for w in windows]
    assert [a.score for a in many] == pytest.approx([a.score for a in one], rel=1e-9)
    if detector.warmup > 1:
        assert many[-1].score == 0.0 and many[-1].contributions is None
    assert many[1].contributions == (
        None if one[1].contributions is None else pytest.approx(one[1].contributions, rel=1e-9)
    )

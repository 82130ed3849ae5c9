"""The SKAB reader, the benchmark's metrics and its per-run protocol (on a few real runs)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twinkit.errors import NotFoundError, ValidationError
from twinkit.predict._detect_ensemble import default_detector
from twinkit.predict._detect_stats import RobustZDetector
from twinkit.predict._skab import (
    SKAB_SENSORS,
    Confusion,
    SkabResult,
    SkabRun,
    evaluate,
    evaluate_alarms,
    outlier_metrics,
    read_skab_run,
    skab_runs,
)

HEADER = "datetime;" + ";".join(SKAB_SENSORS)


def write_run(path: Path, rows: list[str], header: str = HEADER + ";anomaly;changepoint") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def row(second: int, flow: float = 32.0, anomaly: int | None = 0, changepoint: int = 0) -> str:
    """One line of a run (without labels when ``anomaly`` is None, as in the anomaly-free run)."""
    values = [0.02, 0.04, 1.3, 0.05, 79.3, 26.0, 233.0, flow]
    labels = [] if anomaly is None else [f"{anomaly}.0", f"{changepoint}.0"]
    return ";".join([f"2020-03-09 10:14:{second:02d}", *map(str, values), *labels])


# --- metrics -------------------------------------------------------------------------------


def test_confusion_counts_by_hand() -> None:
    labels = [0, 0, 1, 1, 1, 0]
    alarms = [0, 1, 1, 0, 1, 0]
    assert Confusion.of(labels, alarms) == Confusion(tp=2, tn=2, fp=1, fn=1)
    assert Confusion.of(np.array(labels, bool), np.array(alarms, bool)) == Confusion(2, 2, 1, 1)


def test_skab_metrics_by_hand() -> None:
    # F1 = TP / (TP + (FN + FP) / 2) = 2 / 3; FAR = FP / (FP + TN) = 1 / 3; MAR = FN / (FN + TP)
    metrics = outlier_metrics(Confusion(tp=2, tn=2, fp=1, fn=1))
    assert metrics == pytest.approx({"f1": 2 / 3, "far": 100 / 3, "mar": 100 / 3})
    # Summed over runs, not averaged: run A 3 TP 1 FN, run B 1 FP 5 TN.
    total = Confusion.of([1, 1, 1, 1], [1, 1, 1, 0]) + Confusion.of([0] * 6, [1, 0, 0, 0, 0, 0])
    assert outlier_metrics(total) == pytest.approx({"f1": 3 / 4, "far": 100 / 6, "mar": 25.0})


def test_a_silent_detector_and_an_undefined_rate() -> None:
    silent = outlier_metrics(Confusion.of([0, 1, 1, 0], [0, 0, 0, 0]))
    assert silent == {"f1": 0.0, "far": 0.0, "mar": 100.0}
    nothing_normal = outlier_metrics(Confusion.of([1, 1], [1, 1]))
    assert nothing_normal["f1"] == 1.0 and math.isnan(nothing_normal["far"])


def test_labels_and_alarms_must_line_up() -> None:
    with pytest.raises(ValidationError, match="same length") as caught:
        Confusion.of([0, 1, 1], [0, 1], where="alarms for valve1/3")
    assert caught.value.path == "alarms for valve1/3"


# --- reading -------------------------------------------------------------------------------


def test_a_run_is_read_with_its_labels(tmp_path: Path) -> None:
    path = write_run(
        tmp_path / "valve1" / "3.csv",
        [row(33), row(34, flow=31.0, anomaly=1, changepoint=1), row(35, flow=30.0, anomaly=1)],
    )
    run = read_skab_run(path)
    assert run.name == "valve1/3" and len(run) == 3
    assert list(run.frame.columns) == list(SKAB_SENSORS)
    assert run.frame.index[1] - run.frame.index[0] == 1.0
    assert run.frame.index[0] == pd.Timestamp("2020-03-09 10:14:33", tz="UTC").timestamp()
    assert run.anomaly.tolist() == [False, True, True]
    assert run.changepoint.tolist() == [False, True, False]
    pump = read_skab_run(path, pump_names=True)
    assert pump.frame["flow"].tolist() == pytest.approx([32 / 60, 31 / 60, 30 / 60])
    assert pump.frame["motorTemperature"].iloc[0] == 79.3


def test_the_anomaly_free_run_has_no_labels(tmp_path: Path) -> None:
    path = write_run(
        tmp_path / "anomaly-free" / "anomaly-free.csv",
        [row(1, anomaly=None), row(2, anomaly=None)],
        HEADER,
    )
    run = read_skab_run(path)
    assert not run.anomaly.any() and len(run.anomaly) == 2


@pytest.mark.parametrize(
    ("lines", "message", "where"),
    [
        (["datetime;Current", "2020-03-09 10:14:33;1.0"], "columns", ":1"),
        ([HEADER + ";anomaly;changepoint", row(1, anomaly=None)], "wrong number of fields", ":2"),
        (
            [HEADER + ";anomaly;changepoint", row(1), row(2).replace("32.0", "n/a")],
            "not a number",
            ":3",
        ),
        ([HEADER + ";anomaly;changepoint", "09.03.2020 10:14" + row(1)[19:]], "timestamp", ":2"),
    ],
)
def test_bad_files_are_refused_with_file_and_line(
    tmp_path: Path, lines: list[str], message: str, where: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=message) as caught:
        read_skab_run(path)
    assert caught.value.path == f"{path}{where}"


def test_missing_files_and_folders_are_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="cannot read"):
        read_skab_run(tmp_path / "nope.csv")
    with pytest.raises(NotFoundError, match="folder not found"):
        skab_runs(tmp_path / "nope")
    with pytest.raises(NotFoundError, match="no SKAB runs"):
        skab_runs(tmp_path)


def test_runs_come_folder_by_folder_in_number_order(tmp_path: Path) -> None:
    for name in ("valve1/10", "valve1/2", "other/1", "valve2/0", "anomaly-free/anomaly-free"):
        write_run(tmp_path / f"{name}.csv", [row(1)])
    assert [r.name for r in skab_runs(tmp_path)] == ["valve1/2", "valve1/10", "valve2/0", "other/1"]
    assert [r.name for r in skab_runs(tmp_path, ["anomaly-free"])] == ["anomaly-free/anomaly-free"]


# --- the protocol on real runs -------------------------------------------------------------


@pytest.fixture(scope="module")
def three_runs(shared_data: Path) -> list[SkabRun]:
    root = shared_data / "skab"
    return [read_skab_run(root / name) for name in ("valve1/0.csv", "valve2/0.csv", "other/9.csv")]


def test_a_real_run_reads_as_published(three_runs: list[SkabRun]) -> None:
    valve = three_runs[0]
    assert valve.name == "valve1/0" and len(valve) == 1147 and valve.anomaly.sum() == 401
    assert valve.frame["Volume Flow RateRMS"].iloc[0] == 32.0
    assert not np.isnan(valve.frame.to_numpy()).any()


def test_the_protocol_counts_every_row_of_every_run(three_runs: list[SkabRun]) -> None:
    # "Everything after the training rows is anomalous": counts checkable by hand from labels.
    result = evaluate_alarms(three_runs[:1], lambda train, frame: np.arange(len(frame)) >= 400)
    assert result.confusion == Confusion(tp=401, tn=400, fp=346, fn=0)
    assert isinstance(result, SkabResult) and result.runs[0].name == "valve1/0"


def test_each_run_gets_a_fresh_detector_trained_on_its_first_400_rows(
    three_runs: list[SkabRun],
) -> None:
    trained_on: list[pd.Index] = []

    class Recording(RobustZDetector):
        def fit(self, history, *, progress=None):  # type: ignore[no-untyped-def]
            trained_on.append(history[0].index)
            return super().fit(history, progress=progress)

    made: list[Recording] = []

    def make() -> Recording:
        made.append(Recording(SKAB_SENSORS))
        return made[-1]

    evaluate(make, three_runs)
    assert len(made) == 3 and len({id(d) for d in made}) == 3
    for index, run in zip(trained_on, three_runs, strict=True):
        assert index.equals(run.frame.index[:400])
    assert len({d.threshold for d in made}) == 3


def test_the_chosen_detector_does_well_on_a_few_runs(three_runs: list[SkabRun]) -> None:
    slow = ("Temperature", "Thermocouple")
    result = evaluate(lambda: default_detector(SKAB_SENSORS, slow=slow), three_runs)
    metrics = result.metrics
    assert metrics["f1"] > 0.75 and metrics["far"] < 25 and metrics["mar"] < 20
    assert set(result.by_folder()) == {"valve1", "valve2", "other"}


def test_short_runs_are_refused(three_runs: list[SkabRun]) -> None:
    with pytest.raises(ValidationError, match="not longer than its training part"):
        evaluate_alarms(three_runs[:1], lambda t, f: np.zeros(len(f)), train_rows=5000)
    with pytest.raises(ValidationError, match="no SKAB runs"):
        evaluate_alarms([], lambda t, f: np.zeros(len(f)))

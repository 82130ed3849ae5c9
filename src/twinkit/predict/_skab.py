"""The SKAB benchmark: its runs, its outlier-detection protocol and its metrics, as library code.

SKAB (Skoltech Anomaly Benchmark, Katser and Kozitsin 2020, https://github.com/waico/SKAB,
doi:10.34740/KAGGLE/DSV/1693952) records a water-pump rig at 1 Hz: eight sensors, and in the
runs with faults the labels ``anomaly`` and ``changepoint``. v0.9 has 34 labelled runs
(``valve1`` 16, ``valve2`` 4, ``other`` 14) and one anomaly-free run.

The outlier-detection protocol is the one of SKAB's own notebooks (``notebooks/*.ipynb``, e.g.
Conv_AE, MSET, isolation_forest) and its metric code (``core/metrics.py``, from the TSAD
library, ``chp_score(..., metric="binary")``):

1. every labelled run is a separate problem; a fresh model is fitted on the run's first 400
   rows (``df[:400]``, taken as normal) and nothing else;
2. the model labels every row of the same run, the first 400 included;
3. TP, TN, FP and FN are summed over all runs against the ``anomaly`` column, then
   ``F1 = TP / (TP + (FN + FP) / 2)``, ``FAR = FP / (FP + TN) * 100`` and
   ``MAR = FN / (FN + TP) * 100`` (percent).

:func:`evaluate` runs it for any :class:`~twinkit.predict.BatchDetector` (fitted per run, its
threshold from those 400 rows only); :func:`evaluate_alarms` for any function from (training
frame, run frame) to alarms, which is how a published baseline is reproduced as written.
"""

from __future__ import annotations

import csv
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from twinkit.errors import NotFoundError, ValidationError
from twinkit.predict._detect import BatchDetector
from twinkit.predict._protocol import Progress

__all__ = [
    "SKAB_LABELLED",
    "SKAB_PUMP_TELEMETRY",
    "SKAB_SENSORS",
    "SKAB_TRAIN_ROWS",
    "Confusion",
    "RunResult",
    "SkabResult",
    "SkabRun",
    "evaluate",
    "evaluate_alarms",
    "outlier_metrics",
    "read_skab_run",
    "skab_runs",
]

logger = logging.getLogger(__name__)

SKAB_SENSORS: Final = (
    "Accelerometer1RMS",
    "Accelerometer2RMS",
    "Current",
    "Pressure",
    "Temperature",
    "Thermocouple",
    "Voltage",
    "Volume Flow RateRMS",
)
"""The eight sensor columns of a SKAB run, in file order."""
SKAB_PUMP_TELEMETRY: Final[Mapping[str, tuple[str, float]]] = {
    "Accelerometer1RMS": ("vibration1", 1.0),
    "Accelerometer2RMS": ("vibration2", 1.0),
    "Current": ("motorCurrent", 1.0),
    "Pressure": ("dischargePressure", 1.0),
    "Temperature": ("motorTemperature", 1.0),
    "Thermocouple": ("fluidTemperature", 1.0),
    "Voltage": ("voltage", 1.0),
    "Volume Flow RateRMS": ("flow", 1.0 / 60.0),
}
"""SKAB column -> (the pump station's telemetry name, factor to its unit): flow l/min -> l/s."""
SKAB_LABELLED: Final = ("valve1", "valve2", "other")
"""The folders of labelled runs, in the order results are reported."""
SKAB_TRAIN_ROWS: Final = 400
"""Rows at the start of each run that the protocol trains on."""
_LABELS: Final = ("anomaly", "changepoint")
_TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True, slots=True, eq=False)
class SkabRun:
    """One SKAB file: sensor frame (index: seconds since the epoch, read as UTC) and labels."""

    name: str  # "<folder>/<stem>", e.g. "valve1/3"
    path: Path
    frame: pd.DataFrame
    anomaly: npt.NDArray[np.bool_]
    changepoint: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.frame)


def _parse_time(text: str, where: str) -> float:
    try:
        return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC).timestamp()
    except ValueError as err:
        raise ValidationError(
            "bad SKAB timestamp", path=where, expected="YYYY-MM-DD HH:MM:SS", got=text
        ) from err


def _read_table(path: Path) -> tuple[list[str], list[float], list[list[float]]]:
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as err:
        raise NotFoundError(f"cannot read the SKAB run {path}: {err}") from err
    with handle:
        reader = csv.reader(handle, delimiter=";")
        header = next(reader, [])
        missing = [c for c in ("datetime", *SKAB_SENSORS) if c not in header]
        if missing:
            raise ValidationError(
                f"not a SKAB run: columns {missing} are missing",
                path=f"{path}:1",
                expected="datetime;" + ";".join(SKAB_SENSORS) + "[;anomaly;changepoint]",
                got=";".join(header),
            )
        wanted = [*SKAB_SENSORS, *(label for label in _LABELS if label in header)]
        at = [header.index(name) for name in wanted]
        clock = header.index("datetime")
        times: list[float] = []
        rows: list[list[float]] = []
        for line, record in enumerate(reader, start=2):
            if not record:
                continue
            where = f"{path}:{line}"
            if len(record) != len(header):
                raise ValidationError(
                    "a SKAB row has the wrong number of fields",
                    path=where,
                    expected=f"{len(header)} fields",
                    got=len(record),
                )
            times.append(_parse_time(record[clock], where))
            try:
                rows.append([float(record[i]) for i in at])
            except ValueError as err:
                raise ValidationError(
                    f"a SKAB value is not a number: {err}", path=where, expected="numbers"
                ) from err
    return wanted, times, rows


def read_skab_run(path: Path | str, *, pump_names: bool = False) -> SkabRun:
    """Read one SKAB run; every problem names the file and line.

    With ``pump_names`` the columns are the pump station's telemetry (``flow`` in l/s), as the
    pump demo replays them, so a detector trained here serves the live twin unchanged.
    """
    path = Path(path)
    wanted, times, rows = _read_table(path)
    table = np.array(rows, dtype=np.float64).reshape(len(rows), len(wanted))
    sensors = table[:, : len(SKAB_SENSORS)]
    columns: list[str] = list(SKAB_SENSORS)
    if pump_names:
        factors = np.array([SKAB_PUMP_TELEMETRY[c][1] for c in SKAB_SENSORS])
        sensors = sensors * factors
        columns = [SKAB_PUMP_TELEMETRY[c][0] for c in SKAB_SENSORS]
    index = pd.Index(np.array(times, dtype=np.float64), name="time")
    frame = pd.DataFrame(sensors, index=index, columns=columns)
    labels = {
        name: table[:, len(SKAB_SENSORS) + i] == 1
        for i, name in enumerate(wanted[len(SKAB_SENSORS) :])
    }
    empty = np.zeros(len(frame), dtype=np.bool_)
    return SkabRun(
        f"{path.parent.name}/{path.stem}",
        path,
        frame,
        labels.get("anomaly", empty),
        labels.get("changepoint", empty),
    )


def _number_first(path: Path) -> tuple[int, str]:
    digits = re.match(r"\d+", path.stem)
    return (int(digits.group()) if digits else -1, path.stem)


def skab_runs(
    data_dir: Path | str, folders: Sequence[str] = SKAB_LABELLED, *, pump_names: bool = False
) -> list[SkabRun]:
    """The runs of ``folders`` under a SKAB data folder, each folder in number order."""
    root = Path(data_dir)
    if not root.is_dir():
        raise NotFoundError(
            f"SKAB data folder not found: {root} (expected {', '.join(folders)} in it)"
        )
    paths = [
        p for folder in folders for p in sorted((root / folder).glob("*.csv"), key=_number_first)
    ]
    if not paths:
        raise NotFoundError(f"no SKAB runs (*.csv) under {root}/{{{','.join(folders)}}}")
    return [read_skab_run(p, pump_names=pump_names) for p in paths]


@dataclass(frozen=True, slots=True)
class Confusion:
    """Counts of rows: true/false positives (alarms) and negatives (no alarm)."""

    tp: int = 0
    tn: int = 0
    fp: int = 0
    fn: int = 0

    @classmethod
    def of(cls, labels: npt.ArrayLike, alarms: npt.ArrayLike, where: str = "labels") -> Confusion:
        """Count ``alarms`` against ``labels`` (both one flag per row; 1/True is anomalous)."""
        truth = np.asarray(labels) == 1
        flagged = np.asarray(alarms) == 1
        if truth.shape != flagged.shape or truth.ndim != 1:
            raise ValidationError(
                "labels and alarms must be flat and of the same length",
                path=where,
                expected=f"{truth.shape} alarms",
                got=flagged.shape,
            )
        return cls(
            int((truth & flagged).sum()),
            int((~truth & ~flagged).sum()),
            int((~truth & flagged).sum()),
            int((truth & ~flagged).sum()),
        )

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(
            self.tp + other.tp, self.tn + other.tn, self.fp + other.fp, self.fn + other.fn
        )


def _ratio(top: float, bottom: float) -> float:
    return top / bottom if bottom else float("nan")


def outlier_metrics(confusion: Confusion) -> dict[str, float]:
    """SKAB's binary metrics: ``f1``, ``far`` and ``mar`` (both in percent); NaN where undefined."""
    c = confusion
    return {
        "f1": _ratio(c.tp, c.tp + (c.fn + c.fp) / 2),
        "far": 100 * _ratio(c.fp, c.fp + c.tn),
        "mar": 100 * _ratio(c.fn, c.fn + c.tp),
    }


@dataclass(frozen=True, slots=True)
class RunResult:
    """One run of the protocol: what was counted, and how long fitting and scoring took."""

    name: str
    confusion: Confusion
    seconds: float


@dataclass(frozen=True, slots=True)
class SkabResult:
    """The protocol over many runs: totals (summed counts) and the per-run results."""

    runs: tuple[RunResult, ...]
    confusion: Confusion = field(init=False)

    def __post_init__(self) -> None:
        total = Confusion()
        for run in self.runs:
            total = total + run.confusion
        object.__setattr__(self, "confusion", total)

    @property
    def metrics(self) -> dict[str, float]:
        return outlier_metrics(self.confusion)

    @property
    def seconds(self) -> float:
        return sum(run.seconds for run in self.runs)

    def by_folder(self) -> dict[str, dict[str, float]]:
        """Metrics per folder (``valve1``, ``valve2``, ``other``) from that folder's runs."""
        folders: dict[str, Confusion] = {}
        for run in self.runs:
            folder = run.name.partition("/")[0]
            folders[folder] = folders.get(folder, Confusion()) + run.confusion
        return {folder: outlier_metrics(c) for folder, c in folders.items()}


AlarmFunction = Callable[[pd.DataFrame, pd.DataFrame], npt.ArrayLike]
"""(training frame: the run's first rows, whole run frame) -> one alarm flag per row."""


def evaluate_alarms(
    runs: Sequence[SkabRun],
    alarms: AlarmFunction,
    *,
    train_rows: int = SKAB_TRAIN_ROWS,
    progress: Progress | None = None,
) -> SkabResult:
    """Run the protocol with an alarm function, one run at a time."""
    if not runs:
        raise ValidationError("no SKAB runs to evaluate", path="runs", expected=">= 1 run", got=0)
    results = []
    for done, run in enumerate(runs):
        if len(run) <= train_rows:
            raise ValidationError(
                "a SKAB run is not longer than its training part",
                path=str(run.path),
                expected=f"more than {train_rows} rows",
                got=len(run),
            )
        began = time.perf_counter()
        flags = alarms(run.frame.iloc[:train_rows], run.frame)
        confusion = Confusion.of(run.anomaly, flags, where=f"alarms for {run.name}")
        results.append(RunResult(run.name, confusion, time.perf_counter() - began))
        if progress is not None:
            progress((done + 1) / len(runs))
    return SkabResult(tuple(results))


def evaluate(
    make_detector: Callable[[], BatchDetector],
    runs: Sequence[SkabRun],
    *,
    train_rows: int = SKAB_TRAIN_ROWS,
    progress: Progress | None = None,
) -> SkabResult:
    """Run the protocol with a fresh detector per run, fitted on that run's first rows only."""

    def alarms(train: pd.DataFrame, frame: pd.DataFrame) -> npt.NDArray[np.bool_]:
        detector = make_detector()
        detector.fit([train])
        return detector.score_frame(frame) > detector.threshold

    result = evaluate_alarms(runs, alarms, train_rows=train_rows, progress=progress)
    logger.info("SKAB protocol on %d runs: %s", len(runs), result.metrics)
    return result

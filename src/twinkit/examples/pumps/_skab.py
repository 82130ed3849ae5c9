"""SKAB (Skoltech Anomaly Benchmark) runs replayed as a live pump's telemetry.

A SKAB run is a ``;``-separated CSV at 1 Hz: ``datetime`` then eight sensor columns and, in
the runs with faults, the labels ``anomaly`` and ``changepoint``. Sensors map onto the Pump
model (converted to its units); the labels are kept on the :class:`SkabRun` for evaluation but
never published. The replay keeps the original spacing of rows divided by ``speedup`` and
stamps each row with the wall-clock time it is due at; :attr:`SkabReplay.playing` says which
run it is publishing and the stamp of each of its rows (a live detector calibrates on a run's
first rows with it, and a test finds a run's labelled anomaly in wall-clock time).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from twinkit.errors import NotFoundError, ValidationError
from twinkit.examples.pumps._mqtt import Broker, DeviceLink
from twinkit.examples.pumps._station import Reply
from twinkit.predict._skab import SKAB_PUMP_TELEMETRY, read_skab_run

__all__ = [
    "SKAB_COLUMNS",
    "SKAB_FOLDERS",
    "ReplayedRun",
    "SkabReplay",
    "SkabRun",
    "read_skab_csv",
    "skab_runs",
]

logger = logging.getLogger(__name__)

SKAB_COLUMNS: Final[Mapping[str, tuple[str, float]]] = SKAB_PUMP_TELEMETRY
"""SKAB column -> (Pump telemetry, factor from the SKAB unit to the model's unit)."""
SKAB_FOLDERS: Final = ("anomaly-free", "valve1", "valve2", "other")
_LABELS: Final = ("anomaly", "changepoint")
_TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True, slots=True, eq=False)
class SkabRun:
    """One SKAB CSV: times (s since the epoch, read as UTC), Pump telemetry columns, labels."""

    path: Path
    times: npt.NDArray[np.float64]
    values: Mapping[str, npt.NDArray[np.float64]]
    labels: Mapping[str, npt.NDArray[np.float64]]

    def __len__(self) -> int:
        return len(self.times)

    def row(self, index: int) -> dict[str, float]:
        """Row ``index`` as a Pump telemetry message."""
        return {name: float(column[index]) for name, column in self.values.items()}


@dataclass(frozen=True, slots=True, eq=False)
class ReplayedRun:
    """A run as a replay publishes it: the ``number``-th played (from 1), and the wall-clock
    time each of its rows is stamped with."""

    number: int
    run: SkabRun
    stamps: npt.NDArray[np.float64]

    @property
    def name(self) -> str:
        """``<folder>/<stem>``, e.g. ``valve1/0``."""
        return f"{self.run.path.parent.name}/{self.run.path.stem}"

    def anomaly_window(self) -> tuple[float, float] | None:
        """Stamps of the first and last row labelled ``anomaly`` (None: no such row)."""
        labels = self.run.labels.get("anomaly")
        rows = np.flatnonzero(labels == 1) if labels is not None else np.array([])
        if not len(rows):
            return None
        return float(self.stamps[rows[0]]), float(self.stamps[rows[-1]])


def read_skab_csv(path: Path | str) -> SkabRun:
    """Read one SKAB run as Pump telemetry (the predict layer's reader: every problem names
    the file and line); a run without labels has them all 0."""
    run = read_skab_run(path, pump_names=True)
    frame = run.frame
    values = {name: frame[name].to_numpy(dtype=np.float64) for name in frame.columns}
    labels = {name: getattr(run, name).astype(np.float64) for name in _LABELS}
    return SkabRun(run.path, frame.index.to_numpy(dtype=np.float64), values, labels)


def skab_runs(data_dir: Path | str) -> list[Path]:
    """The run files under a SKAB data folder: anomaly-free, valve1, valve2, other, in number order."""
    root = Path(data_dir)
    if not root.is_dir():
        raise NotFoundError(
            f"SKAB data folder not found: {root} (expected {', '.join(SKAB_FOLDERS)} in it)"
        )

    def order(path: Path) -> tuple[int, str]:
        digits = re.match(r"\d+", path.stem)
        return (int(digits.group()) if digits else -1, path.stem)

    runs = [p for folder in SKAB_FOLDERS for p in sorted((root / folder).glob("*.csv"), key=order)]
    if not runs:
        raise NotFoundError(f"no SKAB runs (*.csv) under {root}/{{{','.join(SKAB_FOLDERS)}}}")
    return runs


class _ReplayHandler:
    """A replay cannot obey: it refuses desired values and commands, saying why."""

    def set_desired(self, twin_id: str, name: str, value: Any) -> Reply:
        return Reply(400, None, f"{twin_id} replays recorded SKAB data and cannot apply {name!r}")

    def command(self, twin_id: str, name: str, request: Any) -> Reply:
        return Reply(405, None, f"{twin_id} replays recorded SKAB data and cannot run {name!r}")


class SkabReplay:
    """A device that publishes SKAB runs, one after the other, as ``twin_id``'s telemetry."""

    def __init__(
        self,
        broker: Broker,
        twin_id: str,
        runs: Sequence[Path | str],
        *,
        speedup: float = 1.0,
        loop: bool = True,
        prefix: str = "site",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not runs:
            raise ValidationError(
                "a SKAB replay needs at least one run", path="runs", expected="CSV paths", got=[]
            )
        if not speedup > 0:
            raise ValidationError(
                "speedup must be positive", path="speedup", expected="> 0", got=speedup
            )
        self.twin_id = twin_id
        self.runs = [Path(p) for p in runs]
        self.speedup = speedup
        self.loop = loop
        self.link = DeviceLink(broker, twin_id, _ReplayHandler(), prefix=prefix)
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.published = 0
        self.playing: ReplayedRun | None = None
        """The run being published (None before the first)."""
        self.finished = threading.Event()
        """Set when the last run has been published (never, with ``loop``)."""

    def start(self) -> None:
        """Connect and start publishing in a background thread."""
        self.link.start()
        self._thread = threading.Thread(target=self._run, name=f"skab-{self.twin_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop publishing and disconnect cleanly (announcing offline)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.link.stop()

    def _run(self) -> None:
        origin = self._clock()  # wall time of the first row of the first run
        offset = 0.0  # seconds of original time already replayed
        try:
            while not self._stop.is_set():
                for path in self.runs:
                    offset = self._replay(read_skab_csv(path), origin, offset)
                    if self._stop.is_set():
                        return
                if not self.loop:
                    break
        except Exception:
            logger.exception("SKAB replay %s failed", self.twin_id)
        finally:
            self.finished.set()

    def _replay(self, run: SkabRun, origin: float, offset: float) -> float:
        """Publish one run; returns the original-time offset where the next one starts."""
        logger.info("SKAB replay %s: %s (%d rows)", self.twin_id, run.path, len(run))
        if len(run) == 0:
            return offset
        elapsed = run.times - run.times[0]
        stamps = origin + (offset + elapsed) / self.speedup
        number = 1 if self.playing is None else self.playing.number + 1
        self.playing = ReplayedRun(number, run, stamps)
        for index in range(len(run)):
            due = float(stamps[index])
            if self._stop.wait(max(0.0, due - self._clock())):
                break
            self.link.publish_telemetry(run.row(index), ts=due)
            self.published += 1
        step = float(np.median(np.diff(run.times))) if len(run) > 1 else 1.0
        return offset + float(elapsed[-1]) + step

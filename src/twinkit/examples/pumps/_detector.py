"""The pump station's anomaly detector, trained and served live by the demo.

The detector is twinkit's default (:func:`~twinkit.predict.default_detector`: PCA T²/SPE,
MSET-like similarity and an EWMA chart over 15-row means, temperatures judged by their rate
of change), the one that scored F1 0.830 on SKAB. The demo serves it through the prediction
service it already runs (registry in the store, :class:`~twinkit.predict.PredictionRunner`):
``predicted:anomaly_score`` and ``predicted:anomaly_threshold`` on each pump twin, a
``PredictionMade`` event and an ``anomalyDetected`` alert when an anomaly episode starts.
Training goes through the service's jobs (``GET /api/v1/predictors/<name>/jobs`` shows their
progress) in the background: devices and the API never wait for it.

- **The physics pumps** (``pump-anomaly``): once per state folder, after a warm-up of
  :data:`WARMUP` simulated seconds, the detector is fitted on the pumps' own history from the
  store (the stretch after the start-up transient), registered and activated. A later run on
  the same state folder serves that version at once. The first pump's bearing wears while it
  turns; its vibration, current and bearing temperature drift away from what the detector
  learnt, and its score rises until it crosses the threshold.
- **The SKAB replay** (``pump-skab-anomaly``): SKAB's runs were recorded in separate sessions
  of the rig at different operating points (flow 32 l/min in valve1, 122 l/min in the
  anomaly-free run), and its protocol fits a fresh detector on the first 400 rows of each run
  (taken as normal) and judges the rest of that run. Live, the demo does the same: when the
  replay starts a run, the previous run's version stops serving; once the run's first 400 rows
  are in the store a version is fitted on them and activated (hot swap, ingest goes on), and
  it scores the rest of the run, up to its last row. A detector fitted on the anomaly-free run
  alone flags every valve run from its first row (72 % false alarms over the labelled runs),
  so it is not what the replay serves.

Each detector is scoped to its own twins (a SKAB-trained model does not judge the simulated
pumps, nor the other way round) and paced at its data's cadence (one inference per row, also
at a high speed-up).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from twinkit.api import Services
from twinkit.core import Runtime
from twinkit.errors import TwinkitError
from twinkit.examples.pumps._layout import PUMP, StationLayout
from twinkit.examples.pumps._skab import SKAB_COLUMNS, ReplayedRun, SkabReplay
from twinkit.predict._detect_ensemble import EnsembleDetector, default_detector
from twinkit.predict._registry_entry import RegistryEntry
from twinkit.predict._service import JobStatus, Predictions, TrainingJob, TrainRequest
from twinkit.predict._skab import SKAB_TRAIN_ROWS

__all__ = [
    "FACTORY",
    "SKAB_DETECTOR",
    "SKAB_INPUTS",
    "STATION_DETECTOR",
    "STATION_INPUTS",
    "WARMUP",
    "PumpDetectors",
    "SkabCalibration",
    "pump_detector",
]

logger = logging.getLogger(__name__)

SKAB_INPUTS: Final = tuple(name for name, _ in SKAB_COLUMNS.values())
"""The pump telemetry SKAB's eight sensors map onto."""
SKAB_SLOW: Final = ("motorTemperature", "fluidTemperature")
STATION_INPUTS: Final = (*SKAB_INPUTS, "bearingTemperature")
"""The simulated pumps also measure their bearing's temperature."""
STATION_SLOW: Final = (*SKAB_SLOW, "bearingTemperature")
STATION_DETECTOR: Final = "pump-anomaly"
SKAB_DETECTOR: Final = "pump-skab-anomaly"
FACTORY: Final = "pump-detector"
"""The factory name the demo adds to the prediction service."""
WARMUP: Final = 300.0
"""Simulated seconds the physics pumps run before their detector is trained."""
SETTLING: Final = 120.0
"""Simulated seconds of start-up transient (speed ramp, temperatures) left out of training."""
_CAUSE: Final = "system:demo"
_POLL: Final = 0.05
_VERSIONS_KEPT: Final = 5


def pump_detector(
    inputs: Sequence[str] = SKAB_INPUTS, slow: Sequence[str] = SKAB_SLOW
) -> EnsembleDetector:
    """The demo's detector: :func:`~twinkit.predict.default_detector` on ``inputs``, judging
    ``slow`` ones (temperatures) by their rate of change."""
    return default_detector(list(inputs), slow=list(slow))


async def _finished(predictions: Predictions, job: TrainingJob, what: str) -> TrainingJob:
    """Wait for a training job, logging its progress in quarters; the job as it ended."""
    reported = -1
    while True:
        job = predictions.job(job.name, job.id)
        quarter = int(job.progress * 4)
        if quarter > reported and job.status is JobStatus.RUNNING:
            reported = quarter
            logger.info("training %s: %d%%", what, 25 * quarter)
        if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
            return job
        await asyncio.sleep(_POLL)


async def _active(predictions: Predictions, name: str) -> RegistryEntry | None:
    return next((e for e in await predictions.registry.active() if e.name == name), None)


async def _prune(predictions: Predictions, name: str, keep: int = _VERSIONS_KEPT) -> None:
    """Forget all but the newest ``keep`` versions of ``name`` (the active one is kept)."""
    entries = await predictions.registry.entries(name)
    for entry in entries[: max(len(entries) - keep, 0)]:
        if not entry.active:
            await predictions.registry.delete(name, entry.version)


def _newest_time(runtime: Runtime, twin_id: str, name: str) -> float | None:
    twin = runtime.find(twin_id)
    value = twin.telemetry.get(name) if twin is not None else None
    return None if value is None else value.time


@dataclass(slots=True)
class SkabCalibration:
    """Fits and serves :data:`SKAB_DETECTOR` on each run the replay plays (see the module
    docstring); :meth:`run` until cancelled. ``calibrated`` counts the versions it made."""

    predictions: Predictions
    runtime: Runtime
    replay: SkabReplay
    train_rows: int = SKAB_TRAIN_ROWS
    clock: Callable[[], float] = time.time  # the replay's, which stamps the rows
    calibrated: int = 0

    async def run(self) -> None:
        seen = retired = 0
        while True:
            playing = self.replay.playing
            pause = _POLL
            try:
                if playing is not None and playing.number != seen:
                    seen = playing.number
                    await self._calibrate(playing)
                elif playing is not None and retired != seen:
                    # Stop judging at the run's last row: the next run is another session.
                    left = float(playing.stamps[-1]) - self.clock()
                    if left <= 0:
                        retired = seen
                        await self._retire()
                    pause = min(_POLL, max(left, 0.001))
            except TwinkitError as error:
                where = playing.name if playing is not None else "?"
                logger.error("cannot calibrate %s on %s: %s", SKAB_DETECTOR, where, error)
            await asyncio.sleep(pause)

    async def _retire(self) -> None:
        if await _active(self.predictions, SKAB_DETECTOR) is not None:
            await self.predictions.registry.deactivate(SKAB_DETECTOR)

    async def _calibrate(self, playing: ReplayedRun) -> None:
        await self._retire()  # the previous run's version, if still active
        if len(playing.stamps) <= self.train_rows:
            logger.info("SKAB run %s is too short to calibrate on: not judged", playing.name)
            return
        last = float(playing.stamps[self.train_rows - 1])
        twin_id = self.replay.twin_id
        while (newest := _newest_time(self.runtime, twin_id, "flow")) is None or newest < last:
            if self.replay.playing is not playing:
                return  # the replay moved on before the rows came in
            await asyncio.sleep(_POLL)
        request = TrainRequest(
            factory=FACTORY,
            model=PUMP,
            params={"inputs": list(SKAB_INPUTS), "slow": list(SKAB_SLOW)},
            start=float(playing.stamps[0]),
            end=float(playing.stamps[self.train_rows]),
            twins=(twin_id,),
            activate=True,
        )
        job = self.predictions.submit(SKAB_DETECTOR, request, cause=_CAUSE)
        done = await _finished(self.predictions, job, f"{SKAB_DETECTOR} on {playing.name}")
        if done.status is not JobStatus.DONE:
            logger.error("calibrating on %s: %s (%s)", playing.name, done.status, done.error)
            return
        self.calibrated += 1
        logger.info(
            "%s@v%s fitted on the first %d rows of %s; it judges the rest",
            SKAB_DETECTOR,
            done.version,
            self.train_rows,
            playing.name,
        )
        await _prune(self.predictions, SKAB_DETECTOR)


class PumpDetectors:
    """The demo's detectors on ``services``: :meth:`prepare` before the devices start,
    :meth:`start` once they run, :meth:`stop` before they stop."""

    def __init__(self, services: Services, layout: StationLayout, *, speedup: float) -> None:
        self._services = services
        self._layout = layout
        self._speedup = speedup
        self._tasks: list[asyncio.Task[None]] = []
        self.station: RegistryEntry | None = None  # the version served at start, if any
        self.calibration: SkabCalibration | None = None
        self.pumps = [t.id for t in layout.twins if t.model == PUMP and t.id != layout.replay_twin]

    async def prepare(self) -> None:
        """Add the factory, scope and pace the detectors; find a version trained before."""
        predictions = self._services.predictions
        predictions.factories.add(FACTORY, pump_detector)
        runner = predictions.runner
        cadence = 0.5 / self._speedup  # one inference per row: devices send one per second
        runner.restrict(STATION_DETECTOR, self.pumps)
        runner.pace(STATION_DETECTOR, cadence)
        replay_twin = self._layout.replay_twin or "pump-skab"
        runner.restrict(SKAB_DETECTOR, [replay_twin])
        runner.pace(SKAB_DETECTOR, cadence)
        self.station = await _active(predictions, STATION_DETECTOR)

    def start(self, replay: SkabReplay | None, started: float) -> None:
        """Train the station's detector after the warm-up (unless one is served) and, with a
        replay, calibrate on each of its runs; both in the background."""
        if self.station is None and self.pumps:
            self._spawn(self._train_station(started), "twinkit-demo-train")
        if replay is not None:
            self.calibration = SkabCalibration(
                self._services.predictions, self._services.runtime, replay
            )
            self._spawn(self.calibration.run(), "twinkit-demo-skab")

    def _spawn(self, work: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        task.add_done_callback(_log_failure)
        self._tasks.append(task)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _train_station(self, started: float) -> None:
        clock: Callable[[], float] = self._services.clock
        ready = started + WARMUP / self._speedup
        await asyncio.sleep(max(ready - clock(), 0.0))
        request = TrainRequest(
            factory=FACTORY,
            model=PUMP,
            params={"inputs": list(STATION_INPUTS), "slow": list(STATION_SLOW)},
            start=started + SETTLING / self._speedup,
            end=ready,
            twins=tuple(self.pumps),
            activate=True,
        )
        predictions = self._services.predictions
        job = predictions.submit(STATION_DETECTOR, request, cause=_CAUSE)
        done = await _finished(predictions, job, STATION_DETECTOR)
        if done.status is JobStatus.DONE:
            logger.info(
                "%s@v%s trained on %s; serving it", STATION_DETECTOR, done.version, self.pumps
            )
        else:
            logger.error("training %s: %s (%s)", STATION_DETECTOR, done.status, done.error)

    def describe(self, *, replaying: bool) -> list[str]:
        """The banner lines that say what is served."""
        pumps = ", ".join(self.pumps)
        lines = []
        if self.station is not None:
            lines.append(
                f"  detector {self.station.label} on {pumps} (trained before on this state "
                "folder): predicted:anomaly_score, alert anomalyDetected"
            )
        elif self.pumps:
            lines.append(
                f"  detector {STATION_DETECTOR} trains on {pumps} after {WARMUP:g} simulated s "
                "of warm-up, in the background, then serves them: predicted:anomaly_score"
            )
        if replaying:
            lines.append(
                f"  detector {SKAB_DETECTOR} on {self._layout.replay_twin}: fitted on the first "
                f"{SKAB_TRAIN_ROWS} rows of each SKAB run replayed (the benchmark's protocol), "
                "then judges the rest"
            )
        return lines


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("demo detector task %s failed", task.get_name(), exc_info=task.exception())

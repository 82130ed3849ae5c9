"""Turbofan engines on MQTT: each replays one engine's history, one flight cycle per message.

:class:`FleetReplay` connects one MQTT client per engine (a
:class:`~twinkit.examples.pumps.DeviceLink`, speaking the connector's default topics), has
each report its ``unit`` and ``dataset`` properties, then publishes cycle after cycle on
``site/<engine>/telemetry``: ``{"cycle": n, "altitude": ..., "T24": ..., ...}``, timestamped
with the wall-clock time the cycle is due at. All engines start together at their first cycle
and fly ``speedup`` cycles per second; one thread paces them all. An engine whose history ends
(a C-MAPSS test engine is cut some cycles before failure) stops publishing and is listed by
:meth:`FleetReplay.finished` with the time of its last cycle; :attr:`FleetReplay.done` is set
once every engine has finished. Engines take no desired values or commands.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from twinkit.errors import ValidationError
from twinkit.examples.pumps._mqtt import Broker, DeviceLink
from twinkit.examples.pumps._station import Reply
from twinkit.examples.turbofan._engine import CYCLE, TELEMETRY

__all__ = ["FleetReplay", "ReplayedEngine"]

logger = logging.getLogger(__name__)

_MAX_WAIT: Final = 0.05
"""Longest sleep of the replay loop, wall seconds: bounds the stop latency."""


@dataclass(frozen=True, slots=True)
class ReplayedEngine:
    """One engine to replay: its twin, its history (one row per cycle, columns
    :data:`~twinkit.examples.turbofan.TELEMETRY`), where it comes from and, when known, its
    true remaining life after the last row."""

    twin_id: str
    unit: int
    dataset: str
    history: pd.DataFrame
    true_rul: float | None = None

    def __post_init__(self) -> None:
        missing = [name for name in TELEMETRY if name not in self.history.columns]
        if missing or not len(self.history):
            raise ValidationError(
                "an engine to replay needs its history",
                path=f"replay of {self.twin_id}",
                expected=f"at least one row of the columns {list(TELEMETRY)}",
                got=f"{len(self.history)} rows, missing {missing}",
            )

    @property
    def cycles(self) -> int:
        return len(self.history)

    def rows(self) -> npt.NDArray[np.float64]:
        return self.history[list(TELEMETRY)].to_numpy(dtype=np.float64)


class _NoControl:
    """An engine takes no desired values and no commands; it says so to whatever is sent."""

    def set_desired(self, twin_id: str, name: str, value: Any) -> Reply:
        return Reply(404, description=f"engine {twin_id} has no writable property {name!r}")

    def command(self, twin_id: str, name: str, request: Any) -> Reply:
        return Reply(404, description=f"engine {twin_id} has no command {name!r}")


class FleetReplay:
    """Engines replaying their histories on MQTT; see the module docstring."""

    def __init__(
        self,
        broker: Broker,
        engines: Sequence[ReplayedEngine],
        *,
        speedup: float = 1.0,
        prefix: str = "site",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not (math.isfinite(speedup) and speedup > 0):
            raise ValidationError(
                "invalid replay speed",
                path="speedup",
                expected="cycles per second > 0",
                got=speedup,
            )
        ids = [engine.twin_id for engine in engines]
        if not engines or len(set(ids)) != len(ids):
            raise ValidationError(
                "a replay needs engines with distinct twin ids",
                path="replay",
                expected="one or more engines, each on its own twin",
                got=ids,
            )
        self.engines = tuple(engines)
        self.speedup = speedup
        self.links = [DeviceLink(broker, e.twin_id, _NoControl(), prefix=prefix) for e in engines]
        self.published = 0
        self.done = threading.Event()
        self.origin: float | None = None
        self._rows = [engine.rows() for engine in engines]
        self._finished: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def due(self, cycle_index: int) -> float:
        """The wall-clock time the cycle at ``cycle_index`` (0: the first) is published at."""
        if self.origin is None:
            raise ValidationError(
                "the replay has not started", path="replay", expected="start() first"
            )
        return self.origin + cycle_index / self.speedup

    def finished(self) -> dict[str, float]:
        """Twin id -> time of the last cycle, for every engine whose history has ended."""
        with self._lock:
            return dict(self._finished)

    def start(self) -> None:
        """Connect every engine, report its properties, then start the replay."""
        started = []
        try:
            for link, engine in zip(self.links, self.engines, strict=True):
                link.start()
                started.append(link)
                link.publish_properties({"unit": engine.unit, "dataset": engine.dataset})
        except BaseException:
            for link in started:
                link.stop()
            raise
        self.origin = self._clock()
        self._thread = threading.Thread(target=self._run, name="turbofan-replay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop publishing and disconnect every engine cleanly."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for link in self.links:
            link.stop()

    def _run(self) -> None:
        assert self.origin is not None
        step = 0
        try:
            while not self._stop.is_set():
                wait = self.due(step) - self._clock()
                if wait > 0:
                    self._stop.wait(min(wait, _MAX_WAIT))
                    continue
                if not self._publish(step):
                    self.done.set()
                    logger.info("turbofan replay: every engine's history has ended")
                    return
                step += 1
        except Exception:
            logger.exception("the turbofan replay stopped on an error")

    def _publish(self, step: int) -> bool:
        """Publish cycle ``step`` of every engine that has it; False when none has."""
        at = self.due(step)
        flying = False
        for link, engine, rows in zip(self.links, self.engines, self._rows, strict=True):
            if step >= len(rows):
                continue
            flying = True
            values: dict[str, Any] = dict(zip(TELEMETRY, rows[step].tolist(), strict=True))
            values[CYCLE] = round(values[CYCLE])
            link.publish_telemetry(values, ts=at)
            self.published += 1
            if step == len(rows) - 1:
                with self._lock:
                    self._finished[engine.twin_id] = at
                logger.info(
                    "%s: replay ended at cycle %d%s",
                    engine.twin_id,
                    values[CYCLE],
                    "" if engine.true_rul is None else f" (true RUL {engine.true_rul:g})",
                )
        return flying

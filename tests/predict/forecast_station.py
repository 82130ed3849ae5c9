"""Tank-level history of the pump-station example, made with the example's own physics.

Shared by the forecasting tests and ``bench/forecast.py``. A :class:`StationModel` (three
pumps, one tank, one outlet valve) runs for whole days while two operators act on it:

- the town's demand opens and closes the outlet valve over the day (low at night, a morning
  and an evening peak), scaled by a random factor per day and jittered every few minutes;
- the station's controller stages pumps on the tank level with a hysteresis band and a
  minimum time between switches; at night (cheap tariff) it keeps the tank fuller.

What the devices would send is recorded: the tank's level, inflow and outflow, the valve's
opening and the number of pumps running, with the devices' measurement noise. Times are
seconds since the epoch; the first day starts at midnight UTC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from twinkit.examples.pumps import StationModel, station_layout

__all__ = ["START", "Operation", "station_history"]

START = 1_704_067_200.0
"""2024-01-01T00:00:00Z."""


@dataclass(frozen=True, slots=True)
class Operation:
    """How the station is run: the demand pattern and the pump controller's settings."""

    night_opening: float = 32.0
    """Valve opening (%) at night, before the daily factor."""
    peaks: tuple[tuple[float, float, float], ...] = (
        (7.5, 1.3, 52.0),
        (13.0, 2.5, 22.0),
        (19.5, 1.6, 44.0),
    )
    """(hour, width in hours, added opening %) of the demand peaks."""
    day_spread: float = 0.12
    """Standard deviation of the per-day demand factor."""
    jitter: float = 4.0
    """Standard deviation (%) of the opening's random walk, re-drawn every ``jitter_every`` s."""
    jitter_every: float = 300.0
    band_day: tuple[float, float] = (1.3, 2.8)
    """Levels (m) below which a pump starts and above which one stops, by day."""
    band_night: tuple[float, float] = (2.2, 3.4)
    """The same at night (00:00-06:00 UTC), when energy is cheap."""
    min_switch: float = 600.0
    """Least time (s) between two pump switches."""


def _demand(hour: float, operation: Operation) -> float:
    extra = sum(
        size * math.exp(-0.5 * ((hour - at) / width) ** 2) for at, width, size in operation.peaks
    )
    return operation.night_opening + extra


class _Controller:
    """Stages pumps on the tank level, at most one switch per ``min_switch`` seconds."""

    def __init__(self, model: StationModel, operation: Operation) -> None:
        self.model = model
        self.operation = operation
        self.pumps = sorted(model.pumps)
        self.last_switch = -math.inf

    def running(self) -> list[str]:
        return [p for p in self.pumps if self.model.pump_states[p].running]

    def act(self, now: float, hour: float) -> None:
        if now - self.last_switch < self.operation.min_switch:
            return
        low, high = self.operation.band_night if hour < 6.0 else self.operation.band_day
        level = self.model.tank_state.level
        running = self.running()
        idle = [p for p in self.pumps if p not in running]
        if level < low and idle:
            self.model.command(idle[0], "start", None)
            self.last_switch = now
        elif level > high and len(running) > 1:
            self.model.command(running[-1], "stop", None)
            self.last_switch = now


def station_history(
    days: float,
    *,
    seed: int = 0,
    dt: float = 20.0,
    sample_interval: float = 60.0,
    dropout: float = 0.0,
    operation: Operation | None = None,
    start: float = START,
) -> pd.DataFrame:
    """``days`` of station telemetry, one row every ``sample_interval`` s (a multiple of
    ``dt``), of which a random ``dropout`` fraction is lost as a real link would lose them.

    Columns: ``level`` (m), ``inflow`` and ``outflow`` (L/s) of the tank, ``opening`` (%) of
    the valve and ``pumps`` (how many run). Indexed by time in seconds since the epoch.
    """
    operation = operation or Operation()
    rng = np.random.default_rng([seed, 7])
    model = StationModel(station_layout(3, replay_pump=False), seed=seed, wear_rate=0.0)
    controller = _Controller(model, operation)
    steps = round(days * 86_400.0 / dt)
    every = max(1, round(sample_interval / dt))
    jitter_every = max(1, round(operation.jitter_every / dt))
    day_factor, wander = 1.0, 0.0
    rows: list[tuple[float, ...]] = []
    times: list[float] = []
    for k in range(steps):
        now = k * dt
        hour = (now % 86_400.0) / 3600.0
        if k % round(86_400.0 / dt) == 0:
            day_factor = 1.0 + operation.day_spread * float(rng.standard_normal())
        if k % jitter_every == 0:
            wander = 0.7 * wander + operation.jitter * float(rng.standard_normal())
            opening = min(100.0, max(5.0, day_factor * _demand(hour, operation) + wander))
            model.set_desired("valve-1", "openingSetpoint", opening)
        if k % every == 0:
            controller.act(now, hour)
        model.step(dt)
        if (k + 1) % every == 0 and rng.random() >= dropout:
            tank = model.telemetry("tank-1")
            valve = model.telemetry("valve-1")
            rows.append(
                (
                    tank["level"],
                    tank["inflow"],
                    tank["outflow"],
                    valve["opening"],
                    float(len(controller.running())),
                )
            )
            times.append(start + (k + 1) * dt)
    return pd.DataFrame(
        rows,
        index=pd.Index(times, name="time"),
        columns=["level", "inflow", "outflow", "opening", "pumps"],
    )

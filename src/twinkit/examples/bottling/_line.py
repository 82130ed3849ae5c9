"""A bottling line as a SimPy model: filler, capper and labeller with buffers between them.

::

    filler ──▶ [buffer 1] ──▶ capper ──▶ [buffer 2] ──▶ labeller ──▶ out

Each station takes a bottle from the buffer before it (the filler has an endless supply of
empties), works on it for one cycle (60 / speed seconds, speed in bottles per minute) and puts
it into the buffer after it, waiting while that buffer is full (blocked). A station waiting for
a bottle is starved. Stations break down: failures come after an exponentially distributed
amount of *working* time (mean MTBF) and take an exponentially distributed repair time (mean
MTTR); a station interrupted mid-bottle finishes that bottle after the repair. So a station on
its own makes ``speed * MTBF / (MTBF + MTTR)`` bottles per minute, and a line with large buffers
makes about the least of these (:func:`ideal_throughput`); small buffers lose more, since a
breakdown then starves the stations after it and blocks those before it.

Inputs: the filler's speed setpoint (0 stops it). Outputs: bottles out, throughput, each
station's utilisation (share of time working), whether it is down now, the breakdowns so far,
and the buffer levels (also the model's state: a run can start from measured levels).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from twinkit.errors import ValidationError
from twinkit.sim._des import DesSimulator
from twinkit.sim._protocol import Causality, Variable

__all__ = ["STATIONS", "BottlingLine", "LineObserver", "ideal_throughput"]

STATIONS = ("filler", "capper", "labeller")
_ACTIVITIES = ("working", "starved", "blocked", "down", "stopped")


def _parameters() -> tuple[Variable, ...]:
    speeds = {"capper": 100.0, "labeller": 110.0}
    out = [Variable(f"{s}_speed", Causality.PARAMETER, v, "1/min") for s, v in speeds.items()]
    for station in STATIONS:
        out += [
            Variable(
                f"{station}_mtbf",
                Causality.PARAMETER,
                1800.0,
                "s",
                "mean working time between failures",
            ),
            Variable(f"{station}_mttr", Causality.PARAMETER, 120.0, "s", "mean time to repair"),
        ]
    out += [
        Variable(f"buffer{i}_capacity", Causality.PARAMETER, 50.0, "1", "bottles it holds")
        for i in (1, 2)
    ]
    return tuple(out)


def _outputs() -> tuple[Variable, ...]:
    out = [
        Variable("bottles", Causality.OUTPUT, 0.0, "1", "bottles labelled since the start"),
        Variable(
            "throughput", Causality.OUTPUT, 0.0, "1/min", "bottles per minute since the start"
        ),
        Variable("breakdowns", Causality.OUTPUT, 0.0, "1", "breakdowns of all stations so far"),
    ]
    for station in STATIONS:
        out += [
            Variable(f"{station}_utilisation", Causality.OUTPUT, 0.0, "1", "share of time working"),
            Variable(f"{station}_down", Causality.OUTPUT, 0.0, "1", "1 while broken down"),
        ]
    return tuple(out)


VARIABLES = (
    *_parameters(),
    Variable("filler_speed", Causality.INPUT, 120.0, "1/min", "filler speed setpoint"),
    Variable("buffer1_level", Causality.STATE, 0.0, "1", "bottles in buffer 1"),
    Variable("buffer2_level", Causality.STATE, 0.0, "1", "bottles in buffer 2"),
    *_outputs(),
)


@dataclass(frozen=True, slots=True)
class BottlingLine:
    """The line as a :class:`~twinkit.sim._des.DesModel` (its defaults: the variables' starts)."""

    @property
    def variables(self) -> tuple[Variable, ...]:
        return VARIABLES

    def simulator(self, seed: int = 0) -> DesSimulator:
        """A simulator of this line whose breakdowns follow ``seed``."""
        return DesSimulator(self, seed=seed)

    def build(
        self,
        env: simpy.Environment,
        parameters: Mapping[str, float],
        state: Mapping[str, float],
        rng: np.random.Generator,
    ) -> LineObserver:
        for name, value in parameters.items():
            if not value > 0:
                raise ValidationError(
                    f"{name} must be positive", path=f"bottling/{name}", expected="> 0", got=value
                )
        buffers = [_buffer(env, i, parameters, state) for i in (1, 2)]
        feeds: list[tuple[simpy.Container | None, simpy.Container | None]] = [
            (None, buffers[0]),
            (buffers[0], buffers[1]),
            (buffers[1], None),
        ]
        stations = [
            _Station(env, name, parameters, rng=rng, upstream=upstream, downstream=downstream)
            for name, (upstream, downstream) in zip(STATIONS, feeds, strict=True)
        ]
        return LineObserver(env, stations, buffers)


def _buffer(
    env: simpy.Environment, index: int, parameters: Mapping[str, float], state: Mapping[str, float]
) -> simpy.Container:
    capacity, level = parameters[f"buffer{index}_capacity"], state[f"buffer{index}_level"]
    if not float(capacity).is_integer():
        raise ValidationError(
            f"buffer{index}_capacity must be a whole number of bottles",
            path=f"bottling/buffer{index}_capacity",
            expected="an integer >= 1",
            got=capacity,
        )
    if not (float(level).is_integer() and 0 <= level <= capacity):
        raise ValidationError(
            f"buffer{index}_level must be a whole number of bottles within the capacity",
            path=f"bottling/buffer{index}_level",
            expected=f"an integer in [0, {capacity:g}]",
            got=level,
        )
    return simpy.Container(env, capacity=int(capacity), init=int(level))


class _Station:
    """One machine: its process, its breakdowns and the time it spent in each activity."""

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        parameters: Mapping[str, float],
        *,
        rng: np.random.Generator,
        upstream: simpy.Container | None,
        downstream: simpy.Container | None,
    ) -> None:
        self.env, self.name, self.rng = env, name, rng
        self.speed = parameters.get(f"{name}_speed", 0.0)
        self.mtbf, self.mttr = parameters[f"{name}_mtbf"], parameters[f"{name}_mttr"]
        self.upstream, self.downstream = upstream, downstream
        self.done = 0
        self.breakdowns = 0
        self.activity = "starved"
        self._since = env.now
        self._spent = dict.fromkeys(_ACTIVITIES, 0.0)
        self._to_failure = float(rng.exponential(self.mtbf))
        self._wake: simpy.Event | None = None
        env.process(self._run())

    def set_speed(self, speed: float) -> None:
        self.speed = speed
        if speed > 0 and self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    def share(self, activity: str, elapsed: float) -> float:
        """Share of ``elapsed`` seconds spent in ``activity`` (the current one counted so far)."""
        spent = self._spent[activity]
        if self.activity == activity:
            spent += self.env.now - self._since
        return spent / elapsed if elapsed > 0 else 0.0

    def _enter(self, activity: str) -> None:
        self._spent[self.activity] += self.env.now - self._since
        self.activity, self._since = activity, self.env.now

    def _run(self) -> Generator[simpy.Event, Any, None]:
        env = self.env
        while True:
            while self.speed <= 0:
                self._enter("stopped")
                self._wake = env.event()
                yield self._wake
            if self.upstream is not None:
                self._enter("starved")
                yield self.upstream.get(1)
            self._enter("working")
            yield from self._work(60.0 / self.speed)
            if self.downstream is not None:
                self._enter("blocked")
                yield self.downstream.put(1)
            self.done += 1

    def _work(self, remaining: float) -> Generator[simpy.Event, Any, None]:
        env = self.env
        while remaining > 0:
            if self._to_failure > remaining:
                yield env.timeout(remaining)
                self._to_failure -= remaining
                return
            yield env.timeout(self._to_failure)
            remaining -= self._to_failure
            self._enter("down")
            self.breakdowns += 1
            yield env.timeout(float(self.rng.exponential(self.mttr)))
            self._to_failure = float(self.rng.exponential(self.mtbf))
            self._enter("working")


class LineObserver:
    """The running line seen from outside: the filler setpoint in, the line's figures out."""

    def __init__(
        self, env: simpy.Environment, stations: list[_Station], buffers: list[simpy.Container]
    ) -> None:
        self._env, self._stations, self._buffers = env, stations, buffers
        self._t0 = env.now

    def apply_inputs(self, inputs: Mapping[str, float]) -> None:
        speed = inputs["filler_speed"]
        if speed < 0:
            raise ValidationError(
                "filler_speed must not be negative",
                path="bottling/filler_speed",
                expected=">= 0 bottles per minute (0 stops the filler)",
                got=speed,
            )
        self._stations[0].set_speed(speed)

    def outputs(self) -> dict[str, float]:
        elapsed = self._env.now - self._t0
        bottles = self._stations[-1].done
        out = {
            "bottles": float(bottles),
            "throughput": 60.0 * bottles / elapsed if elapsed > 0 else 0.0,
            "breakdowns": float(sum(s.breakdowns for s in self._stations)),
            "buffer1_level": float(self._buffers[0].level),
            "buffer2_level": float(self._buffers[1].level),
        }
        for station in self._stations:
            out[f"{station.name}_utilisation"] = station.share("working", elapsed)
            out[f"{station.name}_down"] = 1.0 if station.activity == "down" else 0.0
        return out


def ideal_throughput(parameters: Mapping[str, float], filler_speed: float = 120.0) -> float:
    """Bottles per minute of the line with infinite buffers: the least of the stations'
    ``speed * MTBF / (MTBF + MTTR)`` (defaults where a parameter is not given)."""
    values = {v.name: v.start for v in VARIABLES if v.start is not None}
    values.update(parameters)
    values["filler_speed"] = filler_speed
    return min(
        values[f"{s}_speed"] * values[f"{s}_mtbf"] / (values[f"{s}_mtbf"] + values[f"{s}_mttr"])
        for s in STATIONS
    )

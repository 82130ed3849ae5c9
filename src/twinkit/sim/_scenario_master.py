"""The scenario master: every simulator of a plan stepped in lockstep, Jacobi style.

An FMI co-simulation master in a few lines. Each step from ``t`` to ``t + dt``:

1. every simulated twin's inputs are computed from the scenario's view of the twins at ``t``:
   an input bound to a content of the twin reads the twin's value; a :class:`Related` input
   aggregates the neighbours' values, which for a simulated neighbour are its outputs of the
   previous step (mapped back to contents by its binding's ``outputs``) and for any other
   twin its value at the fork time; settings (schedules, setpoints) and faults are applied;
2. every simulator steps (Jacobi: none sees another's new outputs within a step);
3. the outputs update the view and are recorded at ``at + t + dt``.

Simulated time starts at 0 (the fork time ``at`` in epoch seconds); recorded times are
``at + t``. A fault on a parameter takes effect at the first step that starts at or after its
start: the simulator's ``set_parameters(values)`` is called when it has one (FMI's tunable
parameters), else it is initialized again with the new parameters and given back its state
(``get_state``/``set_state``); a simulator whose state includes its parameters keeps the old
ones that way, so it should offer ``set_parameters``.

:meth:`Master.advance` runs a bounded chunk (steps and wall-clock seconds) so a server can
write results, report progress and cancel between chunks; :func:`simulate_scenario` runs a
whole plan at once and returns the series (no store needed).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from twinkit.core import Twin
from twinkit.errors import SimulationError, TwinkitError
from twinkit.sim._binding import Related, twin_value
from twinkit.sim._protocol import Causality, check_inputs, check_outputs
from twinkit.sim._scenario_plan import Member, Plan
from twinkit.sim._scenario_spec import setting_at
from twinkit.store import ScenarioPoints

__all__ = ["Chunk", "Master", "ScenarioResult", "simulate_scenario"]

_FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Chunk:
    """Points recorded by one :meth:`Master.advance`, one entry per series."""

    points: list[ScenarioPoints]
    steps: int  # steps taken by this chunk

    @property
    def size(self) -> int:
        return sum(len(p.times) for p in self.points)


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    """Every simulated series of a run: ``(twin id, series)`` -> values at ``times`` (epoch
    seconds, the fork time first)."""

    times: _FloatArray
    series: Mapping[tuple[str, str], _FloatArray]
    cancelled: bool = False

    def frame(self) -> pd.DataFrame:
        """One column ``"<twin id>/<series>"`` per series, on a UTC time index."""
        index = pd.DatetimeIndex(pd.to_datetime(self.times, unit="s", utc=True), name="time")
        return pd.DataFrame({f"{t}/{n}": v for (t, n), v in self.series.items()}, index=index)


@dataclass(slots=True, eq=False)
class _Run:
    """A member's mutable state during a run."""

    member: Member
    parameters: dict[str, float]
    active: frozenset[int] = frozenset()  # indexes of the parameter faults in force
    outputs: list[str] = field(default_factory=list)
    recorded: dict[str, list[float]] = field(default_factory=dict)


def _numbers(twin: Twin) -> dict[str, float]:
    names = [*twin.telemetry, *twin.properties]
    return {name: value for name in names if (value := twin_value(twin, name)) is not None}


class Master:
    """Runs a :class:`Plan` (it does not own it: the caller closes the plan)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._views = {twin_id: _numbers(twin) for twin_id, twin in plan.twins.items()}
        self._runs = [_Run(m, dict(m.parameters)) for m in plan.members]
        self._step = 0
        self._started = False
        self._times: list[float] = []
        self.failure: TwinkitError | None = None

    @property
    def steps_done(self) -> int:
        return self._step

    @property
    def done(self) -> bool:
        return self._step >= self.plan.steps

    @property
    def progress(self) -> float:
        return self._step / self.plan.steps

    def offset(self, step: int) -> float:
        """Simulated seconds from the fork time at the end of ``step`` (0: the start)."""
        plan = self.plan
        return plan.spec.horizon if step >= plan.steps else step * plan.dt

    def start(self) -> None:
        """Initialize every simulator from its twin at the fork time; records the outputs."""
        self._started = True
        for run in self._runs:
            member = run.member
            initialize = functools.partial(
                member.simulator.initialize, 0.0, member.parameters, member.state
            )
            out = _call(member, 0.0, "initializing", initialize)
            run.outputs = [name for name in out if name in member.series]
            run.recorded = {name: [] for name in run.outputs}
            self._record(run, self._checked(run, out, 0.0))
        self._times.append(self.plan.at)

    def advance(
        self,
        cancel: threading.Event | None = None,
        *,
        max_steps: int = 10_000,
        max_seconds: float = 0.5,
    ) -> Chunk:
        """Run up to ``max_steps`` steps (or ``max_seconds`` of wall-clock time, or until
        ``cancel`` is set) and return what they recorded (the initial outputs included on the
        first call). When a simulator fails or diverges, the steps before it are returned and
        :attr:`failure` is set; the next call raises it (a :class:`SimulationError`)."""
        if self.failure is not None:
            raise self.failure
        if not self._started:
            self.start()
        deadline = time.monotonic() + max_seconds
        taken = 0
        while not self.done and taken < max_steps:
            if cancel is not None and cancel.is_set():
                break
            try:
                self._advance_one()
            except TwinkitError as error:
                self.failure = error
                break
            taken += 1
            if time.monotonic() >= deadline:
                break
        return Chunk(self._drain(), taken)

    def _advance_one(self) -> None:
        """One step of every simulator; records nothing unless all of them succeed."""
        t, end = self.offset(self._step), self.offset(self._step + 1)
        for run in self._runs:
            if run.member.tuned:
                self._retune(run, t)
        inputs = [self._inputs(run, t) for run in self._runs]  # all from the view at t
        outs = [
            self._checked(
                run,
                _call(
                    run.member,
                    t,
                    "stepping",
                    functools.partial(run.member.simulator.step, t, end - t, u),
                ),
                end,
            )
            for run, u in zip(self._runs, inputs, strict=True)
        ]
        for run, out in zip(self._runs, outs, strict=True):
            self._record(run, out)
        self._times.append(self.plan.at + end)
        self._step += 1

    def _inputs(self, run: _Run, t: float) -> dict[str, float]:
        member = run.member
        view = self._views[member.twin.id]
        values: dict[str, float] = {}
        for variable, source in member.binding.inputs.items():
            if isinstance(source, Related):
                found = [
                    v
                    for other in member.neighbours.get(variable, ())
                    if (v := self._views[other].get(source.content)) is not None
                ]
                value = source.combine(found)
            else:
                value = view.get(source)
            if value is not None:
                values[variable] = value
        for variable, setting in member.settings.items():
            value = setting_at(setting, t)
            if value is not None:
                values[variable] = value
        full = check_inputs(member.simulator.variables, values, f"{member.where}/inputs")
        for variable, causality, fault in member.faults:
            if causality is Causality.INPUT and fault.active(t):
                full[variable] = fault.apply(full[variable])
        return full

    def _retune(self, run: _Run, t: float) -> None:
        member = run.member
        active = frozenset(
            i
            for i, (_, causality, fault) in enumerate(member.faults)
            if causality is Causality.PARAMETER and fault.active(t)
        )
        if active == run.active:
            return
        run.active = active
        values = dict(member.parameters)
        for index in sorted(active):
            variable, _, fault = member.faults[index]
            values[variable] = fault.apply(values[variable])
        run.parameters = values
        simulator = member.simulator
        tunable: Callable[[Mapping[str, float]], Any] | None = getattr(
            simulator, "set_parameters", None
        )
        if callable(tunable):
            _call(member, t, "setting parameters of", lambda: tunable(values))
            return

        def again() -> None:
            state = simulator.get_state()
            simulator.initialize(t, values, None)
            simulator.set_state(state)

        _call(member, t, "re-initializing", again)

    def _checked(self, run: _Run, out: Mapping[str, float] | None, t: float) -> dict[str, float]:
        """The outputs, every recorded one present and finite (else SimulationError)."""
        member = run.member
        try:
            checked = check_outputs(dict(out or {}), t, member.where)
        except SimulationError as error:
            raise SimulationError(f"{member.where}: {error}", where=error.where) from error
        missing = [name for name in run.outputs if name not in checked]
        if missing:
            raise SimulationError(
                f"{member.where}: output {missing[0]!r} missing at t={t:g} s (it was there at "
                "the start)",
                where=f"twin {member.twin.id}",
            )
        return checked

    def _record(self, run: _Run, out: Mapping[str, float]) -> None:
        view = self._views[run.member.twin.id]
        contents = run.member.binding.outputs
        for name in run.outputs:
            value = out[name]
            run.recorded[name].append(value)
            content = contents.get(name)
            if content is not None:
                view[content] = value

    def _drain(self) -> list[ScenarioPoints]:
        times = np.array(self._times, dtype=np.float64)
        self._times = []
        points = []
        for run in self._runs:
            for name in run.outputs:
                values = np.array(run.recorded[name], dtype=np.float64)
                run.recorded[name] = []
                points.append(
                    ScenarioPoints(run.member.twin.id, run.member.series[name], times, values)
                )
        return points


def _call(member: Member, t: float, what: str, call: Callable[[], Any]) -> Any:
    """``call()``; a backend's own exception becomes a SimulationError saying where and when."""
    try:
        return call()
    except SimulationError as error:
        raise SimulationError(f"{member.where}: {error}", where=f"twin {member.twin.id}") from error
    except TwinkitError:
        raise
    except Exception as error:
        raise SimulationError(
            f"{member.where} failed {what} the simulator at t={t:g} s: "
            f"{type(error).__name__}: {error}",
            where=f"twin {member.twin.id}",
        ) from error


def simulate_scenario(
    plan: Plan,
    *,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
) -> ScenarioResult:
    """Run the whole plan and return every series (``progress`` gets fractions, at most a few
    times a second). Does not close the plan."""
    master = Master(plan)
    times: list[_FloatArray] = []
    series: dict[tuple[str, str], list[_FloatArray]] = {}
    while True:
        chunk = master.advance(cancel, max_steps=plan.steps + 1, max_seconds=0.2)
        for points in chunk.points:
            series.setdefault((points.twin_id, points.name), []).append(points.values)
        if chunk.points:
            times.append(chunk.points[0].times)
        if progress is not None:
            progress(master.progress)
        if master.failure is not None:
            raise master.failure
        if master.done or (cancel is not None and cancel.is_set()):
            break
    return ScenarioResult(
        times=np.concatenate(times) if times else np.zeros(0),
        series={key: np.concatenate(parts) for key, parts in series.items()},
        cancelled=not master.done,
    )

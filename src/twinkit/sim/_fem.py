"""Finite element models as :class:`~twinkit.sim.Simulator` s: a structure and a heated part.

:class:`FemSimulator` is a static structural model (a bracket with strain gauges): its inputs
are the factors of the problem's named unit loads (a load cell's reading in newtons, with a 1 N
unit load), its parameters the stiffness factors of its zones, its outputs the problem's
outputs and the largest von Mises stress. Each step solves for the loads held over the step
with the factorization made at ``initialize`` (a back-substitution). The structure has no
dynamics, so its state is just where it stands (time, parameters, last loads).

:class:`HeatSimulator` runs transient heat conduction: its state is the temperature field,
its inputs the heat problem's sources and boundary values, its outputs probe temperatures and
the field's maximum and mean.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from twinkit.errors import SimulationError, ValidationError
from twinkit.sim._fem_elastic import ElasticSolution, ElasticSystem
from twinkit.sim._fem_elastic_problem import ElasticProblem
from twinkit.sim._fem_heat import HeatProblem, HeatSystem, Scheme
from twinkit.sim._protocol import Causality, Variable, check_inputs, check_parameters

__all__ = ["FemSimulator", "HeatSimulator", "HeatState", "StaticState"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class StaticState:
    """Where a static model stands: the time, its parameters and the loads of the last step."""

    t: float
    parameters: tuple[tuple[str, float], ...]
    loads: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True, eq=False)
class HeatState:
    """A transient heat model's state: the time and the nodal temperature field (a copy)."""

    t: float
    temperature: FloatArray


def check_time(expected: float | None, t: float, dt: float, where: str) -> None:
    """The step must start where the last one ended, after ``initialize``, with ``dt > 0``."""
    if expected is None:
        raise SimulationError("step called before initialize", where=where)
    if not (math.isfinite(dt) and dt > 0):
        raise SimulationError(f"a step needs dt > 0, got {dt!r}", where=where)
    if abs(t - expected) > 1e-9 * max(1.0, abs(expected)):
        raise SimulationError(
            f"step starts at t={t:g} s but the model is at t={expected:g} s", where=where
        )


def check_states(
    state: Mapping[str, float] | None, known: Sequence[str], where: str
) -> dict[str, float]:
    """The given state values, every name checked against the model's state variables."""
    values = dict(state or {})
    for name, value in values.items():
        if name not in known:
            raise ValidationError(
                f"unknown state {name!r}",
                path=f"{where}/state/{name}",
                expected=f"one of {sorted(known)}" if known else "no state (the model has none)",
                got=name,
            )
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise ValidationError(
                f"state {name!r} is not a finite number",
                path=f"{where}/state/{name}",
                expected="a finite number",
                got=value,
            )
    return {name: float(value) for name, value in values.items()}


class FemSimulator:
    """A static linear elastic model stepped with loads; see the module docstring."""

    def __init__(self, problem: ElasticProblem | ElasticSystem) -> None:
        self.system = problem if isinstance(problem, ElasticSystem) else ElasticSystem(problem)
        self._variables = (
            *(
                Variable(name, Causality.PARAMETER, 1.0, "1", "stiffness factor of a zone")
                for name in self.system.parameter_names
            ),
            *(
                Variable(name, Causality.INPUT, 0.0, "1", "factor of a unit load")
                for name in self.system.load_names
            ),
            *(Variable(name, Causality.OUTPUT) for name in self.system.output_names),
        )
        self._t: float | None = None
        self._parameters: dict[str, float] = {}
        self._loads: dict[str, float] = {}
        self._solution: ElasticSolution | None = None

    @property
    def variables(self) -> Sequence[Variable]:
        return self._variables

    @property
    def solution(self) -> ElasticSolution | None:
        """The displacement field of the last step (for display), or ``None`` before one."""
        return self._solution

    def initialize(
        self,
        t0: float,
        parameters: Mapping[str, float] | None = None,
        state: Mapping[str, float] | None = None,
    ) -> Mapping[str, float]:
        where = type(self).__name__
        check_states(state, (), where)
        self._parameters = check_parameters(self._variables, parameters, where)
        self.system.factorization(self._parameters)
        self._t = float(t0)
        return self._solve(check_inputs(self._variables, {}, where))

    def step(self, t: float, dt: float, inputs: Mapping[str, float]) -> Mapping[str, float]:
        where = type(self).__name__
        check_time(self._t, t, dt, where)
        outputs = self._solve(check_inputs(self._variables, inputs, f"{where}/inputs"))
        self._t = t + dt
        return outputs

    def _solve(self, loads: dict[str, float]) -> dict[str, float]:
        self._loads = loads
        self._solution = self.system.solve(loads, self._parameters)
        return self._solution.outputs()

    def get_state(self) -> StaticState:
        if self._t is None:
            raise SimulationError("get_state called before initialize", where=type(self).__name__)
        return StaticState(self._t, tuple(self._parameters.items()), tuple(self._loads.items()))

    def set_state(self, state: object) -> None:
        if not isinstance(state, StaticState) or {k for k, _ in state.parameters} != set(
            self.system.parameter_names
        ):
            raise ValidationError(
                "not a state of this model",
                path=f"{type(self).__name__}/state",
                expected=f"a StaticState with parameters {sorted(self.system.parameter_names)}",
                got=type(state).__name__,
            )
        self._t = state.t
        self._parameters = dict(state.parameters)
        self._solve(dict(state.loads))

    def close(self) -> None:
        self.system.release()
        self._solution = None


class HeatSimulator:
    """Transient heat conduction stepped with held inputs; the state is the temperature field.

    ``initial_temperature`` is the start of the ``temperature`` state (a uniform field; fixed
    boundaries take their values at once). ``max_step`` splits a long step into equal
    substeps no longer than it.
    """

    def __init__(
        self,
        problem: HeatProblem | HeatSystem,
        *,
        scheme: Scheme = "euler",
        initial_temperature: float = 20.0,
        max_step: float | None = None,
    ) -> None:
        self.system = problem if isinstance(problem, HeatSystem) else HeatSystem(problem)
        if max_step is not None and not (math.isfinite(max_step) and max_step > 0):
            raise ValidationError(
                "max_step must be positive", path="max_step", expected="> 0 (s)", got=max_step
            )
        if scheme not in ("euler", "crank-nicolson"):
            raise ValidationError(
                "unknown time scheme",
                path="scheme",
                expected="'euler' or 'crank-nicolson'",
                got=scheme,
            )
        self.scheme: Scheme = scheme
        self.max_step = max_step
        self._variables = (
            Variable(
                "temperature",
                Causality.STATE,
                initial_temperature,
                description="uniform initial temperature",
            ),
            *(
                Variable(name, Causality.INPUT, value)
                for name, value in self.system.defaults.items()
            ),
            *(Variable(name, Causality.OUTPUT) for name in self.system.output_names),
        )
        self._t: float | None = None
        self._temperature: FloatArray | None = None

    @property
    def variables(self) -> Sequence[Variable]:
        return self._variables

    @property
    def temperature(self) -> FloatArray:
        """The nodal temperature field now."""
        if self._temperature is None:
            raise SimulationError("no temperature before initialize", where=type(self).__name__)
        return self._temperature

    def initialize(
        self,
        t0: float,
        parameters: Mapping[str, float] | None = None,
        state: Mapping[str, float] | None = None,
    ) -> Mapping[str, float]:
        where = type(self).__name__
        check_parameters(self._variables, parameters, where)
        given = check_states(state, ("temperature",), where)
        start = given.get("temperature", float(self._variables[0].start or 0.0))
        inputs = check_inputs(self._variables, {}, where)
        field = np.full(self.system.space.n_nodes, start)
        field[self.system.fixed] = self.system.boundary_temperatures(inputs)
        self._temperature, self._t = field, float(t0)
        return self.system.outputs(field)

    def step(self, t: float, dt: float, inputs: Mapping[str, float]) -> Mapping[str, float]:
        where = type(self).__name__
        check_time(self._t, t, dt, where)
        values = check_inputs(self._variables, inputs, f"{where}/inputs")
        count = 1 if self.max_step is None else max(1, math.ceil(dt / self.max_step - 1e-9))
        field = self.temperature
        for _ in range(count):
            field = self.system.step(field, dt / count, values, self.scheme)
        self._temperature, self._t = field, t + dt
        return self.system.outputs(field)

    def get_state(self) -> HeatState:
        if self._t is None or self._temperature is None:
            raise SimulationError("get_state called before initialize", where=type(self).__name__)
        return HeatState(self._t, self._temperature.copy())

    def set_state(self, state: object) -> None:
        n = self.system.space.n_nodes
        if not isinstance(state, HeatState) or state.temperature.shape != (n,):
            raise ValidationError(
                "not a state of this model",
                path=f"{type(self).__name__}/state",
                expected=f"a HeatState with {n} nodal temperatures",
                got=type(state).__name__,
            )
        self._t, self._temperature = state.t, state.temperature.copy()

    def close(self) -> None:
        self.system.release()

"""Discrete-event models on SimPy behind the :class:`~twinkit.sim.Simulator` protocol.

A discrete-event model (a production line, a queue, a fleet) is written with SimPy processes.
It declares its variables and builds itself into a fresh ``simpy.Environment``
(:class:`DesModel`), handing back an observer (:class:`DesObserver`) through which inputs go in
and observed values come out. :class:`DesSimulator` adapts it to the protocol:
``step(t, dt, inputs)`` applies the inputs (when they changed), runs the environment until
``t + dt`` (``env.run(until=t + dt)``) and returns the observer's outputs.

Clocks. The environment is always SimPy's plain ``Environment``: within a step, events run as
fast as the CPU allows. Wall-clock pacing is the engine's job: with a
:class:`~twinkit.sim.RealtimeClock` the engine sleeps between steps, so simulated time keeps
pace with the wall clock at the resolution of one step. This is SimPy's
``RealtimeEnvironment`` at step granularity, with the factor inverted: SimPy's ``factor`` is
wall seconds per simulated unit, twinkit's is simulated seconds per wall second (SimPy
``factor=0.1`` is twinkit ``factor=10``); ``strict`` means the same in both.

State. SimPy processes are generators, which cannot be copied or pickled, so the state is not
a snapshot but a recipe: the seed, the start time, the parameters and initial state, and every
change of inputs with its time (:class:`DesState`). ``set_state`` rebuilds the model and replays
that history, which reproduces the run exactly because a model is deterministic given its
random generator (the only source of randomness it may use) and because stopping SimPy at a
step boundary does not reorder its events. A replay costs as much as the run up to the state.
A model's ``outputs`` must therefore only observe, never change the model.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from twinkit.errors import SimulationError, TwinkitError, ValidationError
from twinkit.sim._protocol import Causality, Variable, check_inputs, check_parameters

if TYPE_CHECKING:
    import simpy

__all__ = ["DesModel", "DesObserver", "DesSimulator", "DesState"]

logger = logging.getLogger(__name__)


class DesObserver(Protocol):
    """The running model as the simulator sees it: inputs in, observed values out."""

    def apply_inputs(self, inputs: Mapping[str, float]) -> None:
        """Take new input values (every input, by name); called when any of them changed."""
        ...

    def outputs(self) -> Mapping[str, float]:
        """Every output and state variable now. Must not change the model (see module doc)."""
        ...


class DesModel(Protocol):
    """A SimPy model: its variables, and how to build it into an environment."""

    @property
    def variables(self) -> Sequence[Variable]: ...

    def build(
        self,
        env: simpy.Environment,
        parameters: Mapping[str, float],
        state: Mapping[str, float],
        rng: np.random.Generator,
    ) -> DesObserver:
        """Start the model's processes in ``env``; every parameter and state has a value.

        ``rng`` is the only randomness the model may use (replay depends on it). Raise
        :class:`ValidationError` for parameter values the model cannot take.
        """
        ...


@dataclass(frozen=True, slots=True)
class DesState:
    """How to get back to simulated time ``time``: the run's recipe, replayed by set_state."""

    model: str
    seed: int
    t0: float
    time: float
    parameters: Mapping[str, float]
    state: Mapping[str, float]
    inputs: tuple[tuple[float, tuple[tuple[str, float], ...]], ...]  # each change: (t, values)


class DesSimulator:
    """A :class:`DesModel` run in steps; ``seed`` seeds its random generator (numpy PCG64)."""

    def __init__(self, model: DesModel, *, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValidationError(
                "seed must be a non-negative integer", path="seed", expected="int >= 0", got=seed
            )
        self.model = model
        self.seed = seed
        self._variables = tuple(model.variables)
        self._where = f"des {type(model).__name__}"
        self._env: simpy.Environment | None = None
        self._observer: DesObserver | None = None
        self._recipe: DesState | None = None
        self._applied: dict[str, float] = {}
        self._changes: list[tuple[float, tuple[tuple[str, float], ...]]] = []
        self._names = {
            v.name for v in self._variables if v.causality in (Causality.OUTPUT, Causality.STATE)
        }

    @property
    def variables(self) -> Sequence[Variable]:
        return self._variables

    def initialize(
        self,
        t0: float,
        parameters: Mapping[str, float] | None = None,
        state: Mapping[str, float] | None = None,
    ) -> Mapping[str, float]:
        if not math.isfinite(t0):
            raise ValidationError("t0 is not finite", path=self._where, got=t0)
        values = check_parameters(self._variables, parameters, f"{self._where}/parameters")
        states = _check_states(self._variables, state or {}, f"{self._where}/state")
        self._recipe = DesState(
            model=type(self.model).__qualname__,
            seed=self.seed,
            t0=float(t0),
            time=float(t0),
            parameters=values,
            state=states,
            inputs=(),
        )
        self._build(self._recipe)
        out = self._outputs()
        missing = self._names - set(out)
        if missing:
            raise SimulationError(
                f"the model's observer gives no value for {sorted(missing)} (it declares them)",
                where=self._where,
            )
        return out

    def _build(self, recipe: DesState) -> None:
        import simpy

        self.close()
        env = simpy.Environment(initial_time=recipe.t0)
        rng = np.random.default_rng(recipe.seed)
        try:
            observer = self.model.build(env, recipe.parameters, recipe.state, rng)
            self._applied = check_inputs(self._variables, {}, f"{self._where}/inputs")
            observer.apply_inputs(dict(self._applied))
        except TwinkitError:
            raise
        except Exception as error:
            raise SimulationError(
                f"building {type(self.model).__name__} failed: {error}", where=self._where
            ) from error
        self._env, self._observer, self._changes = env, observer, []

    def step(self, t: float, dt: float, inputs: Mapping[str, float]) -> Mapping[str, float]:
        env, observer = self._env, self._observer
        if env is None or observer is None:
            raise SimulationError("step before initialize (or after close)", where=self._where)
        if not abs(t - env.now) <= 1e-9 * max(1.0, abs(t)):
            raise SimulationError(
                f"step from t={t!r} s but the model is at t={env.now!r} s: steps must follow "
                "each other (use set_state to go back)",
                where=self._where,
            )
        if not (math.isfinite(dt) and dt > 0):
            raise ValidationError("step must be positive", path=self._where, got=dt)
        values = check_inputs(self._variables, inputs, f"{self._where}/inputs at t={t:g}")
        if values != self._applied:
            self._apply(observer, values, env.now)
        self._run(env, env.now + dt)
        return self._outputs()

    def _apply(self, observer: DesObserver, values: dict[str, float], now: float) -> None:
        observer.apply_inputs(dict(values))
        self._applied = values
        self._changes.append((now, tuple(values.items())))

    def _run(self, env: simpy.Environment, until: float) -> None:
        try:
            env.run(until=until)
        except TwinkitError:
            raise
        except Exception as error:
            raise SimulationError(
                f"the model failed at t={env.now:g} s (running to {until:g} s): "
                f"{type(error).__name__}: {error}",
                where=self._where,
            ) from error

    def _outputs(self) -> dict[str, float]:
        assert self._observer is not None
        return {name: float(value) for name, value in self._observer.outputs().items()}

    def get_state(self) -> DesState:
        """The recipe to come back here: seed, start, parameters, initial state, input changes."""
        if self._env is None or self._recipe is None:
            raise SimulationError("get state before initialize", where=self._where)
        return DesState(
            model=self._recipe.model,
            seed=self._recipe.seed,
            t0=self._recipe.t0,
            time=float(self._env.now),
            parameters=dict(self._recipe.parameters),
            state=dict(self._recipe.state),
            inputs=tuple(self._changes),
        )

    def set_state(self, state: Any) -> None:
        """Rebuild the model from ``state``'s recipe and replay it to ``state.time``."""
        if not isinstance(state, DesState) or state.model != type(self.model).__qualname__:
            raise ValidationError(
                "not a state of this model",
                path=self._where,
                expected=f"a DesState of {type(self.model).__qualname__}",
                got=type(state).__name__ if not isinstance(state, DesState) else state.model,
            )
        self._recipe = state
        self._build(state)
        env, observer = self._env, self._observer
        assert env is not None and observer is not None
        for time, values in state.inputs:
            if time > env.now:
                self._run(env, time)
            self._apply(observer, dict(values), time)
        if state.time > env.now:
            self._run(env, state.time)

    def close(self) -> None:
        """Drop the environment and its processes; idempotent."""
        self._env, self._observer = None, None


def _check_states(
    variables: Sequence[Variable], given: Mapping[str, float], where: str
) -> dict[str, float]:
    known = {v.name: v for v in variables if v.causality is Causality.STATE}
    for name, value in given.items():
        if name not in known:
            raise ValidationError(
                f"unknown state {name!r}",
                path=f"{where}/{name}",
                expected=f"one of {sorted(known)}",
                got=name,
            )
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise ValidationError(
                f"state {name!r} is not a finite number",
                path=f"{where}/{name}",
                expected="a finite number",
                got=value,
            )
    values: dict[str, float] = {}
    for name, var in known.items():
        chosen: float | None = given.get(name, var.start)
        if chosen is None:
            raise ValidationError(
                f"state {name!r} has no default and was not given",
                path=f"{where}/{name}",
                expected="a value for it",
                got=None,
            )
        values[name] = float(chosen)
    return values

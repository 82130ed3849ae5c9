"""Lumped ODE models, written once and run alone (adaptive) or as vectorized ensembles.

An :class:`OdeModel` declares its variables (FMI-style, as :class:`Variable` with a
:class:`Causality`) and two plain Python functions that work on numpy arrays with a trailing
*member* axis, so the same code serves one adaptive run (``m = 1``) and an ensemble of
``m = 10_000`` members integrated together (:func:`twinkit.sim._integrate.integrate`):

- ``rhs(t, x, p, u) -> {state: dx/dt}``: ``x`` maps each state name to its values, ``p`` each
  parameter, ``u`` each input; every value is a float64 array of shape ``(m,)`` or ``(1,)``
  (they broadcast against each other, so write elementwise numpy: ``np.sqrt``, ``np.where``,
  never ``math`` or ``if`` on a value). It returns every state's derivative (arrays or floats
  that broadcast to ``(m,)``);
- ``output(t, x, p, u) -> {output: value}`` (optional): every OUTPUT variable, same rules.

A tank of area ``area`` filled by ``inflow`` and drained through a valve (Torricelli)::

    import numpy as np
    from twinkit.sim import Causality as C, Variable as V, simulate
    from twinkit.sim._ode import OdeModel, OdeSimulator

    def rhs(t, x, p, u):
        return {"level": (u["inflow"] - p["cv"] * np.sqrt(np.maximum(x["level"], 0.0))) / p["area"]}

    def output(t, x, p, u):
        return {"outflow": p["cv"] * np.sqrt(np.maximum(x["level"], 0.0))}

    tank = OdeModel(
        "tank",
        [
            V("level", C.STATE, start=1.0, unit="m"),
            V("area", C.PARAMETER, start=2.0, unit="m2"),
            V("cv", C.PARAMETER, start=0.3, unit="m2.5/s"),
            V("inflow", C.INPUT, start=0.2, unit="m3/s"),
            V("outflow", C.OUTPUT, unit="m3/s"),
        ],
        rhs,
        output,
    )
    result = simulate(OdeSimulator(tank), stop=600.0, dt=10.0, inputs={"inflow": 0.25})

The model is checked when it is made: unique names, known causalities, a finite ``start`` for
every state and input, and both functions are called once on the start values (when every
parameter has one) to check that they return exactly the declared names.

:class:`OdeSimulator` is the :class:`Simulator` of a model: each ``step`` is one adaptive
``scipy.integrate.solve_ivp`` solve with the inputs held. Its outputs are the model's OUTPUT
variables **and every state** (by its name), as FMI models usually expose their states, so a
tank level can be compared with its measurement without declaring it twice.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from twinkit.errors import SimulationError, ValidationError
from twinkit.sim._protocol import (
    Causality,
    Variable,
    check_inputs,
    check_outputs,
)

__all__ = ["METHODS", "OdeModel", "OdeSimulator", "OdeState", "Rhs", "VectorField"]

logger = logging.getLogger(__name__)

Array: TypeAlias = npt.NDArray[np.float64]
Values: TypeAlias = Mapping[str, Array]
# (t, states, parameters, inputs) -> {name: array or float}
Rhs: TypeAlias = Callable[[float, Values, Values, Values], Mapping[str, Any]]
METHODS = ("LSODA", "RK45", "RK23", "DOP853", "Radau", "BDF")
_PROBE_MEMBERS = 2
_STALL_EVALUATIONS = 1_000  # rhs calls at one same time before a solve counts as stalled


@dataclass(frozen=True, slots=True)
class OdeModel:
    """A lumped ODE model: its variables, ``rhs`` (derivatives) and ``output`` functions.

    ``variables`` holds every state (with its initial value as ``start``), parameter, input
    (with its default as ``start``) and output. See the module docstring for the functions'
    contract and an example.
    """

    name: str
    variables: Sequence[Variable]
    rhs: Rhs
    output: Rhs | None = None
    states: tuple[str, ...] = field(init=False)
    parameters: tuple[str, ...] = field(init=False)
    inputs: tuple[str, ...] = field(init=False)
    outputs: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        variables = tuple(self.variables)
        object.__setattr__(self, "variables", variables)
        where = f"ode model {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ValidationError(
                "an ODE model needs a name",
                path="ode model",
                expected="a non-empty string",
                got=self.name,
            )
        _check_variables(variables, where)
        for causality, attribute in (
            (Causality.STATE, "states"),
            (Causality.PARAMETER, "parameters"),
            (Causality.INPUT, "inputs"),
            (Causality.OUTPUT, "outputs"),
        ):
            names = tuple(v.name for v in variables if v.causality is causality)
            object.__setattr__(self, attribute, names)
        _check_functions(self, where)
        if all(self.start(name) is not None for name in self.parameters):
            _probe(self, where)

    def start(self, name: str) -> float | None:
        """The ``start`` value of variable ``name``."""
        for variable in self.variables:
            if variable.name == name:
                return variable.start
        raise ValidationError(
            f"model {self.name!r} has no variable {name!r}",
            path=f"ode model {self.name!r}/{name}",
            expected=f"one of {sorted(v.name for v in self.variables)}",
            got=name,
        )


def _check_variables(variables: tuple[Variable, ...], where: str) -> None:
    seen: set[str] = set()
    for index, variable in enumerate(variables):
        path = f"{where}/variables/{index}"
        if not isinstance(variable, Variable):
            raise ValidationError(
                "not a Variable", path=path, expected="twinkit.sim.Variable", got=variable
            )
        if not isinstance(variable.causality, Causality):
            raise ValidationError(
                f"variable {variable.name!r} has an unknown causality",
                path=path,
                expected=f"a Causality: {[c.value for c in Causality]}",
                got=variable.causality,
            )
        if not isinstance(variable.name, str) or not variable.name.isidentifier():
            raise ValidationError(
                "variable names must be identifiers",
                path=path,
                expected="a name like 'level' or 'q_in'",
                got=variable.name,
            )
        if variable.name in seen:
            raise ValidationError(
                f"variable {variable.name!r} is declared twice",
                path=f"{where}/{variable.name}",
                expected="unique names across states, parameters, inputs and outputs",
                got=variable.name,
            )
        seen.add(variable.name)
        _check_start(variable, f"{where}/{variable.name}")
    if not any(v.causality is Causality.STATE for v in variables):
        raise ValidationError(
            "an ODE model needs at least one state",
            path=f"{where}/variables",
            expected="a Variable with causality STATE",
            got=[v.name for v in variables],
        )


def _check_start(variable: Variable, path: str) -> None:
    start = variable.start
    needed = variable.causality in (Causality.STATE, Causality.INPUT)
    if start is None:
        if needed:
            raise ValidationError(
                f"{variable.causality.value} {variable.name!r} has no start value",
                path=path,
                expected="a finite start (the initial state, or the input before it is set)",
                got=None,
            )
        return
    if isinstance(start, bool) or not isinstance(start, (int, float)) or not math.isfinite(start):
        raise ValidationError(
            f"start of {variable.name!r} is not a finite number",
            path=path,
            expected="a finite number",
            got=start,
        )


def _check_functions(model: OdeModel, where: str) -> None:
    if not callable(model.rhs):
        raise ValidationError(
            "rhs is not callable",
            path=f"{where}/rhs",
            expected="rhs(t, x, p, u) -> {state: derivative}",
            got=model.rhs,
        )
    if model.output is not None and not callable(model.output):
        raise ValidationError(
            "output is not callable",
            path=f"{where}/output",
            expected="output(t, x, p, u) -> {output: value}",
            got=model.output,
        )
    if model.outputs and model.output is None:
        raise ValidationError(
            "the model declares outputs but no output function",
            path=f"{where}/output",
            expected=f"output(t, x, p, u) returning {list(model.outputs)}",
            got=None,
        )
    if model.output is not None and not model.outputs:
        raise ValidationError(
            "the model has an output function but declares no OUTPUT variable",
            path=f"{where}/output",
            expected="a Variable with causality OUTPUT for each value it returns",
            got=model.output,
        )


def _probe(model: OdeModel, where: str) -> None:
    """Call both functions once on the start values to catch wrong names and shapes early."""
    vector_field = VectorField(model)

    def column(name: str) -> Array:
        return np.full(_PROBE_MEMBERS, model.start(name), dtype=np.float64)

    x = np.stack([column(name) for name in model.states])
    p = {name: column(name) for name in model.parameters}
    u = {name: column(name) for name in model.inputs}
    try:
        with np.errstate(all="ignore"):
            vector_field.derivatives(0.0, x, p, u, np.empty_like(x))
            vector_field.outputs(0.0, x, p, u)
    except ValidationError:
        raise
    except Exception as error:
        raise ValidationError(
            f"the model's functions fail on its start values: {error!r}",
            path=where,
            expected="rhs and output that run on arrays of the start values",
            got=type(error).__name__,
        ) from error


class VectorField:
    """A model's functions on a state matrix ``x[n_states, m]``: the integrators' view of it."""

    __slots__ = ("_model", "_outputs", "_states", "_where")

    def __init__(self, model: OdeModel) -> None:
        self._model = model
        self._states = model.states
        self._outputs = model.outputs
        self._where = f"ode model {model.name!r}"

    def rows(self, x: Array) -> dict[str, Array]:
        """The state matrix as ``{state: row}`` (views, no copy)."""
        return {name: x[index] for index, name in enumerate(self._states)}

    def derivatives(self, t: float, x: Array, p: Values, u: Values, out: Array) -> Array:
        """Write ``dx/dt`` at ``t`` into ``out`` (same shape as ``x``) and return it."""
        given = self._model.rhs(t, self.rows(x), p, u)
        _fill(given, self._states, out, f"{self._where}/rhs", "derivative of state")
        return out

    def outputs(self, t: float, x: Array, p: Values, u: Values) -> dict[str, Array]:
        """Every state and output at ``t``, as arrays of shape ``(m,)``."""
        values = {name: x[index].copy() for index, name in enumerate(self._states)}
        if self._model.output is None:
            return values
        given = self._model.output(t, self.rows(x), p, u)
        out = np.empty((len(self._outputs), x.shape[1]), dtype=np.float64)
        _fill(given, self._outputs, out, f"{self._where}/output", "output")
        values.update((name, out[index]) for index, name in enumerate(self._outputs))
        return values


def _fill(
    given: Mapping[str, Any], names: tuple[str, ...], out: Array, where: str, what: str
) -> None:
    if not isinstance(given, Mapping):
        raise ValidationError(
            "the function did not return a mapping",
            path=where,
            expected=f"a dict with {list(names)}",
            got=type(given).__name__,
        )
    for index, name in enumerate(names):
        try:
            out[index] = given[name]
        except KeyError:
            raise ValidationError(
                f"{what} {name!r} missing from what the function returned",
                path=f"{where}/{name}",
                expected=f"keys {list(names)}",
                got=sorted(map(str, given)),
            ) from None
        except (ValueError, TypeError) as error:
            raise ValidationError(
                f"{what} {name!r} has the wrong shape or type",
                path=f"{where}/{name}",
                expected=f"a number or an array of shape ({out.shape[1]},)",
                got=np.shape(given[name]),
            ) from error
    if len(given) != len(names):
        raise ValidationError(
            "the function returned names the model does not declare",
            path=where,
            expected=f"keys {list(names)}",
            got=sorted(set(map(str, given)) - set(names)),
        )


@dataclass(frozen=True, slots=True)
class OdeState:
    """A snapshot of an :class:`OdeSimulator`: time, state values and parameters."""

    t: float
    states: Mapping[str, float]
    parameters: Mapping[str, float]


class OdeSimulator:
    """A :class:`Simulator` that solves an :class:`OdeModel` with ``scipy.integrate.solve_ivp``.

    Each ``step`` is one adaptive solve from ``t`` to ``t + dt`` with the inputs held
    (``method`` is any of :data:`METHODS`; LSODA switches between stiff and non-stiff
    methods itself). Outputs are every OUTPUT variable and every state. A solver failure, a
    non-finite state or output, or an exception in the model's functions raises
    :class:`SimulationError` naming the time.
    """

    def __init__(
        self,
        model: OdeModel,
        *,
        method: str = "LSODA",
        rtol: float = 1e-6,
        atol: float = 1e-9,
        max_step: float = math.inf,
    ) -> None:
        if not isinstance(model, OdeModel):
            raise ValidationError(
                "OdeSimulator runs an OdeModel",
                path="ode simulator",
                expected="an OdeModel",
                got=type(model).__name__,
            )
        where = f"ode simulator {model.name!r}"
        if method not in METHODS:
            raise ValidationError(
                "unknown solver method",
                path=f"{where}/method",
                expected=f"one of {METHODS}",
                got=method,
            )
        for name, value in (("rtol", rtol), ("atol", atol), ("max_step", max_step)):
            if not value > 0:
                raise ValidationError(
                    f"{name} must be positive", path=f"{where}/{name}", expected="> 0", got=value
                )
        self.model = model
        self.method, self.rtol, self.atol, self.max_step = method, rtol, atol, max_step
        self._field = VectorField(model)
        self._where = where
        self._t: float | None = None
        self._x = np.array([model.start(name) for name in model.states], dtype=np.float64)
        self._p: dict[str, float] = {}

    @property
    def variables(self) -> Sequence[Variable]:
        return self.model.variables

    def initialize(
        self,
        t0: float,
        parameters: Mapping[str, float] | None = None,
        state: Mapping[str, float] | None = None,
    ) -> Mapping[str, float]:
        """Start at ``t0`` from the given states (others their ``start``); return the outputs."""
        if not math.isfinite(t0):
            raise ValidationError(
                "start time must be finite", path=f"{self._where}/t0", expected="seconds", got=t0
            )
        variables = self.model.variables
        model = self.model
        self._p = _named_values(
            model, model.parameters, parameters or {}, "parameter", f"{self._where}/parameters"
        )
        states = _named_values(model, model.states, state or {}, "state", f"{self._where}/state")
        self._x = np.array([states[name] for name in self.model.states], dtype=np.float64)
        self._t = float(t0)
        return self._outputs(self._t, check_inputs(variables, {}, f"{self._where}/inputs"))

    def step(self, t: float, dt: float, inputs: Mapping[str, float]) -> Mapping[str, float]:
        """Solve from ``t`` (the end of the last step) to ``t + dt`` with ``inputs`` held."""
        if self._t is None:
            raise SimulationError(f"{self._where}: step before initialize", where=self._where)
        if not math.isclose(t, self._t, rel_tol=1e-12, abs_tol=1e-9):
            raise SimulationError(
                f"{self._where}: a step must start where the last ended: "
                f"expected t={self._t:g} s, got t={t:g} s",
                where=self._where,
            )
        if not (math.isfinite(dt) and dt > 0):
            raise SimulationError(
                f"{self._where}: step size must be finite and positive, got dt={dt!r} at t={t:g} s",
                where=self._where,
            )
        u = check_inputs(self.model.variables, inputs, f"{self._where}/inputs at t={t:g}")
        self._x = self._solve(self._t, self._t + dt, u)
        self._t = self._t + dt
        return self._outputs(self._t, u)

    def _solve(self, t0: float, t1: float, u: Mapping[str, float]) -> Array:
        from scipy.integrate import solve_ivp  # type: ignore[import-untyped, unused-ignore]

        fun, reached = self._derivative_function(u)
        try:
            with np.errstate(all="ignore"):
                solution = solve_ivp(
                    fun,
                    (t0, t1),
                    self._x,
                    method=self.method,
                    rtol=self.rtol,
                    atol=self.atol,
                    max_step=self.max_step,
                    vectorized=True,
                )
        except (ValidationError, SimulationError):
            raise
        except Exception as error:  # the solver's own failure, e.g. NaN in its linear algebra
            raise SimulationError(
                f"{self._where}: the {self.method} solver failed between t={t0:g} s and "
                f"t={t1:g} s (last evaluated at t={reached[0]:g} s): {error!r}; the simulation "
                "diverged: shorten the step or check the parameters",
                where=self._where,
            ) from error
        if solution.status < 0:
            raise SimulationError(
                f"{self._where}: the {self.method} solver failed between t={t0:g} s and "
                f"t={t1:g} s (last reached t={float(solution.t[-1]):g} s): {solution.message}",
                where=self._where,
            )
        x = np.asarray(solution.y[:, -1], dtype=np.float64)
        if not np.all(np.isfinite(x)):
            bad = [n for n, v in zip(self.model.states, x, strict=True) if not math.isfinite(v)]
            raise SimulationError(
                f"{self._where}: the simulation diverged between t={t0:g} s and t={t1:g} s: "
                f"states {bad} not finite; shorten the step or check the parameters",
                where=self._where,
            )
        return x

    def _derivative_function(
        self, u: Mapping[str, float]
    ) -> tuple[Callable[[float, Array], Array], list[float]]:
        """``solve_ivp``'s ``fun`` with the inputs held, and where it last evaluated."""
        p = {name: np.array([value]) for name, value in self._p.items()}
        ua = {name: np.array([value]) for name, value in u.items()}
        reached, repeats = [math.nan], [0]

        def fun(t: float, y: Array) -> Array:
            # Facing an infinite derivative, LSODA retries the same time forever: stop it.
            repeats[0] = repeats[0] + 1 if t == reached[0] else 0
            reached[0] = t
            if repeats[0] > _STALL_EVALUATIONS:
                raise SimulationError(
                    f"{self._where}: the {self.method} solver stalled at t={t:g} s "
                    f"({_STALL_EVALUATIONS} evaluations at that time); the simulation "
                    "diverged: shorten the step or check the parameters",
                    where=self._where,
                )
            x = y.reshape(len(self.model.states), -1)
            try:
                return self._field.derivatives(t, x, p, ua, np.empty_like(x)).reshape(y.shape)
            except (ValidationError, SimulationError):
                raise
            except Exception as error:  # the model's own code failed
                raise SimulationError(
                    f"{self._where}: the model failed at t={t:g} s: {error!r}", where=self._where
                ) from error

        return fun, reached

    def _outputs(self, t: float, u: Mapping[str, float]) -> dict[str, float]:
        p = {name: np.array([value]) for name, value in self._p.items()}
        ua = {name: np.array([value]) for name, value in u.items()}
        with np.errstate(all="ignore"):
            values = self._field.outputs(t, self._x.reshape(-1, 1), p, ua)
        return check_outputs({k: float(v[0]) for k, v in values.items()}, t, self._where)

    def get_state(self) -> OdeState:
        """The time, states and parameters now (a value :meth:`set_state` takes back)."""
        if self._t is None:
            raise SimulationError(f"{self._where}: no state before initialize", where=self._where)
        states = dict(zip(self.model.states, self._x.tolist(), strict=True))
        return OdeState(t=self._t, states=states, parameters=dict(self._p))

    def set_state(self, state: Any) -> None:
        """Rewind or fork: take the time, states and parameters of an :class:`OdeState`."""
        if not isinstance(state, OdeState):
            raise ValidationError(
                "not a state of an OdeSimulator",
                path=f"{self._where}/state",
                expected="an OdeState from get_state()",
                got=type(state).__name__,
            )
        model = self.model
        self._p = _named_values(
            model, model.parameters, state.parameters, "parameter", f"{self._where}/state"
        )
        values = _named_values(model, model.states, state.states, "state", f"{self._where}/state")
        if set(state.states) != set(self.model.states):
            raise ValidationError(
                "a state snapshot must hold every state",
                path=f"{self._where}/state",
                expected=f"every one of {sorted(self.model.states)}",
                got=sorted(state.states),
            )
        self._x = np.array([values[name] for name in self.model.states], dtype=np.float64)
        self._t = float(state.t)

    def close(self) -> None:
        return None


def _named_values(
    model: OdeModel, names: tuple[str, ...], given: Mapping[str, float], what: str, where: str
) -> dict[str, float]:
    """A value for each of ``names`` (states or parameters): given ones checked, others ``start``."""
    for name, value in given.items():
        if name not in names:
            raise ValidationError(
                f"unknown {what} {name!r}",
                path=f"{where}/{name}",
                expected=f"one of {sorted(names)}",
                got=name,
            )
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise ValidationError(
                f"{what} {name!r} is not a finite number",
                path=f"{where}/{name}",
                expected="a finite number",
                got=value,
            )
    values: dict[str, float] = {}
    for name in names:
        chosen = given[name] if name in given else model.start(name)
        if chosen is None:
            raise ValidationError(
                f"{what} {name!r} has no start value and was not given",
                path=f"{where}/{name}",
                expected="a value for it",
                got=None,
            )
        values[name] = float(chosen)
    return values

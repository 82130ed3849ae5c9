"""The ``Simulator`` protocol: one interface for every simulation backend.

It follows FMI co-simulation, the standard for exchanging simulation models: a simulator
declares its variables (parameters, inputs, outputs, states), is initialized once from
parameters and an optional state, then advanced by ``step`` with the inputs held over the step
(zero-order hold, as an FMI master does) and asked for its outputs at the end of the step. Its
state can be read and written back (FMI's get/set FMU state), which is what forking a what-if
scenario from a live twin and restarting a shadow run need.

A simulator may also offer ``set_parameters(values)`` (FMI's tunable parameters): a what-if
scenario that changes a parameter part-way through (an injected fault) calls it when it is
there, and otherwise re-initializes the simulator and restores its state, which is only right
for backends whose state does not hold the parameters.

Backends: Python ODE models (:mod:`twinkit.sim._ode`), FMUs through FMPy, discrete-event models
on SimPy, FEA with scikit-fem and reduced-order models. The engine (:func:`twinkit.sim.simulate`)
drives any of them on either clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from twinkit.errors import SimulationError, ValidationError

__all__ = [
    "Causality",
    "Simulator",
    "Variable",
    "check_inputs",
    "check_outputs",
    "check_parameters",
]


class Causality(StrEnum):
    """What a variable is to the world outside the simulator (FMI's causality)."""

    PARAMETER = "parameter"  # fixed for a run, set at initialize
    INPUT = "input"  # set by the master before every step
    OUTPUT = "output"  # read after every step
    STATE = "state"  # part of the state that ``get_state`` returns (and a twin may seed)


@dataclass(frozen=True, slots=True)
class Variable:
    """One named scalar of a simulator, with its unit and default (``start``) value."""

    name: str
    causality: Causality
    start: float | None = None
    unit: str | None = None
    description: str = ""


@runtime_checkable
class Simulator(Protocol):
    """A model that can be initialized, stepped, and have its state read and written.

    Times are seconds (of simulated time). ``step(t, dt, inputs)`` advances from ``t`` to
    ``t + dt`` with ``inputs`` held constant and returns every output at ``t + dt``; ``t``
    must equal the end of the previous step (a simulator raises :class:`SimulationError`
    otherwise, and when its numerics fail: a diverging solve is an error, never a NaN output).
    ``get_state`` returns an opaque value that ``set_state`` accepts on the same simulator (or
    one made by the same factory), to fork or rewind it.
    """

    @property
    def variables(self) -> Sequence[Variable]:
        """Every parameter, input, output and state variable."""
        ...

    def initialize(
        self,
        t0: float,
        parameters: Mapping[str, float] | None = None,
        state: Mapping[str, float] | None = None,
    ) -> Mapping[str, float]:
        """Start at ``t0``; unset parameters and states take their ``start``. Return the outputs."""
        ...

    def step(self, t: float, dt: float, inputs: Mapping[str, float]) -> Mapping[str, float]: ...

    def get_state(self) -> Any: ...

    def set_state(self, state: Any) -> None: ...

    def close(self) -> None:
        """Free what the simulator holds (a loaded FMU, a process pool); idempotent."""
        ...


def _names(variables: Sequence[Variable], causality: Causality) -> dict[str, Variable]:
    return {v.name: v for v in variables if v.causality is causality}


def _check_values(
    values: Mapping[str, float],
    known: Mapping[str, Variable],
    what: str,
    where: str,
) -> dict[str, float]:
    checked: dict[str, float] = {}
    for name, value in values.items():
        if name not in known:
            raise ValidationError(
                f"unknown {what} {name!r}",
                path=f"{where}/{name}",
                expected=f"one of {sorted(known)}",
                got=name,
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError(
                f"{what} {name!r} is not a number",
                path=f"{where}/{name}",
                expected="a finite number",
                got=value,
            )
        if not math.isfinite(value):
            raise ValidationError(
                f"{what} {name!r} is not finite",
                path=f"{where}/{name}",
                expected="a finite number",
                got=value,
            )
        checked[name] = float(value)
    return checked


def check_parameters(
    variables: Sequence[Variable], parameters: Mapping[str, float] | None, where: str
) -> dict[str, float]:
    """Every parameter's value: the given ones checked, the others their ``start``."""
    known = _names(variables, Causality.PARAMETER)
    given = _check_values(parameters or {}, known, "parameter", where)
    return {
        name: given[name] if name in given else _start(var, where) for name, var in known.items()
    }


def check_inputs(
    variables: Sequence[Variable], inputs: Mapping[str, float], where: str
) -> dict[str, float]:
    """Every input's value: the given ones checked, the others their ``start``."""
    known = _names(variables, Causality.INPUT)
    given = _check_values(inputs, known, "input", where)
    return {
        name: given[name] if name in given else _start(var, where) for name, var in known.items()
    }


def check_outputs(outputs: Mapping[str, float], t: float, where: str) -> dict[str, float]:
    """Raise :class:`SimulationError` if any output is not finite (the run diverged)."""
    bad = {name: value for name, value in outputs.items() if not math.isfinite(value)}
    if bad:
        raise SimulationError(
            f"the simulation diverged at t={t:g} s: {', '.join(sorted(bad))} not finite "
            f"({bad}); shorten the step or check the parameters",
            where=where,
        )
    return {name: float(value) for name, value in outputs.items()}


def _start(variable: Variable, where: str) -> float:
    if variable.start is None:
        raise ValidationError(
            f"{variable.causality.value} {variable.name!r} has no default and was not given",
            path=f"{where}/{variable.name}",
            expected="a value for it",
            got=None,
        )
    return variable.start

"""Small ODE models with known behaviour, shared by the ODE, ensemble and Dask tests.

Module-level functions, so Dask pickles them by reference and its workers import this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from twinkit.sim import Causality, Variable
from twinkit.sim._ode import OdeModel

Values = Mapping[str, npt.NDArray[np.float64]]

__all__ = ["blow_up", "decay", "inflow_schedule", "oscillator", "tank"]


def _decay_rhs(t: float, x: Values, p: Values, u: Values) -> dict[str, Any]:
    return {"x": -p["k"] * x["x"]}


def decay() -> OdeModel:
    """dx/dt = -k x: x(t) = x0 exp(-k t)."""
    return OdeModel(
        "decay",
        [Variable("x", Causality.STATE, start=1.0), Variable("k", Causality.PARAMETER, start=0.5)],
        _decay_rhs,
    )


def _oscillator_rhs(t: float, x: Values, p: Values, u: Values) -> dict[str, Any]:
    return {"x": x["v"], "v": -(p["omega"] ** 2) * x["x"]}


def _oscillator_output(t: float, x: Values, p: Values, u: Values) -> dict[str, Any]:
    return {"energy": 0.5 * x["v"] ** 2 + 0.5 * p["omega"] ** 2 * x["x"] ** 2}


def oscillator() -> OdeModel:
    """x'' = -omega^2 x from x=1, v=0: x(t) = cos(omega t), energy constant at omega^2 / 2."""
    return OdeModel(
        "oscillator",
        [
            Variable("x", Causality.STATE, start=1.0),
            Variable("v", Causality.STATE, start=0.0),
            Variable("omega", Causality.PARAMETER, start=2.0),
            Variable("energy", Causality.OUTPUT),
        ],
        _oscillator_rhs,
        _oscillator_output,
    )


def _tank_rhs(t: float, x: Values, p: Values, u: Values) -> dict[str, Any]:
    outflow = p["cv"] * np.sqrt(np.maximum(x["level"], 0.0))
    return {"level": (u["inflow"] - outflow) / p["area"]}


def _tank_output(t: float, x: Values, p: Values, u: Values) -> dict[str, Any]:
    return {"outflow": p["cv"] * np.sqrt(np.maximum(x["level"], 0.0))}


def tank() -> OdeModel:
    """A tank draining through a valve: A dh/dt = q_in - cv sqrt(h); steady h = (q_in/cv)^2."""
    return OdeModel(
        "tank",
        [
            Variable("level", Causality.STATE, start=1.0, unit="m"),
            Variable("area", Causality.PARAMETER, start=2.0, unit="m2"),
            Variable("cv", Causality.PARAMETER, start=0.3),
            Variable("inflow", Causality.INPUT, start=0.2, unit="m3/s"),
            Variable("outflow", Causality.OUTPUT, unit="m3/s"),
        ],
        _tank_rhs,
        _tank_output,
    )


def inflow_schedule(t: float) -> dict[str, float]:
    """Inflow stepping up at 60 s and down at 150 s."""
    return {"inflow": 0.35 if 60.0 <= t < 150.0 else 0.15}


def _blow_up_rhs(t: float, x: Values, p: Values, u: Values) -> dict[str, Any]:
    return {"x": p["k"] * x["x"] ** 2}


def blow_up() -> OdeModel:
    """dx/dt = k x^2 from x=1: x = 1 / (1 - k t), infinite at t = 1/k."""
    return OdeModel(
        "blow_up",
        [Variable("x", Causality.STATE, start=1.0), Variable("k", Causality.PARAMETER, start=1.0)],
        _blow_up_rhs,
    )

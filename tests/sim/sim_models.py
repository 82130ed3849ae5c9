"""A first-order tank, solved exactly per step: a small real Simulator for the sim tests."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from twinkit.sim import Causality, Variable
from twinkit.sim._protocol import check_parameters

__all__ = ["Tank"]


class Tank:
    """dh/dt = (q_in - k*h) / area, solved exactly over each step (inputs held)."""

    variables: Sequence[Variable] = (
        Variable("area", Causality.PARAMETER, start=2.0),
        Variable("k", Causality.PARAMETER, start=0.5),
        Variable("q_in", Causality.INPUT, start=0.0),
        Variable("level", Causality.STATE, start=1.0),
        Variable("level_out", Causality.OUTPUT),
    )

    def __init__(self) -> None:
        self.h = 0.0
        self.t = 0.0
        self.p: dict[str, float] = {}

    def initialize(
        self,
        t0: float,
        parameters: Mapping[str, float] | None = None,
        state: Mapping[str, float] | None = None,
    ) -> Mapping[str, float]:
        self.p = check_parameters(self.variables, parameters, "tank")
        self.h = (state or {}).get("level", 1.0)
        self.t = t0
        return {"level_out": self.h}

    def step(self, t: float, dt: float, inputs: Mapping[str, float]) -> Mapping[str, float]:
        assert math.isclose(t, self.t), (t, self.t)
        rate = self.p["k"] / self.p["area"]
        steady = inputs["q_in"] / self.p["k"]
        self.h = steady + (self.h - steady) * math.exp(-rate * dt)
        self.t = t + dt
        return {"level_out": self.h}

    def get_state(self) -> Any:
        return (self.t, self.h)

    def set_state(self, state: Any) -> None:
        self.t, self.h = state

    def close(self) -> None:
        return None

"""Stepping a shadow's simulator from one data time to the next, at epoch times."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pytest

from twinkit.sim._protocol import Causality, Variable
from twinkit.sim._shadow import _steps


class Recorder:
    """A simulator that records its steps and checks each is positive."""

    variables = (Variable("y", Causality.OUTPUT),)

    def __init__(self) -> None:
        self.steps: list[tuple[float, float]] = []

    def step(self, t: float, dt: float, inputs: Mapping[str, float]) -> dict[str, float]:
        if not dt > 0:
            raise ValueError(f"step size must be finite and positive, got dt={dt}")
        self.steps.append((t, dt))
        return {"y": t + dt}


@pytest.mark.parametrize(
    ("dt", "span"), [(0.1, 0.2), (0.1, 0.7), (0.5, 2.0), (1.0, 2.0 + 2.4e-7), (1.0, 0.3)]
)
def test_steps_reach_the_target_at_epoch_times_without_a_zero_step(dt: float, span: float) -> None:
    start = 1_795_530_337.5175750  # float steps of 2.4e-7 s here: start + 0.2 is not exact
    stop = start + span
    simulator = Recorder()
    outputs, _ = _steps(simulator, start, stop, dt=dt, inputs={}, where="test")  # type: ignore[arg-type]
    assert simulator.steps and all(dt > 0 for _, dt in simulator.steps)
    assert math.isclose(outputs["y"], stop, rel_tol=0, abs_tol=1e-6)

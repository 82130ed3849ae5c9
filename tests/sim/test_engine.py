"""The engine steps any Simulator on either clock, holds inputs, and fails loudly."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest
from sim_models import Tank

from twinkit.errors import SimulationError, ValidationError
from twinkit.sim import RealtimeClock, Simulator, simulate


class Exploding(Tank):
    def step(self, t: float, dt: float, inputs: Mapping[str, float]) -> Mapping[str, float]:
        super().step(t, dt, inputs)
        return {"level_out": math.inf if t >= 3 else self.h}


def test_tank_is_a_simulator() -> None:
    assert isinstance(Tank(), Simulator)


def test_constant_input_matches_the_exact_solution() -> None:
    result = simulate(Tank(), stop=10.0, dt=0.5, inputs={"q_in": 1.0})
    expected = 2.0 + (1.0 - 2.0) * np.exp(-0.25 * result.times)
    np.testing.assert_allclose(result.outputs["level_out"], expected, rtol=1e-12)
    assert result.times[0] == 0.0
    assert result.times[-1] == 10.0
    assert len(result.times) == 21
    assert not result.cancelled
    assert result.final_state == pytest.approx((10.0, expected[-1]))


def test_last_step_is_shortened_to_end_on_stop() -> None:
    result = simulate(Tank(), start=5.0, stop=6.25, dt=0.5)
    assert result.times.tolist() == [5.0, 5.5, 6.0, 6.25]


def test_frame_inputs_are_held_between_rows() -> None:
    schedule = pd.DataFrame({"q_in": [0.0, 2.0]}, index=[0.0, 2.0])
    result = simulate(Tank(), stop=4.0, dt=1.0, inputs=schedule)
    frame = result.frame()
    assert frame["input:q_in"].tolist() == [0.0, 0.0, 2.0, 2.0, 2.0]
    assert frame["level_out"].iloc[2] == pytest.approx(math.exp(-0.5))


def test_function_inputs_and_parameters_and_state() -> None:
    result = simulate(
        Tank(),
        stop=1.0,
        dt=0.1,
        inputs=lambda t: {"q_in": 4.0 if t >= 0.5 else 0.0},
        parameters={"k": 1.0},
        state={"level": 3.0},
    )
    assert result.outputs["level_out"][0] == 3.0
    assert result.outputs["level_out"][-1] > result.outputs["level_out"][5]


def test_unknown_input_names_the_input() -> None:
    with pytest.raises(ValidationError, match="unknown input 'flow'") as info:
        simulate(Tank(), stop=1.0, dt=0.5, inputs={"flow": 1.0})
    assert "inputs at t=0" in str(info.value)


def test_non_finite_input_is_refused() -> None:
    with pytest.raises(ValidationError, match="not finite"):
        simulate(Tank(), stop=1.0, dt=0.5, inputs={"q_in": math.nan})


def test_bad_horizon_is_refused() -> None:
    for stop, dt in ((0.0, 1.0), (1.0, 0.0), (1.0, -1.0), (math.inf, 1.0)):
        with pytest.raises(ValidationError):
            simulate(Tank(), stop=stop, dt=dt)
    with pytest.raises(ValidationError, match="more than one run may take"):
        simulate(Tank(), stop=1e9, dt=1e-3)


def test_divergence_raises_with_its_time() -> None:
    with pytest.raises(SimulationError, match=r"diverged at t=4 s: level_out not finite"):
        simulate(Exploding(), stop=10.0, dt=1.0)


def test_backend_exception_becomes_a_simulation_error() -> None:
    class Broken(Tank):
        def step(self, t: float, dt: float, inputs: Mapping[str, float]) -> Mapping[str, float]:
            raise ZeroDivisionError("division by zero")

    with pytest.raises(SimulationError, match="Broken failed stepping from t=0 s") as info:
        simulate(Broken(), stop=1.0, dt=0.5)
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_progress_ends_at_one_and_on_step_sees_every_step() -> None:
    fractions: list[float] = []
    steps: list[float] = []
    simulate(
        Tank(),
        stop=3.0,
        dt=1.0,
        progress=fractions.append,
        on_step=lambda t, out: steps.append(t),
    )
    assert fractions[-1] == 1.0
    assert steps == [1.0, 2.0, 3.0]


def test_cancel_returns_the_partial_run() -> None:
    cancel = threading.Event()

    def stop_after_two(t: float, out: Mapping[str, float]) -> None:
        if t >= 2.0:
            cancel.set()

    result = simulate(Tank(), stop=10.0, dt=1.0, on_step=stop_after_two, cancel=cancel)
    assert result.cancelled
    assert result.times.tolist() == [0.0, 1.0, 2.0]
    assert len(result.outputs["level_out"]) == 3


def test_realtime_clock_paces_the_run() -> None:
    began = time.monotonic()
    simulate(Tank(), stop=2.0, dt=0.5, clock=RealtimeClock(factor=10.0))
    assert 0.18 <= time.monotonic() - began < 2.0


def test_strict_realtime_clock_raises_when_too_slow() -> None:
    class Slow(Tank):
        def step(self, t: float, dt: float, inputs: Mapping[str, float]) -> Mapping[str, float]:
            time.sleep(0.05)
            return super().step(t, dt, inputs)

    clock = RealtimeClock(factor=1000.0, strict=True, tolerance=0.01)
    with pytest.raises(SimulationError, match="too slow for realtime factor 1000"):
        simulate(Slow(), stop=10.0, dt=1.0, clock=clock)


def test_realtime_factor_must_be_positive() -> None:
    with pytest.raises(ValidationError, match="factor"):
        RealtimeClock(factor=0.0)


def test_plot_draws_outputs() -> None:
    import matplotlib

    matplotlib.use("Agg")
    result = simulate(Tank(), stop=2.0, dt=0.5)
    ax = result.plot()
    assert [line.get_label() for line in ax.get_lines()] == ["level_out"]
    with pytest.raises(ValidationError, match="no output 'x'"):
        result.plot("x")

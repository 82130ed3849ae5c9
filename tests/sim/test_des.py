"""Discrete-event models on SimPy: stepping, seeds, state by replay, clocks, errors."""

from __future__ import annotations

import pickle
import time
from collections.abc import Generator, Mapping
from typing import Any

import numpy as np
import pytest
import simpy

from twinkit.errors import SimulationError, ValidationError
from twinkit.sim._clock import RealtimeClock
from twinkit.sim._des import DesSimulator, DesState
from twinkit.sim._engine import simulate
from twinkit.sim._protocol import Causality, Simulator, Variable


class Queue:
    """M/M/1: Poisson arrivals at the input rate, one server with exponential service."""

    variables = (
        Variable("service_rate", Causality.PARAMETER, 1.0, "1/s"),
        Variable("fail_at", Causality.PARAMETER, 1e12, "s", "arrivals fail from this time on"),
        Variable("arrival_rate", Causality.INPUT, 0.5, "1/s"),
        Variable("in_system", Causality.STATE, 0.0, "1"),
        Variable("served", Causality.OUTPUT, 0.0, "1"),
        Variable("mean_in_system", Causality.OUTPUT, 0.0, "1"),
    )

    def build(
        self,
        env: simpy.Environment,
        parameters: Mapping[str, float],
        state: Mapping[str, float],
        rng: np.random.Generator,
    ) -> QueueRun:
        return QueueRun(env, parameters, state, rng)


class QueueRun:
    def __init__(
        self,
        env: simpy.Environment,
        parameters: Mapping[str, float],
        state: Mapping[str, float],
        rng: np.random.Generator,
    ) -> None:
        self.env, self.rng = env, rng
        self.mu, self.fail_at = parameters["service_rate"], parameters["fail_at"]
        self.rate = 0.0
        self.server = simpy.Resource(env, capacity=1)
        self.in_system, self.served = 0, 0
        self.t0 = self.last = env.now
        self.area = 0.0
        self.wake = env.event()
        env.process(self.arrivals())
        self.in_system = int(state["in_system"])  # these are in already
        for _ in range(self.in_system):
            env.process(self.customer(arrived=True))

    def count(self, change: int) -> None:
        self.area += self.in_system * (self.env.now - self.last)
        self.last = self.env.now
        self.in_system += change

    def arrivals(self) -> Generator[simpy.Event, Any, None]:
        while True:
            if self.rate <= 0:
                self.wake = self.env.event()
                yield self.wake
                continue
            yield self.env.timeout(self.rng.exponential(1 / self.rate))
            if self.env.now >= self.fail_at:
                raise RuntimeError("the waiting room is on fire")
            self.env.process(self.customer())

    def customer(self, arrived: bool = False) -> Generator[simpy.Event, Any, None]:
        if not arrived:
            self.count(+1)
        with self.server.request() as request:
            yield request
            yield self.env.timeout(self.rng.exponential(1 / self.mu))
        self.count(-1)
        self.served += 1

    def apply_inputs(self, inputs: Mapping[str, float]) -> None:
        self.rate = inputs["arrival_rate"]
        if self.rate > 0 and not self.wake.triggered:
            self.wake.succeed()

    def outputs(self) -> dict[str, float]:
        elapsed = self.env.now - self.t0
        area = self.area + self.in_system * (self.env.now - self.last)
        return {
            "in_system": self.in_system,
            "served": self.served,
            "mean_in_system": area / elapsed if elapsed > 0 else 0.0,
        }


def run(simulator: DesSimulator, steps: list[tuple[float, float, float]]) -> list[dict[str, float]]:
    return [dict(simulator.step(t, dt, {"arrival_rate": rate})) for t, dt, rate in steps]


def test_steps_run_the_environment_to_the_end_of_each_step() -> None:
    simulator = DesSimulator(Queue(), seed=1)
    assert isinstance(simulator, Simulator)
    first = simulator.initialize(10.0, state={"in_system": 3})
    assert first == {"in_system": 3.0, "served": 0.0, "mean_in_system": 0.0}
    out = simulator.step(10.0, 50.0, {"arrival_rate": 0.0})  # no arrivals: the three leave
    assert out["in_system"] == 0.0 and out["served"] == 3.0
    assert simulator.get_state().time == 60.0


def test_mm1_matches_queueing_theory() -> None:
    # rho = 0.5: mean number in system rho / (1 - rho) = 1.
    result = simulate(DesSimulator(Queue(), seed=7), stop=20_000.0, dt=1000.0)
    assert result.outputs["mean_in_system"][-1] == pytest.approx(1.0, rel=0.1)
    assert result.outputs["served"][-1] == pytest.approx(10_000, rel=0.05)


def test_same_seed_same_run_other_seed_other_run() -> None:
    steps = [(i * 10.0, 10.0, 0.8) for i in range(20)]
    a = DesSimulator(Queue(), seed=3)
    b = DesSimulator(Queue(), seed=3)
    c = DesSimulator(Queue(), seed=4)
    for simulator in (a, b, c):
        simulator.initialize(0.0)
    runs = [run(s, steps) for s in (a, b, c)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_set_state_replays_to_the_same_future() -> None:
    history = [(i * 10.0, 10.0, 0.3 if i < 5 else 0.9) for i in range(12)]
    future = [((12 + i) * 10.0, 10.0, 0.6 + 0.02 * i) for i in range(10)]
    simulator = DesSimulator(Queue(), seed=11)
    simulator.initialize(0.0, parameters={"service_rate": 1.2}, state={"in_system": 2})
    run(simulator, history)
    saved = pickle.loads(pickle.dumps(simulator.get_state()))
    assert isinstance(saved, DesState) and saved.time == 120.0
    assert [t for t, _ in saved.inputs] == [0.0, 50.0]  # only changes are kept
    expected = run(simulator, future)
    other = DesSimulator(Queue(), seed=99)  # the state carries its own seed
    for replayed in (other, simulator):
        replayed.set_state(saved)
        assert run(replayed, future) == expected


def test_engine_on_a_realtime_clock_keeps_pace() -> None:
    started = time.monotonic()
    result = simulate(DesSimulator(Queue()), stop=20.0, dt=2.0, clock=RealtimeClock(factor=100.0))
    elapsed = time.monotonic() - started
    assert 0.19 <= elapsed < 2.0  # 20 simulated seconds at 100 per wall second
    assert len(result.times) == 11


def test_a_failing_model_is_a_simulation_error_naming_the_time() -> None:
    simulator = DesSimulator(Queue(), seed=2)
    simulator.initialize(0.0, parameters={"fail_at": 30.0})
    with pytest.raises(SimulationError, match=r"failed at t=3\d\.\d+ s .*on fire"):
        for i in range(10):
            simulator.step(i * 10.0, 10.0, {"arrival_rate": 1.0})


def test_bad_calls_are_clear_errors() -> None:
    simulator = DesSimulator(Queue())
    with pytest.raises(SimulationError, match="before initialize"):
        simulator.step(0.0, 1.0, {})
    with pytest.raises(ValidationError, match="unknown state 'queue'"):
        simulator.initialize(0.0, state={"queue": 1.0})
    with pytest.raises(ValidationError, match="unknown parameter"):
        simulator.initialize(0.0, parameters={"servers": 2.0})
    simulator.initialize(0.0)
    with pytest.raises(SimulationError, match=r"step from t=5\.0 s but the model is at t=0"):
        simulator.step(5.0, 1.0, {})
    with pytest.raises(ValidationError, match="unknown input"):
        simulator.step(0.0, 1.0, {"rate": 1.0})
    with pytest.raises(ValidationError, match="not a state of this model"):
        simulator.set_state({"in_system": 1.0})
    with pytest.raises(ValidationError, match="seed"):
        DesSimulator(Queue(), seed=-1)


def test_an_observer_that_misses_outputs_is_caught() -> None:
    class Forgetful(Queue):
        variables = (*Queue.variables, Variable("waiting", Causality.OUTPUT, 0.0))

    with pytest.raises(SimulationError, match=r"no value for \['waiting'\]"):
        DesSimulator(Forgetful()).initialize(0.0)

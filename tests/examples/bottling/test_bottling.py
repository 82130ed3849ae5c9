"""The bottling line against queueing expectations: availability, bottlenecks, buffers."""

from __future__ import annotations

import numpy as np
import pytest

from twinkit.errors import ValidationError
from twinkit.examples.bottling import STATIONS, BottlingLine, ideal_throughput
from twinkit.sim._engine import Inputs, SimulationResult, simulate

HOURS = 3600.0
RELIABLE = {f"{s}_mtbf": 1e12 for s in STATIONS}  # never breaks within a run
BIG = {"buffer1_capacity": 5000.0, "buffer2_capacity": 5000.0}
FAILING = {**{f"{s}_mtbf": 600.0 for s in STATIONS}, **{f"{s}_mttr": 60.0 for s in STATIONS}}


def run(
    parameters: dict[str, float],
    *,
    hours: float = 8.0,
    seed: int = 1,
    dt: float = 600.0,
    inputs: Inputs = None,
    state: dict[str, float] | None = None,
) -> SimulationResult:
    simulator = BottlingLine().simulator(seed=seed)
    return simulate(
        simulator, stop=hours * HOURS, dt=dt, parameters=parameters, inputs=inputs, state=state
    )


def last(result: SimulationResult, name: str) -> float:
    return float(result.outputs[name][-1])


def test_without_breakdowns_the_slowest_station_sets_the_pace() -> None:
    result = run({**RELIABLE, **BIG}, hours=2.0)
    # capper 100/min < labeller 110/min < filler 120/min
    assert last(result, "throughput") == pytest.approx(100.0, rel=0.005)
    assert last(result, "breakdowns") == 0.0
    assert last(result, "capper_utilisation") == pytest.approx(1.0, abs=0.01)
    assert last(result, "labeller_utilisation") == pytest.approx(100 / 110, rel=0.01)
    # The filler outruns the capper by 20 bottles a minute: buffer 1 fills at that rate.
    assert last(result, "buffer1_level") == pytest.approx(20 * 120, abs=2)


def test_with_large_buffers_throughput_is_bottleneck_rate_times_availability() -> None:
    parameters = {**FAILING, **BIG}
    availability = 600.0 / (600.0 + 60.0)
    expected = 100.0 * availability
    assert ideal_throughput(parameters) == pytest.approx(expected)
    result = run(parameters, hours=10.0, seed=3)
    assert last(result, "throughput") == pytest.approx(expected, rel=0.04)
    # Breakdowns come after MTBF of working time on average.
    working = sum(last(result, f"{s}_utilisation") for s in STATIONS) * 10 * HOURS
    assert last(result, "breakdowns") == pytest.approx(working / 600.0, rel=0.2)


def test_small_buffers_lose_throughput_to_starving_and_blocking() -> None:
    big = last(run({**FAILING, **BIG}, hours=8.0, seed=5), "throughput")
    small = last(
        run({**FAILING, "buffer1_capacity": 2.0, "buffer2_capacity": 2.0}, hours=8.0, seed=5),
        "throughput",
    )
    assert small < 0.93 * big
    assert small > 0.5 * big


def test_a_filler_breakdown_drains_the_buffer_after_it() -> None:
    parameters = {**RELIABLE, **BIG, "filler_mtbf": 1800.0, "filler_mttr": 900.0}
    result = run(parameters, hours=6.0, dt=30.0, state={"buffer1_level": 3000.0})
    down = result.outputs["filler_down"] == 1.0
    level = result.outputs["buffer1_level"]
    assert down.any(), "no breakdown of the filler in six hours (MTBF 30 min)"
    pairs = range(1, len(level))
    # While it is down, the capper empties buffer 1 (until it is empty) ...
    falls = [level[i] < level[i - 1] or level[i] == 0 for i in pairs if down[i - 1] and down[i]]
    assert falls and all(falls)
    # ... and while it runs (120/min against the capper's 100/min), buffer 1 fills up again.
    up = [
        level[i] > level[i - 1] or level[i] == 5000 for i in pairs if not (down[i - 1] or down[i])
    ]
    assert np.mean(up) > 0.95


def test_the_filler_speed_setpoint_drives_the_line() -> None:
    slow = run({**RELIABLE, **BIG}, hours=2.0, inputs={"filler_speed": 60.0})
    assert last(slow, "throughput") == pytest.approx(60.0, rel=0.01)  # now the bottleneck
    stopped = run(
        {**RELIABLE, **BIG},
        hours=1.0,
        inputs=lambda t: {"filler_speed": 120.0 if t < 1800 else 0.0},
    )
    bottles = stopped.outputs["bottles"]
    assert bottles[-1] == bottles[-2] > 0  # the buffers ran dry and nothing more comes out
    assert last(stopped, "filler_utilisation") == pytest.approx(0.5, abs=0.02)


def test_a_forked_line_replays_to_the_same_future() -> None:
    simulator = BottlingLine().simulator(seed=8)
    simulator.initialize(0.0, parameters=FAILING)
    for i in range(12):
        simulator.step(i * 300.0, 300.0, {"filler_speed": 110.0 if i % 3 else 130.0})
    fork = simulator.get_state()
    ahead = [simulator.step((12 + i) * 300.0, 300.0, {"filler_speed": 90.0}) for i in range(6)]
    twin = BottlingLine().simulator()
    twin.set_state(fork)
    assert [twin.step((12 + i) * 300.0, 300.0, {"filler_speed": 90.0}) for i in range(6)] == ahead


@pytest.mark.parametrize(
    ("parameters", "state", "message"),
    [
        ({"buffer1_capacity": 2.5}, {}, "whole number of bottles"),
        ({"buffer2_capacity": 10.0}, {"buffer2_level": 11.0}, "within the capacity"),
        ({"capper_mttr": 0.0}, {}, "capper_mttr must be positive"),
    ],
)
def test_bad_parameters_are_validation_errors(
    parameters: dict[str, float], state: dict[str, float], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        BottlingLine().simulator().initialize(0.0, parameters=parameters, state=state)


def test_a_negative_setpoint_is_a_validation_error() -> None:
    simulator = BottlingLine().simulator()
    simulator.initialize(0.0)
    with pytest.raises(ValidationError, match="filler_speed must not be negative"):
        simulator.step(0.0, 60.0, {"filler_speed": -1.0})

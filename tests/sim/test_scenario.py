"""What-if scenarios on a real Runtime and SQLiteStore: forks, overrides, faults, failures.

The plant (tests/scenario_plant.py): source-1 (simulated) and spring-1 (no simulator) feed
tank-1 (simulated). Every expected value is a closed-form solution of the tank's equation.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from scenario_plant import (
    DivergingTank,
    SlowTank,
    TankSim,
    bindings,
    build_plant,
    tank_level,
)
from twinkit.core import Runtime
from twinkit.errors import ConflictError, NotFoundError, SimulationError, ValidationError
from twinkit.sim import Bindings
from twinkit.sim._scenario import INTERRUPTED, Scenarios, fork
from twinkit.sim._scenario_master import Master, simulate_scenario
from twinkit.sim._scenario_spec import ScenarioSpec
from twinkit.store import ScenarioRecord, ScenarioStatus, SQLiteStore


@dataclass
class Plant:
    store: SQLiteStore
    runtime: Runtime
    scenarios: Scenarios
    t0: float
    current: list[Bindings]  # the bindings the service sees (tests swap them)


@contextlib.asynccontextmanager
async def plant(tmp_path: Path, **options: Any) -> AsyncIterator[Plant]:
    t0 = time.time() - 1000
    store = await SQLiteStore.open(tmp_path / "twin.db")
    runtime = await Runtime.open(store, clock=lambda: t0 - 10)
    try:
        await build_plant(runtime, t0)
        current = [bindings(runtime)]
        scenarios = Scenarios(store, runtime, bindings=lambda: current[0], **options)
        try:
            yield Plant(store, runtime, scenarios, t0, current)
        finally:
            await scenarios.close()
    finally:
        await runtime.close()
        await store.close()


def spec(**changes: Any) -> dict[str, Any]:
    return {"name": "what-if", "roots": ["tank-1"], "horizon": 600, "dt": 10, **changes}


async def levels(p: Plant, name: str = "what-if", twin: str = "tank-1") -> tuple[Any, Any]:
    found = await p.store.scenario_points(name, twin, "level", -math.inf, math.inf)
    return found.times, found.values


def expected(
    h0: float, pieces: list[tuple[float, float, Mapping[str, float]]]
) -> Callable[..., float]:
    """The tank level at offset t for a piecewise-constant inflow and parameters:
    ``pieces`` are (from offset, inflow, parameters) by increasing offset."""

    def level(t: float) -> float:
        h, start = h0, 0.0
        for index, (begin, q, params) in enumerate(pieces):
            end = pieces[index + 1][0] if index + 1 < len(pieces) else math.inf
            if t <= begin:
                break
            span = min(t, end) - begin
            h = tank_level(span, h, q, **params)
            start = begin
        del start
        return h

    return level


def check(times: Any, values: Any, at: float, level: Callable[[float], float]) -> None:
    offsets = np.asarray(times) - at
    np.testing.assert_allclose(offsets, np.arange(0, 601, 10), atol=1e-6)
    np.testing.assert_allclose(values, [level(t) for t in offsets], rtol=1e-12)


def test_live_fork_runs_ahead_of_reality(tmp_path: Path) -> None:
    async def go() -> None:
        async with plant(tmp_path) as p:
            before = time.time()
            record = await p.scenarios.run(spec(), cause="token:t1")
            assert record.status is ScenarioStatus.DONE and record.progress == 1.0
            assert record.error is None and record.cause == "token:t1"
            at = record.spec["at"]
            assert before <= at <= time.time() and record.spec["dt"] == 10.0
            times, values = await levels(p)
            # live state: source flow 4 + spring 0.5 into a tank at 5 m
            check(times, values, at, lambda t: tank_level(t, 5.0, 4.5))
            assert await p.store.scenario_series("what-if") == [
                ("source-1", "flow"),
                ("tank-1", "level"),
                ("tank-1", "outflow"),  # an unmapped output is named after itself
            ]
            outflow = await p.store.scenario_points("what-if", "tank-1", "outflow", 0, math.inf)
            np.testing.assert_allclose(outflow.values, 0.5 * values)
            # reality is untouched: the tank's own series has its two measurements only
            real = await p.store.points("tank-1", "level", -math.inf, math.inf)
            assert [pt.value for pt in real] == [2.0, 5.0]

    asyncio.run(go())


def test_past_fork_starts_from_the_state_then(tmp_path: Path) -> None:
    async def go() -> None:
        async with plant(tmp_path) as p:
            record = await p.scenarios.run(spec(at=p.t0 + 50), cause="test")
            assert record.spec["at"] == p.t0 + 50
            times, values = await levels(p)
            # as of t0 + 50: source flow 1 + spring 0.5 into a tank at 2 m
            check(times, values, p.t0 + 50, lambda t: tank_level(t, 2.0, 1.5))

    asyncio.run(go())


def test_parameter_overrides_by_variable_or_content_name(tmp_path: Path) -> None:
    async def go() -> None:
        async with plant(tmp_path) as p:
            await p.scenarios.run(spec(parameters={"tank-1": {"area": 4}}), cause="test")
            times, values = await levels(p)
            check(times, values, times[0], lambda t: tank_level(t, 5.0, 4.5, area=4.0))
            # "outletK" is the content the binding maps to parameter k
            await p.scenarios.run(
                spec(name="k", parameters={"tank-1": {"outletK": 0.25}}), cause="test"
            )
            times, values = await levels(p, "k")
            check(times, values, times[0], lambda t: tank_level(t, 5.0, 4.5, k=0.25))

    asyncio.run(go())


def test_parameter_fault_from_its_start(tmp_path: Path) -> None:
    async def go() -> None:
        async with plant(tmp_path) as p:
            clog = {"twin": "tank-1", "target": "outletK", "start": 300, "multiplier": 0.5}
            await p.scenarios.run(spec(faults=[clog]), cause="test")
            times, values = await levels(p)
            level = expected(5.0, [(0, 4.5, {}), (300, 4.5, {"k": 0.25})])
            check(times, values, times[0], level)

    asyncio.run(go())


def test_a_fault_that_ends_restores_the_parameter(tmp_path: Path) -> None:
    class Tunable(TankSim):
        tuned: ClassVar[list[dict[str, float]]] = []

        def set_parameters(self, values: Mapping[str, float]) -> None:
            Tunable.tuned.append(dict(values))
            self.p = dict(values)

    async def go() -> None:
        async with plant(tmp_path) as p:
            p.current[0] = bindings(p.runtime, Tunable)
            fault = {"twin": "tank-1", "target": "k", "start": 100, "end": 400, "value": 1.0}
            await p.scenarios.run(spec(faults=[fault]), cause="test")
            times, values = await levels(p)
            level = expected(5.0, [(0, 4.5, {}), (100, 4.5, {"k": 1.0}), (400, 4.5, {})])
            check(times, values, times[0], level)
            # set_parameters was used (no re-initialization): on at 100 s, off at 400 s
            assert [t["k"] for t in Tunable.tuned] == [1.0, 0.5]

    asyncio.run(go())


def test_input_schedule_and_input_fault_reach_the_neighbour_one_step_later(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        async with plant(tmp_path) as p:
            schedule = {"source-1": {"rate": [[0, 1.0], [300, 3.0]]}}
            stop = {"twin": "source-1", "target": "rate", "start": 500, "value": 0.0}
            await p.scenarios.run(spec(inputs=schedule, faults=[stop]), cause="test")
            times, values = await levels(p)
            # Jacobi: the tank reads the source's outputs of the previous step, so the
            # source's flow (measured 4 at the fork) reaches the tank 10 s after each change.
            level = expected(5.0, [(0, 4.5, {}), (10, 1.5, {}), (310, 3.5, {}), (510, 0.5, {})])
            check(times, values, times[0], level)
            flow = await p.store.scenario_points("what-if", "source-1", "flow", 0, math.inf)
            assert flow.values[0] == 4.0  # the measured flow at the fork
            assert flow.values[1] == 1.0 and flow.values[31] == 3.0 and flow.values[51] == 0.0

    asyncio.run(go())


def test_setpoint_of_a_writable_property_drives_its_input(tmp_path: Path) -> None:
    async def go() -> None:
        async with plant(tmp_path) as p:
            await p.scenarios.run(spec(setpoints={"source-1": {"rate": 2.0}}), cause="test")
            times, values = await levels(p)
            check(times, values, times[0], expected(5.0, [(0, 4.5, {}), (10, 2.5, {})]))

    asyncio.run(go())


def test_twins_outside_the_subgraph_or_without_simulator_keep_their_forked_values(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        async with plant(tmp_path) as p:
            # depth 0: only the tank is simulated; the source is a boundary twin held at its
            # forked flow even though its rate is overridden in no way
            record = await p.scenarios.run(spec(depth=0), cause="test")
            assert record.status is ScenarioStatus.DONE
            assert await p.store.scenario_series("what-if") == [
                ("tank-1", "level"),
                ("tank-1", "outflow"),
            ]
            times, values = await levels(p)
            check(times, values, times[0], lambda t: tank_level(t, 5.0, 4.5))
            with pytest.raises(ValidationError, match="not in the scenario") as caught:
                await p.scenarios.submit(
                    spec(name="x", depth=0, setpoints={"source-1": {"rate": 1}}), cause="test"
                )
            assert caught.value.path == "setpoints/source-1"

    asyncio.run(go())


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        ({"roots": ["ghost"]}, "roots/0", "did not exist"),
        ({"inputs": {"ghost": {"rate": 1}}}, "inputs/ghost", "not in the scenario"),
        ({"inputs": {"spring-1": {"flow": 1}}}, "inputs/spring-1", "no simulator"),
        (
            {"parameters": {"tank-1": {"volume": 1}}},
            "parameters/tank-1/volume",
            "unknown parameter",
        ),
        ({"inputs": {"tank-1": {"q": 1}}}, "inputs/tank-1/q", "unknown input"),
        ({"setpoints": {"source-1": {"label": 1}}}, "setpoints/source-1/label", "writable"),
        ({"setpoints": {"tank-1": {"area": 1}}}, "setpoints/tank-1/area", "writable"),
        (
            {"inputs": {"source-1": {"rate": 1}}, "setpoints": {"source-1": {"rate": 2}}},
            "setpoints/source-1/rate",
            "set twice",
        ),
        (
            {"faults": [{"twin": "tank-1", "target": "x", "value": 1}]},
            "faults/0/target",
            "unknown parameter or input",
        ),
        (
            {"faults": [{"twin": "tank-1", "target": "q_in", "kind": "parameter", "value": 1}]},
            "faults/0/target",
            "unknown parameter",
        ),
        ({"binding": "nope"}, "roots", "no twin of the scenario has a simulation binding"),
        ({"at": time.time() + 3600}, "at", "present or the past"),
    ],
)
def test_invalid_requests_fail_before_anything_runs(
    tmp_path: Path, changes: dict[str, Any], path: str, message: str
) -> None:
    async def go() -> None:
        async with plant(tmp_path) as p:
            made, closed = TankSim.made, TankSim.closed
            with pytest.raises(ValidationError, match=message) as caught:
                await p.scenarios.submit(spec(**changes), cause="test")
            assert caught.value.path == path, caught.value
            assert caught.value.expected
            assert await p.store.scenarios() == [] and p.scenarios.running() == []
            assert TankSim.made - made == TankSim.closed - closed  # what was made was closed

    asyncio.run(go())


def test_too_many_points_is_refused_before_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("twinkit.sim._scenario_plan.MAX_POINTS", 100)

    async def go() -> None:
        async with plant(tmp_path) as p:
            made, closed = TankSim.made, TankSim.closed
            with pytest.raises(ValidationError, match="too many points") as caught:
                await p.scenarios.submit(spec(), cause="test")  # 61 steps x 3 outputs
            assert caught.value.path == "dt" and caught.value.got == "61 * 3"
            assert TankSim.made - made == TankSim.closed - closed == 1

    asyncio.run(go())


def test_names_are_unique_and_bindings_are_required(tmp_path: Path) -> None:
    async def go() -> None:
        async with plant(tmp_path) as p:
            await p.scenarios.run(spec(), cause="test")
            with pytest.raises(ConflictError, match="exists"):
                await p.scenarios.submit(spec(), cause="test")
            p.current[0] = Bindings()
            with pytest.raises(ValidationError, match="no simulation bindings"):
                await p.scenarios.submit(spec(name="other"), cause="test")
            with pytest.raises(NotFoundError):
                await p.scenarios.get("missing")

    asyncio.run(go())


def test_a_diverging_simulator_fails_the_scenario_and_nothing_else(tmp_path: Path) -> None:
    async def go() -> None:
        async with plant(tmp_path) as p:
            p.current[0] = bindings(p.runtime, DivergingTank)
            record = await p.scenarios.run(spec(name="boom"), cause="test")
            assert record.status is ScenarioStatus.FAILED
            assert record.error is not None
            assert "diverged at t=60" in record.error and "tank-1" in record.error
            assert 0 < record.progress < 1 and record.finished is not None
            # the points before it diverged are kept; the service goes on
            times, _ = await levels(p, "boom")
            assert len(times) == 6
            p.current[0] = bindings(p.runtime)
            assert (await p.scenarios.run(spec(), cause="test")).status is ScenarioStatus.DONE

    asyncio.run(go())


def test_a_simulator_raising_its_own_error_fails_the_scenario(tmp_path: Path) -> None:
    class Broken(TankSim):
        def step(self, t: float, dt: float, inputs: Mapping[str, float]) -> Mapping[str, float]:
            if t >= 20:
                raise ZeroDivisionError("float division by zero")
            return super().step(t, dt, inputs)

    async def go() -> None:
        async with plant(tmp_path) as p:
            p.current[0] = bindings(p.runtime, Broken)
            record = await p.scenarios.run(spec(), cause="test")
            assert record.status is ScenarioStatus.FAILED
            assert record.error == (
                "twin tank-1 (binding 'physics') failed stepping the simulator at t=20 s: "
                "ZeroDivisionError: float division by zero"
            )

    asyncio.run(go())


async def wait_for(check: Callable[[], Any], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_progress_and_cancel(tmp_path: Path) -> None:
    async def go() -> None:
        async with plant(tmp_path, workers=1) as p:
            p.current[0] = bindings(p.runtime, SlowTank)
            long = spec(name="long", horizon=100_000, dt=1)
            first = await p.scenarios.submit(long, cause="test")
            assert first.status is ScenarioStatus.QUEUED
            queued = await p.scenarios.submit({**long, "name": "queued"}, cause="test")
            assert queued.status is ScenarioStatus.QUEUED

            async def moving() -> bool:
                record = await p.scenarios.get("long")
                return record.status is ScenarioStatus.RUNNING and record.progress > 0

            await wait_for(moving)
            assert (await p.scenarios.get("queued")).status is ScenarioStatus.QUEUED
            closed = TankSim.closed
            record = await p.scenarios.cancel("long")
            assert record.status is ScenarioStatus.CANCELLED and record.error is None
            assert 0 < record.progress < 1
            assert TankSim.closed > closed  # its simulators were closed
            times, _ = await levels(p, "long")
            assert 1 < len(times) < 100_001
            with pytest.raises(ConflictError, match="cancelled; expected a queued or running"):
                await p.scenarios.cancel("long")
            # a queued one is cancelled before it starts
            await wait_for(lambda: _status(p, "queued", ScenarioStatus.RUNNING))
            await p.scenarios.delete("queued")
            assert [r.name for r in await p.scenarios.records()] == ["long"]
            assert p.scenarios.running() == []

    asyncio.run(go())


async def _status(p: Plant, name: str, status: ScenarioStatus) -> bool:
    return (await p.scenarios.get(name)).status is status


def test_closing_the_service_cancels_runs(tmp_path: Path) -> None:
    async def go() -> None:
        async with plant(tmp_path) as p:
            p.current[0] = bindings(p.runtime, SlowTank)
            await p.scenarios.submit(spec(name="long", horizon=100_000, dt=1), cause="test")
            await wait_for(lambda: _status(p, "long", ScenarioStatus.RUNNING))
            await p.scenarios.close()
            record = await p.store.scenario("long")
            assert record.status is ScenarioStatus.CANCELLED
            assert record.error == "cancelled: the server stopped"
            with pytest.raises(ConflictError, match="closed"):
                await p.scenarios.submit(spec(), cause="test")

    asyncio.run(go())


def test_runs_a_stopped_server_left_behind_are_marked_failed(tmp_path: Path) -> None:
    async def go() -> None:
        async with plant(tmp_path) as p:
            left = ScenarioRecord("left", spec(), ScenarioStatus.RUNNING, time.time(), "test")
            await p.store.add_scenario(left)
            fresh = Scenarios(p.store, p.runtime, bindings=p.current[0])
            (record,) = await fresh.records()
            assert record.status is ScenarioStatus.FAILED and record.error == INTERRUPTED

    asyncio.run(go())


def test_the_library_levels_need_no_store_writes(tmp_path: Path) -> None:
    async def go() -> None:
        async with plant(tmp_path) as p:
            the_spec = ScenarioSpec.from_json(spec(at=p.t0 + 50))
            plan = await fork(the_spec, runtime=p.runtime, store=p.store, bindings=p.current[0])
            try:
                assert plan.steps == 60 and plan.subgraph == ("tank-1", "source-1", "spring-1")
                assert [m.twin.id for m in plan.members] == ["tank-1", "source-1"]
                fractions: list[float] = []
                result = simulate_scenario(plan, progress=fractions.append)
                assert fractions[-1] == 1.0 and not result.cancelled
                frame = result.frame()
                assert list(frame.columns) == ["tank-1/level", "tank-1/outflow", "source-1/flow"]
                offsets = result.times - plan.at
                np.testing.assert_allclose(
                    frame["tank-1/level"].to_numpy(), [tank_level(t, 2.0, 1.5) for t in offsets]
                )
                # the low level: a fresh master on new simulators, one step at a time
                again = await fork(
                    the_spec, runtime=p.runtime, store=p.store, bindings=p.current[0]
                )
                master = Master(again)
                chunk = master.advance(max_steps=1)
                assert chunk.steps == 1 and master.steps_done == 1 and not master.done
                assert [len(points.times) for points in chunk.points] == [2, 2, 2]
                again.close()
            finally:
                plan.close()
            assert await p.store.scenarios() == []

    asyncio.run(go())


def test_a_simulator_that_cannot_be_made_is_a_simulation_error(tmp_path: Path) -> None:
    def factory() -> TankSim:
        raise OSError("model file missing")

    async def go() -> None:
        async with plant(tmp_path) as p:
            checked = bindings(p.runtime)  # Bindings.add checks with a working factory
            tank = next(b for b in checked if b.name == "physics" and "Tank" in b.model)
            object.__setattr__(tank, "factory", factory)
            p.current[0] = checked
            with pytest.raises(SimulationError, match=r"could not make the simulator.*missing"):
                await p.scenarios.submit(spec(), cause="test")

    asyncio.run(go())

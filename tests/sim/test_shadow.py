"""Shadow mode on a real runtime and SQLite store, with a tank simulator solved exactly per step.

The "device" in these tests follows the same physics as the simulator (dh/dt = (q - k h) / A,
inputs held between readings), so the residual is zero until the device's own ``k`` drifts.
"""

from __future__ import annotations

import asyncio
import math
import re
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from sim_models import Tank

from twinkit.core import EventType, Reading, Runtime
from twinkit.errors import NotFoundError, SimulationError, ValidationError
from twinkit.query._series import series_range
from twinkit.sim import Bindings, Causality, Related, SimulationBinding, Variable
from twinkit.sim._shadow import ShadowRunner, ShadowState
from twinkit.sim._shadow_plugins import load_bindings
from twinkit.sim._shadow_start import (
    GraphView,
    data_time,
    initial_conditions,
    related_values,
    simulate_twin,
)
from twinkit.store import SQLiteStore

TANK = "dtmi:test:shadow:Tank;1"
SOURCE = "dtmi:test:shadow:Source;1"
DOCS: list[dict[str, Any]] = [
    {
        "@context": "dtmi:dtdl:context;3",
        "@id": TANK,
        "@type": "Interface",
        "contents": [
            {"@type": "Property", "name": "area", "schema": "double"},
            {"@type": "Telemetry", "name": "level", "schema": "double"},
            {"@type": "Telemetry", "name": "inflow", "schema": "double"},
            {"@type": "Relationship", "name": "fedBy", "target": SOURCE},
        ],
    },
    {
        "@context": "dtmi:dtdl:context;3",
        "@id": SOURCE,
        "@type": "Interface",
        "contents": [{"@type": "Telemetry", "name": "flow", "schema": "double"}],
    },
]
DEVICE = "connector:test"
ROOT = Path(__file__).resolve().parents[2]


class FragileTank(Tank):
    """The tank, failing like real backends do: a bug above q=100, a divergence below q=0."""

    def step(self, t: float, dt: float, inputs: Mapping[str, float]) -> Mapping[str, float]:
        if inputs["q_in"] > 100:
            raise RuntimeError("pump curve lookup out of range")
        if inputs["q_in"] < 0:
            self.t = t + dt
            return {"level_out": math.nan}
        return super().step(t, dt, inputs)


def tank_binding(factory: Callable[[], Any] = Tank, **changes: Any) -> SimulationBinding:
    fields: dict[str, Any] = {
        "model": TANK,
        "factory": factory,
        "dt": 0.5,
        "parameters": {"area": "area"},
        "inputs": {"q_in": "inflow"},
        "states": {"level": "level"},
        "outputs": {"level_out": "level"},
    }
    return SimulationBinding(**{**fields, **changes})


class Device:
    """A real tank: exact solution between readings, inputs held, its own outflow constant k."""

    def __init__(self, level: float = 1.0, area: float = 2.0, k: float = 0.5) -> None:
        self.level, self.area, self.k = level, area, k

    def run(self, q: float, seconds: float) -> None:
        steady = q / self.k
        self.level = steady + (self.level - steady) * math.exp(-self.k / self.area * seconds)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def with_shadow(
    tmp_path: Path,
    body: Callable[[Runtime, ShadowRunner, SQLiteStore], Awaitable[None]],
    *bindings: SimulationBinding,
    clock: Clock | None = None,
    **options: Any,
) -> None:
    """Run ``body`` on a runtime (its clock at 0 s unless ``clock``) with a started runner."""

    async def main() -> None:
        async with await SQLiteStore.open(tmp_path / "twins.db") as store:
            runtime = await Runtime.open(store, clock=clock or Clock())
            await runtime.add_models(DOCS)
            await runtime.create_twin("tank-1", TANK, {"area": 2.0}, cause="test")
            found = Bindings()
            for binding in bindings or (tank_binding(),):
                found.add(binding, runtime.models)
            runner = ShadowRunner(runtime, found, **options)
            await runner.start()
            try:
                await body(runtime, runner, store)
            finally:
                await runner.stop()
                await runtime.close()

    asyncio.run(main())


async def read(runtime: Runtime, twin_id: str, t: float, **values: float) -> None:
    (error,) = await runtime.ingest([[Reading(twin_id, values, time=t)]], cause=DEVICE)
    assert error is None


async def run_device(
    runtime: Runtime, runner: ShadowRunner, device: Device, times: range, *, drift_at: int = -1
) -> None:
    """One reading a second, the inflow changing now and then; the shadow keeps up."""
    for i in times:
        q = 1.0 if i < 5 else 2.0 if i < 12 else 0.5
        if i == drift_at:
            device.k = 0.3  # a clogged outlet
        await read(runtime, "tank-1", 1_000.0 + i, level=device.level, inflow=q)
        await runner.settle()
        device.run(q, 1.0)


def test_residuals_are_zero_while_the_device_follows_the_same_physics(tmp_path: Path) -> None:
    async def body(runtime: Runtime, runner: ShadowRunner, store: SQLiteStore) -> None:
        device = Device()
        await run_device(runtime, runner, device, range(20))
        residuals = await series_range(store, "tank-1", "residual:level", 0, 2_000)
        simulated = await series_range(store, "tank-1", "simulated:level", 0, 2_000)
        measured = await series_range(store, "tank-1", "level", 0, 2_000)
        assert len(residuals.values) == 20
        assert max(abs(residuals.values)) < 1e-9
        assert simulated.values == pytest.approx(measured.values, abs=1e-9)
        (status,) = runner.status("tank-1")
        assert status.state is ShadowState.RUNNING and status.time == 1_019.0
        assert status.updates == 20 and status.steps == 38  # 19 s in steps of 0.5 s
        assert status.residuals["level"] == pytest.approx(0.0, abs=1e-9)
        twin = runtime.get("tank-1")
        assert twin.derived["simulated:level"].time == 1_019.0
        assert set(twin.telemetry) == {"level", "inflow"}  # derived values stay apart

    with_shadow(tmp_path, body)


def test_a_drifting_device_shows_up_as_a_growing_residual(tmp_path: Path) -> None:
    async def body(runtime: Runtime, runner: ShadowRunner, store: SQLiteStore) -> None:
        await run_device(runtime, runner, Device(), range(25), drift_at=10)
        page = await series_range(store, "tank-1", "residual:level", 0, 2_000)
        residual = dict(zip(page.times.tolist(), page.values.tolist(), strict=True))
        assert max(abs(residual[1_000.0 + i]) for i in range(11)) < 1e-9  # before it shows
        # Less outflow: the level runs above the model's, and stays there.
        assert residual[1_011.0] > 0.01
        assert min(residual[1_000.0 + i] for i in range(12, 25)) > 0.3

    with_shadow(tmp_path, body)


def test_a_burst_is_one_advance_through_all_of_its_simulated_time(tmp_path: Path) -> None:
    async def body(runtime: Runtime, runner: ShadowRunner, store: SQLiteStore) -> None:
        device = Device()
        await read(runtime, "tank-1", 0.0, level=device.level, inflow=1.0)
        await runner.settle()
        burst = []
        for i in range(1, 1_001):
            device.run(1.0, 1.0)
            burst.append([Reading("tank-1", {"level": device.level, "inflow": 1.0}, time=i)])
        await runtime.ingest(burst, cause=DEVICE)  # 1,000 events at once
        await runner.settle()
        (status,) = runner.status("tank-1")
        assert status.updates == 2  # the start, then one advance to the newest reading
        assert status.steps == 2_000  # but every step of the 1,000 s in between
        assert status.time == 1_000.0
        assert status.residuals["level"] == pytest.approx(0.0, abs=1e-9)
        page = await series_range(store, "tank-1", "simulated:level", 0, 2_000)
        assert page.times.tolist() == [0.0, 1_000.0]
        # Readings at or before the shadow's time are ignored, and counted.
        await read(runtime, "tank-1", 999.0, level=5.0, inflow=1.0)
        await runner.settle()
        (status,) = runner.status("tank-1")
        assert status.ignored == 1 and status.updates == 2

    with_shadow(tmp_path, body)


def test_a_long_gap_or_a_new_parameter_reseeds_from_measured_state(tmp_path: Path) -> None:
    clock = Clock()

    async def body(runtime: Runtime, runner: ShadowRunner, store: SQLiteStore) -> None:
        await read(runtime, "tank-1", 0.0, level=1.0, inflow=1.0)
        await read(runtime, "tank-1", 10.0, level=1.2, inflow=1.0)
        await runner.settle()
        await read(runtime, "tank-1", 1_000_000.0, level=3.5, inflow=1.0)
        await runner.settle()
        (status,) = runner.status("tank-1")
        assert status.reseeds == 1 and status.time == 1_000_000.0
        assert status.steps == 20  # the gap was not simulated
        assert status.simulated == {"level": 3.5} and status.residuals == {"level": 0.0}
        clock.now = 1_000_000.5
        await runtime.report("tank-1", {"area": 4.0}, cause="operator")
        await runner.settle()
        (status,) = runner.status("tank-1")
        assert status.reseeds == 2 and status.time == 1_000_000.5
        assert status.simulated == {"level": 3.5} and status.residuals == {}  # none measured
        await read(runtime, "tank-1", 1_000_001.0, level=3.6, inflow=1.0)
        await runner.settle()
        (status,) = runner.status("tank-1")
        assert status.reseeds == 2 and status.steps == 21
        expected = Device(level=3.5, area=4.0)
        expected.run(1.0, 0.5)
        assert status.simulated["level"] == pytest.approx(expected.level)

    with_shadow(tmp_path, body, max_gap=100.0, clock=clock)


def test_a_failing_simulator_fails_its_shadow_only_alerts_once_and_is_retried(
    tmp_path: Path,
) -> None:
    clock = Clock()

    async def body(runtime: Runtime, runner: ShadowRunner, store: SQLiteStore) -> None:
        await runtime.create_twin("tank-2", TANK, {"area": 2.0}, cause="test")
        for twin_id in ("tank-1", "tank-2"):
            await read(runtime, twin_id, 0.0, level=1.0, inflow=1.0)
        await runner.settle()
        await read(runtime, "tank-2", 1.0, level=1.0, inflow=500.0)  # held from t=1 on
        await read(runtime, "tank-2", 2.0, level=1.0, inflow=500.0)
        await runner.settle()
        (failed,) = runner.status("tank-2")
        assert failed.state is ShadowState.FAILED
        assert failed.error is not None and "pump curve lookup out of range" in failed.error
        assert failed.retry_in == pytest.approx(10.0)
        for t in (3.0, 4.0):  # while it waits: no new alert, no values
            await read(runtime, "tank-2", t, level=1.0, inflow=1.0)
            await read(runtime, "tank-1", t, level=1.0, inflow=1.0)
        await runner.settle()
        (healthy,) = runner.status("tank-1")
        assert healthy.state is ShadowState.RUNNING and healthy.time == 4.0
        alerts = [e for e in await runtime.events("tank-2") if e.type is EventType.ALERT_RAISED]
        assert len(alerts) == 1
        assert alerts[0].cause == "simulator:physics"
        assert alerts[0].data["name"] == "simulatorFailed"
        assert "pump curve lookup out of range" in alerts[0].data["message"]
        clock.now = 11.0  # past the back-off: the next reading starts it from measured state
        await read(runtime, "tank-2", 5.0, level=1.25, inflow=1.0)
        await runner.settle()
        (retried,) = runner.status("tank-2")
        assert retried.state is ShadowState.RUNNING and retried.error is None
        assert retried.reseeds == 1 and retried.failures == 1
        assert retried.simulated == {"level": 1.25}
        assert runtime.get("tank-2").alerts == {}  # it runs again: the alert is cleared
        (cleared,) = [
            e for e in await runtime.events("tank-2") if e.type is EventType.ALERT_CLEARED
        ]
        assert cleared.cause == "simulator:physics" and "runs again" in cleared.data["message"]
        # A diverging run (NaN) fails it the same way, naming the time.
        await read(runtime, "tank-2", 6.0, level=1.0, inflow=-1.0)
        await read(runtime, "tank-2", 7.0, level=1.0, inflow=-1.0)
        await runner.settle()
        (diverged,) = runner.status("tank-2")
        assert diverged.state is ShadowState.FAILED and diverged.failures == 2
        assert diverged.error is not None and "diverged at t=6.5 s" in diverged.error
        alerts = [e for e in await runtime.events("tank-2") if e.type is EventType.ALERT_RAISED]
        assert len(alerts) == 2
        assert list(runtime.get("tank-2").alerts) == ["simulatorFailed"]

    with_shadow(tmp_path, body, tank_binding(FragileTank), monotonic=clock, retry_after=10.0)


def test_an_alert_left_open_before_a_restart_is_cleared_by_the_first_run(tmp_path: Path) -> None:
    async def body(runtime: Runtime, runner: ShadowRunner, store: SQLiteStore) -> None:
        message = "simulator of binding 'physics' failed: before the restart"
        await runtime.raise_alert("tank-1", "simulatorFailed", message, cause="simulator:physics")
        await runtime.raise_alert("tank-1", "hot", "someone else's", cause="rule:t")
        await read(runtime, "tank-1", 0.0, level=1.0, inflow=1.0)
        await runner.settle()
        (status,) = runner.status("tank-1")
        assert status.state is ShadowState.RUNNING
        assert list(runtime.get("tank-1").alerts) == ["hot"]  # only its own alert is cleared

    with_shadow(tmp_path, body)


def test_related_inputs_come_from_the_live_graph(tmp_path: Path) -> None:
    binding = tank_binding(inputs={"q_in": Related("fedBy", "flow")})

    async def body(runtime: Runtime, runner: ShadowRunner, store: SQLiteStore) -> None:
        for source, flow in (("s1", 0.25), ("s2", 0.75)):
            await runtime.create_twin(source, SOURCE, cause="test")
            await runtime.add_relationship("tank-1", "fedBy", source, cause="test")
            await read(runtime, source, 0.0, flow=flow)
        device = Device()
        for t in range(6):
            await read(runtime, "tank-1", float(t), level=device.level)
            await runner.settle()
            device.run(1.0, 1.0)  # the sum of the sources' flows
        (status,) = runner.status("tank-1")
        assert status.updates == 6 and status.residuals["level"] == pytest.approx(0, abs=1e-9)

    with_shadow(tmp_path, body, binding)


def test_a_deleted_twin_takes_its_shadow_with_it(tmp_path: Path) -> None:
    async def body(runtime: Runtime, runner: ShadowRunner, store: SQLiteStore) -> None:
        await read(runtime, "tank-1", 0.0, level=1.0, inflow=1.0)
        await runner.settle()
        assert [s.twin_id for s in runner.statuses()] == ["tank-1"]
        await runtime.delete_twin("tank-1", cause="test")
        await runner.settle()
        assert runner.statuses() == []
        with pytest.raises(NotFoundError):
            runner.status("tank-1")

    with_shadow(tmp_path, body)


def test_unpublishable_output_names_are_left_out(tmp_path: Path) -> None:
    class Odd(Tank):
        variables = (
            *Tank.variables,
            Variable("der(h)", Causality.OUTPUT),
            Variable("volume", Causality.OUTPUT),
        )

        def initialize(self, *args: Any, **kwargs: Any) -> Mapping[str, float]:
            return {**super().initialize(*args, **kwargs), "der(h)": 0.0, "volume": 2.0}

    async def body(runtime: Runtime, runner: ShadowRunner, store: SQLiteStore) -> None:
        await read(runtime, "tank-1", 0.0, level=1.0, inflow=1.0)
        await runner.settle()
        (status,) = runner.status("tank-1")
        assert status.simulated == {"level": 1.0, "volume": 2.0}

    with_shadow(tmp_path, body, tank_binding(Odd))


# --- starting a simulation from a twin -------------------------------------------------------


def test_simulate_twin_starts_from_its_current_or_past_state(tmp_path: Path) -> None:
    binding = tank_binding()

    async def body(runtime: Runtime, runner: ShadowRunner, store: SQLiteStore) -> None:
        await read(runtime, "tank-1", 100.0, level=1.0, inflow=1.0)
        await read(runtime, "tank-1", 200.0, level=3.0, inflow=0.5)
        twin = runtime.get("tank-1")
        assert data_time(twin) == 200.0
        conditions = initial_conditions(binding, twin, related_values(runtime))
        assert conditions == ({"area": 2.0}, {"level": 3.0}, {"q_in": 0.5})
        now = await simulate_twin(runtime, binding, "tank-1", horizon=10.0)
        assert now.times[0] == 200.0 and now.times[-1] == 210.0 and len(now.times) == 21
        expected = Device(level=3.0)
        expected.run(0.5, 10.0)
        assert now.outputs["level_out"][-1] == pytest.approx(expected.level)
        then = await simulate_twin(
            runtime, binding, "tank-1", horizon=10.0, dt=2.0, at=150.0, store=store
        )
        assert then.times.tolist() == [150.0, 152.0, 154.0, 156.0, 158.0, 160.0]
        expected = Device(level=1.0)
        expected.run(1.0, 10.0)
        assert then.outputs["level_out"][-1] == pytest.approx(expected.level)
        override = await simulate_twin(
            runtime, binding, "tank-1", horizon=1.0, inputs={"q_in": 9.0}
        )
        assert override.inputs["q_in"].tolist() == [9.0, 9.0, 9.0]
        with pytest.raises(ValidationError, match="more than this run may take"):
            await simulate_twin(runtime, binding, "tank-1", horizon=1e6, dt=0.01, max_steps=1000)
        with pytest.raises(ValidationError, match="needs the store"):
            await simulate_twin(runtime, binding, "tank-1", horizon=1.0, at=150.0)
        with pytest.raises(NotFoundError, match="did not exist"):
            await simulate_twin(runtime, binding, "tank-1", horizon=1.0, at=-5.0, store=store)
        with pytest.raises(SimulationError, match="diverged"):
            await simulate_twin(
                runtime, tank_binding(FragileTank), "tank-1", horizon=1.0, inputs={"q_in": -1.0}
            )

    with_shadow(tmp_path, body)


def test_graph_views_resolve_related_inputs(tmp_path: Path) -> None:
    async def body(runtime: Runtime, runner: ShadowRunner, store: SQLiteStore) -> None:
        await runtime.create_twin("s1", SOURCE, cause="test")
        await runtime.add_relationship("tank-1", "fedBy", "s1", cause="test")
        await read(runtime, "s1", 5.0, flow=0.5)
        view = GraphView({twin.id: twin for twin in runtime.twins()})
        incoming = Related("fedBy", "level", incoming=True)
        values = related_values(view)
        assert values(view.get("tank-1"), Related("fedBy", "flow")) == [0.5]
        assert values(view.get("s1"), incoming) == []  # tank-1 has no level yet
        assert [e.source for e in view.incoming("s1")] == ["tank-1"]
        with pytest.raises(NotFoundError):
            view.get("nobody")

    with_shadow(tmp_path, body)


# --- plug-ins --------------------------------------------------------------------------------


def test_plugins_give_bindings_and_bad_ones_say_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "site_physics.py").write_text(
        "from sim_models import Tank\n"
        "from twinkit.sim import SimulationBinding\n"
        f"TANK = {TANK!r}\n"
        "def bindings():\n"
        "    return [SimulationBinding(model=TANK, factory=Tank, dt=1.0)]\n"
        "def broken():\n"
        "    raise KeyError('no config')\n"
        "def strange():\n"
        "    return [1]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "site_physics", raising=False)
    (found,) = load_bindings("site_physics")
    assert found.model == TANK and found.dt == 1.0
    assert load_bindings("site_physics:bindings") == [found]
    for spec, message in (
        ("no_such_module_here", "cannot be imported"),
        ("site_physics:missing", "has no function 'missing'"),
        ("site_physics:broken", "failed: KeyError"),
        ("site_physics:strange", "not a binding"),
        ("not a module", "bad simulator plug-in"),
    ):
        with pytest.raises(ValidationError, match=re.escape(message)) as raised:
            load_bindings(spec)
        assert raised.value.where is not None and spec in raised.value.where


def test_the_docs_examples_of_bindings_and_shadow_mode_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (ROOT / "docs" / "simulation.md").read_text(encoding="utf-8")
    sections = re.split(r"^## ", text, flags=re.MULTILINE)
    mine = [s for s in sections if s.startswith(("Bindings", "Shadow mode"))]
    code = [b for s in mine for b in re.findall(r"```python\n(.*?)```", s, re.DOTALL)]
    assert len(code) >= 2, "docs/simulation.md lost its examples"
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "simulation_doc"}
    for block in code:
        exec(compile(block, "docs/simulation.md", "exec"), namespace)

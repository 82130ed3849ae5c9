"""The pump station's physics in shadow mode: nominal models beside the devices' own physics.

The "devices" here are the example's :class:`StationModel` (the physics and sensor noise the
MQTT devices run), read once per plant second into a real runtime and SQLite store, with a
:class:`ShadowRunner` keeping up in simulated time. A new station stays within its noise band;
a worn bearing and a clogged valve, made in the device's physics, leave it where they should.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest
from test_pump_demo import Demo, until

from twinkit.api import Role, Services, Settings, create_app, issue_token
from twinkit.core import EventType, Reading, Runtime
from twinkit.errors import ValidationError
from twinkit.examples.pumps import (
    PIPE,
    PUMP,
    TANK,
    VALVE,
    StationModel,
    load_models,
    shadow_bindings,
    station_layout,
)
from twinkit.examples.pumps._demo import install_station, start_station_shadow
from twinkit.query._series import series_range
from twinkit.sim import (
    Bindings,
    Fault,
    ScenarioSpec,
    ShadowRunner,
    ShadowState,
    fork,
    simulate_scenario,
)
from twinkit.store import SQLiteStore

ROOT = Path(__file__).resolve().parents[3]
T0 = 1_000.0  # plant time 0 on the twins' clock (the runtime's clock stands at 0)
DEVICE = "connector:test"

# The noise band of a new station: no residual of a healthy run leaves it (seed 7, 3 pumps;
# about 5 standard deviations of each residual, the sensors' noise and the shadow's inputs').
HEALTHY: dict[str, dict[str, float]] = {
    PUMP: {
        "head": 0.5,
        "dischargePressure": 0.05,
        "efficiency": 0.012,
        "motorPower": 0.3,
        "motorCurrent": 0.9,
        "bearingTemperature": 0.6,
        "motorTemperature": 1.0,
        "vibration1": 0.01,
        "vibration2": 0.01,
    },
    PIPE: {"flow": 0.6, "velocity": 0.03, "headLoss": 0.2},
    VALVE: {"opening": 0.25, "flow": 0.6},
    TANK: {"level": 0.02, "volume": 0.25, "outflow": 0.8},
}
Values = npt.NDArray[np.float64]


@dataclass
class Plant:
    """The simulated station feeding a runtime once per plant second, a shadow runner on it."""

    runtime: Runtime
    runner: ShadowRunner
    store: SQLiteStore
    model: StationModel
    seconds: int = 0

    async def run(
        self, seconds: int, extra: Callable[[float], list[Reading]] | None = None
    ) -> None:
        """Read every twin (as its device would publish it), wait for the shadow, step 1 s."""
        for _ in range(seconds):
            at = T0 + self.seconds
            readings = [[Reading(t, self.model.telemetry(t), time=at)] for t in self.model.twin_ids]
            readings += [[reading] for reading in (extra(at) if extra else [])]
            assert not any(await self.runtime.ingest(readings, cause=DEVICE))
            await self.runner.settle()
            for _ in range(10):
                self.model.step(0.1)
            self.seconds += 1

    async def residual(self, twin_id: str, name: str, start: int = 0, end: int = 10**6) -> Values:
        """The residual series of ``name`` from plant second ``start`` to before ``end``."""
        page = await series_range(
            self.store, twin_id, f"residual:{name}", T0 + start, T0 + end, limit=10_000
        )
        return page.values


def with_plant(
    tmp_path: Path,
    body: Callable[[Plant], Awaitable[None]],
    *,
    replay_pump: bool = False,
) -> None:
    async def main() -> None:
        layout = station_layout(3, replay_pump=replay_pump)
        async with await SQLiteStore.open(tmp_path / "twins.db") as store:
            runtime = await Runtime.open(store, clock=lambda: 0.0)
            await install_station(runtime, layout)
            bindings = Bindings()
            for binding in shadow_bindings():
                bindings.add(binding, runtime.models)
            runner = ShadowRunner(runtime, bindings)
            await runner.start()
            model = StationModel(layout, seed=7, wear_rate=0)
            for _ in range(50):  # 5 s to get going: the devices start with no flow yet
                model.step(0.1)
            try:
                await body(Plant(runtime, runner, store, model))
            finally:
                await runner.stop()
                await runtime.close()

    asyncio.run(main())


def bound_twins(plant: Plant) -> list[tuple[str, str]]:
    return [(t, plant.runtime.get(t).model) for t in plant.model.twin_ids if t != "station-1"]


async def assert_healthy(
    plant: Plant, start: int, end: int, twins: list[str] | None = None
) -> None:
    """Every residual of ``twins`` (all bound ones) within the noise band, and over half a
    minute or more near 0 on average."""
    for twin_id, model in bound_twins(plant):
        if twins is not None and twin_id not in twins:
            continue
        for name, band in HEALTHY[model].items():
            values = await plant.residual(twin_id, name, start, end)
            assert len(values) == end - start, (twin_id, name)
            assert np.max(np.abs(values)) < band, (twin_id, name, np.max(np.abs(values)))
            if len(values) >= 30:
                assert abs(np.mean(values)) < band / 4, (twin_id, name, np.mean(values))


# --- the bindings -------------------------------------------------------------------------------


def test_the_bindings_fit_the_pump_models_and_predict_what_the_devices_measure() -> None:
    models = load_models()
    bindings = Bindings()
    for binding in shadow_bindings(time_scale=10.0):
        bindings.add(binding, models)  # checked: names, causalities, relationships
        assert binding.dt == pytest.approx(0.1)  # one plant second at 10x
        assert dict(binding.states) == dict(binding.outputs)  # every prediction seeded
    assert {b.model: set(b.outputs.values()) for b in bindings} == {
        model: set(band) for model, band in HEALTHY.items()
    }
    with pytest.raises(ValidationError, match="time_scale") as refused:
        shadow_bindings(time_scale=0.0)
    assert refused.value.got == 0.0


# --- the station in shadow mode -----------------------------------------------------------------


def test_a_new_station_stays_within_its_noise_band(tmp_path: Path) -> None:
    async def body(plant: Plant) -> None:
        await plant.run(90)
        assert plant.model.set_desired("pump-2", "speedSetpoint", 1200.0).ok
        await plant.run(90)
        # Pump and pipe shadows are feedthrough bindings: the reading right after a speed
        # change is compared with the model at the new speed (no spike; ~7 kW without).
        await assert_healthy(plant, 0, 180)
        statuses = plant.runner.statuses()
        assert len(statuses) == 8  # 3 pumps, 3 pipes, the valve and the tank
        for status in statuses:
            assert status.state is ShadowState.RUNNING and status.failures == 0
            assert status.updates == 180 and status.time == T0 + 179
        (tank,) = plant.runner.status("tank-1")
        assert tank.simulated["level"] == pytest.approx(plant.model.tank_state.level, abs=0.02)

    with_plant(tmp_path, body)


def test_a_worn_bearing_shows_in_vibration_bearing_temperature_and_power(tmp_path: Path) -> None:
    async def body(plant: Plant) -> None:
        await plant.run(60)
        pump = plant.model.pump_states["pump-1"]
        plant.model.pump_states["pump-1"] = replace(pump, wear=0.4)  # 12 min at the demo's rate
        await plant.run(240)
        await assert_healthy(plant, 0, 60)
        late = {
            name: await plant.residual("pump-1", name, 240, 300)
            for name in ("vibration1", "vibration2", "bearingTemperature", "motorPower")
        }
        band = HEALTHY[PUMP]
        assert np.min(late["vibration1"]) > 2 * band["vibration1"]  # at once, every reading
        assert np.min(late["vibration2"]) > 3 * band["vibration2"]
        assert np.min(late["bearingTemperature"]) > 25 * band["bearingTemperature"]
        assert np.mean(late["motorPower"]) > 0.08  # 2 sigma per reading, 15 on the minute's mean
        assert np.mean(await plant.residual("pump-1", "motorCurrent", 240, 300)) > 0.15
        warming = await plant.residual("pump-1", "bearingTemperature", 60, 300)
        means = warming.reshape(4, 60).mean(axis=1)
        assert np.all(np.diff(means) > 0)  # grows over the bearing's thermal lag
        # hydraulics untouched, the other pumps and the rest of the station healthy
        for name in ("head", "dischargePressure", "efficiency"):
            values = await plant.residual("pump-1", name, 60, 300)
            assert np.max(np.abs(values)) < band[name], name
        others = [t for t in plant.model.twin_ids if t not in ("pump-1", "station-1")]
        await assert_healthy(plant, 60, 300, others)

    with_plant(tmp_path, body)


def test_a_clogged_valve_shows_in_the_tank_level_and_the_valve_flow(tmp_path: Path) -> None:
    async def body(plant: Plant) -> None:
        await plant.run(60)
        plant.model.valve = replace(plant.model.valve, cv=plant.model.valve.cv * 0.3)
        await plant.run(90)
        await assert_healthy(plant, 0, 60)
        level = await plant.residual("tank-1", "level", 60, 150)
        band = HEALTHY[TANK]["level"]
        assert level[5] > band  # the tank fills: visible within seconds
        assert level[-1] > 20 * band  # about 0.4 m after 90 s
        windows = level.reshape(9, 10).mean(axis=1)
        assert np.all(np.diff(windows) > 0)  # and it keeps growing
        valve_flow = await plant.residual("valve-1", "flow", 61, 150)
        assert np.max(valve_flow) < -50.0  # 70% of ~90 l/s missing, from the first reading
        assert np.max(await plant.residual("tank-1", "outflow", 61, 150)) < -40.0
        # the opening the valve reports is what it was told: only its flow is wrong
        opening = await plant.residual("valve-1", "opening", 60, 150)
        assert np.max(np.abs(opening)) < HEALTHY[VALVE]["opening"]
        pumps_and_pipes = [t for t in plant.model.twin_ids if t.startswith(("pump-", "pipe-"))]
        await assert_healthy(plant, 60, 150, pumps_and_pipes)

    with_plant(tmp_path, body)


def test_a_pump_without_a_nameplate_fails_its_own_shadow_only(tmp_path: Path) -> None:
    def skab(at: float) -> list[Reading]:  # what the SKAB replay sends: no speed, no rating
        return [Reading("pump-skab", {"flow": 2.1, "motorCurrent": 1.3, "voltage": 230.0}, at)]

    async def body(plant: Plant) -> None:
        await plant.run(5, skab)
        (status,) = plant.runner.status("pump-skab")
        assert status.state is ShadowState.FAILED
        assert status.error is not None and "ratedSpeed" in status.error
        alerts = [
            e for e in await plant.runtime.events("pump-skab") if e.type is EventType.ALERT_RAISED
        ]
        assert len(alerts) == 1 and alerts[0].cause == "simulator:physics"
        assert len(await plant.residual("pump-skab", "motorCurrent")) == 0
        await assert_healthy(plant, 0, 5)

    with_plant(tmp_path, body, replay_pump=True)


def test_the_same_bindings_run_the_station_ahead_in_a_what_if_scenario(tmp_path: Path) -> None:
    """Forked from the live station, the simulators feed each other (pipe flows into the tank,
    the tank's level into the pipes and the valve): a clog injected as a fault fills the tank."""

    async def body(plant: Plant) -> None:
        await plant.run(3)
        bindings = Bindings()
        for binding in shadow_bindings():
            bindings.add(binding, plant.runtime.models)
        clog = [
            Fault("valve-1", "dischargeCoefficient", start=60.0, multiplier=0.3, kind="parameter"),
            Fault("tank-1", "dischargeCoefficient", start=60.0, multiplier=0.3, kind="input"),
        ]
        spec = ScenarioSpec("clog", roots=("station-1",), horizon=300.0, faults=tuple(clog))
        plan = await fork(spec, runtime=plant.runtime, store=plant.store, bindings=bindings)
        result = simulate_scenario(plan)
        level, valve = result.series[("tank-1", "level")], result.series[("valve-1", "flow")]
        assert abs(level[59] - level[0]) < 0.05  # in balance
        assert valve[61] < 0.35 * valve[59]
        assert level[-1] > level[60] + 0.5  # filling, 5 mm/s at first
        pipe = result.series[("pipe-1", "flow")]
        assert pipe[-1] < pipe[60] - 0.3  # a higher level is more head for the pumps: less flow

    with_plant(tmp_path, body)


# --- the demo's wiring, the API, the docs -------------------------------------------------------


def test_the_demo_starts_the_shadow_after_the_models_and_serves_its_residuals(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "state")
    layout = station_layout(2, replay_pump=False)

    async def run() -> None:
        with pytest.raises(ValidationError, match="is not loaded"):  # why the order matters
            await Services.open(settings, mqtt=False, bindings=shadow_bindings())
        services = await Services.open(settings, mqtt=False)
        try:
            await install_station(services.runtime, layout)
            await start_station_shadow(services)
            assert services.shadow is not None
            model = StationModel(layout, seed=3, wear_rate=0)
            for second in range(5):
                readings = [
                    [Reading(t, model.telemetry(t), time=2e9 + second)] for t in model.twin_ids
                ]
                await services.runtime.ingest(readings, cause=DEVICE)
                await services.shadow.settle()
                model.step(1.0)
            _, secret = await issue_token(services.store, Role.VIEWER, "test")
            transport = httpx.ASGITransport(app=create_app(services))
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://twinkit.test/api/v1",
                headers={"Authorization": f"Bearer {secret}"},
            ) as api:
                await check_api(api)
        finally:
            await services.close()

    asyncio.run(run())


async def check_api(api: httpx.AsyncClient) -> None:
    bindings = (await api.get("/simulation/bindings")).json()
    assert bindings["total"] == 4
    shadow = (await api.get("/twins/pump-1/shadow")).json()
    (physics,) = shadow["shadows"]
    assert physics["state"] == "running" and physics["binding"] == "physics"
    assert set(physics["residuals"]) == set(HEALTHY[PUMP])
    for name, value in physics["residuals"].items():
        assert abs(value) < HEALTHY[PUMP][name], name
    page = (
        await api.get("/twins/tank-1/series/residual:level", params={"start": 0, "end": 3e9})
    ).json()
    assert len(page["points"]) == 5
    twin = (await api.get("/twins/valve-1")).json()
    assert "derived" in json_keys(twin)


def json_keys(document: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(document, dict):
        for key, value in document.items():
            found |= {key, *json_keys(value)}
    return found


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.usefixtures("mosquitto_binary")
def test_the_demo_shows_the_wearing_bearing_of_pump_1_live(tmp_path: Path) -> None:
    state = tmp_path / "state"
    demo = Demo(state, "--speedup", "30", "--pumps", "2", "--duration", "60")
    try:
        assert "shadow   the physics of every pump" in demo.output
        assert "/twins/pump-1/shadow" in demo.output
        token = (state / "admin-token").read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=demo.api, headers=headers, timeout=10) as api:

            def recent(twin_id: str, name: str) -> Values:
                """The last 90 points (3 plant minutes) of the last 5 s (the devices' clock)."""
                since = {"start": time.time() - 5.0, "end": 4e9, "limit": 100_000}
                page = api.get(f"/twins/{twin_id}/series/{name}", params=since).json()
                return np.array([p["value"] for p in page["points"][-90:]], dtype=np.float64)

            # pump-1's bearing wears at 1/1800 per plant second, the others ten times slower:
            # at 30x, within seconds its vibration leaves the noise band, pump-2's does not
            until(
                lambda: (
                    len(v := recent("pump-1", "residual:vibration1")) == 90
                    and np.mean(v) > HEALTHY[PUMP]["vibration1"]  # wear 0.15 or more
                ),
                "pump-1's vibration residual to grow",
                timeout=40,
            )
            worn = np.mean(recent("pump-1", "residual:vibration1"))
            assert abs(np.mean(recent("pump-2", "residual:vibration1"))) < 0.3 * worn
            assert np.max(np.abs(recent("tank-1", "residual:level"))) < HEALTHY[TANK]["level"]
            (shadow,) = api.get("/twins/pump-1/shadow").json()["shadows"]
            assert shadow["state"] == "running" and shadow["failures"] == 0, shadow
    finally:
        assert demo.interrupt() == 0, demo.output
    assert "Traceback" not in demo.output
    assert not re.search(r"shadow \S+ failed", demo.output), demo.output


def test_the_docs_example_of_the_pump_station_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (ROOT / "docs" / "simulation.md").read_text(encoding="utf-8")
    (section,) = [s for s in re.split(r"^## ", text, flags=re.MULTILINE) if s.startswith("Pump")]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/simulation.md", "exec"), {"__name__": "pump_shadow_doc"})
    printed = capsys.readouterr().out
    assert "vibration1" in printed and "level" in printed

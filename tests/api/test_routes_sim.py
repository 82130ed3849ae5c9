"""Simulation through the API: bindings, shadow status, derived values, runs from a twin."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import Api, LiveServer, api
from click.testing import CliRunner
from websockets.asyncio.client import connect

from twinkit.api import Services, Settings
from twinkit.cli import cli
from twinkit.core import Reading
from twinkit.errors import ValidationError
from twinkit.sim import Causality, SimulationBinding, Variable
from twinkit.sim._shadow import ShadowState

TANK = "dtmi:test:api:Tank;1"
SOURCE = "dtmi:test:api:Source;1"
MODELS: list[dict[str, Any]] = [
    {
        "@context": "dtmi:dtdl:context;3",
        "@id": TANK,
        "@type": "Interface",
        "contents": [
            {"@type": "Property", "name": "area", "schema": "double"},
            {"@type": "Telemetry", "name": "level", "schema": "double"},
            {"@type": "Telemetry", "name": "inflow", "schema": "double"},
        ],
    },
    {
        "@context": "dtmi:dtdl:context;3",
        "@id": SOURCE,
        "@type": "Interface",
        "contents": [{"@type": "Telemetry", "name": "flow", "schema": "double"}],
    },
]


T0 = 2_000_000_000.0  # readings after the twins' creation (the server's clock is wall time)


class Tank:
    """dh/dt = (q_in - k*h) / area, solved exactly over each step (inputs held)."""

    variables = (
        Variable("area", Causality.PARAMETER, start=2.0),
        Variable("q_in", Causality.INPUT, start=0.0),
        Variable("level", Causality.STATE, start=1.0),
        Variable("level_out", Causality.OUTPUT),
    )

    def initialize(
        self, t0: float, parameters: Mapping[str, float] | None = None, state: Any = None
    ) -> Mapping[str, float]:
        self.area = (parameters or {}).get("area", 2.0)
        self.h = (state or {}).get("level", 1.0)
        return {"level_out": self.h}

    def step(self, t: float, dt: float, inputs: Mapping[str, float]) -> Mapping[str, float]:
        steady = inputs["q_in"] / 0.5
        self.h = steady + (self.h - steady) * math.exp(-0.5 / self.area * dt)
        return {"level_out": self.h}

    def get_state(self) -> Any:
        return self.h

    def set_state(self, state: Any) -> None:
        self.h = state

    def close(self) -> None:
        return None


class DivergingTank(Tank):
    def step(self, t: float, dt: float, inputs: Mapping[str, float]) -> Mapping[str, float]:
        out = super().step(t, dt, inputs)
        return {"level_out": math.nan} if inputs["q_in"] < 0 else out


def binding(factory: Callable[[], Any] = Tank, name: str = "physics") -> SimulationBinding:
    return SimulationBinding(
        model=TANK,
        factory=factory,
        dt=0.5,
        parameters={"area": "area"},
        inputs={"q_in": "inflow"},
        states={"level": "level"},
        outputs={"level_out": "level"},
        name=name,
    )


async def with_shadow(a: Api) -> None:
    """Models, twins tank-1 and source-1, two bindings, shadow mode on."""
    assert (await a.call("POST", "/models", json=MODELS)).status_code == 201
    for twin_id, model, props in (("tank-1", TANK, {"area": 2.0}), ("source-1", SOURCE, {})):
        answer = await a.call(
            "PUT", f"/twins/{twin_id}", json={"model": model, "properties": props}
        )
        assert answer.status_code == 201, answer.text
    for item in (binding(), binding(DivergingTank, "fragile")):
        a.services.bindings.add(item, a.services.runtime.models)
    await a.services.start_shadow()


def scenario(tmp_path: Path, body: Callable[[Api], Awaitable[None]]) -> None:
    async def run() -> None:
        async with api(tmp_path) as served:
            await with_shadow(served)
            await body(served)

    asyncio.run(run())


async def ingest(a: Api, *records: tuple[float, float, float]) -> None:
    body = [
        {"twinId": "tank-1", "ts": t, "values": {"level": level, "inflow": q}}
        for t, level, q in records
    ]
    answer = await a.call("POST", "/ingest", "operator", json=body)
    assert answer.status_code == 200, answer.text
    assert a.services.shadow is not None
    await a.services.shadow.settle()


def assert_error(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == kind and body["detail"] and "where" in body
    return body


def test_bindings_are_listed_for_viewers(tmp_path: Path) -> None:
    async def body(a: Api) -> None:
        answer = await a.call("GET", "/simulation/bindings", "viewer")
        assert answer.status_code == 200
        items = answer.json()["items"]
        assert [i["name"] for i in items] == ["physics", "fragile"]
        assert items[0] == {
            "model": TANK,
            "name": "physics",
            "dt": 0.5,
            "parameters": {"area": "area"},
            "inputs": {"q_in": "inflow"},
            "states": {"level": "level"},
            "outputs": {"level_out": "level"},
        }
        assert_error(await a.client.get("/simulation/bindings"), 401, "unauthenticated")

    scenario(tmp_path, body)


def test_shadow_status_and_derived_values_through_the_api(tmp_path: Path) -> None:
    async def body(a: Api) -> None:
        waiting = (await a.call("GET", "/twins/tank-1/shadow", "viewer")).json()
        assert [s["state"] for s in waiting["shadows"]] == ["waiting", "waiting"]
        await ingest(a, (100.0, 1.0, 1.0))
        await ingest(a, (101.0, 1.3, 1.0))
        shadows = (await a.call("GET", "/twins/tank-1/shadow", "viewer")).json()["shadows"]
        physics = next(s for s in shadows if s["binding"] == "physics")
        assert physics["state"] == "running" and physics["time"] == 101.0
        assert physics["steps"] == 2 and physics["updates"] == 2
        expected = 2.0 + (1.0 - 2.0) * math.exp(-0.25)  # the tank's exact solution after 1 s
        assert physics["simulated"]["level"] == expected
        assert physics["residuals"]["level"] == 1.3 - expected
        assert_error(await a.call("GET", "/twins/source-1/shadow"), 404, "not_found")
        assert_error(await a.call("GET", "/twins/nobody/shadow"), 404, "not_found")
        # The twin shows derived values in a section of their own ...
        twin = (await a.call("GET", "/twins/tank-1", "viewer")).json()
        assert twin["derived"]["simulated"]["level"] == {"value": expected, "time": 101.0}
        assert twin["derived"]["residual"]["level"]["value"] == 1.3 - expected
        assert set(twin["telemetry"]) == {"level", "inflow"} and set(twin["properties"]) == {"area"}
        # ... and their series are queried like telemetry.
        params = {"start": 0, "end": 200}
        raw = (
            await a.call("GET", "/twins/tank-1/series/simulated:level", "viewer", params=params)
        ).json()
        assert [p["value"] for p in raw["points"]] == [1.0, expected]
        buckets = await a.call(
            "GET",
            "/twins/tank-1/series/residual:level/buckets",
            "viewer",
            params={**params, "width": 200},
        )
        assert buckets.json()["buckets"][0]["value"] == (0.0 + 1.3 - expected) / 2
        frame = await a.call(
            "POST",
            "/series/frame",
            "viewer",
            json={
                "series": ["tank-1/level", "tank-1/simulated:level"],
                "start": 0,
                "end": 200,
                "width": 200,
            },
        )
        assert frame.json()["columns"]["tank-1/simulated:level"] == [(1.0 + expected) / 2]

    scenario(tmp_path, body)


def test_simulate_from_the_twin_now_or_then_and_bad_requests(tmp_path: Path) -> None:
    async def body(a: Api) -> None:
        await ingest(a, (T0 + 100.0, 1.0, 1.0), (T0 + 200.0, 3.0, 0.5))
        path = "/twins/tank-1/simulate"
        assert_error(await a.call("POST", path, "viewer", json={"horizon": 2}), 403, "forbidden")
        answer = await a.call("POST", path, "operator", json={"horizon": 2.0})
        assert answer.status_code == 200, answer.text
        run = answer.json()
        assert run["binding"] == "physics" and run["dt"] == 0.5 and not run["cancelled"]
        assert run["times"] == [T0 + 200.0 + k * 0.5 for k in range(5)]
        assert run["outputs"]["level_out"][0] == 3.0 and run["inputs"]["q_in"][-1] == 0.5
        assert run["contents"] == {"level_out": "level"}
        back = {"horizon": 1, "dt": 1, "at": T0 + 150}
        then = (await a.call("POST", path, "operator", json=back)).json()
        assert then["times"] == [T0 + 150, T0 + 151] and then["outputs"]["level_out"][0] == 1.0
        at = datetime.fromtimestamp(T0 + 150, UTC).isoformat()
        iso = {"horizon": 1, "dt": 1, "at": at, "inputs": {"q_in": 4.0}}
        then = (await a.call("POST", path, "operator", json=iso)).json()
        assert then["times"] == [T0 + 150, T0 + 151] and then["inputs"]["q_in"] == [4.0, 4.0]
        # Bad requests say what and where; a diverging run leaves the server unharmed.
        too_long = {"horizon": 1e9, "dt": 0.001}
        assert (
            "steps"
            in assert_error(await a.call("POST", path, json=too_long), 422, "validation")["detail"]
        )
        unknown = {"horizon": 1, "inputs": {"valve": 1.0}}
        error = assert_error(await a.call("POST", path, json=unknown), 422, "validation")
        assert "valve" in error["where"]
        error = assert_error(
            await a.call("POST", path, json={"horizon": 1, "binding": "x"}), 422, "validation"
        )
        assert "fragile" in error["detail"]
        assert_error(await a.call("POST", path, json={"horizon": -1}), 422, "validation")
        assert_error(await a.call("POST", path, json={"horizon": 1, "at": 5}), 404, "not_found")
        diverging = {"horizon": 5, "binding": "fragile", "inputs": {"q_in": -1.0}}
        error = assert_error(await a.call("POST", path, json=diverging), 422, "simulation")
        assert f"diverged at t={T0 + 200.5:g} s" in error["detail"]
        assert "fragile" in error["where"]
        assert_error(
            await a.call("POST", "/twins/source-1/simulate", json={"horizon": 1}), 404, "not_found"
        )
        assert (await a.call("GET", "/health")).status_code == 200
        assert (await a.call("POST", path, json={"horizon": 1})).status_code == 200

    scenario(tmp_path, body)


def test_the_stream_filters_values_derived_events(live_server: LiveServer) -> None:
    async def set_up() -> None:
        services = live_server.services
        assert services is not None
        await services.runtime.add_models(MODELS)
        await services.runtime.create_twin("tank-1", TANK, {"area": 2.0}, cause="test")
        services.bindings.add(binding(), services.runtime.models)
        await services.start_shadow()

    live_server.run_in_loop(set_up())
    viewer = live_server.secrets["viewer"]
    url = f"ws://127.0.0.1:{live_server.port}/api/v1/stream?types=ValuesDerived&token={viewer}"

    async def run() -> list[dict[str, Any]]:
        async with connect(url) as ws:
            async with httpx.AsyncClient(
                base_url=live_server.url + "/api/v1",
                headers={"Authorization": f"Bearer {live_server.secrets['operator']}"},
            ) as client:
                record = {"twinId": "tank-1", "ts": 10.0, "values": {"level": 1.5, "inflow": 0.0}}
                assert (await client.post("/ingest", json=[record])).status_code == 200
            return [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(2)]

    events = asyncio.run(run())
    assert [e["type"] for e in events] == ["ValuesDerived", "ValuesDerived"]
    assert {e["data"]["kind"]: e["data"]["values"] for e in events} == {
        "simulated": {"level": 1.5},
        "residual": {"level": 0.0},
    }
    assert all(e["cause"] == "simulator:physics" and e["time"] == 10.0 for e in events)


def test_services_open_runs_shadow_mode_for_bindings_that_fit_the_models(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")

    async def run() -> None:
        with pytest.raises(ValidationError, match="is not loaded") as refused:
            await Services.open(settings, mqtt=False, bindings=[binding()])  # no models yet
        assert refused.value.where is not None and "binding 'physics'" in refused.value.where
        services = await Services.open(settings, mqtt=False)
        assert services.shadow is None and len(services.bindings) == 0
        await services.runtime.add_models(MODELS)
        await services.close()
        services = await Services.open(settings, mqtt=False, bindings=[binding()])
        try:
            assert services.shadow is not None
            await services.runtime.create_twin("tank-1", TANK, {"area": 2.0}, cause="test")
            reading = Reading("tank-1", {"level": 1.5, "inflow": 0.0}, time=T0)
            await services.runtime.ingest([[reading]], cause="test")
            await services.shadow.settle()
            (status,) = services.shadow.status("tank-1")
            assert status.state is ShadowState.RUNNING and status.simulated == {"level": 1.5}
        finally:
            await services.close()
        assert services.shadow is None

    asyncio.run(run())


def test_serve_refuses_a_bad_simulator_plugin(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["serve", "--data", str(tmp_path), "--simulators", "no_such_plugin_module:make"]
    )
    assert result.exit_code == 1
    assert "simulator plug-in module 'no_such_plugin_module' cannot be imported" in result.output

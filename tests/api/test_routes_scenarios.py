"""What-if scenarios through the REST API: run, poll, series, compare, cancel, delete, roles."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from api_helpers import Api, LiveServer, add_tokens

from scenario_plant import DivergingTank, SlowTank, TankSim, bindings, build_plant, tank_level
from twinkit.api import Client, ClientError, Services, Settings, create_app
from twinkit.api._client_frames import SCENARIO_COLUMNS
from twinkit.core import Runtime
from twinkit.store import SQLiteStore


@contextlib.asynccontextmanager
async def served(tmp_path: Path, tank: Any = TankSim) -> AsyncIterator[tuple[Api, float]]:
    """The app over ASGI on the test plant, with the plant's simulators bound."""
    t0 = time.time() - 1000
    settings = Settings(data_dir=tmp_path / "data")
    settings.data_dir.mkdir(parents=True)
    store = await SQLiteStore.open(settings.database)
    runtime = await Runtime.open(store, clock=lambda: t0 - 10)
    services = Services(settings, store, runtime)
    try:
        await build_plant(runtime, t0)
        services.bindings = bindings(runtime, tank)
        secrets, ids = await add_tokens(services)
        transport = httpx.ASGITransport(app=create_app(services))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://twinkit.test/api/v1"
        ) as client:
            yield Api(services, client, secrets, ids), t0
    finally:
        await services.close()


def body(**changes: Any) -> dict[str, Any]:
    return {"name": "what-if", "roots": ["tank-1"], "horizon": 600, "dt": 10, **changes}


async def until(api: Api, name: str, *statuses: str, progress: float = 0.0) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        answer = await api.call("GET", f"/scenarios/{name}", "viewer")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        if found["status"] in statuses and found["progress"] >= progress:
            return found
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.02)


def test_run_poll_read_and_compare(tmp_path: Path) -> None:
    async def go() -> None:
        async with served(tmp_path) as (api, t0):
            answer = await api.call("POST", "/scenarios", "operator", json=body(at=t0 + 50))
            assert answer.status_code == 202, answer.text
            assert answer.headers["location"] == "/api/v1/scenarios/what-if"
            started = answer.json()
            assert started["status"] == "queued" and started["progress"] == 0.0
            assert started["cause"] == f"token:{api.token_ids['operator']}"
            assert started["spec"]["at"] == t0 + 50 and started["spec"]["dt"] == 10.0

            done = await until(api, "what-if", "done")
            assert done["progress"] == 1.0 and done["error"] is None and done["finished"]
            assert done["series"] == [
                {"twinId": "source-1", "name": "flow"},
                {"twinId": "tank-1", "name": "level"},
                {"twinId": "tank-1", "name": "outflow"},
            ]
            listed = (await api.call("GET", "/scenarios", "viewer")).json()["items"]
            assert [s["name"] for s in listed] == ["what-if"] and "series" not in listed[0]

            params = {"twin": "tank-1", "name": "level"}
            raw = (
                await api.call("GET", "/scenarios/what-if/series", "viewer", params=params)
            ).json()
            offsets = np.array([p["time"] for p in raw["points"]]) - (t0 + 50)
            np.testing.assert_allclose(offsets, np.arange(0, 601, 10), atol=1e-5)
            np.testing.assert_allclose(
                [p["value"] for p in raw["points"]], [tank_level(t, 2.0, 1.5) for t in offsets]
            )
            answer = await api.call(
                "GET", "/scenarios/what-if/series", "viewer", params={**params, "buckets": 6}
            )
            assert answer.json()["buckets"] == 6 and len(answer.json()["points"]) == 6

            answer = await api.call("GET", "/scenarios/what-if/compare", "viewer", params=params)
            compared = answer.json()
            assert compared["at"] == t0 + 50 and len(compared["time"]) == 61
            assert compared["time"][0].endswith("Z")
            columns = compared["columns"]
            assert list(columns) == ["scenario", "reality", "difference"]
            # reality: 2 m until the 5 m measured at t0 + 100, held from then on
            assert columns["reality"][:5] == [2.0] * 5 and set(columns["reality"][5:]) == {5.0}
            assert math.isclose(columns["difference"][1], columns["scenario"][1] - 2.0)

    asyncio.run(go())


def test_roles_viewers_read_operators_run(tmp_path: Path) -> None:
    async def go() -> None:
        async with served(tmp_path) as (api, _):
            answer = await api.call("POST", "/scenarios", "viewer", json=body())
            assert answer.status_code == 403 and answer.json()["error"] == "forbidden"
            answer = await api.client.get("/scenarios")
            assert answer.status_code == 401 and answer.json()["error"] == "unauthenticated"
            assert (await api.call("POST", "/scenarios", "admin", json=body())).status_code == 202
            await until(api, "what-if", "done")
            answer = await api.call("DELETE", "/scenarios/what-if", "viewer")
            assert answer.status_code == 403
            answer = await api.call("DELETE", "/scenarios/what-if", "operator")
            assert answer.status_code == 204
            answer = await api.call("GET", "/scenarios/what-if", "viewer")
            assert answer.status_code == 404 and answer.json()["error"] == "not_found"
            assert answer.json()["where"] == "scenario what-if"

    asyncio.run(go())


@pytest.mark.parametrize(
    ("request_body", "kind", "where"),
    [
        (body(inputs={"ghost": {"rate": 1}}), "validation", "inputs/ghost"),
        (body(horizon=-60), "validation", "horizon"),
        (body(horizon=1e9, dt=1), "validation", "dt"),
        (body(parameters={"tank-1": {"volume": 2}}), "validation", "parameters/tank-1/volume"),
        (body(setpoints={"tank-1": {"area": 2}}), "validation", "setpoints/tank-1/area"),
        (body(faults=[{"twin": "tank-1", "target": "k"}]), "validation", "faults/0"),
        (body(roots=["ghost"]), "validation", "roots/0"),
        (body(colour="red"), "validation", "colour"),
        (body(name="a b"), "validation", "name"),
    ],
)
def test_invalid_requests_answer_422_with_where(
    tmp_path: Path, request_body: dict[str, Any], kind: str, where: str
) -> None:
    async def go() -> None:
        async with served(tmp_path) as (api, _):
            answer = await api.call("POST", "/scenarios", "operator", json=request_body)
            assert answer.status_code == 422, answer.text
            error = answer.json()
            assert error["error"] == kind and error["where"] == where
            assert "expected" in error["detail"]
            assert (await api.call("GET", "/scenarios", "viewer")).json()["items"] == []

    asyncio.run(go())


def test_malformed_requests_conflicts_and_unknowns(tmp_path: Path) -> None:
    async def go() -> None:
        async with served(tmp_path) as (api, _):
            answer = await api.call(
                "POST",
                "/scenarios",
                "operator",
                content=b"{not json",
                headers={"content-type": "application/json"},
            )
            assert answer.status_code == 422 and answer.json()["error"] == "validation"
            answer = await api.call("POST", "/scenarios", "operator", json=["a", "list"])
            assert answer.status_code == 422 and answer.json()["where"] == "body"
            assert (
                await api.call("POST", "/scenarios", "operator", json=body())
            ).status_code == 202
            answer = await api.call("POST", "/scenarios", "operator", json=body())
            assert answer.status_code == 409 and answer.json()["error"] == "conflict"
            await until(api, "what-if", "done")
            answer = await api.call("POST", "/scenarios/what-if/cancel", "operator")
            assert answer.status_code == 409 and "is done" in answer.json()["detail"]
            params = {"twin": "tank-1", "name": "volume"}
            answer = await api.call("GET", "/scenarios/what-if/series", "viewer", params=params)
            assert answer.status_code == 404 and "tank-1/level" in answer.json()["detail"]
            params = {"twin": "tank-1", "name": "level", "buckets": 0}
            answer = await api.call("GET", "/scenarios/what-if/compare", "viewer", params=params)
            assert answer.status_code == 422 and answer.json()["where"] == "query.buckets"
            answer = await api.call("GET", "/scenarios/nope/series", "viewer", params=params)
            assert answer.status_code == 422  # buckets=0 checked first
            answer = await api.call("POST", "/scenarios/nope/cancel", "operator")
            assert answer.status_code == 404

    asyncio.run(go())


def test_a_diverging_simulator_fails_its_scenario_and_the_server_goes_on(tmp_path: Path) -> None:
    async def go() -> None:
        async with served(tmp_path, DivergingTank) as (api, _):
            answer = await api.call("POST", "/scenarios", "operator", json=body(name="boom"))
            assert answer.status_code == 202
            failed = await until(api, "boom", "failed")
            assert "diverged at t=60" in failed["error"] and "tank-1" in failed["error"]
            assert (await api.client.get("/health")).status_code == 200
            api.services.bindings = bindings(api.services.runtime)
            assert (
                await api.call("POST", "/scenarios", "operator", json=body())
            ).status_code == 202
            assert (await until(api, "what-if", "done", "failed"))["status"] == "done"

    asyncio.run(go())


def test_cancel_and_delete_a_running_scenario(tmp_path: Path) -> None:
    async def go() -> None:
        async with served(tmp_path, SlowTank) as (api, _):
            long = body(name="long", horizon=100_000, dt=1)
            assert (await api.call("POST", "/scenarios", "operator", json=long)).status_code == 202
            running = await until(api, "long", "running", progress=1e-9)
            assert 0 < running["progress"] < 1
            answer = await api.call("POST", "/scenarios/long/cancel", "operator")
            assert answer.status_code == 200
            cancelled = answer.json()
            assert cancelled["status"] == "cancelled" and cancelled["progress"] < 1
            assert (
                await api.call("POST", "/scenarios", "operator", json={**long, "name": "second"})
            ).status_code == 202
            await until(api, "second", "running")
            assert (await api.call("DELETE", "/scenarios/second", "operator")).status_code == 204
            assert api.services.scenarios.running() == []
            names = [
                s["name"] for s in (await api.call("GET", "/scenarios", "viewer")).json()["items"]
            ]
            assert names == ["long"]

    asyncio.run(go())


def test_python_client_runs_reads_compares_and_plots(tmp_path: Path) -> None:
    with LiveServer(tmp_path / "data") as server:
        assert server.services is not None
        runtime = server.services.runtime
        t0 = time.time() - 1000
        server.run_in_loop(build_plant(runtime, t0))
        # the twins were made now, so the rates measured before are history: set it now
        server.run_in_loop(runtime.report("source-1", {"rate": 4.0}, cause="test"))
        server.services.bindings = bindings(runtime)
        with Client(server.url, server.secrets["operator"]) as client:
            seen: list[float] = []
            done = client.run_scenario(body(), wait=True, progress=seen.append, poll=0.05)
            assert done["status"] == "done" and seen[-1] == 1.0
            table = client.scenarios()
            assert list(table.columns) == list(SCENARIO_COLUMNS)
            assert table.loc[0, "name"] == "what-if" and table.loc[0, "progress"] == 1.0
            assert str(table["finished"].dt.tz) == "UTC"

            level = client.scenario_series("what-if", "tank-1", "level")
            assert len(level) == 61 and str(level.index.tz) == "UTC"
            offsets = (level.index - level.index[0]).total_seconds().to_numpy()
            np.testing.assert_allclose(level.to_numpy(), [tank_level(t, 5.0, 4.5) for t in offsets])
            assert len(client.scenario_series("what-if", "tank-1", "level", buckets=3)) == 3

            frame = client.compare_scenario("what-if", "tank-1", "level", buckets=4)
            assert list(frame.columns) == ["scenario", "reality", "difference"]
            assert frame["reality"].iloc[0] == 5.0  # the level measured last, held at T
            assert frame["reality"].iloc[1:].isna().all()  # the rest lies ahead of now
            ax = client.plot_scenario("what-if", "tank-1", "level", path=tmp_path / "p.svg")
            assert (tmp_path / "p.svg").read_text().lstrip().startswith("<?xml")
            assert ax.get_lines()[1].get_label() == "scenario what-if"

            with pytest.raises(ClientError) as caught:
                client.run_scenario(body(name="bad", horizon=-1))
            assert caught.value.status == 422 and caught.value.where == "horizon"
            with pytest.raises(ClientError) as caught:
                client.cancel_scenario("what-if")
            assert caught.value.status == 409
            client.delete_scenario("what-if")
            assert client.scenarios().empty
            with pytest.raises(ClientError, match=r"still queued|still running"):
                long = body(name="long", horizon=1e6, dt=1)
                client.run_scenario(long, wait=True, poll=0.05, timeout=0.2)
            assert client.cancel_scenario("long")["status"] == "cancelled"

"""The API on a real loopback socket: HTTP with httpx, the event stream with ``websockets``."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from api_helpers import MODELS, PUMP, TANK, LiveServer
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from twinkit.api._stream import SLOW_CLIENT_CLOSE


def http(server: LiveServer, role: str = "admin") -> httpx.Client:
    return httpx.Client(
        base_url=server.url + "/api/v1",
        headers={"Authorization": f"Bearer {server.secrets[role]}"},
        timeout=10,
    )


def set_up_pumps(server: LiveServer) -> None:
    with http(server) as client:
        assert client.post("/models", json=MODELS).status_code == 201
        for twin_id, model in (("pump-1", PUMP), ("pump-2", PUMP), ("tank-1", TANK)):
            assert client.put(f"/twins/{twin_id}", json={"model": model}).status_code == 201


def ws_url(server: LiveServer, query: str) -> str:
    return f"ws://127.0.0.1:{server.port}/api/v1/stream?{query}"


async def ingest(server: LiveServer, records: list[dict[str, Any]]) -> httpx.Response:
    async with httpx.AsyncClient(
        base_url=server.url + "/api/v1",
        headers={"Authorization": f"Bearer {server.secrets['operator']}"},
    ) as client:
        return await client.post("/ingest", json=records)


async def receive(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    return [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(count)]


def test_real_socket_serves_rest_and_health(live_server: LiveServer) -> None:
    set_up_pumps(live_server)
    health = httpx.get(live_server.url + "/api/v1/health", timeout=5)
    assert health.status_code == 200 and health.json()["twins"] == 3
    with http(live_server, "viewer") as client:
        assert [t["id"] for t in client.get("/twins").json()["items"]] == [
            "pump-1",
            "pump-2",
            "tank-1",
        ]
    assert httpx.get(live_server.url + "/api/v1/twins", timeout=5).status_code == 401


def test_stream_sends_only_the_events_its_filters_ask_for(live_server: LiveServer) -> None:
    set_up_pumps(live_server)
    viewer = live_server.secrets["viewer"]

    async def scenario() -> None:
        by_twin = connect(
            ws_url(live_server, "twins=pump-1&types=PropertyReported,DesiredPropertySet"),
            additional_headers={"Authorization": f"Bearer {viewer}"},
        )
        by_model = connect(ws_url(live_server, f"models={TANK}&token={viewer}"))
        async with by_twin as pump_ws, by_model as tank_ws:
            answer = await ingest(
                live_server,
                [
                    {"twinId": "pump-2", "label": "other pump"},
                    {"twinId": "pump-1", "temp": 30.0},  # telemetry: filtered out by type
                    {"twinId": "tank-1", "level": 2.5},
                    {"twinId": "pump-1", "label": "mine"},
                ],
            )
            assert answer.status_code == 200, answer.text
            with http(live_server, "operator") as client:
                desired = client.put("/twins/pump-1/properties/speed/desired", json={"value": 9})
                assert desired.status_code == 200
            pump_events = await receive(pump_ws, 2)
            assert [(e["twinId"], e["type"]) for e in pump_events] == [
                ("pump-1", "PropertyReported"),
                ("pump-1", "DesiredPropertySet"),
            ]
            assert pump_events[0]["data"] == {"name": "label", "value": "mine"}
            assert pump_events[1]["cause"] == f"token:{live_server.token_ids['operator']}"
            tank_events = await receive(tank_ws, 1)
            assert tank_events[0]["type"] == "TelemetryReceived"
            assert tank_events[0]["data"]["values"] == {"level": 2.5}
            for ws in (pump_ws, tank_ws):  # nothing else is on its way
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(ws.recv(), 0.3)

    asyncio.run(scenario())


def test_stream_refuses_missing_bad_tokens_and_bad_filters(live_server: LiveServer) -> None:
    async def status_of(url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, **kwargs):
                pass
        response = refused.value.response
        return response.status_code, json.loads(response.body or b"{}")

    async def scenario() -> None:
        status, body = await status_of(ws_url(live_server, ""))
        assert status == 401 and body["error"] == "unauthenticated"
        status, body = await status_of(ws_url(live_server, "token=tk_wrong"))
        assert status == 401
        viewer = live_server.secrets["viewer"]
        status, body = await status_of(ws_url(live_server, f"types=Exploded&token={viewer}"))
        assert status == 422 and "Exploded" in body["detail"]

    asyncio.run(scenario())


def test_slow_stream_client_is_disconnected_and_ingest_goes_on(live_server: LiveServer) -> None:
    """The live server gives each client a queue of 16 events."""
    set_up_pumps(live_server)
    viewer = live_server.secrets["viewer"]
    burst = [{"twinId": "pump-1", "ts": 1000 + i, "values": {"temp": float(i)}} for i in range(40)]

    async def scenario() -> None:
        slow = connect(ws_url(live_server, f"twins=pump-1&token={viewer}"))
        steady = connect(ws_url(live_server, f"twins=tank-1&token={viewer}"))
        async with slow as slow_ws, steady as steady_ws:
            started = time.monotonic()
            for _ in range(3):  # 40 events at once: more than the client's queue holds
                answer = await ingest(live_server, burst)
                assert answer.status_code == 200 and answer.json()["accepted"] == 40
            assert time.monotonic() - started < 10  # never waited for the slow client
            received = 0
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(slow_ws.recv(), 10)
                    received += 1
            assert closed.value.rcvd is not None, (closed.value, received)
            assert closed.value.rcvd.code == SLOW_CLIENT_CLOSE, (closed.value, received)
            assert "too slow" in closed.value.rcvd.reason
            assert received <= 16

            # the other client was not touched
            answer = await ingest(live_server, [{"twinId": "tank-1", "level": 7.0}])
            assert answer.status_code == 200
            event = (await receive(steady_ws, 1))[0]
            assert event["twinId"] == "tank-1" and event["data"]["values"] == {"level": 7.0}

    asyncio.run(scenario())

"""The REST API as a client sees it, over a real SQLite store and runtime (ASGI, no socket)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from api_helpers import MODELS, PUMP, TANK, Api, api


def scenario(tmp_path: Path, body: Callable[[Api], Awaitable[None]], **settings: Any) -> None:
    async def run() -> None:
        async with api(tmp_path, **settings) as served:
            await body(served)

    asyncio.run(run())


def assert_error(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == kind
    assert isinstance(body["detail"], str) and body["detail"]
    assert "where" in body
    return body


# --- models ---------------------------------------------------------------------------------


def test_models_upload_list_get_delete(tmp_path: Path) -> None:
    async def body(a: Api) -> None:
        answer = await a.call("POST", "/models", json=MODELS[1])  # one document, not an array
        assert answer.status_code == 201 and answer.json() == {"ids": [TANK]}
        answer = await a.call("POST", "/models", json=[MODELS[0]])  # refers to the kept Tank
        assert answer.json() == {"ids": [PUMP]}
        listed = (await a.call("GET", "/models", "viewer")).json()
        assert {m["id"] for m in listed["items"]} == {PUMP, TANK}
        pump = next(m for m in listed["items"] if m["id"] == PUMP)
        assert pump["contents"]["speed"] == "Property" and pump["twins"] == 0
        document = (await a.call("GET", f"/models/{PUMP}", "viewer")).json()
        assert document == MODELS[0]
        assert (await a.call("PUT", "/twins/p", json={"model": PUMP})).status_code == 201
        assert_error(await a.call("DELETE", f"/models/{PUMP}"), 409, "conflict")
        assert (await a.call("DELETE", "/twins/p")).status_code == 204
        assert (await a.call("DELETE", f"/models/{PUMP}")).status_code == 204
        assert_error(await a.call("GET", f"/models/{PUMP}"), 404, "not_found")
        assert_error(await a.call("DELETE", f"/models/{PUMP}"), 404, "not_found")

    scenario(tmp_path, body)


def test_model_upload_lists_every_dtdl_issue(tmp_path: Path) -> None:
    bad = {
        "@context": "dtmi:dtdl:context;3",
        "@id": "dtmi:example:Bad;1",
        "@type": "Interface",
        "contents": [
            {"@type": "Telemetry", "name": "flow", "schema": "dubble"},
            {"@type": "Property", "name": "9lives", "schema": "double"},
        ],
    }

    async def body(a: Api) -> None:
        error = assert_error(await a.call("POST", "/models", json=bad), 422, "validation")
        assert len(error["issues"]) >= 2
        assert any("dubble" in issue["message"] for issue in error["issues"])
        assert all({"document", "element", "rule", "message"} <= set(i) for i in error["issues"])
        error = assert_error(await a.call("POST", "/models", json=[1, 2]), 422, "validation")
        assert "DTDL interface object" in error["detail"]
        assert (await a.call("GET", "/models")).json()["total"] == 0  # nothing half-kept

    scenario(tmp_path, body)


# --- twins, JSON Patch, desired values -------------------------------------------------------


def test_twin_create_get_list_and_delete(tmp_path: Path) -> None:
    async def body(a: Api) -> None:
        await a.with_pumps()
        created = await a.call(
            "POST", "/twins", json={"$dtId": "pump-2", "$model": PUMP, "properties": {"label": "B"}}
        )
        assert created.status_code == 201, created.text
        assert created.json()["properties"]["label"]["reported"] == "B"
        assert_error(await a.call("PUT", "/twins/pump-2", json={"model": PUMP}), 409, "conflict")
        assert_error(await a.call("POST", "/twins", json={"model": PUMP}), 422, "validation")
        error = assert_error(
            await a.call(
                "PUT", "/twins/pump-3", json={"model": PUMP, "properties": {"speed": "x"}}
            ),
            422,
            "validation",
        )
        assert "speed" in (error["where"] or "") + error["detail"]

        got = await a.call("GET", "/twins/pump-2", "viewer")
        assert got.headers["ETag"] == '"1"' and got.json()["$etag"] == "1"
        assert got.json()["properties"]["label"]["inSync"] is True

        page = (await a.call("GET", "/twins", "viewer", params={"limit": 2})).json()
        assert page["total"] == 3 and [t["id"] for t in page["items"]] == ["pump-1", "pump-2"]
        page = (await a.call("GET", "/twins", params={"offset": 2})).json()
        assert [t["id"] for t in page["items"]] == ["tank-1"]
        tanks = (await a.call("GET", "/twins", params={"model": TANK})).json()
        assert [t["id"] for t in tanks["items"]] == ["tank-1"]
        assert_error(await a.call("GET", "/twins", params={"limit": 0}), 422, "validation")

        assert (await a.call("DELETE", "/twins/pump-2")).status_code == 204
        assert_error(await a.call("GET", "/twins/pump-2"), 404, "not_found")

    scenario(tmp_path, body)


def test_json_patch_reports_values_and_if_match_conflicts(tmp_path: Path) -> None:
    async def body(a: Api) -> None:
        await a.with_pumps()
        patch = [{"op": "add", "path": "/label", "value": "north"}]
        answer = await a.call("PATCH", "/twins/pump-1", json=patch, headers={"If-Match": '"1"'})
        assert answer.status_code == 200, answer.text
        assert answer.json()["properties"]["label"]["reported"] == "north"
        assert answer.headers["ETag"] == '"2"'

        stale = [{"op": "replace", "path": "/label", "value": "south"}]
        error = assert_error(
            await a.call("PATCH", "/twins/pump-1", json=stale, headers={"If-Match": "1"}),
            409,
            "conflict",
        )
        assert "1" in error["detail"] and "2" in error["detail"]
        assert (await a.call("GET", "/twins/pump-1")).json()["properties"]["label"]["reported"] == (
            "north"
        )

        remove = [{"op": "remove", "path": "/label"}]
        answer = await a.call("PATCH", "/twins/pump-1", json=remove, headers={"If-Match": 'W/"2"'})
        assert answer.status_code == 200, answer.text
        assert "label" not in answer.json()["properties"]

        for bad in (
            [{"op": "move", "from": "/a", "path": "/b"}],
            [{"op": "add", "path": "/label/inner", "value": 1}],
            [{"op": "add", "path": "/label"}],
            [{"op": "add", "path": "/nothing", "value": 1}],
            [{"op": "add", "path": "/speed", "value": "fast"}],
        ):
            assert_error(await a.call("PATCH", "/twins/pump-1", json=bad), 422, "validation")
        assert_error(
            await a.call("PATCH", "/twins/pump-1", json=remove, headers={"If-Match": "abc"}),
            422,
            "validation",
        )
        assert_error(await a.call("PATCH", "/twins/nobody", json=patch), 404, "not_found")

    scenario(tmp_path, body)


def test_desired_value_shows_desired_reported_and_sync(tmp_path: Path) -> None:
    async def body(a: Api) -> None:
        await a.with_pumps()
        answer = await a.call(
            "PUT", "/twins/pump-1/properties/speed/desired", "operator", json={"value": 1450}
        )
        assert answer.status_code == 200, answer.text
        shown = answer.json()
        assert shown["desired"] == 1450 and shown["desiredVersion"] == 1
        assert shown["inSync"] is False and shown["reported"] is None
        answer = await a.call(
            "POST", "/twins/pump-1/properties/speed/desired", "operator", json={"value": 1500}
        )
        assert answer.json()["desiredVersion"] == 2
        got = (await a.call("GET", "/twins/pump-1/properties/speed", "viewer")).json()
        assert got["desired"] == 1500 and got["inSync"] is False
        assert_error(
            await a.call("PUT", "/twins/pump-1/properties/label/desired", json={"value": "x"}),
            422,
            "validation",
        )  # label is not writable
        assert_error(
            await a.call("PUT", "/twins/pump-1/properties/speed/desired", json={"value": "fast"}),
            422,
            "validation",
        )
        assert_error(
            await a.call("PUT", "/twins/pump-1/properties/speed/desired", json={}),
            422,
            "validation",
        )
        assert_error(await a.call("GET", "/twins/pump-1/properties/nope"), 404, "not_found")

    scenario(tmp_path, body)


# --- relationships, telemetry, events ---------------------------------------------------------


def test_relationships_are_validated_and_listed_both_ways(tmp_path: Path) -> None:
    async def body(a: Api) -> None:
        await a.with_pumps()
        edge = await a.call(
            "POST", "/twins/pump-1/relationships", json={"name": "feeds", "target": "tank-1"}
        )
        assert edge.status_code == 201, edge.text
        edge_id = edge.json()["id"]
        assert edge.json()["source"] == "pump-1" and edge.json()["target"] == "tank-1"
        out = (await a.call("GET", "/twins/pump-1/relationships", "viewer")).json()
        assert [e["id"] for e in out["items"]] == [edge_id]
        incoming = (await a.call("GET", "/twins/tank-1/incoming", "viewer")).json()
        assert [e["source"] for e in incoming["items"]] == ["pump-1"]

        assert (await a.call("PUT", "/twins/pump-2", json={"model": PUMP})).status_code == 201
        for bad, status, kind in (
            ({"name": "drains", "target": "tank-1"}, 422, "validation"),  # not in the model
            ({"name": "feeds", "target": "pump-2"}, 422, "validation"),  # target of wrong model
            ({"name": "feeds", "target": "nobody"}, 404, "not_found"),
            ({"name": "feeds"}, 422, "validation"),  # no target
        ):
            answer = await a.call("POST", "/twins/pump-1/relationships", json=bad)
            assert_error(answer, status, kind)
        assert_error(await a.call("DELETE", "/twins/tank-1"), 409, "conflict")  # still a target
        path = f"/twins/pump-1/relationships/{edge_id}"
        assert (await a.call("DELETE", path)).status_code == 204
        assert_error(await a.call("DELETE", path), 404, "not_found")
        assert (await a.call("GET", "/twins/tank-1/incoming")).json()["items"] == []

    scenario(tmp_path, body)


def test_telemetry_latest_and_range_and_events_since(tmp_path: Path) -> None:
    async def body(a: Api) -> None:
        await a.with_pumps()
        lines = b"".join(
            b'{"twinId": "pump-1", "ts": %d, "values": {"temp": %d}}\n' % (1000 + i, 20 + i)
            for i in range(5)
        )
        answer = await a.client.post(
            "/ingest",
            content=lines,
            headers={**a.auth("operator"), "Content-Type": "application/x-ndjson"},
        )
        assert answer.status_code == 200 and answer.json()["accepted"] == 5, answer.text
        latest = (await a.call("GET", "/twins/pump-1/telemetry", "viewer")).json()
        assert latest == {"temp": {"value": 24.0, "time": 1004.0}}
        points = await a.call(
            "GET", "/twins/pump-1/telemetry/temp", params={"start": 1001, "end": 1004, "limit": 2}
        )
        assert points.json()["points"] == [
            {"time": 1001.0, "value": 21.0},
            {"time": 1002.0, "value": 22.0},
        ]
        assert_error(await a.call("GET", "/twins/nobody/telemetry/temp"), 404, "not_found")

        events = (await a.call("GET", "/twins/pump-1/events", "viewer")).json()
        seqs = [e["seq"] for e in events["items"]]
        assert seqs == list(range(1, len(seqs) + 1)) and events["items"][0]["type"] == "TwinCreated"
        later = (await a.call("GET", "/twins/pump-1/events", params={"since": 2})).json()
        assert [e["seq"] for e in later["items"]] == seqs[2:]
        assert_error(await a.call("GET", "/twins/nobody/events"), 404, "not_found")

    scenario(tmp_path, body)


# --- ingest and dead letters -----------------------------------------------------------------


def test_ndjson_ingest_dead_letters_the_bad_lines_and_accepts_the_rest(tmp_path: Path) -> None:
    async def body(a: Api) -> None:
        await a.with_pumps()
        lines = (
            b'{"twinId": "pump-1", "temp": 21.5}\n'
            b"{not json\n"
            b'{"twinId": "pump-1", "temp": "hot"}\n'
            b'{"twinId": "tank-1", "level": 3.5}\n'
        )
        answer = await a.client.post(
            "/ingest",
            content=lines,
            headers={**a.auth("operator"), "Content-Type": "application/x-ndjson"},
        )
        assert answer.status_code == 207, answer.text
        report = answer.json()
        assert report["accepted"] == 2 and report["rejected"] == 2
        assert [e["where"] for e in report["errors"]] == ["line 2", "line 3"]
        assert all(e["error"] == "validation" for e in report["errors"])
        assert (await a.call("GET", "/twins/tank-1/telemetry")).json()["level"]["value"] == 3.5

        letters = (await a.call("GET", "/dead-letters", "viewer")).json()["items"]
        assert [d["id"] for d in letters] == [e["deadLetter"] for e in report["errors"]]
        assert {d["source"] for d in letters} == {"http:/api/v1/ingest"}
        assert letters[0]["payload"] == "{not json"  # exactly the bad record, not the body
        assert letters[1]["payload"] == '{"twinId": "pump-1", "temp": "hot"}'

        all_bad = await a.client.post(
            "/ingest", json=[{"twinId": "nobody", "temp": 1}], headers=a.auth("operator")
        )
        assert_error(all_bad, 422, "validation")
        assert all_bad.json()["errors"][0]["error"] == "not_found"
        fine = await a.client.post(
            "/ingest", json={"twinId": "pump-1", "temp": 22}, headers=a.auth("operator")
        )
        assert fine.status_code == 200 and fine.json() == {
            "accepted": 1,
            "rejected": 0,
            "errors": [],
        }
        wrong_type = await a.client.post(
            "/ingest",
            content=b"temp=1",
            headers={**a.auth("operator"), "Content-Type": "text/plain"},
        )
        assert_error(wrong_type, 422, "validation")

    scenario(tmp_path, body)


def test_dead_letter_replay_after_the_missing_model_is_uploaded(tmp_path: Path) -> None:
    async def body(a: Api) -> None:
        lines = b'{"twinId": "pump-9", "label": "east"}\n{"twinId": "pump-9", "temp": "x"}\n'
        answer = await a.client.post(
            "/ingest",
            content=lines,
            headers={**a.auth("operator"), "Content-Type": "application/x-ndjson"},
        )
        assert answer.status_code == 422 and answer.json()["rejected"] == 2
        first, second = (e["deadLetter"] for e in answer.json()["errors"])

        report = (await a.call("POST", "/dead-letters/replay", "operator")).json()
        assert report["replayed"] == [] and {f["id"] for f in report["failed"]} == {first, second}

        assert (await a.call("POST", "/models", json=MODELS)).status_code == 201
        assert (await a.call("PUT", "/twins/pump-9", json={"model": PUMP})).status_code == 201
        replay = await a.call("POST", "/dead-letters/replay", "operator", json={"ids": [first]})
        assert replay.status_code == 200, replay.text
        assert replay.json()["replayed"] == [first] and replay.json()["failed"] == []
        twin = (await a.call("GET", "/twins/pump-9")).json()
        assert twin["properties"]["label"]["reported"] == "east"

        report = (await a.call("POST", "/dead-letters/replay", "operator", json={})).json()
        assert report["replayed"] == [] and [f["id"] for f in report["failed"]] == [second]
        pending = (await a.call("GET", "/dead-letters")).json()["items"]
        assert [d["id"] for d in pending] == [second]
        everything = (await a.call("GET", "/dead-letters", params={"all": "true"})).json()
        assert [d["replayed"] is not None for d in everything["items"]] == [True, False]
        events = (await a.call("GET", "/twins/pump-9/events")).json()["items"]
        assert [(e["type"], e["cause"]) for e in events] == [
            ("TwinCreated", f"token:{a.token_ids['admin']}"),
            ("PropertyReported", f"token:{a.token_ids['operator']}"),
        ]

    scenario(tmp_path, body)


# --- commands, health, error shape -----------------------------------------------------------


def test_command_without_a_connector_is_a_503_json_error(tmp_path: Path) -> None:
    async def body(a: Api) -> None:
        await a.with_pumps()
        answer = await a.call(
            "POST", "/twins/pump-1/commands/reboot", "operator", json=5, params={"timeout": 1}
        )
        error = assert_error(answer, 503, "device_offline")
        assert error["where"] == "twin pump-1/commands/reboot"
        result = await a.call("GET", f"/commands/{error['id']}", "viewer")
        assert result.status_code == 200 and result.json()["status"] == 503
        assert_error(await a.call("GET", "/commands/unknown"), 404, "not_found")
        assert_error(
            await a.call("POST", "/twins/pump-1/commands/reboot", json="soon"), 422, "validation"
        )
        assert_error(
            await a.call("POST", "/twins/pump-1/commands/explode", json=None), 422, "validation"
        )

    scenario(tmp_path, body)


def test_health_needs_no_token_and_unknown_routes_are_json(tmp_path: Path) -> None:
    async def body(a: Api) -> None:
        await a.with_pumps()
        health = await a.client.get("/health")
        assert health.status_code == 200
        assert health.json()["status"] == "ok" and health.json()["twins"] == 2
        assert health.json()["connector"] is None
        assert_error(await a.call("GET", "/no/such/route"), 404, "not_found")
        assert_error(await a.call("DELETE", "/health"), 405, "method_not_allowed")
        bad_json = await a.client.put(
            "/twins/x",
            content=b"{",
            headers={**a.auth("admin"), "Content-Type": "application/json"},
        )
        assert_error(bad_json, 422, "validation")

    scenario(tmp_path, body)


@pytest.mark.parametrize("path", ["/docs", "/openapi.json"])
def test_openapi_is_served(tmp_path: Path, path: str) -> None:
    async def body(a: Api) -> None:
        answer = await a.client.get(path.replace("/", "../../", 1))
        assert answer.status_code == 200
        if path.endswith(".json"):
            spec = answer.json()
            assert "/api/v1/twins/{twin_id}" in spec["paths"]
            assert "/api/v1/ingest" in spec["paths"]

    scenario(tmp_path, body)

"""History and queries through the REST API: twin queries, series, time travel (with auth)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from api_helpers import PUMP, Api, api


def scenario(tmp_path: Path, body: Callable[[Api], Awaitable[None]]) -> None:
    async def run() -> None:
        async with api(tmp_path) as served:
            await body(served)

    asyncio.run(run())


def error_of(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    found: dict[str, Any] = response.json()
    assert found["error"] == kind and found["detail"]
    return found


async def pumps(a: Api, count: int) -> None:
    await a.with_pumps()
    for i in range(2, count + 1):
        answer = await a.call("PUT", f"/twins/pump-{i}", json={"model": PUMP})
        assert answer.status_code == 201, answer.text
    for i in range(1, count + 1):
        patch = [{"op": "add", "path": "/speed", "value": float(i * 10)}]
        answer = await a.call("PATCH", f"/twins/pump-{i}", json=patch)
        assert answer.status_code == 200, answer.text


def test_query_pages_with_continuation_tokens_for_a_viewer(tmp_path: Path) -> None:
    async def body(a: Api) -> None:
        await pumps(a, 5)
        text = "SELECT T.$dtId AS id, T.speed FROM DIGITALTWINS T WHERE T.speed >= 20"
        first = await a.call("POST", "/query", "viewer", json={"query": text, "pageSize": 2})
        assert first.status_code == 200, first.text
        page = first.json()
        assert len(page["value"]) == 2 and page["continuationToken"]
        rows = list(page["value"])
        while page["continuationToken"]:
            answer = await a.call(
                "POST",
                "/query",
                "viewer",
                json={"query": text, "pageSize": 2, "continuationToken": page["continuationToken"]},
            )
            page = answer.json()
            rows += page["value"]
        assert sorted((r["id"], r["speed"]) for r in rows) == [
            (f"pump-{i}", i * 10.0) for i in range(2, 6)
        ]
        count = await a.call(
            "POST", "/query", "viewer", json={"query": "SELECT COUNT() FROM DIGITALTWINS"}
        )
        assert count.json()["value"] == [{"COUNT": 6}]  # five pumps and a tank

    scenario(tmp_path, body)


def test_bad_queries_are_clear_errors_and_need_a_token(tmp_path: Path) -> None:
    async def body(a: Api) -> None:
        await a.with_pumps()
        bad = await a.call("POST", "/query", json={"query": "SELECT T FORM DIGITALTWINS T"})
        found = error_of(bad, 422, "validation")
        assert "line 1, column 10" in found["detail"] and "FORM" in found["detail"]
        injection = "SELECT T FROM DIGITALTWINS T WHERE T.$dtId = 'x'; DROP TABLE twins --'"
        error_of(await a.call("POST", "/query", json={"query": injection}), 422, "validation")
        listed = await a.call("POST", "/query", json={"query": "SELECT T FROM DIGITALTWINS T"})
        assert len(listed.json()["value"]) == 2  # the twins table is still there
        anonymous = await a.client.post("/query", json={"query": "SELECT T FROM DIGITALTWINS T"})
        assert anonymous.status_code == 401

    scenario(tmp_path, body)


def test_series_buckets_frames_and_retention(tmp_path: Path) -> None:
    async def body(a: Api) -> None:
        await a.with_pumps()
        lines = "\n".join(
            f'{{"twinId": "pump-1", "ts": {1_700_000_000 + i}, "values": {{"temp": {i}.0}}}}'
            for i in range(120)
        )
        answer = await a.call(
            "POST",
            "/ingest",
            "operator",
            content=lines,
            headers={"Content-Type": "application/x-ndjson"},
        )
        assert answer.status_code == 200, answer.text[:500]
        start, end = 1_700_000_000, 1_700_000_120
        page = await a.call(
            "GET", "/twins/pump-1/series/temp", "viewer", params={"start": start, "end": end}
        )
        assert [p["value"] for p in page.json()["points"]] == [float(i) for i in range(120)]
        first = await a.call(
            "GET",
            "/twins/pump-1/series/temp",
            "viewer",
            params={"start": start, "end": end, "limit": 100},
        )
        after = first.json()["nextAfter"]
        rest = await a.call(
            "GET",
            "/twins/pump-1/series/temp",
            "viewer",
            params={"start": start, "end": end, "after": after},
        )
        assert len(rest.json()["points"]) == 20 and rest.json()["nextAfter"] is None
        iso = "2023-11-14T22:13:20Z"  # 1_700_000_000
        buckets = await a.call(
            "GET",
            "/twins/pump-1/series/temp/buckets",
            "viewer",
            params={"start": iso, "end": end, "width": 60, "agg": "count"},
        )
        assert buckets.status_code == 200, buckets.text
        got = buckets.json()["buckets"]
        assert sum(b["value"] for b in got) == 120  # every point in one bucket or another
        assert got[0]["time"].endswith("Z")
        framed = await a.call(
            "POST",
            "/series/frame",
            "viewer",
            json={"series": ["pump-1/temp"], "start": start, "end": end, "width": 30},
        )
        assert framed.status_code == 200, framed.text
        assert len(framed.json()["time"]) == len(framed.json()["columns"]["pump-1/temp"])
        error_of(
            await a.call(
                "GET",
                "/twins/pump-1/series/temp/buckets",
                "viewer",
                params={"start": start, "end": end, "width": 60, "agg": "median"},
            ),
            422,
            "validation",
        )
        rule = {"raw": 86_400.0, "rollup1m": 7 * 86_400.0}
        assert (await a.call("PUT", "/retention/default", "viewer", json=rule)).status_code == 403
        assert (await a.call("PUT", "/retention/default", json=rule)).status_code == 200
        rules = (await a.call("GET", "/retention", "viewer")).json()["items"]
        assert [(r["scope"], r["raw"]) for r in rules] == [("default", 86_400.0)]

    scenario(tmp_path, body)


def test_time_travel_diff_and_property_history(tmp_path: Path) -> None:
    async def body(a: Api) -> None:
        await a.with_pumps()
        clock = a.services.runtime._clock  # the real clock: read the times the events got
        patch = [{"op": "add", "path": "/label", "value": "first"}]
        assert (await a.call("PATCH", "/twins/pump-1", json=patch)).status_code == 200
        middle = clock()
        await asyncio.sleep(0.01)
        patch = [{"op": "replace", "path": "/label", "value": "second"}]
        assert (await a.call("PATCH", "/twins/pump-1", json=patch)).status_code == 200
        desired = await a.call(
            "PUT", "/twins/pump-1/properties/speed/desired", "operator", json={"value": 3.0}
        )
        assert desired.status_code == 200, desired.text
        then = await a.call("GET", "/twins/pump-1/as-of", "viewer", params={"time": middle})
        assert then.status_code == 200, then.text
        assert then.json()["properties"]["label"]["reported"] == "first"
        graph = await a.call("GET", "/graph/as-of", "viewer", params={"time": middle})
        assert {t["id"] for t in graph.json()["twins"]} == {"pump-1", "tank-1"}
        before = await a.call("GET", "/twins/pump-1/as-of", "viewer", params={"time": 1.0})
        error_of(before, 404, "not_found")
        changes = await a.call(
            "GET", "/diff", "viewer", params={"start": middle, "end": clock() + 1}
        )
        found_changes = {(c["kind"], c["name"]): c for c in changes.json()["changes"]}
        label = found_changes["reported", "label"]
        assert (label["before"], label["after"]) == ("first", "second")
        assert found_changes["desired", "speed"]["after"] == 3.0
        found = await a.call("GET", "/twins/pump-1/properties/label/history", "viewer")
        history = found.json()["changes"]
        assert [h["value"] for h in history] == ["second", "first"]  # newest first
        assert {h["cause"] for h in history} == {f"token:{a.token_ids['admin']}"}
        speed = await a.call("GET", "/twins/pump-1/properties/speed/history", "viewer")
        (set_by,) = speed.json()["changes"]
        assert (set_by["kind"], set_by["value"], set_by["cause"]) == (
            "desired",
            3.0,
            f"token:{a.token_ids['operator']}",
        )
        error_of(
            await a.call("GET", "/twins/pump-1/as-of", "viewer", params={"time": "yesterday"}),
            422,
            "validation",
        )

    scenario(tmp_path, body)

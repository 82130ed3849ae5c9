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

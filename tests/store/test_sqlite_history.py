"""The SQL of time travel: history snapshots are pure folds, and the rows read back by time are
the ones the fold needs, read by index ranges, the same for one twin and for the whole graph."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest

from twinkit.core import Event, EventType, Point, TelemetryValue, Twin, fold, twin_from_json
from twinkit.store import SQLiteStore
from twinkit.store import _sqlite_history as history

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def ev(twin_id: str, seq: int, time: float, kind: EventType, **data: Any) -> Event:
    return Event(
        twin_id=twin_id,
        seq=seq,
        type=kind,
        time=time,
        recorded=time,
        cause="connector:x",
        data=data,
    )


def report(twin_id: str, seq: int, time: float, value: float) -> Event:
    return ev(twin_id, seq, time, EventType.PROPERTY_REPORTED, name="speed", value=value)


def created(twin_id: str, seq: int, time: float) -> Event:
    return ev(twin_id, seq, time, EventType.TWIN_CREATED, model="dtmi:x:P;1", properties={})


# Device times out of order: seq 3 happened before seq 2.
LOG = [created("p", 1, 10.0), report("p", 2, 30.0, 1.0), report("p", 3, 20.0, 2.0)]
LOG2 = [*LOG, report("p", 4, 40.0, 3.0), report("p", 5, 50.0, 4.0)]


def snapshot_rows(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT twin_id, version, time, data FROM snapshot_history").fetchall()


def test_a_history_snapshot_is_the_pure_fold_and_its_time_the_latest_event_time(
    tmp_path: Path,
) -> None:
    live = fold(LOG)
    assert live is not None
    # What a runtime hands over: latest telemetry on it, which has no place in the past.
    live = Twin(live.id, live.model, live.version, live.created, live.updated, live.properties,
                telemetry={"flow": TelemetryValue(9.0, 99.0)})  # fmt: skip

    async def scenario() -> list[tuple[Any, ...]]:
        async with await SQLiteStore.open(tmp_path / "h.db") as store:
            await store.append(LOG2)
            await store.save_snapshot(live)
            later = fold(LOG2)
            assert later is not None
            await store.save_snapshot(later)  # folded on from the first one
            assert await store.snapshot("p") == later
            return await store.read("rows", snapshot_rows)

    (first, second) = run(scenario())
    assert first[:3] == ("p", 3, 30.0)  # not 20.0: the latest event time, not the last one's
    assert twin_from_json(orjson.loads(first[3])) == fold(LOG)  # no telemetry
    assert second[:3] == ("p", 5, 50.0)
    assert twin_from_json(orjson.loads(second[3])) == fold(LOG2)


def test_a_snapshot_without_its_events_is_kept_but_not_in_the_history(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    twin = fold(LOG)
    assert twin is not None

    async def scenario() -> tuple[Twin | None, list[tuple[Any, ...]]]:
        async with await SQLiteStore.open(tmp_path / "h.db") as store:
            await store.save_snapshot(twin)
            return await store.snapshot("p"), await store.read("rows", snapshot_rows)

    with caplog.at_level(logging.WARNING):
        kept, rows = run(scenario())
    assert kept == twin and rows == []
    assert "no history snapshot of twin 'p' at version 3" in caplog.text


def test_rows_as_of_start_at_the_newest_snapshot_old_enough(tmp_path: Path) -> None:
    other = [created("q", 1, 15.0), report("q", 2, 16.0, 7.0)]

    async def scenario() -> None:
        async with await SQLiteStore.open(tmp_path / "h.db") as store:
            await store.append(LOG2 + other)
            for upto in (LOG, LOG2):
                twin = fold(upto)
                assert twin is not None
                await store.save_snapshot(twin)
            for at, version, seqs in [
                (5.0, None, [1]),  # before creation: only the creation (lifecycle) row
                (25.0, None, [1, 3]),
                (35.0, 3, []),  # the creation at seq 1 is in the snapshot; seq 4 is at 40
                (45.0, 3, [4]),
                (60.0, 5, []),
            ]:
                rows = await store.twin_rows_as_of("p", at)
                assert (rows.snapshot.version if rows.snapshot else None) == version, at
                assert [row[1] for row in rows.events] == seqs, at
                graph = await store.graph_rows_as_of(at)
                assert [r.twin_id for r in graph] == ["p", "q"]
                assert graph[0] == rows
                assert await store.graph_rows_as_of(at, ["p"]) == [rows]
            assert await store.changed_twin_ids(15.0, 30.0) == ["p", "q"]
            assert await store.changed_twin_ids(30.0, 45.0) == ["p"]

    run(scenario())


def test_the_whole_graph_is_read_by_index_ranges_not_scans(tmp_path: Path) -> None:
    def plans(conn: sqlite3.Connection) -> dict[str, list[str]]:
        out = {}
        for name, sql, params in [
            ("events", history.SELECT_GRAPH_EVENTS, {"at": 1.0}),
            ("some", history.SELECT_SOME_EVENTS, {"at": 1.0, "ids": "[]"}),
            ("points", history.SELECT_POINTS_AS_OF, {"at": 1.0, "ids": "[]"}),
        ]:
            out[name] = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
        return out

    async def scenario() -> dict[str, list[str]]:
        async with await SQLiteStore.open(tmp_path / "h.db") as store:
            return await store.read("plans", plans)

    found = run(scenario())
    for name, steps in found.items():
        assert not any(step.startswith("SCAN e") or step == "SCAN events" for step in steps), name
    assert any("SEARCH e USING PRIMARY KEY (twin_id=? AND seq>?)" in s for s in found["events"])
    assert any("SEARCH p USING PRIMARY KEY (series_id=? AND time=?)" in s for s in found["points"])


def test_points_as_of_read_the_newest_point_at_or_before_t(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(tmp_path / "h.db") as store:
            await store.append(
                [created("p", 1, 0.0)], [Point("p", "flow", t, t) for t in (1.0, 2.0)]
            )
            await store.append([ev("p", 2, 3.0, EventType.TWIN_DELETED)])
            await store.append([created("p", 3, 4.0)], [Point("p", "flow", 5.0, "on")])
            assert await store.points_as_of(["p", "p@deleted:2"], 1.5) == [
                Point("p@deleted:2", "flow", 1.0, 1.0)
            ]
            assert await store.points_as_of(["p@deleted:2", "p"], 9.0) == [
                Point("p", "flow", 5.0, "on"),
                Point("p@deleted:2", "flow", 2.0, 2.0),
            ]
            assert await store.points_as_of([], 9.0) == []

    run(scenario())


def test_property_events_read_one_range_of_the_twins_events(tmp_path: Path) -> None:
    def plan(conn: sqlite3.Connection) -> list[str]:
        params = {k: 0 for k in ("twin", "name", "needle", "created_path", "start", "end")}
        params |= {"time": 0.0, "seq": 0, "limit": 1}
        sql = "EXPLAIN QUERY PLAN " + history.SELECT_PROPERTY_NEWEST
        return [row[3] for row in conn.execute(sql, params)]

    async def scenario() -> list[str]:
        async with await SQLiteStore.open(tmp_path / "h.db") as store:
            return await store.read("plan", plan)

    steps = run(scenario())
    assert any("SEARCH e USING PRIMARY KEY (twin_id=?)" in step for step in steps), steps

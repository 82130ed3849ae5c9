"""Scenarios in SQLite: records, simulated points apart from reality's, deletion, migration."""

from __future__ import annotations

import asyncio
import math
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from twinkit.core import Point
from twinkit.errors import ConflictError, NotFoundError, StoreError, ValidationError
from twinkit.store import (
    ScenarioPoints,
    ScenarioRecord,
    ScenarioStatus,
    SQLiteStore,
    Store,
)
from twinkit.store._sqlite_schema import MIGRATIONS, SCHEMA_VERSION

SPEC = {"name": "s1", "roots": ["tank-1"], "horizon": 60.0, "at": 1000.0}


def record(name: str = "s1", **changes: object) -> ScenarioRecord:
    fields: dict[str, object] = {
        "name": name,
        "spec": {**SPEC, "name": name},
        "status": ScenarioStatus.QUEUED,
        "created": 5.0,
        "cause": "token:t1",
        **changes,
    }
    return ScenarioRecord(**fields)  # type: ignore[arg-type]


def points(twin: str, name: str, times: list[float], values: list[float]) -> ScenarioPoints:
    return ScenarioPoints(twin, name, np.array(times), np.array(values))


def count(path: Path, table: str) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_records_are_kept_updated_listed_and_unique(tmp_path: Path) -> None:
    async def go() -> None:
        store: Store = await SQLiteStore.open(tmp_path / "db")
        try:
            await store.add_scenario(record())
            await store.add_scenario(record("s0", created=1.0))
            with pytest.raises(ConflictError, match="'s1' is already kept"):
                await store.add_scenario(record())
            kept = await store.scenario("s1")
            assert kept == record()
            assert kept.spec["roots"] == ["tank-1"] and kept.status is ScenarioStatus.QUEUED
            assert [r.name for r in await store.scenarios()] == ["s0", "s1"]  # oldest first

            running = await store.update_scenario(
                "s1", status=ScenarioStatus.RUNNING, started=6.0, progress=0.25
            )
            assert (running.status, running.started, running.progress) == ("running", 6.0, 0.25)
            failed = await store.update_scenario("s1", status=ScenarioStatus.FAILED, error="x")
            assert failed.status.final and failed.error == "x" and failed.started == 6.0
            with pytest.raises(ValidationError, match="progress out of range"):
                await store.update_scenario("s1", progress=1.5)
            with pytest.raises(ValidationError, match="unknown scenario status"):
                await store.update_scenario("s1", status="finished")  # type: ignore[arg-type]
            with pytest.raises(NotFoundError, match="'nope' not found"):
                await store.update_scenario("nope", progress=0.5)
            with pytest.raises(NotFoundError):
                await store.scenario("nope")
            with pytest.raises(ValidationError, match="must be JSON"):
                await store.add_scenario(record("bad", spec={"x": object()}))
        finally:
            await store.close()

    asyncio.run(go())


def test_points_are_apart_from_reality_and_read_back(tmp_path: Path) -> None:
    async def go() -> None:
        async with await SQLiteStore.open(tmp_path / "db") as store:
            await store.append([], [Point("tank-1", "level", 1000.0, 2.0)])
            await store.add_scenario(record())
            written = await store.add_scenario_points(
                "s1",
                [
                    points("tank-1", "level", [1000, 1010, 1020], [5.0, math.nan, 7.0]),
                    points("tank-1", "outflow", [1000, 1010, 1020], [1.0, 2.0, 3.0]),
                ],
            )
            assert written == 6
            # the same chunk again changes nothing (a retried write)
            await store.add_scenario_points("s1", [points("tank-1", "level", [1020], [7.0])])
            found = await store.scenario_points("s1", "tank-1", "level", 1000, 1020.5)
            assert found.times.tolist() == [1000.0, 1010.0, 1020.0]
            assert found.values[0] == 5.0 and math.isnan(found.values[1])
            assert (
                await store.scenario_points("s1", "tank-1", "level", 1005, 1020)
            ).times.size == 1
            # reality's series of the same name is untouched
            assert await store.points("tank-1", "level", 0, math.inf) == [
                Point("tank-1", "level", 1000.0, 2.0)
            ]
            assert await store.scenario_series("s1") == [
                ("tank-1", "level"),
                ("tank-1", "outflow"),
            ]
            empty = await store.scenario_points("s1", "tank-1", "volume", 0, math.inf)
            assert empty.times.size == 0 and empty.values.size == 0
            with pytest.raises(NotFoundError):
                await store.scenario_points("nope", "tank-1", "level", 0, math.inf)
            with pytest.raises(NotFoundError):
                await store.add_scenario_points("nope", [points("t", "x", [1], [1])])
            with pytest.raises(ValidationError, match="as many times as values"):
                await store.add_scenario_points("s1", [points("t", "x", [1, 2], [1])])

    asyncio.run(go())


def test_buckets_aggregate_the_numeric_points(tmp_path: Path) -> None:
    async def go() -> None:
        async with await SQLiteStore.open(tmp_path / "db") as store:
            await store.add_scenario(record())
            times = [1000.0 + i for i in range(10)]
            values = [float(i) for i in range(10)]
            values[3] = math.nan
            await store.add_scenario_points("s1", [points("tank-1", "level", times, values)])
            found = await store.scenario_buckets("s1", "tank-1", "level", 1000, 1010, width=4)
            assert found.bucket.tolist() == [0, 1, 2]
            assert found.count.tolist() == [3, 4, 2]  # the NaN is left out
            assert found.mean.tolist() == [1.0, 5.5, 8.5]
            assert found.min.tolist() == [0.0, 4.0, 8.0] and found.max.tolist() == [2.0, 7.0, 9.0]
            with pytest.raises(ValidationError, match="bad bucket width"):
                await store.scenario_buckets("s1", "tank-1", "level", 0, 1, width=0)

    asyncio.run(go())


def test_delete_removes_the_scenario_and_its_points_in_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("twinkit.store._sqlite_scenarios.DELETE_CHUNK", 7)
    path = tmp_path / "db"

    async def go() -> None:
        async with await SQLiteStore.open(path) as store:
            await store.append([], [Point("tank-1", "level", 1.0, 2.0)])
            for name in ("s1", "s2"):
                await store.add_scenario(record(name))
                await store.add_scenario_points(
                    name,
                    [
                        points("tank-1", "level", list(range(20)), [1.0] * 20),
                        points("tank-1", "flow", list(range(5)), [2.0] * 5),
                    ],
                )
            await store.delete_scenario("s1")
            with pytest.raises(NotFoundError):
                await store.scenario("s1")
            with pytest.raises(NotFoundError):
                await store.delete_scenario("s1")
            assert [r.name for r in await store.scenarios()] == ["s2"]
            assert len((await store.scenario_points("s2", "tank-1", "level", 0, 99)).times) == 20
            assert len(await store.points("tank-1", "level", 0, 99)) == 1

    asyncio.run(go())
    assert count(path, "scenario_points") == 25 and count(path, "scenario_series") == 2


def test_in_memory_store_keeps_scenarios_too() -> None:
    async def go() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            await store.add_scenario(record())
            await store.add_scenario_points("s1", [points("t", "x", [1.0], [2.0])])
            assert (await store.scenario_points("s1", "t", "x", 0, 2)).values.tolist() == [2.0]
            await store.delete_scenario("s1")
            assert await store.scenarios() == []

    asyncio.run(go())


def test_a_version_3_database_migrates_to_keep_scenarios(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for step in MIGRATIONS[:3]:
            for statement in step.statements:
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 3")
        conn.execute("INSERT INTO series (id, twin_id, name) VALUES (1, 'tank-1', 'level')")
        conn.execute("INSERT INTO points (series_id, time, value) VALUES (1, 1.0, 2.0)")

    async def go() -> None:
        async with await SQLiteStore.open(path) as store:
            assert await store.points("tank-1", "level", 0, 9) == [
                Point("tank-1", "level", 1.0, 2.0)
            ]
            await store.add_scenario(record())
            assert (await store.scenario("s1")).cause == "token:t1"

    asyncio.run(go())
    assert MIGRATIONS[3].version == 4  # the scenario tables came with version 4
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"scenarios", "scenario_series", "scenario_points"} <= tables


def test_an_unreadable_spec_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "db"

    async def go() -> None:
        async with await SQLiteStore.open(path) as store:
            await store.add_scenario(record())
        with closing(sqlite3.connect(path)) as conn:
            conn.execute("UPDATE scenarios SET spec = x'7b7b'")  # "{{"
            conn.commit()
        async with await SQLiteStore.open(path) as store:
            with pytest.raises(StoreError, match=r"'s1'.*unreadable: expected a JSON spec"):
                await store.scenario("s1")

    asyncio.run(go())

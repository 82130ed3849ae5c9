"""Retention: rules by scope, purges that keep rollups exact and never stall ingest."""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from twinkit.core import Event, EventType, apply
from twinkit.errors import NotFoundError, ValidationError
from twinkit.store import Point, SQLiteStore
from twinkit.store._sqlite_retention import RetentionRule

T = TypeVar("T")
T0 = 1_699_999_200.0  # a whole hour
DAY = 86_400.0


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def created(twin_id: str, model: str) -> Event:
    return Event(
        twin_id=twin_id,
        seq=1,
        type=EventType.TWIN_CREATED,
        time=T0,
        recorded=T0,
        cause="test",
        data={"model": model, "properties": {}},
    )


def count(path: Path, sql: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(sql).fetchone()[0])


def test_rules_are_validated_kept_and_replaced() -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            kept = await store.set_retention(RetentionRule("default", 7 * DAY, 30 * DAY))
            assert kept == RetentionRule("default", 7 * DAY, 30 * DAY, None)
            await store.set_retention(RetentionRule("series:pump-1/flow", DAY))
            await store.set_retention(RetentionRule("default", 2 * DAY))
            assert await store.retention_rules() == [
                RetentionRule("default", 2 * DAY),
                RetentionRule("series:pump-1/flow", DAY),
            ]
            await store.delete_retention("series:pump-1/flow")
            with pytest.raises(NotFoundError, match="series:pump-1/flow"):
                await store.delete_retention("series:pump-1/flow")
            bad = [
                (RetentionRule("everything", DAY), "scope"),
                (RetentionRule("series:pump-1", DAY), "scope"),
                (RetentionRule("model:", DAY), "scope"),
                (RetentionRule("default", -1.0), "raw"),
                (RetentionRule("default", math.inf), "raw"),
                (RetentionRule("default", 2 * DAY, DAY), "raw <= rollup_1m <= rollup_1h"),
                (RetentionRule("default", None, DAY), "raw <= rollup_1m"),
            ]
            for rule, where in bad:
                with pytest.raises(ValidationError, match=where):
                    await store.set_retention(rule)

    run(scenario())


def test_the_most_specific_rule_wins(tmp_path: Path) -> None:
    path = tmp_path / "scopes.db"
    now = T0 + 10 * DAY

    async def scenario() -> None:
        async with await SQLiteStore.open(path) as store:
            births = [created("pump-1", "dtmi:ex:Pump;1"), created("tank-1", "dtmi:ex:Tank;1")]
            await store.append(births, twins={e.twin_id: apply(None, e) for e in births})
            points = [
                Point(twin, name, T0 + h * 3600, 1.0)
                for twin, name in [("pump-1", "flow"), ("pump-1", "speed"), ("tank-1", "level")]
                for h in range(240)
            ]
            await store.append((), points)
            await store.set_retention(RetentionRule("default", 8 * DAY))
            await store.set_retention(RetentionRule("model:dtmi:ex:Pump;1", 5 * DAY))
            await store.set_retention(RetentionRule("series:pump-1/speed", 2 * DAY))
            assert await store.purge(now=now) > 0
            oldest = {
                (twin, name): (await store.points(twin, name, 0, math.inf, 1))[0].time
                for twin, name in [("pump-1", "flow"), ("pump-1", "speed"), ("tank-1", "level")]
            }
            assert oldest == {
                ("pump-1", "flow"): now - 5 * DAY,
                ("pump-1", "speed"): now - 2 * DAY,
                ("tank-1", "level"): now - 8 * DAY,
            }
            # rollups outlive the raw points: the whole history is still there by the hour
            got = await store.series_aggregates("pump-1", "speed", T0, now, width=DAY)
            assert got.count.sum() == 240

    run(scenario())


def test_purged_minutes_keep_their_rollups_when_late_points_arrive(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(tmp_path / "sealed.db") as store:
            await store.append((), [Point("p", "x", T0 + i, 1.0) for i in range(0, 7200, 10)])
            await store.set_retention(RetentionRule("default", DAY, 30 * DAY))
            await store.purge(now=T0 + DAY + 3600)  # the first hour's raw points go
            assert (await store.points("p", "x", 0, math.inf, 1))[0].time == T0 + 3600
            await store.append((), [Point("p", "x", T0 + 5, 100.0)])  # late, into a purged minute
            await store.flush_rollups()
            got = await store.series_aggregates("p", "x", T0, T0 + 7200, width=3600)
            assert got.count.tolist() == [360, 360]  # the purged hour's summary stands
            assert got.max.tolist() == [1.0, 1.0]

    run(scenario())


def test_rollups_expire_after_their_own_age(tmp_path: Path) -> None:
    path = tmp_path / "rollups.db"

    async def scenario() -> None:
        async with await SQLiteStore.open(path) as store:
            await store.append((), [Point("p", "x", T0 + i * 60, 1.0) for i in range(4 * 1440)])
            await store.set_retention(RetentionRule("default", DAY, 2 * DAY, 3 * DAY))
            await store.purge(now=T0 + 4 * DAY)
            assert count(path, "SELECT min(time) FROM points") == T0 + 3 * DAY
            assert count(path, "SELECT min(bucket) FROM rollups WHERE width = 60") == T0 + 2 * DAY
            assert count(path, "SELECT min(bucket) FROM rollups WHERE width = 3600") == T0 + DAY
            assert await store.purge(now=T0 + 4 * DAY) == 0  # nothing left to do

    run(scenario())


@pytest.mark.slow
def test_ingest_goes_on_while_a_large_series_is_purged(tmp_path: Path) -> None:
    path = tmp_path / "big.db"
    total = 1_000_000

    async def scenario() -> None:
        async with await SQLiteStore.open(path, synchronous="NORMAL") as store:
            for i in range(0, total, 50_000):
                await store.append(
                    (), [Point("big", "x", T0 + j, float(j)) for j in range(i, i + 50_000)]
                )
            await store.flush_rollups()
            await store.set_retention(RetentionRule("default", 3600))
            purge = asyncio.create_task(store.purge(now=T0 + total + 3600))
            latencies = []
            second = 0
            while not purge.done():
                started = time.perf_counter()
                await store.append((), [Point("live", "x", T0 + total + second, 1.0)])
                latencies.append(time.perf_counter() - started)
                second += 1
                await asyncio.sleep(0.005)
            deleted = await purge
            print(
                f"purged {deleted:,} points while appending {len(latencies)} batches; longest "
                f"append {max(latencies) * 1000:.1f} ms"
            )
            assert deleted >= total - 3600 and len(latencies) >= 10
            assert max(latencies) < 0.5  # chunks of 5000 rows, not one long transaction

    run(scenario())


def test_maintenance_flushes_and_purges_in_the_background_until_close() -> None:
    async def scenario() -> None:
        store = await SQLiteStore.open(":memory:")
        now = time.time()
        await store.append((), [Point("p", "x", now - 3 * DAY + i, 1.0) for i in range(600)])
        await store.append((), [Point("p", "x", now - i, 1.0) for i in range(1, 600)])
        await store.set_retention(RetentionRule("default", DAY))
        maintenance = store.start_maintenance(interval=0.05, purge_interval=0.05)
        assert store.start_maintenance() is maintenance
        for _ in range(100):
            await asyncio.sleep(0.05)
            left = await store.points("p", "x", 0, math.inf)
            if store._engine.rollups.dirty_count == 0 and len(left) == 599:
                break
        assert store._engine.rollups.dirty_count == 0
        assert len(await store.points("p", "x", 0, math.inf)) == 599  # the old ones purged
        got = await store.series_aggregates("p", "x", now - 4 * DAY, now, width=3600)
        assert got.count.sum() == 1199  # the purged minutes live on in the rollups
        await store.close()
        assert not maintenance.running

    run(scenario())

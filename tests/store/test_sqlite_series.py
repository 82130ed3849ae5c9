"""Rollups: aggregates read from them equal aggregates of the raw points, whatever the order,
duplicates, value kinds and restarts; queries pick the largest level that fits."""

from __future__ import annotations

import asyncio
import math
import sqlite3
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twinkit.store import Point, SQLiteStore
from twinkit.store._sqlite_series import Aggregates, Stretch, levels_for, plan

T = TypeVar("T")
T0 = 1_699_999_200.0  # a whole hour (2023-11-14 22:00 UTC)
AGGS = ("count", "sum", "min", "max", "first", "last")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def reference(
    points: Sequence[Point], start: float, end: float, width: float, origin: float
) -> dict[int, dict[str, float]]:
    """Aggregates per bucket computed with numpy from the points as stored (first write of a
    (series, time) wins; booleans are 0/1; NaN and non-numbers are left out)."""
    kept: dict[float, Any] = {}
    for point in points:
        kept.setdefault(point.time, point.value)
    rows = sorted(
        (t, float(v))
        for t, v in kept.items()
        if start <= t < end and isinstance(v, int | float) and not math.isnan(v)
    )
    out: dict[int, dict[str, float]] = {}
    if not rows:
        return out
    times, values = np.array(rows).T
    ks = np.floor((times - origin) / width).astype(np.int64)
    for k in np.unique(ks):
        v = values[ks == k]
        out[int(k)] = {
            "count": len(v),
            "sum": float(v.sum()),
            "min": float(v.min()),
            "max": float(v.max()),
            "first": float(v[0]),
            "last": float(v[-1]),
        }
    return out


def as_dict(found: Aggregates) -> dict[int, dict[str, float]]:
    return {
        int(k): {agg: float(getattr(found, agg)[i]) for agg in AGGS}
        for i, k in enumerate(found.bucket)
    }


def assert_same(got: dict[int, dict[str, float]], want: dict[int, dict[str, float]]) -> None:
    assert got.keys() == want.keys()
    for k, aggs in want.items():
        for agg, value in aggs.items():
            assert got[k][agg] == pytest.approx(value, rel=1e-9, abs=1e-9), (k, agg)


values = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: round(v, 3)),
    st.integers(-1000, 1000),
    st.booleans(),
    st.just(math.nan),
    st.sampled_from(["on", "off"]),
)
# Times on a quarter-second grid over three hours, so bucket edges are hit exactly.
times = st.integers(0, 3 * 3600 * 4).map(lambda q: T0 + q / 4)
batches = st.lists(
    st.lists(st.tuples(times, values), min_size=1, max_size=40), min_size=1, max_size=6
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=batches,
    width=st.sampled_from([60.0, 120.0, 3600.0, 7200.0, 45.0, 0.5, 900.0]),
    origin=st.sampled_from([0.0, 30.0, 1800.0, -3600.0]),
    start=st.integers(-600, 3 * 3600).map(lambda s: T0 + s),
    length=st.integers(0, 4 * 3600),
    flush_between=st.booleans(),
)
def test_rollups_equal_raw_aggregates(
    *,
    batches: list[list[tuple[float, Any]]],
    width: float,
    origin: float,
    start: float,
    length: int,
    flush_between: bool,
) -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            sent: list[Point] = []
            for batch in batches:  # batches arrive out of order: late points and duplicates
                points = [Point("pump", "flow", t, v) for t, v in batch]
                sent += points
                await store.append((), points)
                if flush_between:
                    await store.flush_rollups()
            await store.append((), sent[: len(sent) // 2])  # redelivery changes nothing
            end = start + length
            got = await store.series_aggregates(
                "pump", "flow", start, end, width=width, origin=origin
            )
            assert_same(as_dict(got), reference(sent, start, end, width, origin))
            raw = await store.series_aggregates(
                "pump", "flow", start, end, width=width, origin=origin, use_rollups=False
            )
            assert_same(as_dict(raw), as_dict(got))

    run(scenario())


def test_level_is_the_largest_that_divides_width_and_origin() -> None:
    assert levels_for(7200, 0) == (3600, 60)
    assert levels_for(3600, 1800) == (60,)
    assert levels_for(120, 0) == (60,)
    assert levels_for(90, 0) == ()
    assert levels_for(86400, -3600) == (3600, 60)
    assert plan(T0 - 90.5, T0 + 7200 + 61, (3600, 60)) == [
        Stretch(0, T0 - 90.5, T0 - 60),
        Stretch(60, T0 - 60, T0),
        Stretch(3600, T0, T0 + 7200),
        Stretch(60, T0 + 7200, T0 + 7260),
        Stretch(0, T0 + 7260, T0 + 7261),
    ]
    assert plan(T0 + 1, T0 + 50, (3600, 60)) == [Stretch(0, T0 + 1, T0 + 50)]


def test_a_day_of_seconds_is_read_from_hour_rollups(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(tmp_path / "day.db") as store:
            points = [Point("pump", "flow", T0 + i, float(i % 100)) for i in range(86_400)]
            for i in range(0, len(points), 10_000):
                await store.append((), points[i : i + 10_000])
            got = await store.series_aggregates("pump", "flow", T0 - 30, T0 + 86_400, width=3600)
            assert [s.level for s in got.stretches] == [0, 3600]
            assert got.count.sum() == 86_400
            assert got.sum.sum() == pytest.approx(sum(i % 100 for i in range(86_400)))
            with sqlite3.connect(tmp_path / "day.db") as conn:
                rows = dict(conn.execute("SELECT width, count(*) FROM rollups GROUP BY width"))
            assert rows == {60: 1440, 3600: 24}

    run(scenario())


def test_unflushed_and_late_points_survive_a_crash(tmp_path: Path) -> None:
    """Points committed but not flushed when the process dies are rolled up after reopening:
    those at or after the newest rollup from the tail, older ones from rollup_dirty."""
    path = tmp_path / "crash.db"

    async def before_crash() -> list[Point]:
        store = await SQLiteStore.open(path)
        sent = [Point("pump", "flow", T0 + i, float(i)) for i in range(0, 7200, 7)]
        await store.append((), sent)
        await store.flush_rollups()
        late = [Point("pump", "flow", T0 + 3.5, 1000.0), Point("pump", "flow", T0 + 7300, 5.0)]
        await store.append((), late)
        with sqlite3.connect(path) as conn:  # the late one is durable, the new one is not
            assert conn.execute("SELECT minute FROM rollup_dirty").fetchall() == [(T0,)]
        # a crash: the store's dirty set is lost, the connection is never closed properly
        store._closed = True
        store._executor.shutdown(wait=True)
        return sent + late

    sent = run(before_crash())

    async def after() -> None:
        async with await SQLiteStore.open(path) as store:
            await store.flush_rollups()
            with sqlite3.connect(path) as conn:
                assert conn.execute("SELECT count(*) FROM rollup_dirty").fetchone() == (0,)
            got = await store.series_aggregates("pump", "flow", T0, T0 + 10_800, width=3600)
            assert [s.level for s in got.stretches] == [3600]
            assert_same(as_dict(got), reference(sent, T0, T0 + 10_800, 3600, 0))

    run(after())


def test_rollups_are_built_for_points_stored_before_rollups_existed(tmp_path: Path) -> None:
    path = tmp_path / "old.db"

    async def write() -> None:
        async with await SQLiteStore.open(path) as store:
            await store.append((), [Point("pump", "flow", T0 + i, 2.0) for i in range(600)])

    run(write())
    with sqlite3.connect(path) as conn:  # as a store written before rollups would look
        conn.execute("DELETE FROM rollups")

    async def read() -> None:
        async with await SQLiteStore.open(path) as store:
            assert await store.flush_rollups() == 1
            got = await store.series_aggregates("pump", "flow", T0, T0 + 600, width=60)
            assert [s.level for s in got.stretches] == [60]
            assert got.count.tolist() == [60] * 10

    run(read())


def test_the_dirty_set_stays_bounded_without_maintenance(monkeypatch: pytest.MonkeyPatch) -> None:
    from twinkit.store import _sqlite_rollups

    monkeypatch.setattr(_sqlite_rollups, "DIRTY_LIMIT", 50)

    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            tracker = store._engine.rollups
            for batch in range(5):
                await store.append(
                    (), [Point(f"t{i}", "flow", T0 + 60 * batch, 1.0) for i in range(20)]
                )
                assert tracker.dirty_count <= 50 + 20
            assert tracker.dirty_count < 100

    run(scenario())


def test_only_numeric_points_count_and_pages_carry_every_kind() -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            sent = [(T0, 1.5), (T0 + 1, True), (T0 + 2, "on"), (T0 + 3, math.nan), (T0 + 4, 3)]
            await store.append((), [Point("valve", "state", t, v) for t, v in sent])
            got = await store.series_aggregates("valve", "state", T0, T0 + 60, width=60)
            assert got.count.tolist() == [3]
            assert got.sum.tolist() == [5.5]
            page = await store.series_page("valve", "state", T0, T0 + 60, after=-math.inf, limit=10)
            assert page.times == [t for t, _ in sent] and not page.more
            assert page.values[:3] == [1.5, True, "on"]
            assert math.isnan(page.values[3]) and page.values[4] == 3.0

    run(scenario())

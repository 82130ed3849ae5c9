"""The live data the runtime restores from: points of any JSON value, the newest point per
series, and touches."""

from __future__ import annotations

import asyncio
import math
import sqlite3
import tempfile
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twinkit.core import Event, EventType
from twinkit.errors import ConflictError, ValidationError
from twinkit.store import Point, SQLiteStore, Touch
from twinkit.store._sqlite_engine import SELECT_LATEST, SQLiteEngine, connect

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def created(twin_id: str) -> Event:
    return Event(
        twin_id=twin_id,
        seq=1,
        type=EventType.TWIN_CREATED,
        time=1.0,
        recorded=1.0,
        cause="test",
        data={"model": "dtmi:ex:Pump;1", "properties": {}},
    )


def same(a: Any, b: Any) -> bool:
    """Equal as stored values: NaN equals NaN, and a bool is not the number 1."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


NON_NUMERIC: list[Any] = [
    True,
    False,
    "running",
    "",
    {"lat": 47.5, "lon": 8.2, "tags": ["a", None]},
    [1, 2.5, "x"],
    None,
]


def test_any_json_value_comes_back_as_it_was_sent_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "points.db"
    sent = [Point("pump-1", "state", float(t), value) for t, value in enumerate(NON_NUMERIC)]

    async def write() -> None:
        async with await SQLiteStore.open(path) as store:
            await store.append([], sent)

    async def read() -> list[Point]:
        async with await SQLiteStore.open(path) as store:
            return await store.points("pump-1", "state", 0.0, 100.0)

    run(write())
    back = run(read())
    assert [p.time for p in back] == [p.time for p in sent]
    for got, want in zip(back, sent, strict=True):
        assert same(got.value, want.value), (got, want)
    with sqlite3.connect(path) as conn:
        columns = conn.execute("SELECT value, data FROM points ORDER BY time").fetchall()
    # booleans average as 1/0; other JSON has no number for SQL aggregates to see
    assert columns[:2] == [(1.0, b"true"), (0.0, b"false")]
    assert all(value is None and data is not None for value, data in columns[2:])


def test_numbers_are_floats_in_the_value_column() -> None:
    values: list[Any] = [3, -(2**70), 2.5, np.float32(1.5), np.int64(7), math.inf, math.nan]

    async def scenario() -> list[Point]:
        async with await SQLiteStore.open(":memory:") as store:
            await store.append([], [Point("p", "x", float(t), v) for t, v in enumerate(values)])
            return await store.points("p", "x", 0.0, 100.0)

    back = [p.value for p in run(scenario())]
    assert all(type(v) is float for v in back)
    assert back[:6] == [3.0, float(-(2**70)), 2.5, 1.5, 7.0, math.inf]
    assert math.isnan(back[6])


def test_numpy_bool_counts_as_a_boolean() -> None:
    async def scenario() -> list[Point]:
        async with await SQLiteStore.open(":memory:") as store:
            await store.append([], [Point("p", "on", 1.0, np.bool_(True))])
            return await store.points("p", "on", 0.0, 10.0)

    (point,) = run(scenario())
    assert point.value is True


@pytest.mark.parametrize(
    ("value", "expected"),
    [({1, 2}, "a number or a JSON value"), (10**400, "within the float range")],
)
def test_a_value_that_cannot_be_stored_refuses_the_whole_batch(value: Any, expected: str) -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            batch = [Point("p", "ok", 1.0, 1.0), Point("p", "bad", 2.0, value)]
            with pytest.raises(ValidationError, match=expected) as caught:
                await store.append([created("p")], batch, [Touch("p", "speed", 1.0)])
            assert "point 'p'/'bad' at time 2.0" in str(caught.value)
            assert await store.events("p") == []
            assert await store.points("p", "ok", 0.0, 10.0) == []
            assert await store.latest_points() == []
            assert await store.touches() == []

    run(scenario())


def test_latest_point_only_moves_forward() -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            assert await store.latest_points() == []
            await store.append([], [Point("p", "x", 5.0, 50.0), Point("p", "x", 2.0, 20.0)])
            assert await store.latest_points() == [Point("p", "x", 5.0, 50.0)]
            await store.append([], [Point("p", "x", 3.0, 30.0)])  # late
            await store.append([], [Point("p", "x", 5.0, 99.0)])  # redelivered, other value
            assert await store.latest_points() == [Point("p", "x", 5.0, 50.0)]
            await store.append([], [Point("p", "x", 7.0, "stopped"), Point("p", "x", 6.0, 1.0)])
            assert await store.latest_points() == [Point("p", "x", 7.0, "stopped")]
            await store.append([], [Point("p", "x", 8.0, True)])
            (latest,) = await store.latest_points()
            assert latest.value is True
            await store.append([], [Point("p", "x", 9.0, math.nan)])
            (latest,) = await store.latest_points()
            assert latest.time == 9.0 and math.isnan(latest.value)

    run(scenario())


def test_equal_times_in_one_batch_keep_the_first_as_points_and_latest_agree() -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            batch = [Point("p", "x", 4.0, "first"), Point("p", "x", 4.0, "second")]
            await store.append([], batch)
            assert await store.points("p", "x", 0.0, 10.0) == [batch[0]]
            assert await store.latest_points() == [batch[0]]

    run(scenario())


def test_latest_points_list_every_series_by_twin_and_name_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "latest.db"
    batch = [
        Point(twin, name, float(t), float(t) + (10 if twin == "b" else 0))
        for t in range(5)
        for twin in ("b", "a")
        for name in ("y", "x")
    ]

    async def write() -> None:
        async with await SQLiteStore.open(path) as store:
            await store.append([], batch)

    async def read() -> list[Point]:
        async with await SQLiteStore.open(path) as store:
            return await store.latest_points()

    run(write())
    assert run(read()) == [
        Point("a", "x", 4.0, 4.0),
        Point("a", "y", 4.0, 4.0),
        Point("b", "x", 4.0, 14.0),
        Point("b", "y", 4.0, 14.0),
    ]


def test_points_cost_one_insert_each_and_nothing_per_series_once_known() -> None:
    conn = connect(":memory:", "NORMAL")
    engine = SQLiteEngine(conn, ":memory:")
    engine.rollups.pending()  # the rollup state loads once, on first use
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    points = [Point("p", "flow", float(t), float(t)) for t in range(50)]
    points += [Point("q", "flow", 1.0, "on"), Point("q", "flow", 0.0, "off")]
    engine.append([], points, [])
    first = list(statements)
    statements.clear()
    engine.append([], [Point("p", "flow", 60.0, 1.0), Point("q", "flow", 2.0, "on")], [])
    conn.set_trace_callback(None)
    inserts = [s for s in first if s.startswith("INSERT OR IGNORE INTO points")]
    assert len(inserts) == 52
    assert len(first) == 52 + 2 + 1  # BEGIN, COMMIT; one statement makes both series (ids too)
    assert statements[0] == "BEGIN IMMEDIATE" and statements[-1] == "COMMIT"
    assert all(s.startswith("INSERT OR IGNORE INTO points") for s in statements[1:-1])
    assert engine.latest_points() == [Point("p", "flow", 60.0, 1.0), Point("q", "flow", 2.0, "on")]
    engine.close()


def test_latest_points_probe_the_primary_key_instead_of_scanning_points(tmp_path: Path) -> None:
    path = tmp_path / "plan.db"

    async def write() -> None:
        async with await SQLiteStore.open(path) as store:
            await store.append(
                [], [Point("p", f"s{i}", float(t), 1.0) for i in range(20) for t in range(50)]
            )

    run(write())
    with sqlite3.connect(path) as conn:
        conn.execute("ANALYZE")
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {SELECT_LATEST}")]
    assert "SEARCH points USING PRIMARY KEY (series_id=? AND time=?)" in plan
    assert "SEARCH points USING PRIMARY KEY (series_id=?)" in plan
    assert not [step for step in plan if step.startswith("SCAN points")]


def test_touches_keep_the_newest_time_per_property_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "touches.db"

    async def write() -> None:
        async with await SQLiteStore.open(path) as store:
            await store.append(
                [],
                touches=[
                    Touch("p", "speed", 5.0),
                    Touch("p", "speed", 9.0),
                    Touch("p", "speed", 7.0),
                    Touch("p", "mode", 1.0),
                ],
            )
            await store.append([], touches=[Touch("p", "speed", 8.0), Touch("a", "mode", 3.0)])
            await store.append([], touches=[Touch("p", "mode", 2.0)])

    async def read() -> list[Touch]:
        async with await SQLiteStore.open(path) as store:
            return await store.touches()

    run(write())
    assert run(read()) == [
        Touch("a", "mode", 3.0),
        Touch("p", "mode", 2.0),
        Touch("p", "speed", 9.0),
    ]


def test_touches_and_latest_of_a_refused_batch_are_not_kept() -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            await store.append([created("p")], [Point("p", "x", 1.0, 1.0)], [Touch("p", "s", 1.0)])
            with pytest.raises(ConflictError, match="seq 1 of twin 'p'"):
                await store.append(
                    [created("p")], [Point("p", "x", 2.0, 2.0)], [Touch("p", "s", 2.0)]
                )
            assert await store.latest_points() == [Point("p", "x", 1.0, 1.0)]
            assert await store.touches() == [Touch("p", "s", 1.0)]

    run(scenario())


VALUES = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.text(max_size=3)
    | st.lists(st.integers(-5, 5), max_size=2)
)
POINTS = st.builds(
    Point,
    st.sampled_from(["p", "q"]),
    st.sampled_from(["x", "y"]),
    st.integers(0, 20).map(float),
    VALUES,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(POINTS, max_size=12), max_size=5))
def test_points_and_latest_agree_with_first_write_wins(batches: list[list[Point]]) -> None:
    kept: dict[tuple[str, str, float], Point] = {}
    for batch in batches:
        for point in batch:
            kept.setdefault((point.twin_id, point.name, point.time), point)
    series = sorted({(twin, name) for twin, name, _ in kept})

    async def write(path: Path) -> None:
        async with await SQLiteStore.open(path) as store:
            for batch in batches:
                await store.append([], batch)

    async def read(path: Path) -> tuple[dict[tuple[str, str], list[Point]], list[Point]]:
        async with await SQLiteStore.open(path) as store:
            stored = {key: await store.points(*key, -1.0, 100.0) for key in series}
            return stored, await store.latest_points()

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "points.db"
        run(write(path))
        stored, latest = run(read(path))
    for twin, name in series:
        want = sorted((p for k, p in kept.items() if k[:2] == (twin, name)), key=lambda p: p.time)
        got = stored[twin, name]
        assert [p.time for p in got] == [p.time for p in want]
        assert all(same(g.value, w.value) for g, w in zip(got, want, strict=True))
    assert [(p.twin_id, p.name) for p in latest] == series
    for point in latest:
        newest = stored[point.twin_id, point.name][-1]
        assert point.time == newest.time and same(point.value, newest.value)

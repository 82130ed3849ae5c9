"""The SQLite store: what the runtime writes comes back, whole batches or nothing, across restarts."""

from __future__ import annotations

import asyncio
import math
import sqlite3
import tempfile
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twinkit.core import Event, EventType, Twin, fold
from twinkit.errors import ConflictError, NotFoundError, StoreError, ValidationError
from twinkit.store import Point, SQLiteStore, Store
from twinkit.store._sqlite_engine import SELECT_POINTS
from twinkit.store._sqlite_schema import MIGRATIONS, SCHEMA_VERSION

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def ev(twin_id: str, seq: int, kind: EventType = EventType.PROPERTY_REPORTED, **data: Any) -> Event:
    if kind is EventType.PROPERTY_REPORTED and not data:
        data = {"name": "speed", "value": float(seq)}
    if kind is EventType.TWIN_CREATED and not data:
        data = {"model": "dtmi:ex:Pump;1", "properties": {}}
    return Event(
        twin_id=twin_id,
        seq=seq,
        type=kind,
        time=1000.0 + seq,
        recorded=2000.0 + seq,
        cause="connector:test",
        data=data,
    )


def log(twin_id: str, count: int) -> list[Event]:
    return [ev(twin_id, 1, EventType.TWIN_CREATED)] + [ev(twin_id, s) for s in range(2, count + 1)]


def test_sqlite_store_is_a_store() -> None:
    async def scenario() -> None:
        store: Store = await SQLiteStore.open(":memory:")
        await store.close()

    run(scenario())


def test_events_come_back_in_order_and_from_since_seq() -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            pump, tank = log("pump-1", 5), log("tank-1", 3)
            await store.append(list(reversed(pump[2:])) + tank)  # insertion order does not matter
            await store.append(pump[:2])
            assert await store.events("pump-1") == pump
            assert [e.seq for e in await store.events("pump-1", since_seq=3)] == [4, 5]
            assert await store.events("pump-1", since_seq=5) == []
            assert await store.events("nobody") == []
            assert await store.last_seqs() == {"pump-1": 5, "tank-1": 3}

    run(scenario())


def test_last_seqs_of_many_twins_match_a_full_scan(tmp_path: Path) -> None:
    path = tmp_path / "twins.db"

    async def scenario() -> dict[str, int]:
        async with await SQLiteStore.open(path) as store:
            assert await store.last_seqs() == {}
            batch = [e for i in range(300) for e in log(f"twin-{i:03d}", 1 + i % 7)]
            await store.append(batch)
            return await store.last_seqs()

    found = run(scenario())
    with sqlite3.connect(path) as conn:
        expected = dict(conn.execute("SELECT twin_id, max(seq) FROM events GROUP BY twin_id"))
    assert found == expected
    assert len(found) == 300


def test_event_data_round_trips_exactly() -> None:
    nested = {"a": [1, 2.5, None, True, "x"], "b": {"c": -(2**63)}, "f": 0.1 + 0.2}
    event = ev("pump-1", 1, EventType.COMMAND_INVOKED, id="c1", name="start", request=nested)

    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            await store.append([event])
            (back,) = await store.events("pump-1")
            assert back == event
            assert type(back.data["request"]["a"][0]) is int  # ints stay ints
            assert back.data["request"]["f"] == 0.1 + 0.2

    run(scenario())


def test_duplicate_seq_in_a_batch_stores_nothing() -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            batch = [*log("pump-1", 3), ev("pump-1", 2)]
            points = [Point("pump-1", "flow", 1.0, 2.0)]
            with pytest.raises(ConflictError, match=r"seq 2 of twin 'pump-1' appears twice"):
                await store.append(batch, points)
            assert await store.events("pump-1") == []
            assert await store.points("pump-1", "flow", 0.0, 10.0) == []
            assert await store.last_seqs() == {}

    run(scenario())


def test_seq_already_stored_rolls_the_whole_batch_back() -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            await store.append(log("pump-1", 3))
            batch = [*log("tank-1", 2), ev("pump-1", 4), ev("pump-1", 3)]
            new_series = [Point("tank-1", "level", 5.0, 1.0)]
            with pytest.raises(ConflictError, match=r"seq 3 of twin 'pump-1' is already stored"):
                await store.append(batch, new_series)
            assert await store.last_seqs() == {"pump-1": 3}
            assert await store.points("tank-1", "level", 0.0, 10.0) == []
            await store.append(batch[:3], new_series)  # the same batch, fixed, goes through
            assert await store.last_seqs() == {"pump-1": 4, "tank-1": 2}
            assert await store.points("tank-1", "level", 0.0, 10.0) == new_series

    run(scenario())


def test_event_data_that_is_not_json_is_refused_before_writing() -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            bad = ev("pump-1", 2, EventType.ALERT_RAISED, when={1, 2})
            with pytest.raises(ValidationError, match=r"twin 'pump-1' seq 2"):
                await store.append([ev("pump-1", 1, EventType.TWIN_CREATED), bad])
            assert await store.events("pump-1") == []

    run(scenario())


def test_redelivered_points_are_ignored() -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            first = [Point("pump-1", "flow", float(t), t * 0.5) for t in range(10)]
            await store.append([], first)
            await store.append([], [*first[5:], Point("pump-1", "flow", 3.0, 99.0)])
            assert await store.points("pump-1", "flow", 0.0, 100.0) == first

    run(scenario())


def test_point_range_is_start_inclusive_end_exclusive_and_limited() -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            flow = [Point("pump-1", "flow", float(t), float(t)) for t in range(10)]
            other = [Point("pump-1", "head", 4.0, -1.0), Point("pump-2", "flow", 4.0, -2.0)]
            await store.append([], list(reversed(flow)) + other)
            got = await store.points("pump-1", "flow", 3.0, 7.0)
            assert [p.time for p in got] == [3.0, 4.0, 5.0, 6.0]
            assert got[0] == Point("pump-1", "flow", 3.0, 3.0)
            limited = await store.points("pump-1", "flow", 3.0, 7.0, limit=2)
            assert [p.time for p in limited] == [3.0, 4.0]
            assert await store.points("pump-1", "flow", 7.0, 7.0) == []
            assert await store.points("pump-1", "nothing", 0.0, 10.0) == []
            assert await store.points("pump-2", "flow", 0.0, 10.0) == [other[1]]
            with pytest.raises(ValidationError, match="limit"):
                await store.points("pump-1", "flow", 0.0, 1.0, limit=-1)

    run(scenario())


def test_nan_and_infinite_points_come_back() -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            await store.append(
                [], [Point("p", "x", 1.0, math.nan), Point("p", "x", 2.0, -math.inf)]
            )
            first, second = await store.points("p", "x", 0.0, 10.0)
            assert math.isnan(first.value)
            assert second.value == -math.inf

    run(scenario())


def test_points_query_uses_the_primary_key(tmp_path: Path) -> None:
    path = tmp_path / "plan.db"

    async def scenario() -> None:
        async with await SQLiteStore.open(path) as store:
            await store.append([], [Point("pump-1", "flow", float(t), 1.0) for t in range(100)])

    run(scenario())
    with sqlite3.connect(path) as conn:
        plan = [
            row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {SELECT_POINTS}", (1, 0, 1, -1))
        ]
        series_plan = [
            row[3]
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM series WHERE twin_id = ? AND name = ?",
                ("a", "b"),
            )
        ]
    assert plan == ["SEARCH points USING PRIMARY KEY (series_id=? AND time>? AND time<?)"]
    assert "INDEX" in series_plan[0] and "(twin_id=? AND name=?)" in series_plan[0]


def test_data_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "twins.db"
    events = log("pump-1", 4)
    points = [Point("pump-1", "flow", float(t), float(t)) for t in range(5)]
    twin = fold(events)
    assert twin is not None

    async def write() -> int:
        async with await SQLiteStore.open(path, synchronous="FULL") as store:
            await store.append(events, points)
            await store.save_snapshot(twin)
            return await store.add_dead_letter("mqtt:site/x", b"\x00garbage", "not JSON", 7.0)

    async def read() -> None:
        async with await SQLiteStore.open(path) as store:
            assert await store.events("pump-1") == events
            assert await store.points("pump-1", "flow", 0.0, 10.0) == points
            assert await store.snapshot("pump-1") == twin
            (letter,) = await store.dead_letters()
            assert (letter.id, letter.payload, letter.reason) == (
                letter_id,
                b"\x00garbage",
                "not JSON",
            )
            await store.append([ev("pump-1", 5)], [Point("pump-1", "flow", 9.0, 9.0)])
            assert await store.last_seqs() == {"pump-1": 5}

    letter_id = run(write())
    run(read())


def test_newer_snapshot_is_kept_over_an_older_one() -> None:
    events = log("pump-1", 6)
    early, late = fold(events[:3]), fold(events)
    assert early is not None and late is not None

    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            assert await store.snapshot("pump-1") is None
            await store.save_snapshot(early)
            assert await store.snapshot("pump-1") == early
            await store.save_snapshot(late)
            await store.save_snapshot(early)  # a late writer with an old state
            assert await store.snapshot("pump-1") == late

    run(scenario())


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
NAMES = st.sampled_from(["speed", "flow", "état", ""])
EDGE_IDS = st.sampled_from(["r1", "r2"])
DATA = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just(EventType.PROPERTY_REPORTED), "name": NAMES, "value": JSON}
    ),
    st.fixed_dictionaries(
        {
            "type": st.just(EventType.DESIRED_PROPERTY_SET),
            "name": NAMES,
            "value": JSON,
            "version": st.integers(1, 50),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just(EventType.DESIRED_PROPERTY_ACKNOWLEDGED),
            "name": NAMES,
            "version": st.integers(1, 50),
            "code": st.none() | st.sampled_from([200, 400, 500]),
            "description": st.none() | st.text(max_size=8),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just(EventType.TELEMETRY_RECEIVED),
            "values": st.dictionaries(NAMES, JSON, max_size=3),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just(EventType.RELATIONSHIP_ADDED),
            "id": EDGE_IDS,
            "name": st.just("feeds"),
            "target": st.sampled_from(["tank-1", "valve-2"]),
            "properties": st.dictionaries(st.text(max_size=3), JSON, max_size=2),
        }
    ),
    st.fixed_dictionaries({"type": st.just(EventType.RELATIONSHIP_REMOVED), "id": EDGE_IDS}),
    st.fixed_dictionaries({"type": st.just(EventType.ALERT_RAISED), "detail": JSON}),
    st.fixed_dictionaries({"type": st.just(EventType.TWIN_DELETED)}),
)


@st.composite
def histories(draw: st.DrawFn) -> list[Event]:
    """A twin's log: created, then random changes at random (not always increasing) times."""
    initial = draw(st.dictionaries(NAMES, JSON, max_size=2))
    steps = draw(st.lists(st.tuples(DATA, st.floats(0.0, 1e9)), max_size=25))
    created = ev("pump-1", 1, EventType.TWIN_CREATED, model="dtmi:ex:Pump;1", properties=initial)
    events = [created]
    for seq, (data, time) in enumerate(steps, start=2):
        payload = dict(data)
        kind = payload.pop("type")
        events.append(
            Event(
                twin_id="pump-1",
                seq=seq,
                type=kind,
                time=time,
                recorded=time + 1,
                cause="test",
                data=payload,
            )
        )
    return events


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_snapshot_and_log_round_trip_exactly_across_reopen(events: list[Event]) -> None:
    twin = fold(events)
    assert isinstance(twin, Twin)

    async def write(path: Path) -> None:
        async with await SQLiteStore.open(path) as store:
            await store.append(events)
            await store.save_snapshot(twin)

    async def read(path: Path) -> tuple[Twin | None, list[Event]]:
        async with await SQLiteStore.open(path) as store:
            return await store.snapshot("pump-1"), await store.events("pump-1")

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "twins.db"
        run(write(path))
        snapshot, stored = run(read(path))
    assert snapshot == twin
    assert stored == events
    assert fold(stored) == twin


def test_dead_letters_are_kept_listed_and_marked_replayed() -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            ids = [
                await store.add_dead_letter(f"mqtt:site/p{i}", b"{", f"bad JSON {i}", 10.0 + i)
                for i in range(3)
            ]
            pending = await store.dead_letters()
            assert [d.id for d in pending] == ids
            assert pending[1].reason == "bad JSON 1" and pending[1].source == "mqtt:site/p1"
            assert (pending[1].payload, pending[1].received, pending[1].replayed) == (
                b"{",
                11.0,
                None,
            )
            await store.mark_replayed(ids[1], 99.0)
            assert [d.id for d in await store.dead_letters()] == [ids[0], ids[2]]
            every = await store.dead_letters(pending_only=False)
            assert [d.replayed for d in every] == [None, 99.0, None]
            assert [d.id for d in await store.dead_letters(pending_only=False, limit=2)] == ids[:2]
            with pytest.raises(NotFoundError, match="dead letter 12345"):
                await store.mark_replayed(12345, 1.0)

    run(scenario())


def test_fresh_database_gets_the_current_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"

    async def open_twice() -> None:
        for _ in range(2):  # the second open finds nothing to migrate
            store = await SQLiteStore.open(path)
            await store.close()

    run(open_twice())
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    assert {"events", "series", "points", "snapshots", "dead_letters"} <= tables
    assert {"touches", "models", "tokens"} <= tables
    assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))


def test_database_from_a_newer_twinkit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    expected = rf"schema version {SCHEMA_VERSION + 1}.*versions up to {SCHEMA_VERSION}"
    with pytest.raises(StoreError, match=expected):
        run(SQLiteStore.open(path))


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(StoreError, match=r"notes\.txt"):
        run(SQLiteStore.open(path))


def test_unknown_synchronous_mode_is_refused() -> None:
    with pytest.raises(ValidationError, match="'NORMAL' or 'FULL'"):
        run(SQLiteStore.open(":memory:", synchronous="OFF"))  # type: ignore[arg-type]


def test_concurrent_appends_all_land_and_a_closed_store_says_so() -> None:
    async def scenario() -> None:
        store = await SQLiteStore.open(":memory:")
        await asyncio.gather(*(store.append(log(f"twin-{i}", 10)) for i in range(20)))
        assert await store.last_seqs() == {f"twin-{i}": 10 for i in range(20)}
        await store.close()
        await store.close()  # twice is harmless
        with pytest.raises(StoreError, match="closed"):
            await store.events("twin-1")

    run(scenario())


def test_reads_run_on_a_read_only_connection_beside_the_writer(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(tmp_path / "r.db") as store:
            await store.append([], [Point("p", "flow", 1.0, 2.0)])
            count = await store.read(
                "counting points", lambda c: c.execute("SELECT count(*) FROM points").fetchone()
            )
            assert count == (1,)
            with pytest.raises(StoreError, match=r"writing through a reader.*readonly"):
                await store.read(
                    "writing through a reader", lambda c: c.execute("DELETE FROM points")
                )
        async with await SQLiteStore.open(":memory:") as memory:
            assert await memory.read("one", lambda c: c.execute("SELECT 1").fetchone()) == (1,)

    asyncio.run(scenario())


def test_analyze_gives_the_query_planner_statistics(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(tmp_path / "a.db") as store:
            await store.append([], [Point("p", "flow", float(t), 1.0) for t in range(100)])
            tables = await store.analyze()
            assert tables >= 1
            rows = await store.read(
                "stats", lambda c: c.execute("SELECT tbl FROM sqlite_stat1").fetchall()
            )
            assert ("points",) in rows

    asyncio.run(scenario())

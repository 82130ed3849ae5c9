"""A database written at schema version 1 opens, migrates in place and keeps everything."""

from __future__ import annotations

import asyncio
import math
import sqlite3
from contextlib import closing
from pathlib import Path

import orjson
import pytest

from twinkit.core import Event, EventType, fold, twin_to_json
from twinkit.errors import StoreError
from twinkit.store import Point, SQLiteStore, TokenRecord, Touch
from twinkit.store._sqlite_schema import MIGRATIONS, SCHEMA_VERSION

EVENTS = [
    Event(
        twin_id="pump-1",
        seq=1,
        type=EventType.TWIN_CREATED,
        time=10.0,
        recorded=11.0,
        cause="system",
        data={"model": "dtmi:ex:Pump;1", "properties": {"speed": 1450}},
    ),
    Event(
        twin_id="pump-1",
        seq=2,
        type=EventType.PROPERTY_REPORTED,
        time=12.0,
        recorded=13.0,
        cause="connector:mqtt",
        data={"name": "speed", "value": 1500},
    ),
]
# (series id, twin, name) and (series id, time, value) as version 1 wrote them; NULL is a NaN.
V1_SERIES = [(1, "pump-1", "flow"), (2, "pump-1", "head"), (3, "tank-1", "level")]
V1_POINTS = [(1, 3.0, 30.0), (1, 1.0, 10.0), (1, 2.0, 20.0), (2, 1.0, 5.0), (3, 7.0, None)]


def write_v1(path: Path) -> None:
    """A WAL database at schema version 1 holding events, points, a snapshot, a dead letter."""
    twin = fold(EVENTS)
    assert twin is not None
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN")
    for statement in MIGRATIONS[0].statements:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.executemany(
        "INSERT INTO events (twin_id, seq, type, time, recorded, cause, data) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                e.twin_id,
                e.seq,
                e.type.value,
                e.time,
                e.recorded,
                e.cause,
                orjson.dumps(dict(e.data)),
            )
            for e in EVENTS
        ],
    )
    conn.executemany("INSERT INTO series (id, twin_id, name) VALUES (?, ?, ?)", V1_SERIES)
    conn.executemany("INSERT INTO points (series_id, time, value) VALUES (?, ?, ?)", V1_POINTS)
    conn.execute(
        "INSERT INTO snapshots (twin_id, version, data) VALUES (?, ?, ?)",
        ("pump-1", twin.version, orjson.dumps(twin_to_json(twin), default=dict)),
    )
    conn.execute(
        "INSERT INTO dead_letters (source, payload, reason, received) VALUES (?, ?, ?, ?)",
        ("mqtt:site/x", b"{", "not JSON", 5.0),
    )
    conn.execute("COMMIT")
    conn.close()


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def test_a_version_1_database_migrates_in_place_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    write_v1(path)
    assert user_version(path) == 1

    async def first_open() -> None:
        async with await SQLiteStore.open(path) as store:
            assert await store.events("pump-1") == EVENTS
            assert await store.snapshot("pump-1") == fold(EVENTS)
            flow = await store.points("pump-1", "flow", 0.0, 10.0)
            assert flow == [Point("pump-1", "flow", float(t), t * 10.0) for t in (1, 2, 3)]
            (level,) = await store.points("tank-1", "level", 0.0, 10.0)
            assert math.isnan(level.value)
            # the newest point of each version-1 series, whatever order its points came in
            latest = await store.latest_points()
            assert latest[:2] == [
                Point("pump-1", "flow", 3.0, 30.0),
                Point("pump-1", "head", 1.0, 5.0),
            ]
            assert (latest[2].twin_id, latest[2].time) == ("tank-1", 7.0)
            assert math.isnan(latest[2].value)
            (letter,) = await store.dead_letters()
            assert await store.dead_letter(letter.id) == letter
            # and the new tables work on the migrated file
            await store.append(
                [],
                [Point("pump-1", "flow", 2.5, "late"), Point("pump-1", "mode", 1.0, "auto")],
                [Touch("pump-1", "speed", 20.0)],
            )
            await store.save_models([{"@id": "dtmi:ex:Pump;1", "@type": "Interface"}], 1.0)
            await store.add_token(TokenRecord("t1", "ci", "admin", b"h" * 32, 1.0))

    async def second_open() -> None:
        async with await SQLiteStore.open(path) as store:
            latest = await store.latest_points()
            assert latest[:3] == [
                Point("pump-1", "flow", 3.0, 30.0),  # the late point did not replace it
                Point("pump-1", "head", 1.0, 5.0),
                Point("pump-1", "mode", 1.0, "auto"),
            ]
            assert latest[3].twin_id == "tank-1" and math.isnan(latest[3].value)
            assert (await store.points("pump-1", "flow", 2.5, 2.6))[0].value == "late"
            assert await store.touches() == [Touch("pump-1", "speed", 20.0)]
            assert await store.models() == [{"@id": "dtmi:ex:Pump;1", "@type": "Interface"}]
            assert [t.id for t in await store.tokens()] == ["t1"]

    asyncio.run(first_open())
    assert user_version(path) == SCHEMA_VERSION == 5
    # version 3's query index was rebuilt from the version-1 events on open
    twin = fold(EVENTS)
    assert twin is not None
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT id, model, version FROM twins").fetchall()
        assert rows == [(twin.id, twin.model, twin.version)]
        values = conn.execute(
            "SELECT path FROM twin_values WHERE twin_id = ? ORDER BY path", (twin.id,)
        ).fetchall()
        assert [p for (p,) in values] == sorted(
            name for name, state in twin.properties.items() if state.has_reported
        )
    asyncio.run(second_open())


def test_a_failed_migration_step_leaves_the_database_at_the_last_version(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    write_v1(path)
    with sqlite3.connect(path) as conn:  # something in the way of step 2
        conn.execute("CREATE TABLE tokens (anything TEXT)")

    with pytest.raises(StoreError, match=r"v1\.db.*tokens"):
        asyncio.run(SQLiteStore.open(path))
    assert user_version(path) == 1
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(points)")]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert columns == ["series_id", "time", "value"]  # step 2's earlier statements rolled back
    assert "touches" not in tables and "models" not in tables

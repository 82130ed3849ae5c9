"""Throughput of the SQLite store: batched appends of events and of telemetry points.

Measures events/s and points/s through ``SQLiteStore.append`` (batches of 1000, one transaction
each, a fresh database file per repeat, median of the repeats), next to the raw floor measured in
the same run: bare ``sqlite3`` ``executemany`` of pre-built rows into the same tables (same
schema, same pragmas, same batch size and transactions). The store's figure includes what the
floor leaves out: the hop to the writer thread, encoding event data with orjson, and resolving
series ids, and recording the minutes that the rollups must recompute. A last figure is the
rate at which a rollup flush brings the 1-minute and 1-hour rollups of those points up to date.
The last line printed is a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from _machine import cpu_model
from twinkit.core import Event, EventType
from twinkit.store import Point, SQLiteStore
from twinkit.store._sqlite_engine import INSERT_EVENT, INSERT_POINT
from twinkit.store._sqlite_schema import migrate

TWINS = 100
SERIES_PER_TWIN = 10


def make_events(count: int) -> list[Event]:
    """Telemetry events of ``TWINS`` twins, round robin, each twin's seq counting up."""
    return [
        Event(
            twin_id=f"pump-{i % TWINS:03d}",
            seq=i // TWINS + 1,
            type=EventType.TELEMETRY_RECEIVED,
            time=1.7e9 + i * 0.01,
            recorded=1.7e9 + i * 0.01 + 0.002,
            cause="connector:bench",
            data={"values": {"flow": 12.5 + i % 7, "head": 31.25, "speed": 1450 + i % 3}},
        )
        for i in range(count)
    ]


def make_points(count: int) -> list[Point]:
    series = [(f"pump-{t:03d}", f"s{s}") for t in range(TWINS) for s in range(SERIES_PER_TWIN)]
    return [
        Point(*series[i % len(series)], 1.7e9 + i // len(series), float(i)) for i in range(count)
    ]


def batches(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def time_store(folder: Path, events: list[Any], points: list[Any], synchronous: str) -> float:
    """Seconds to append all batches through a fresh SQLiteStore (open/close not counted)."""

    async def scenario() -> float:
        path = folder / f"store-{time.monotonic_ns()}.db"
        store = await SQLiteStore.open(path, synchronous=synchronous)  # type: ignore[arg-type]
        start = time.perf_counter()
        for batch in events:
            await store.append(batch)
        for batch in points:
            await store.append((), batch)
        elapsed = time.perf_counter() - start
        await store.close()
        return elapsed

    return asyncio.run(scenario())


def time_flush(folder: Path, points: list[Any], synchronous: str) -> float:
    """Seconds to bring the 1-minute and 1-hour rollups of all points up to date (what the
    maintenance task does every few seconds), after appending them."""

    async def scenario() -> float:
        path = folder / f"flush-{time.monotonic_ns()}.db"
        store = await SQLiteStore.open(path, synchronous=synchronous)  # type: ignore[arg-type]
        for batch in points:
            await store.append((), batch)
        start = time.perf_counter()
        await store.flush_rollups()
        elapsed = time.perf_counter() - start
        await store.close()
        return elapsed

    return asyncio.run(scenario())


def time_raw(folder: Path, rows: list[list[tuple[Any, ...]]], sql: str, synchronous: str) -> float:
    """Seconds for bare executemany of pre-built rows, one BEGIN IMMEDIATE/COMMIT per batch."""
    path = folder / f"raw-{time.monotonic_ns()}.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")
    migrate(conn, str(path))
    if sql == INSERT_POINT:  # the series rows the points refer to
        conn.executemany(
            "INSERT INTO series (id, twin_id, name) VALUES (?, ?, ?)",
            [(i + 1, f"t{i}", "s") for i in range(TWINS * SERIES_PER_TWIN)],
        )
    start = time.perf_counter()
    for batch in rows:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, batch)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def median_rate(run: Callable[[], float], items: int, repeats: int) -> float:
    return items / statistics.median(run() for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="events per repeat")
    parser.add_argument("--points", type=int, default=200_000, help="points per repeat")
    parser.add_argument("--batch", type=int, default=1000, help="rows per append")
    parser.add_argument("--repeats", type=int, default=5, help="repeats (median reported)")
    parser.add_argument("--synchronous", choices=["NORMAL", "FULL"], default="FULL")
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows, 3 repeats")
    args = parser.parse_args()
    repeats = max(args.repeats, 5)
    if args.quick:
        args.events, args.points, repeats = args.events // 10, args.points // 10, 3

    events, points = make_events(args.events), make_points(args.points)
    event_batches, point_batches = batches(events, args.batch), batches(points, args.batch)
    event_rows = batches(
        [
            (e.twin_id, e.seq, e.type.value, e.time, e.recorded, e.cause, orjson.dumps(e.data))
            for e in events
        ],
        args.batch,
    )
    series_ids = {(p.twin_id, p.name) for p in points}
    ids = {key: i + 1 for i, key in enumerate(sorted(series_ids))}
    point_rows = batches([(ids[p.twin_id, p.name], p.time, p.value) for p in points], args.batch)
    sync = args.synchronous

    with tempfile.TemporaryDirectory(prefix="twinkit-bench-") as name:
        folder = Path(name)
        figures = {
            "raw_events_per_s": median_rate(
                lambda: time_raw(folder, event_rows, INSERT_EVENT, sync), len(events), repeats
            ),
            "store_events_per_s": median_rate(
                lambda: time_store(folder, event_batches, [], sync), len(events), repeats
            ),
            "raw_points_per_s": median_rate(
                lambda: time_raw(folder, point_rows, INSERT_POINT, sync), len(points), repeats
            ),
            "store_points_per_s": median_rate(
                lambda: time_store(folder, [], point_batches, sync), len(points), repeats
            ),
            "rollup_flush_points_per_s": median_rate(
                lambda: time_flush(folder, point_batches, sync), len(points), repeats
            ),
        }
    figures["events_ratio_to_raw"] = figures["store_events_per_s"] / figures["raw_events_per_s"]
    figures["points_ratio_to_raw"] = figures["store_points_per_s"] / figures["raw_points_per_s"]

    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}"
    )
    print(
        f"{len(events)} events and {len(points)} points per repeat, batches of {args.batch}, "
        f"synchronous={sync}, WAL, file in {tempfile.gettempdir()}; median of {repeats} repeats"
    )
    for key, value in figures.items():
        text = f"{value:.3f}" if "ratio" in key else f"{value:,.0f}"
        print(f"  {key:24s} {text}")
    print(
        json.dumps(
            {k: round(v, 3) for k, v in figures.items()}
            | {
                "events": len(events),
                "points": len(points),
                "batch": args.batch,
                "repeats": repeats,
                "synchronous": sync,
            }
        )
    )


if __name__ == "__main__":
    main()

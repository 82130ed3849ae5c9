"""History and twin queries: the figures of issue 4, each next to a plain SQL floor.

Builds (through the runtime, so the store's query index is what a live system has) a plant
graph of ``--twins`` twins in four models with one relationship each to its parent and
``--days`` days of property history, plus one series of ``--series-days`` days of 1 Hz points
(a year by default). Then measures, median of ``--repeats`` runs each:

- twin queries through ``run_query`` (parse, compile, run, decode): a property filter, one
  relationship hop and three hops; the floor is the same rows read by hand-written SQL on the
  same index tables, and ``scan`` the filter as a JSON scan of every twin document (what a
  store without the index does);
- the series downsampled to hourly buckets through ``downsample`` (rollups); the floor is a
  plain ``GROUP BY`` over the raw points;
- the whole graph as of the middle of its history (``graph_as_of``);
- storage: bytes per point of the points table and of its rollups (SQLite's dbstat).

The last line printed is a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _machine import describe
from _query_graph import DAY, MACHINE, START, Clock, build_graph
from twinkit.core import Point, Runtime
from twinkit.query._series import downsample
from twinkit.query._timetravel import graph_as_of
from twinkit.query._tql import run_query
from twinkit.store import SQLiteStore

FILTER = f"SELECT T FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, '{MACHINE}') AND T.temperature > 99.5"
ONE_HOP = (
    "SELECT S FROM DIGITALTWINS M JOIN S RELATED M.hasSensor "
    "WHERE M.temperature > 99.5 AND S.kind = 'vibration'"
)
THREE_HOPS = (
    "SELECT M, S FROM DIGITALTWINS P JOIN L RELATED P.contains JOIN M RELATED L.contains "
    "JOIN S RELATED M.hasSensor WHERE P.city = 'Lyon' AND M.status = 'fault' "
    "AND S.kind = 'pressure'"
)
FILTER_FLOOR = """
SELECT doc FROM twins WHERE model = ? AND id IN (
    SELECT twin_id FROM twin_values WHERE path = 'temperature' AND kind = 'n' AND value > 99.5)
"""
FILTER_SCAN = """
SELECT doc FROM twins WHERE model = ? AND json_extract(doc, '$.temperature') > 99.5
"""
ONE_HOP_FLOOR = """
SELECT s.doc FROM twins m JOIN edges e ON e.source = m.id AND e.name = 'hasSensor'
JOIN twins s ON s.id = e.target
WHERE m.id IN (SELECT twin_id FROM twin_values
               WHERE path = 'temperature' AND kind = 'n' AND value > 99.5)
  AND s.id IN (SELECT twin_id FROM twin_values
               WHERE path = 'kind' AND kind = 's' AND value = 'vibration')
"""
DOWNSAMPLE_FLOOR = """
SELECT CAST(time / 3600 AS INTEGER), avg(value) FROM points
WHERE series_id = (SELECT id FROM series WHERE twin_id = ? AND name = ?)
  AND time >= ? AND time < ? GROUP BY 1
"""


def log(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


async def median_ms(call: Callable[[], Awaitable[Any]], repeats: int) -> tuple[float, Any]:
    """Median wall time of ``repeats`` awaited calls (after one warm-up), and the last result."""
    result = await call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = await call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def sql_ms(path: Path, sql: str, params: tuple[Any, ...], repeats: int) -> tuple[float, int]:
    """Median time of a plain SQL query on its own read-only connection, and its row count."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    rows = conn.execute(sql, params).fetchall()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        rows = conn.execute(sql, params).fetchall()
        times.append((time.perf_counter() - start) * 1000)
    conn.close()
    return statistics.median(times), len(rows)


async def all_rows(store: SQLiteStore, runtime: Runtime, text: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    token = None
    while True:
        page = await run_query(store, runtime.models, text, page_size=10_000, continuation=token)
        rows += page.rows
        token = page.continuation
        if token is None:
            return rows


async def fill_series(store: SQLiteStore, days: float, chunk: int = 100_000) -> int:
    """One series of 1 Hz points over ``days`` days from START (a slow sine with noise)."""
    total = int(days * DAY)
    for first in range(0, total, chunk):
        points = [
            Point("machine-0", "vibration", START + t, 1.0 + (t % 3600) / 3600.0 + (t % 7) * 0.01)
            for t in range(first, min(first + chunk, total))
        ]
        await store.append((), points)
    await store.flush_rollups()
    return total


def storage(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
    conn.close()
    return {name: size for name, size in rows}


async def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    path = folder / "query.db"
    store = await SQLiteStore.open(path, synchronous="NORMAL")
    clock = Clock(START)
    runtime = await Runtime.open(store, clock=clock)
    started = time.perf_counter()
    shape = await build_graph(runtime, clock, args.twins, args.days, progress=log)
    figures: dict[str, Any] = {"twins": shape.total, "build_graph_s": time.perf_counter() - started}
    started = time.perf_counter()
    points = await fill_series(store, args.series_days)
    figures["series_points"] = points
    figures["fill_series_s"] = time.perf_counter() - started
    log(f"{points:,} points in one series")
    await store.analyze()  # what the server's maintenance does every round
    repeats = args.repeats

    queries = {"filter": FILTER, "one_hop": ONE_HOP, "three_hops": THREE_HOPS}
    for name, text in queries.items():
        ms, rows = await median_ms(lambda t=text: all_rows(store, runtime, t), repeats)
        figures[f"{name}_ms"], figures[f"{name}_rows"] = ms, len(rows)
    figures["filter_floor_ms"], floor_rows = sql_ms(path, FILTER_FLOOR, (MACHINE,), repeats)
    figures["filter_scan_ms"], _ = sql_ms(path, FILTER_SCAN, (MACHINE,), repeats)
    figures["one_hop_floor_ms"], hop_rows = sql_ms(path, ONE_HOP_FLOOR, (), repeats)
    assert floor_rows == figures["filter_rows"] and hop_rows == figures["one_hop_rows"]
    log("twin queries measured")

    end = START + points
    ms, series = await median_ms(
        lambda: downsample(store, "machine-0", "vibration", START, end, width=3600), repeats
    )
    figures["downsample_hourly_ms"], figures["downsample_buckets"] = ms, len(series)
    figures["downsample_floor_ms"], _ = sql_ms(
        path, DOWNSAMPLE_FLOOR, ("machine-0", "vibration", START, end), repeats
    )
    log("downsampling measured")

    past = START + (args.days / 2 + 0.5) * DAY
    ms, state = await median_ms(
        lambda: graph_as_of(store, past, models=runtime.models), max(3, repeats // 2)
    )
    figures["graph_as_of_ms"], figures["graph_as_of_twins"] = ms, len(state.twins)
    await runtime.close()
    await store.close()
    sizes = storage(path)
    figures["bytes_per_point"] = sizes.get("points", 0) / points
    figures["rollup_bytes_per_point"] = sizes.get("rollups", 0) / points
    figures["database_mb"] = sum(sizes.values()) / 1e6
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--twins", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30, help="days of property history")
    parser.add_argument("--series-days", type=float, default=365.0, help="days of 1 Hz points")
    parser.add_argument("--repeats", type=int, default=7, help="runs per figure (median)")
    parser.add_argument("--quick", action="store_true", help="10k twins, 7 days of series")
    args = parser.parse_args()
    if args.quick:
        args.twins, args.days, args.series_days, args.repeats = 10_000, 10, 7.0, 3
    with tempfile.TemporaryDirectory(prefix="twinkit-bench-") as name:
        figures = asyncio.run(run(args, Path(name)))
    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    print(f"machine: {describe()}, SQLite {sqlite3.sqlite_version}")
    print(
        f"{figures['twins']:,} twins, {args.days} days of history, one series of "
        f"{figures['series_points']:,} points; median of {args.repeats} runs"
    )
    for key, value in figures.items():
        text = f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"
        print(f"  {key:26s} {text}")
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()

"""The runtime counts the points it commits to history (the dashboard's ingest rate)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from twinkit.core import Reading, Runtime
from twinkit.store import SQLiteStore

MODEL = {
    "@context": "dtmi:dtdl:context;3",
    "@id": "dtmi:test:Meter;1",
    "@type": "Interface",
    "contents": [{"@type": "Telemetry", "name": "power", "schema": "double"}],
}


def test_points_written_counts_committed_points(tmp_path: Path) -> None:
    async def main() -> list[int]:
        async with await SQLiteStore.open(tmp_path / "t.db") as store:
            runtime = await Runtime.open(store)
            await runtime.add_models([MODEL])
            await runtime.create_twin("m-1", "dtmi:test:Meter;1", cause="test")
            seen = [runtime.points_written]
            await runtime.ingest([[Reading("m-1", {"power": 1.0}, 10.0)]], cause="test")
            seen.append(runtime.points_written)
            bad = await runtime.ingest([[Reading("m-1", {"power": "x"}, 11.0)]], cause="test")
            assert bad[0] is not None  # refused: nothing written
            seen.append(runtime.points_written)
            await runtime.close()
            return seen

    assert asyncio.run(main()) == [0, 1, 1]

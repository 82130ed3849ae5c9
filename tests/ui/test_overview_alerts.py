"""Open alerts on the dashboard: the runtime's own, raised and not cleared, newest first."""

from __future__ import annotations

import asyncio
from pathlib import Path

from twinkit.core import Runtime
from twinkit.store import SQLiteStore
from twinkit.ui._overview_alerts import AlertBook

PUMP = "dtmi:test:Pump;1"
MODEL = {
    "@context": "dtmi:dtdl:context;3",
    "@id": PUMP,
    "@type": "Interface",
    "contents": [{"@type": "Telemetry", "name": "speed", "schema": "double"}],
}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_book_shows_open_alerts_until_cleared_and_after_a_restart(tmp_path: Path) -> None:
    async def main() -> None:
        clock = Clock(100_000.0)
        async with await SQLiteStore.open(tmp_path / "twins.db") as store:
            runtime = await Runtime.open(store, clock=clock)
            await runtime.add_models([MODEL])
            for twin_id in ("pump-1", "pump-2"):
                await runtime.create_twin(twin_id, PUMP, cause="test")
            book = AlertBook(runtime)
            await runtime.raise_alert("pump-1", "hot", "bearing at 95 °C", cause="rule:t")
            clock.now += 1
            await runtime.raise_alert(
                "pump-2", "stuck", "no flow", cause="rule:t", severity="error"
            )
            clock.now += 1
            await runtime.raise_alert("pump-1", "old", "long ago", cause="rule:t")
            assert [(a.twin_id, a.name) for a in book.open()] == [
                ("pump-1", "old"),
                ("pump-2", "stuck"),
                ("pump-1", "hot"),
            ]
            await runtime.clear_alert("pump-1", "old", cause="token:t1")
            await runtime.acknowledge_alert("pump-2", "stuck", cause="token:t1")
            assert book.count_open() == 2
            assert {k: a.name for k, a in book.by_twin().items()} == {
                "pump-2": "stuck",
                "pump-1": "hot",
            }
            assert book.by_twin()["pump-2"].acknowledged_by == "token:t1"
            assert [a.name for a in book.open(limit=1)] == ["stuck"]
            await runtime.close()
            again = await Runtime.open(store, clock=clock)  # restored from the store
            assert [a.name for a in AlertBook(again).open()] == ["stuck", "hot"]
            await again.close()

    asyncio.run(main())

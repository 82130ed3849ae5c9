"""Open alerts: raised within the last hour, newest first, read from the log once per runtime
and followed live after that."""

from __future__ import annotations

import asyncio
from pathlib import Path

from twinkit.core import Runtime
from twinkit.store import SQLiteStore
from twinkit.ui._overview_alerts import ALERT_OPEN_S, Alert, AlertBook, alert_book, load_alerts

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


def make_alert(twin_id: str, seq: int, raised: float, name: str = "hot") -> Alert:
    return Alert(twin_id, seq, name, "warning", "too hot", raised, "rule:t")


def test_a_book_keeps_open_alerts_newest_first_once_each() -> None:
    book = AlertBook(open_s=100.0, limit=3)
    book.add([make_alert("a", 1, 10.0), make_alert("b", 1, 30.0)])
    book.add([make_alert("a", 2, 20.0), make_alert("a", 1, 10.0)])  # out of order, a repeat
    assert [a.key for a in book.open(50.0)] == [("b", 1), ("a", 2), ("a", 1)]
    assert [a.key for a in book.open(50.0, limit=1)] == [("b", 1)]
    assert [a.key for a in book.open(115.0)] == [("b", 1), ("a", 2)]  # a/1 closed at 110
    assert book.by_twin(50.0) == {"b": make_alert("b", 1, 30.0), "a": make_alert("a", 2, 20.0)}
    book.add([make_alert("c", 1, 40.0)])  # the limit forgets the oldest
    assert len(book) == 3
    assert book.count_open(50.0) == 3
    assert ("a", 1) not in {a.key for a in book.open(50.0)}


def test_alerts_load_from_the_log_and_follow_live_events(tmp_path: Path) -> None:
    async def main() -> None:
        clock = Clock(100_000.0)
        async with await SQLiteStore.open(tmp_path / "twins.db") as store:
            runtime = await Runtime.open(store, clock=clock)
            await runtime.add_models([MODEL])
            for twin_id in ("pump-1", "pump-2"):
                await runtime.create_twin(twin_id, PUMP, cause="test")
            clock.now -= ALERT_OPEN_S + 60
            await runtime.raise_alert("pump-1", "old", "long ago", cause="test")
            clock.now += ALERT_OPEN_S + 30
            await runtime.raise_alert("pump-1", "hot", "bearing at 95 °C", cause="rule:t")
            loaded = await load_alerts(store, clock.now - ALERT_OPEN_S)
            assert [(a.twin_id, a.name, a.message) for a in loaded] == [
                ("pump-1", "hot", "bearing at 95 °C")
            ]
            book = await alert_book(runtime, store, clock.now)
            assert await alert_book(runtime, store, clock.now) is book  # shared, loaded once
            clock.now += 1
            await runtime.raise_alert(
                "pump-2", "stuck", "no flow", cause="rule:t", severity="error"
            )
            assert [(a.twin_id, a.name, a.severity) for a in book.open(clock.now)] == [
                ("pump-2", "stuck", "error"),
                ("pump-1", "hot", "warning"),
            ]
            await runtime.close()
            # a fresh runtime over the same store starts from what the log says
            again = await Runtime.open(store, clock=clock)
            fresh = await alert_book(again, store, clock.now)
            assert fresh is not book
            assert [a.name for a in fresh.open(clock.now)] == ["stuck", "hot"]
            await again.close()

    asyncio.run(main())

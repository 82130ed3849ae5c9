"""Dead-letter replay: what now passes goes in once and is marked; the rest stays pending."""

from __future__ import annotations

import asyncio

import orjson
from connect_helpers import RecordingSink

from twinkit.connect import MqttMapping, replay_dead_letters
from twinkit.store import SQLiteStore


def test_replay_ingests_what_now_passes_and_keeps_the_rest() -> None:
    sink = RecordingSink(twins={"pump-1": {"temp": (int, float)}})

    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            unknown_twin = await store.add_dead_letter(
                "mqtt:site/pump-9/telemetry", b'{"ts": 1717000000, "temp": 4}', "not found", 1.0
            )
            broken = await store.add_dead_letter(
                "mqtt:site/pump-1/telemetry", b'{"temp": ', "invalid JSON", 2.0
            )
            http = await store.add_dead_letter(
                "http:/ingest", orjson.dumps({"twinId": "pump-9", "temp": 5}), "not found", 3.0
            )
            odd = await store.add_dead_letter("opcua:ns=2", b"{}", "?", 4.0)
            imported = await store.add_dead_letter(
                "import:history.csv:7",
                orjson.dumps({"twinId": "pump-9", "ts": 1717000100, "values": {"temp": 6}}),
                "not found",
                5.0,
            )

            first = await replay_dead_letters(store, sink, MqttMapping())
            assert first.replayed == ()
            assert [f.id for f in first.failed] == [unknown_twin, broken, http, odd, imported]
            assert "twin 'pump-9' not found" in first.failed[0].reason
            assert "invalid JSON" in first.failed[1].reason
            assert "cannot replay a dead letter from this source" in first.failed[3].reason

            sink.twins["pump-9"] = {"temp": (int, float)}  # the twin was created meanwhile
            second = await replay_dead_letters(store, sink, ids=[unknown_twin, http, imported, 999])
            assert second.replayed == (unknown_twin, http, imported)
            assert second.failed == () and second.missing == (999,)
            assert sink.values() == [{"temp": 4}, {"temp": 5}, {"temp": 6}]
            assert sink.accepted[0][0].time == 1717000000
            assert sink.causes == {"replay"}

            pending = await store.dead_letters(pending_only=True)
            assert [d.id for d in pending] == [broken, odd]  # not duplicated, still pending
            third = await replay_dead_letters(store, sink)
            assert third.replayed == () and len(third.failed) == 2
            assert len(sink.accepted) == 3  # replayed letters are not ingested twice

    asyncio.run(scenario())

"""The runtime: requests become events, checked against the models, durable and replayable."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from runtime_models import MODELS, PUMP, STATION, TANK

from twinkit.core import Ack, Event, EventType, Reading, RelationshipSpec, Runtime
from twinkit.errors import ConflictError, ConnectorError, NotFoundError, ValidationError
from twinkit.store import SQLiteStore

T = TypeVar("T")
ADMIN = "token:admin"
DEVICE = "connector:test"


class Clock:
    """A settable clock, so tests control event times."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def with_runtime(
    tmp_path: Path, body: Callable[[Runtime, Clock], Awaitable[T]], *, models: bool = True
) -> T:
    async def main() -> T:
        clock = Clock()
        async with await SQLiteStore.open(tmp_path / "twins.db") as store:
            runtime = await Runtime.open(store, clock=clock)
            if models:
                await runtime.add_models(MODELS)
            result = await body(runtime, clock)
            await runtime.close()
            return result

    return asyncio.run(main())


async def station(runtime: Runtime) -> None:
    await runtime.create_twin("pump-1", PUMP, {"rated": 12.0, "serial": "A1"}, cause=ADMIN)
    await runtime.create_twin("tank-1", TANK, {"capacity": 50.0}, cause=ADMIN)
    await runtime.create_twin("station-1", STATION, cause=ADMIN)


# --- twins -----------------------------------------------------------------------------


def test_create_get_and_list_by_model_including_extended(tmp_path: Path) -> None:
    async def body(runtime: Runtime, clock: Clock) -> None:
        await station(runtime)
        pump = runtime.get("pump-1")
        assert pump.model == PUMP
        assert pump.version == 1
        assert pump.reported("rated") == 12.0
        assert pump.properties["rated"].last_changed == clock.now
        assert [t.id for t in runtime.twins(model="dtmi:test:Device;1")] == ["pump-1"]
        assert {t.id for t in runtime.twins()} == {"pump-1", "tank-1", "station-1"}
        events = await runtime.events("pump-1")
        assert [e.type for e in events] == [EventType.TWIN_CREATED]
        assert events[0].cause == ADMIN

    with_runtime(tmp_path, body)


def test_create_rejects_duplicates_bad_ids_unknown_models_and_bad_properties(
    tmp_path: Path,
) -> None:
    async def body(runtime: Runtime, clock: Clock) -> None:
        await station(runtime)
        with pytest.raises(ConflictError, match="already exists"):
            await runtime.create_twin("pump-1", PUMP, cause=ADMIN)
        with pytest.raises(ValidationError, match="invalid twin id"):
            await runtime.create_twin("site/pump", PUMP, cause=ADMIN)
        with pytest.raises(NotFoundError, match="dtmi:test:Nope;1"):
            await runtime.create_twin("x", "dtmi:test:Nope;1", cause=ADMIN)
        with pytest.raises(ValidationError, match="rated"):
            await runtime.create_twin("pump-2", PUMP, {"rated": "fast"}, cause=ADMIN)
        assert runtime.find("pump-2") is None

    with_runtime(tmp_path, body)


def test_unchanged_report_only_refreshes_last_reported(tmp_path: Path) -> None:
    async def body(runtime: Runtime, clock: Clock) -> None:
        await station(runtime)
        clock.now = 1_010.0
        await runtime.report("pump-1", {"rated": 12.0}, cause=ADMIN)
        state = runtime.get("pump-1").properties["rated"]
        assert runtime.get("pump-1").version == 1  # no event
        assert (state.last_changed, state.last_reported) == (1_000.0, 1_010.0)
        clock.now = 1_020.0
        await runtime.report("pump-1", {"rated": 13.0}, cause=ADMIN)
        state = runtime.get("pump-1").properties["rated"]
        assert runtime.get("pump-1").version == 2
        assert (state.reported, state.last_changed, state.last_reported) == (13.0, 1_020.0, 1_020.0)

    with_runtime(tmp_path, body)


def test_late_and_redelivered_readings_go_to_history_once(tmp_path: Path) -> None:
    async def body(runtime: Runtime, clock: Clock) -> None:
        await station(runtime)
        late = [Reading("pump-1", {"rated": 9.0, "flow": 1.0}, time=900.0)]
        fresh = [Reading("pump-1", {"flow": 5.0}, time=1_000.0)]
        assert await runtime.ingest([fresh, late], cause=DEVICE) == [None, None]
        assert await runtime.ingest([fresh, late], cause=DEVICE) == [None, None]  # redelivered
        pump = runtime.get("pump-1")
        assert pump.reported("rated") == 12.0
        assert pump.telemetry["flow"].value == 5.0
        assert len(await runtime.events("pump-1")) == 1  # history, not state changes

    with_runtime(tmp_path, body)

    async def history() -> None:
        async with await SQLiteStore.open(tmp_path / "twins.db") as store:
            rated = await store.points("pump-1", "rated", 0.0, 2_000.0)
            flow = await store.points("pump-1", "flow", 0.0, 2_000.0)
            assert [(p.time, p.value) for p in rated] == [(900.0, 9.0)]
            assert [(p.time, p.value) for p in flow] == [(900.0, 1.0), (1_000.0, 5.0)]

    asyncio.run(history())


def test_expected_version_mismatch_is_a_conflict(tmp_path: Path) -> None:
    async def body(runtime: Runtime, clock: Clock) -> None:
        await station(runtime)
        await runtime.set_desired("pump-1", "speed", 1450.0, cause=ADMIN, expected_version=1)
        with pytest.raises(ConflictError, match="version 2, but the write expected version 1"):
            await runtime.set_desired("pump-1", "speed", 1500.0, cause=ADMIN, expected_version=1)
        assert runtime.get("pump-1").properties["speed"].desired == 1450.0

    with_runtime(tmp_path, body)


def test_report_and_remove_properties(tmp_path: Path) -> None:
    async def body(runtime: Runtime, clock: Clock) -> None:
        await station(runtime)
        await runtime.report("pump-1", {}, removed=["serial"], cause=ADMIN)
        assert "serial" not in runtime.get("pump-1").properties
        with pytest.raises(NotFoundError, match="no reported value"):
            await runtime.report("pump-1", {}, removed=["serial"], cause=ADMIN)
        with pytest.raises(ValidationError, match="unknown property"):
            await runtime.report("pump-1", {"colour": "red"}, cause=ADMIN)

    with_runtime(tmp_path, body)


def test_delete_twin_refused_while_targeted_then_allowed(tmp_path: Path) -> None:
    async def body(runtime: Runtime, clock: Clock) -> None:
        await station(runtime)
        await runtime.add_relationship("station-1", "contains", "tank-1", cause=ADMIN)
        with pytest.raises(ConflictError, match="station-1"):
            await runtime.delete_twin("tank-1", cause=ADMIN)
        await runtime.remove_relationship("station-1", "contains-tank-1", cause=ADMIN)
        await runtime.delete_twin("tank-1", cause=ADMIN)
        assert runtime.find("tank-1") is None
        with pytest.raises(NotFoundError):
            runtime.get("tank-1")
        # the log outlives the twin, and the id can be used again
        assert (await runtime.events("tank-1"))[-1].type is EventType.TWIN_DELETED
        again = await runtime.create_twin("tank-1", TANK, cause=ADMIN)
        assert again.version == 3

    with_runtime(tmp_path, body)


def test_many_relationships_in_one_transaction_all_or_none(tmp_path: Path) -> None:
    async def body(runtime: Runtime, clock: Clock) -> None:
        await station(runtime)
        await runtime.create_twin("tank-2", TANK, cause=ADMIN)
        specs = [
            RelationshipSpec("station-1", "contains", "pump-1"),
            RelationshipSpec("station-1", "contains", "tank-1"),
            RelationshipSpec("pump-1", "feeds", "tank-1", properties={"length": 2.0}),
            RelationshipSpec("pump-1", "feeds", "tank-2"),  # over maxMultiplicity 1
        ]
        before = runtime.get("station-1").version
        with pytest.raises(ValidationError, match="at most 1"):
            await runtime.add_relationships(specs, cause=ADMIN)
        assert runtime.get("station-1").version == before  # nothing of the batch stayed
        assert runtime.outgoing("station-1") == []
        edges = await runtime.add_relationships(specs[:3], cause=ADMIN)
        assert [(e.source, e.target) for e in edges] == [
            ("station-1", "pump-1"),
            ("station-1", "tank-1"),
            ("pump-1", "tank-1"),
        ]
        assert sorted(e.source for e in runtime.incoming("tank-1")) == ["pump-1", "station-1"]

    with_runtime(tmp_path, body)


# --- relationships ---------------------------------------------------------------------


def test_relationships_are_checked_against_the_model(tmp_path: Path) -> None:
    async def body(runtime: Runtime, clock: Clock) -> None:
        await station(runtime)
        await runtime.create_twin("tank-2", TANK, cause=ADMIN)
        with pytest.raises(ValidationError, match="no relationship 'drains'"):
            await runtime.add_relationship("pump-1", "drains", "tank-1", cause=ADMIN)
        with pytest.raises(NotFoundError, match="tank-9"):
            await runtime.add_relationship("pump-1", "feeds", "tank-9", cause=ADMIN)
        with pytest.raises(ValidationError, match="cannot target a twin of model"):
            await runtime.add_relationship("pump-1", "feeds", "station-1", cause=ADMIN)
        with pytest.raises(ValidationError, match="length"):
            await runtime.add_relationship(
                "pump-1", "feeds", "tank-1", properties={"length": "long"}, cause=ADMIN
            )
        edge = await runtime.add_relationship(
            "pump-1", "feeds", "tank-1", properties={"length": 3.5}, cause=ADMIN
        )
        assert (edge.id, edge.source, edge.target, dict(edge.properties)) == (
            "feeds-tank-1",
            "pump-1",
            "tank-1",
            {"length": 3.5},
        )
        with pytest.raises(ValidationError, match="at most 1"):
            await runtime.add_relationship("pump-1", "feeds", "tank-2", cause=ADMIN)
        assert [e.source for e in runtime.incoming("tank-1")] == ["pump-1"]
        assert [e.id for e in runtime.outgoing("pump-1")] == ["feeds-tank-1"]
        await runtime.add_relationship("station-1", "contains", "pump-1", cause=ADMIN)
        with pytest.raises(ConflictError, match="already has"):
            await runtime.add_relationship("station-1", "contains", "pump-1", cause=ADMIN)
        with pytest.raises(NotFoundError):
            await runtime.remove_relationship("station-1", "nope", cause=ADMIN)

    with_runtime(tmp_path, body)


# --- ingest ----------------------------------------------------------------------------


def test_ingest_accepts_good_messages_and_names_each_bad_one(tmp_path: Path) -> None:
    async def body(runtime: Runtime, clock: Clock) -> None:
        await station(runtime)
        messages = [
            [Reading("pump-1", {"flow": 1.5, "state": "running"}, time=1_001.0)],
            [Reading("pump-9", {"flow": 1.0})],
            [Reading("pump-1", {"colour": 1.0})],
            [Reading("pump-1", {"flow": "lots"})],
            [Reading("pump-1", {"flow": math.nan})],
            [Reading("pump-1", {"flow": 2.0}), Reading("tank-1", {"level": "x"})],
            [Reading("tank-1", {"level": 3.0}, time=1_002.0)],
        ]
        results = await runtime.ingest(messages, cause=DEVICE)
        assert results[0] is None and results[6] is None
        assert isinstance(results[1], NotFoundError) and "pump-9" in str(results[1])
        assert isinstance(results[2], ValidationError) and "unknown content 'colour'" in str(
            results[2]
        )
        assert isinstance(results[3], ValidationError) and "flow" in str(results[3])
        assert isinstance(results[4], ValidationError) and "NaN" in str(results[4])
        assert isinstance(results[5], ValidationError) and "level" in str(results[5])
        pump = runtime.get("pump-1")
        assert pump.telemetry["flow"].value == 1.5  # the bad message's 2.0 was not applied
        assert pump.version == 1  # telemetry is history, not log events
        assert runtime.get("tank-1").telemetry["level"].value == 3.0

    with_runtime(tmp_path, body)


def test_reading_times_become_plain_floats_or_are_refused(tmp_path: Path) -> None:
    async def body(runtime: Runtime, clock: Clock) -> None:
        await station(runtime)
        messages = [
            [Reading("pump-1", {"flow": 1.5, "state": "running"}, time=np.float64(1_001.5))],
            [Reading("tank-1", {"level": 3.0}, time=1_002)],
            [Reading("tank-1", {"level": 4.0}, time="yesterday")],  # type: ignore[arg-type]
        ]
        results = await runtime.ingest(messages, cause=DEVICE)
        assert results[:2] == [None, None]
        assert isinstance(results[2], ValidationError)
        assert "reading time is not a number" in str(results[2])
        assert results[2].where == "tank-1/time"
        pump = runtime.get("pump-1")
        assert type(pump.telemetry["flow"].time) is float

    with_runtime(tmp_path, body)  # close() snapshots the twins: their state must be JSON


def test_acknowledged_desired_value_is_in_sync(tmp_path: Path) -> None:
    async def body(runtime: Runtime, clock: Clock) -> None:
        await station(runtime)
        seen: list[Event] = []
        runtime.subscribe(seen.append, types=[EventType.DESIRED_PROPERTY_SET])
        await runtime.set_desired("pump-1", "speed", 1450.0, cause=ADMIN)
        assert [e.data["version"] for e in seen] == [1]
        assert not runtime.get("pump-1").properties["speed"].in_sync
        ack = {"speed": Ack(version=1, code=200, description="applied")}
        reading = Reading("pump-1", {"speed": 1450.0}, acks=ack)
        assert await runtime.ingest([[reading]], cause=DEVICE) == [None]
        state = runtime.get("pump-1").properties["speed"]
        assert state.in_sync and state.ack_code == 200
        version = runtime.get("pump-1").version
        assert await runtime.ingest([[reading]], cause=DEVICE) == [None]  # redelivered
        assert runtime.get("pump-1").version == version
        bad = Reading("pump-1", {}, acks={"rated": Ack(1, 200)})
        (error,) = await runtime.ingest([[bad]], cause=DEVICE)
        assert isinstance(error, ValidationError) and "not a writable property" in str(error)

    with_runtime(tmp_path, body)


def test_subscribers_filter_and_a_failing_listener_does_not_stop_others(tmp_path: Path) -> None:
    async def body(runtime: Runtime, clock: Clock) -> None:
        by_model: list[str] = []
        by_twin: list[str] = []

        def broken(event: Event) -> None:
            raise RuntimeError("listener bug")

        runtime.subscribe(broken)
        runtime.subscribe(lambda e: by_model.append(e.twin_id), models=["dtmi:test:Device;1"])
        stop = runtime.subscribe(lambda e: by_twin.append(e.type), twins=["tank-1"])
        await station(runtime)
        await runtime.ingest([[Reading("tank-1", {"level": 1.0})]], cause=DEVICE)
        stop()
        await runtime.ingest([[Reading("tank-1", {"level": 2.0})]], cause=DEVICE)
        assert by_model == ["pump-1"]
        assert by_twin == [EventType.TWIN_CREATED, EventType.TELEMETRY_RECEIVED]

    with_runtime(tmp_path, body)


# --- commands --------------------------------------------------------------------------


class Device:
    """A command transport that answers like a device would (or not at all)."""

    def __init__(self, runtime: Runtime, mode: str) -> None:
        self.runtime = runtime
        self.mode = mode

    async def send_command(
        self, twin_id: str, name: str, correlation_id: str, request: Any, timeout: float
    ) -> None:
        if self.mode == "offline":
            raise ConnectorError(f"device {twin_id} is offline (since 1970-01-01T00:00:00Z)")
        if self.mode == "answer":

            async def answer() -> None:
                await self.runtime.complete_command(
                    twin_id, correlation_id, 200, request > 0, cause="connector:test"
                )

            asyncio.get_running_loop().create_task(answer())


def test_commands_complete_fail_offline_and_time_out(tmp_path: Path) -> None:
    async def body(runtime: Runtime, clock: Clock) -> None:
        await station(runtime)
        result = await runtime.invoke("pump-1", "start", 2.0, cause=ADMIN)
        assert (result.status, result.ok) == (503, False)  # no connector
        runtime.set_command_transport(Device(runtime, "answer"))
        result = await runtime.invoke("pump-1", "start", 2.0, cause=ADMIN)
        assert (result.status, result.response) == (200, True)
        assert runtime.command_result(result.id) == result
        runtime.set_command_transport(Device(runtime, "offline"))
        result = await runtime.invoke("pump-1", "start", 2.0, cause=ADMIN)
        assert result.status == 503 and "offline" in (result.description or "")
        runtime.set_command_transport(Device(runtime, "silent"))
        result = await runtime.invoke("pump-1", "start", 2.0, cause=ADMIN, timeout=0.05)
        assert result.status == 504 and "did not answer" in (result.description or "")
        with pytest.raises(NotFoundError, match="timed out"):
            await runtime.complete_command("pump-1", result.id, 200, True, cause=DEVICE)
        with pytest.raises(
            ValidationError, match=r"command request 'start': a str is not a number"
        ):
            await runtime.invoke("pump-1", "start", "fast", cause=ADMIN)
        events = await runtime.events("pump-1")
        kinds = [e.type for e in events[1:]]
        assert kinds == [EventType.COMMAND_INVOKED, EventType.COMMAND_COMPLETED] * 4
        answered = events[4]
        assert answered.data["status"] == 200 and answered.cause == "connector:test"

    with_runtime(tmp_path, body)


# --- models ----------------------------------------------------------------------------


def test_models_are_kept_immutable_and_deleted_only_when_unused(tmp_path: Path) -> None:
    async def body(runtime: Runtime, clock: Clock) -> None:
        await station(runtime)
        changed = dict(MODELS[2], contents=[])
        with pytest.raises(ConflictError, match="immutable"):
            await runtime.add_models([changed])
        assert await runtime.add_models([MODELS[2]]) == [TANK]  # same again: fine
        with pytest.raises(ConflictError, match="used by 1 twin"):
            await runtime.delete_model(STATION)
        with pytest.raises(ConflictError, match="used by other models"):
            await runtime.delete_model("dtmi:test:Device;1")
        await runtime.delete_twin("station-1", cause=ADMIN)
        await runtime.delete_model(STATION)
        assert STATION not in runtime.models
        with pytest.raises(NotFoundError):
            runtime.model_document(STATION)

    with_runtime(tmp_path, body)


def test_behaviours_record_only_their_own_event_types(tmp_path: Path) -> None:
    async def body(runtime: Runtime, clock: Clock) -> None:
        await station(runtime)
        made = await runtime.record_event(
            "pump-1", EventType.PREDICTION_MADE, {"name": "rul"}, cause="predictor:x", time=1_005
        )
        assert (made.type, made.time, made.cause) == (
            EventType.PREDICTION_MADE,
            1_005.0,
            "predictor:x",
        )
        assert (await runtime.events("pump-1"))[-1] == made
        with pytest.raises(ValidationError, match="not an event behaviours may record"):
            await runtime.record_event(
                "pump-1", EventType.PROPERTY_REPORTED, {"name": "rated"}, cause="predictor:x"
            )
        with pytest.raises(NotFoundError):
            await runtime.record_event("pump-9", EventType.PREDICTION_MADE, {}, cause="predictor:x")

    with_runtime(tmp_path, body)

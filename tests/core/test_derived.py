"""Derived values (simulated, residual): stored as series, kept apart from reported values."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from runtime_models import MODELS, PUMP, TANK

from twinkit.core import (
    Derived,
    Event,
    EventType,
    Reading,
    Runtime,
    derived_series,
    twin_from_json,
    twin_to_json,
)
from twinkit.core._derived import split_derived
from twinkit.errors import NotFoundError, ValidationError
from twinkit.query._series import downsample, frame, series_range
from twinkit.query._tql import run_query
from twinkit.store import SQLiteStore

T = TypeVar("T")
ADMIN = "token:admin"
SHADOW = "simulator:physics"


def with_runtime(tmp_path: Path, body: Callable[[Runtime, SQLiteStore], Awaitable[T]]) -> T:
    async def main() -> T:
        async with await SQLiteStore.open(tmp_path / "twins.db") as store:
            runtime = await Runtime.open(store, clock=lambda: 5_000.0)
            await runtime.add_models(MODELS)
            await runtime.create_twin("pump-1", PUMP, {"rated": 12.0}, cause=ADMIN)
            await runtime.create_twin("tank-1", TANK, cause=ADMIN)
            result = await body(runtime, store)
            await runtime.close()
            return result

    return asyncio.run(main())


def test_derived_values_are_series_and_latest_values_apart_from_reported(
    tmp_path: Path,
) -> None:
    async def body(runtime: Runtime, store: SQLiteStore) -> None:
        await runtime.ingest([[Reading("pump-1", {"flow": 10.0}, time=100.0)]], cause="dev")
        before = runtime.get("pump-1")
        for t, simulated in ((100.0, 9.5), (101.0, 9.75), (102.0, 10.5)):
            await runtime.record_derived(
                [
                    Derived("pump-1", t, "simulated", {"flow": simulated}),
                    Derived("pump-1", t, "residual", {"flow": 10.0 - simulated}),
                ],
                cause=SHADOW,
            )
        pump = runtime.get("pump-1")
        assert pump.derived["simulated:flow"].value == 10.5
        assert pump.derived["simulated:flow"].time == 102.0
        assert pump.derived["residual:flow"].value == pytest.approx(-0.5)
        # Never mixed with what the device reported, and no event in the log.
        assert pump.telemetry["flow"].value == 10.0
        assert "simulated:flow" not in pump.telemetry and "simulated:flow" not in pump.properties
        assert pump.version == before.version and pump.updated == before.updated
        assert [e.type for e in await runtime.events("pump-1")] == [EventType.TWIN_CREATED]
        # The history is the series, queryable like telemetry.
        page = await series_range(store, "pump-1", "simulated:flow", 0, 1_000)
        assert page.values.tolist() == [9.5, 9.75, 10.5]
        assert page.times.tolist() == [100.0, 101.0, 102.0]
        buckets = await downsample(store, "pump-1", "residual:flow", 99, 105, width=3.0)
        assert buckets.tolist() == [(0.5 + 0.25) / 2, -0.5]  # [99, 102), [102, 105)
        table = await frame(
            store, [("pump-1", "flow"), ("pump-1", "simulated:flow")], 99, 102, width=3.0
        )
        assert table["pump-1/flow"].iloc[0] == 10.0
        assert table["pump-1/simulated:flow"].iloc[0] == pytest.approx((9.5 + 9.75) / 2)

    with_runtime(tmp_path, body)


def test_older_derived_values_are_history_only(tmp_path: Path) -> None:
    async def body(runtime: Runtime, store: SQLiteStore) -> None:
        await runtime.record_derived(
            [Derived("tank-1", 10.0, "simulated", {"level": 2.0})], cause=SHADOW
        )
        await runtime.record_derived(
            [Derived("tank-1", 5.0, "simulated", {"level": 1.0})], cause=SHADOW
        )
        assert runtime.get("tank-1").derived["simulated:level"].value == 2.0
        page = await series_range(store, "tank-1", "simulated:level", 0, 100)
        assert page.values.tolist() == [1.0, 2.0]

    with_runtime(tmp_path, body)


@pytest.mark.parametrize(
    ("item", "error", "where"),
    [
        (Derived("nobody", 1.0, "simulated", {"flow": 1.0}), NotFoundError, "nobody"),
        (Derived("pump-1", 1.0, "simulated", {"flow": math.nan}), ValidationError, "pump-1/simulated:flow"),
        (Derived("pump-1", 1.0, "simulated", {"flow": math.inf}), ValidationError, "pump-1/simulated:flow"),
        (Derived("pump-1", 1.0, "simulated", {"flow": True}), ValidationError, "pump-1/simulated:flow"),
        (Derived("pump-1", 1.0, "simulated", {"flow": "high"}), ValidationError, "pump-1/simulated:flow"),
        (Derived("pump-1", 1.0, "simulated", {"a:b": 1.0}), ValidationError, "pump-1/simulated:a:b"),
        (Derived("pump-1", 1.0, "simulated", {"9lives": 1.0}), ValidationError, "pump-1/simulated:9lives"),
        (Derived("pump-1", 1.0, "simu:lated", {"flow": 1.0}), ValidationError, "pump-1/kind"),
        (Derived("pump-1", 1.0, "", {"flow": 1.0}), ValidationError, "pump-1/kind"),
        (Derived("pump-1", math.nan, "simulated", {"flow": 1.0}), ValidationError, "pump-1/time"),
    ],
)  # fmt: skip
def test_bad_derived_values_are_refused_saying_where(
    tmp_path: Path, item: Derived, error: type[Exception], where: str
) -> None:
    async def body(runtime: Runtime, store: SQLiteStore) -> None:
        with pytest.raises(error) as raised:
            await runtime.record_derived([item], cause=SHADOW)
        assert getattr(raised.value, "where", None) == where
        if isinstance(raised.value, ValidationError):
            assert raised.value.expected and raised.value.has_got

    with_runtime(tmp_path, body)


def test_a_call_is_all_or_nothing(tmp_path: Path) -> None:
    async def body(runtime: Runtime, store: SQLiteStore) -> None:
        good = Derived("pump-1", 1.0, "simulated", {"flow": 1.0})
        bad = Derived("tank-1", 1.0, "residual", {"level": math.nan})
        with pytest.raises(ValidationError) as raised:
            await runtime.record_derived([good, bad], cause=SHADOW)
        assert raised.value.where == "derived[1] (tank-1)/residual:level"
        assert runtime.get("pump-1").derived == {}
        assert len((await series_range(store, "pump-1", "simulated:flow", 0, 10)).values) == 0

    with_runtime(tmp_path, body)


def test_subscribers_see_values_derived_events_and_can_filter_them(tmp_path: Path) -> None:
    async def body(runtime: Runtime, store: SQLiteStore) -> None:
        derived: list[Event] = []
        everything: list[Event] = []
        runtime.subscribe(derived.append, types=[EventType.VALUES_DERIVED])
        runtime.subscribe(everything.append, twins=["pump-1"])
        await runtime.ingest([[Reading("pump-1", {"flow": 3.0}, time=7.0)]], cause="dev")
        await runtime.record_derived(
            [Derived("pump-1", 7.0, "residual", {"flow": 0.25, "speed": -1.0})], cause=SHADOW
        )
        assert [e.type for e in everything] == [
            EventType.TELEMETRY_RECEIVED,
            EventType.VALUES_DERIVED,
        ]
        (event,) = derived
        assert event.twin_id == "pump-1" and event.time == 7.0 and event.cause == SHADOW
        assert event.seq == runtime.get("pump-1").version
        assert event.data == {"kind": "residual", "values": {"flow": 0.25, "speed": -1.0}}
        assert event.to_json()["type"] == "ValuesDerived"

    with_runtime(tmp_path, body)


def test_latest_derived_values_come_back_after_a_restart(tmp_path: Path) -> None:
    async def first(runtime: Runtime, store: SQLiteStore) -> None:
        await runtime.ingest([[Reading("pump-1", {"flow": 3.0}, time=7.0)]], cause="dev")
        await runtime.record_derived(
            [
                Derived("pump-1", 7.0, "simulated", {"flow": 2.5}),
                Derived("pump-1", 8.0, "simulated", {"flow": 2.75}),
                Derived("pump-1", 7.0, "residual", {"flow": 0.5}),
            ],
            cause=SHADOW,
        )

    async def second() -> None:
        async with await SQLiteStore.open(tmp_path / "twins.db") as store:
            runtime = await Runtime.open(store)
            pump = runtime.get("pump-1")
            assert {k: (v.value, v.time) for k, v in pump.derived.items()} == {
                "simulated:flow": (2.75, 8.0),
                "residual:flow": (0.5, 7.0),
            }
            assert set(pump.telemetry) == {"flow"}
            await runtime.close()

    with_runtime(tmp_path, first)
    asyncio.run(second())


def test_twin_json_keeps_derived_values_in_a_section_of_their_own(tmp_path: Path) -> None:
    async def body(runtime: Runtime, store: SQLiteStore) -> dict[str, Any]:
        await runtime.record_derived(
            [
                Derived("pump-1", 3.0, "simulated", {"flow": 1.5, "power": 2.0}),
                Derived("pump-1", 3.0, "residual", {"flow": 0.1}),
            ],
            cause=SHADOW,
        )
        twin = runtime.get("pump-1")
        body = twin_to_json(twin)
        assert twin_from_json(body) == twin  # the snapshot round trip
        # The query index shows the twin's reported values only.
        query = "SELECT * FROM DIGITALTWINS WHERE $dtId = 'pump-1'"
        (document,) = (await run_query(store, runtime.models, query)).rows
        assert document["$dtId"] == "pump-1" and document["rated"] == 12.0
        assert not any(":" in key or key == "derived" for key in document)
        return body

    body = with_runtime(tmp_path, body)
    assert body["derived"] == {
        "simulated": {"flow": {"value": 1.5, "time": 3.0}, "power": {"value": 2.0, "time": 3.0}},
        "residual": {"flow": {"value": 0.1, "time": 3.0}},
    }
    assert body["telemetry"] == {} and set(body["properties"]) == {"rated"}
    old = {key: value for key, value in body.items() if key != "derived"}  # an older snapshot
    assert twin_from_json(old).derived == {}


def test_series_names_of_derived_values() -> None:
    assert derived_series("simulated", "flow") == "simulated:flow"
    assert split_derived("residual:flow") == ("residual", "flow")
    for name in ("flow", "simulated:", ":flow", "a:b:c", "simulated:der(h)"):
        assert split_derived(name) is None

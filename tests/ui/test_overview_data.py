"""The overview's data: each twin's health by the documented rule, counts per model, the
ingest rate over a sliding window and the dead-letter summary (a real SQLite store)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from twinkit.core import ACK_OK, Event, EventType, PropertyState, TelemetryValue, Twin
from twinkit.model.dtdl import parse
from twinkit.store import SQLiteStore
from twinkit.ui._overview_alerts import Alert
from twinkit.ui._overview_data import (
    STALE_AFTER_S,
    Health,
    RateMeter,
    TwinHealth,
    dead_letter_summary,
    health_rows,
    last_seen,
    model_name,
    summarize,
    twin_health,
)

PUMP = "dtmi:test:Pump;1"
CREATED = 1_000.0
NOW = 10_000.0


def make_twin(
    twin_id: str = "pump-1",
    *,
    model: str = PUMP,
    properties: dict[str, PropertyState] | None = None,
    telemetry: dict[str, TelemetryValue] | None = None,
) -> Twin:
    return Twin(
        id=twin_id,
        model=model,
        version=1,
        created=CREATED,
        updated=CREATED,
        properties=MappingProxyType(properties or {}),
        telemetry=MappingProxyType(telemetry or {}),
    )


def reported(value: Any, at: float) -> PropertyState:
    return PropertyState(
        reported=value, has_reported=True, reported_time=at, last_reported=at, last_changed=at
    )


def alert(twin_id: str, name: str = "highVibration", raised: float = NOW - 10) -> Alert:
    return Alert(twin_id, 7, name, "warning", "vibration 9.1 mm/s", raised, "predictor:vib")


def test_a_twin_without_live_data_is_ok_and_says_so() -> None:
    twin = make_twin("pipe-1", properties={"length": reported(800.0, CREATED)})
    assert last_seen(twin) is None
    assert twin_health(twin, NOW, {}) == TwinHealth("pipe-1", PUMP, Health.OK, "no live data")


def test_fresh_telemetry_is_ok_and_old_telemetry_is_stale() -> None:
    fresh = make_twin(telemetry={"speed": TelemetryValue(1480.0, NOW - 5)})
    assert twin_health(fresh, NOW, {}).health is Health.OK
    old = NOW - STALE_AFTER_S - 1
    stale = make_twin(telemetry={"speed": TelemetryValue(1480.0, old)})
    health = twin_health(stale, NOW, {})
    assert health.health is Health.STALE
    assert health.detail.startswith("no data since ")
    # a property reported (or repeated) after creation counts as live data too
    revived = make_twin(
        properties={"mode": reported("auto", NOW - 1)},
        telemetry={"speed": TelemetryValue(1480.0, old)},
    )
    assert last_seen(revived) == NOW - 1
    assert twin_health(revived, NOW, {}).health is Health.OK


def test_a_desired_value_out_of_sync_is_pending_until_acknowledged_and_reported() -> None:
    unacked = PropertyState(desired=1200.0, desired_version=2, **_reported_fields(1480.0))
    twin = make_twin(properties={"speedSetpoint": unacked})
    health = twin_health(twin, NOW, {})
    assert health.health is Health.PENDING
    assert health.detail == "desired not in sync: speedSetpoint"
    synced = PropertyState(
        desired=1200.0,
        desired_version=2,
        ack_version=2,
        ack_code=ACK_OK,
        **_reported_fields(1200.0),
    )
    assert twin_health(make_twin(properties={"speedSetpoint": synced}), NOW, {}).health is Health.OK


def _reported_fields(value: float) -> dict[str, Any]:
    return {"reported": value, "has_reported": True, "reported_time": CREATED}


def test_the_rule_takes_the_worst_state_first() -> None:
    unacked = PropertyState(desired=1.0, desired_version=1)
    stale_and_pending = make_twin(
        properties={"speedSetpoint": unacked},
        telemetry={"speed": TelemetryValue(1.0, NOW - STALE_AFTER_S - 1)},
    )
    assert twin_health(stale_and_pending, NOW, {}).health is Health.STALE
    alerted = twin_health(stale_and_pending, NOW, {"pump-1": alert("pump-1")})
    assert alerted == TwinHealth("pump-1", PUMP, Health.ALERT, "highVibration: vibration 9.1 mm/s")


def test_rows_sort_trouble_first_and_summaries_count_per_model() -> None:
    twins = [
        make_twin("pump-2", telemetry={"speed": TelemetryValue(1.0, NOW)}),
        make_twin("pump-1", telemetry={"speed": TelemetryValue(1.0, NOW)}),
        make_twin("tank-1", model="dtmi:test:Tank;1"),
        make_twin("pump-3", telemetry={"speed": TelemetryValue(1.0, NOW - 3600)}),
    ]
    rows = health_rows(twins, NOW, {"pump-2": alert("pump-2")})
    assert [(r.twin_id, r.health) for r in rows] == [
        ("pump-2", Health.ALERT),
        ("pump-3", Health.STALE),
        ("pump-1", Health.OK),
        ("tank-1", Health.OK),
    ]
    summaries = summarize(rows, {PUMP: "Pump", "dtmi:test:Tank;1": "Tank"})
    assert [(s.name, s.twins, s.worst) for s in summaries] == [
        ("Pump", 3, Health.ALERT),
        ("Tank", 1, Health.OK),
    ]
    assert dict(summaries[0].counts) == {
        Health.ALERT: 1,
        Health.STALE: 1,
        Health.PENDING: 0,
        Health.OK: 1,
    }


def test_model_names_come_from_the_display_name_or_the_dtmi() -> None:
    models = parse(
        [
            {
                "@context": "dtmi:dtdl:context;3",
                "@id": PUMP,
                "@type": "Interface",
                "displayName": "Centrifugal pump",
            }
        ]
    )
    assert model_name(models, PUMP) == "Centrifugal pump"
    assert model_name(models, "dtmi:test:Valve;2") == "Valve"
    assert model_name(models, "not a dtmi") == "not a dtmi"


def _event(kind: EventType, data: dict[str, Any]) -> Event:
    return Event(twin_id="pump-1", seq=1, type=kind, time=NOW, recorded=NOW, cause="c", data=data)


def test_the_rate_is_the_rise_over_the_sliding_window() -> None:
    meter = RateMeter(window_s=10.0)
    first = meter.sample(0.0, 100)
    assert (first.messages, first.points) == (0.0, 0.0)
    for second in range(1, 21):
        meter.add_points(50)
        rates = meter.sample(float(second), 100 + 20 * second)
    assert rates.messages == pytest.approx(20.0)
    assert rates.points == pytest.approx(50.0)
    # the burst leaves the window: after 10 s of nothing the rate is back to zero
    for second in range(21, 32):
        rates = meter.sample(float(second), 500)
    assert (rates.messages, rates.points) == (0.0, 0.0)


def test_a_restarted_connector_starts_the_window_over() -> None:
    meter = RateMeter(window_s=10.0)
    meter.sample(0.0, 1000)
    meter.sample(1.0, 1100)
    rates = meter.sample(2.0, 10)  # the counter went down: a new connector
    assert rates.messages == 0.0
    assert meter.sample(3.0, 40).messages == pytest.approx(30.0)
    assert RateMeter().sample(1.0, None).messages is None  # no connector, no message rate
    with pytest.raises(ValueError, match="positive"):
        RateMeter(window_s=0)


def test_dead_letters_are_counted_with_the_newest_first(tmp_path: Path) -> None:
    async def main() -> None:
        async with await SQLiteStore.open(tmp_path / "twins.db") as store:
            assert (await dead_letter_summary(store)).pending == 0
            for n in range(7):
                await store.add_dead_letter(f"mqtt:site/p{n}", b"{}", f"bad {n}", 100.0 + n)
            await store.mark_replayed(7, 200.0)  # the newest was replayed: not pending
            summary = await dead_letter_summary(store, newest=3)
            assert summary.pending == 6
            assert [(line.id, line.reason) for line in summary.newest] == [
                (6, "bad 5"),
                (5, "bad 4"),
                (4, "bad 3"),
            ]
            assert summary.newest[0].source == "mqtt:site/p5"

    asyncio.run(main())

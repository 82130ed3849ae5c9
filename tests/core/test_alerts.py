"""Alerts that open and close: raised (or updated while open), acknowledged, cleared; part of
the twin's state, so a restart, a snapshot and the fold all agree on what is open."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from runtime_models import DEVICE, MODELS, PUMP, STATION, TANK

from twinkit.core import (
    AlertState,
    Event,
    EventType,
    Runtime,
    fold,
    twin_from_json,
    twin_to_json,
)
from twinkit.errors import NotFoundError, ValidationError
from twinkit.store import SQLiteStore

RAISER = "predictor:pump-anomaly"
OPERATOR = "token:op"


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def plant(runtime: Runtime) -> None:
    await runtime.add_models(MODELS)
    await runtime.create_twin("pump-1", PUMP, cause="token:admin")
    await runtime.create_twin("pump-2", PUMP, cause="token:admin")
    await runtime.create_twin("tank-1", TANK, cause="token:admin")
    await runtime.create_twin("station-1", STATION, cause="token:admin")


def test_an_alert_opens_updates_is_acknowledged_and_clears(tmp_path: Path) -> None:
    async def main() -> None:
        clock = Clock()
        async with await SQLiteStore.open(tmp_path / "twins.db") as store:
            runtime = await Runtime.open(store, clock=clock)
            await plant(runtime)
            raised = await runtime.raise_alert("pump-1", "hot", "95 °C", cause=RAISER)
            assert raised.type is EventType.ALERT_RAISED and raised.data["by"] == RAISER
            assert runtime.get("pump-1").alerts == {
                "hot": AlertState("hot", "warning", "95 °C", 1000.0, raised.seq, 1000.0, RAISER)
            }
            clock.now = 1010.0
            await runtime.acknowledge_alert("pump-1", "hot", cause=OPERATOR, note="on my way")
            clock.now = 1020.0  # raised again, same severity: one alert, still acknowledged
            await runtime.raise_alert("pump-1", "hot", "97 °C", cause=RAISER)
            (alert,) = runtime.get("pump-1").alerts.values()
            assert (alert.message, alert.raised, alert.updated) == ("97 °C", 1000.0, 1020.0)
            assert alert.raised_seq == raised.seq and alert.is_acknowledged
            assert (alert.acknowledged, alert.acknowledged_by, alert.note) == (
                1010.0,
                OPERATOR,
                "on my way",
            )
            clock.now = 1030.0  # a worse severity takes the acknowledgement back
            await runtime.raise_alert("pump-1", "hot", "99 °C", cause=RAISER, severity="critical")
            (alert,) = runtime.get("pump-1").alerts.values()
            assert alert.severity == "critical" and not alert.is_acknowledged
            assert alert.note is None and alert.acknowledged_by is None
            clock.now = 1040.0
            cleared = await runtime.clear_alert("pump-1", "hot", cause=OPERATOR, message="fixed")
            assert cleared.type is EventType.ALERT_CLEARED
            assert dict(cleared.data) == {"name": "hot", "message": "fixed", "by": OPERATOR}
            assert runtime.get("pump-1").alerts == {}
            assert runtime.alerts() == []
            # raised again after clearing: a new alert, raised now
            again = await runtime.raise_alert("pump-1", "hot", "96 °C", cause=RAISER)
            (alert,) = runtime.get("pump-1").alerts.values()
            assert (alert.raised, alert.raised_seq) == (1040.0, again.seq)
            kinds = [e.type for e in await runtime.events("pump-1")][-6:]
            assert kinds == [
                EventType.ALERT_RAISED,
                EventType.ALERT_ACKNOWLEDGED,
                EventType.ALERT_RAISED,
                EventType.ALERT_RAISED,
                EventType.ALERT_CLEARED,
                EventType.ALERT_RAISED,
            ]

    asyncio.run(main())


def test_wrong_alert_requests_say_what_and_where(tmp_path: Path) -> None:
    async def main() -> None:
        async with await SQLiteStore.open(tmp_path / "twins.db") as store:
            runtime = await Runtime.open(store, clock=Clock())
            await plant(runtime)
            await runtime.raise_alert("pump-1", "hot", "95 °C", cause=RAISER)
            version = runtime.get("pump-1").version
            with pytest.raises(ValidationError, match="cannot clear alert 'cold' of twin 'pump-1'"):
                await runtime.clear_alert("pump-1", "cold", cause=OPERATOR)
            with pytest.raises(ValidationError, match="it is not open") as caught:
                await runtime.acknowledge_alert("pump-2", "hot", cause=OPERATOR)
            assert caught.value.path == "pump-2/alerts/hot"
            with pytest.raises(ValidationError, match="severity") as bad:
                await runtime.raise_alert("pump-1", "hot", "x", cause=RAISER, severity="fatal")
            assert "info, warning, error, critical" in str(bad.value)
            for name in ("", "has space", "a/b", "9lives"):
                with pytest.raises(ValidationError, match="bad alert name"):
                    await runtime.raise_alert("pump-1", name, "x", cause=RAISER)
            with pytest.raises(ValidationError, match="message"):
                await runtime.raise_alert("pump-1", "hot", 42, cause=RAISER)  # type: ignore[arg-type]
            with pytest.raises(NotFoundError, match="nowhere"):
                await runtime.raise_alert("nowhere", "hot", "x", cause=RAISER)
            assert runtime.get("pump-1").version == version  # refused: nothing recorded
            await runtime.clear_alert("pump-1", "hot", cause=OPERATOR)
            with pytest.raises(ValidationError, match="none is open"):
                await runtime.clear_alert("pump-1", "hot", cause=OPERATOR)

    asyncio.run(main())


def test_open_alerts_across_twins_filter_by_twin_model_and_severity(tmp_path: Path) -> None:
    async def main() -> None:
        clock = Clock()
        async with await SQLiteStore.open(tmp_path / "twins.db") as store:
            runtime = await Runtime.open(store, clock=clock)
            await plant(runtime)
            for twin_id, name, severity in [
                ("pump-1", "hot", "warning"),
                ("tank-1", "low", "critical"),
                ("pump-2", "noisy", "info"),
                ("pump-1", "stuck", "error"),
            ]:
                clock.now += 10
                await runtime.raise_alert(twin_id, name, "m", cause=RAISER, severity=severity)

            def names(**filters: str) -> list[tuple[str, str]]:
                return [(a.twin_id, a.alert.name) for a in runtime.alerts(**filters)]

            assert names() == [
                ("pump-1", "stuck"),
                ("pump-2", "noisy"),
                ("tank-1", "low"),
                ("pump-1", "hot"),
            ]
            assert names(twin_id="pump-1") == [("pump-1", "stuck"), ("pump-1", "hot")]
            assert names(model=DEVICE) == [
                ("pump-1", "stuck"),
                ("pump-2", "noisy"),
                ("pump-1", "hot"),
            ]
            assert names(severity="error") == [("pump-1", "stuck"), ("tank-1", "low")]
            assert names(model=PUMP, severity="warning") == [("pump-1", "stuck"), ("pump-1", "hot")]
            assert runtime.alerts(model=TANK)[0].model == TANK
            assert names(twin_id="station-1") == []
            with pytest.raises(ValidationError, match="severity"):
                runtime.alerts(severity="loud")
            with pytest.raises(NotFoundError):
                runtime.alerts(twin_id="nowhere")
            # a deleted twin's alerts are gone with it
            await runtime.delete_twin("pump-2", cause="token:admin")
            assert ("pump-2", "noisy") not in names()
            await runtime.clear_alert("tank-1", "low", cause=OPERATOR)
            assert names(severity="critical") == []

    asyncio.run(main())


@pytest.mark.parametrize("snapshot_every", [1, 2, 1000])
def test_open_alerts_survive_a_restart_exactly(tmp_path: Path, snapshot_every: int) -> None:
    async def main() -> None:
        clock = Clock()
        path = tmp_path / "twins.db"
        async with await SQLiteStore.open(path) as store:
            runtime = await Runtime.open(store, clock=clock, snapshot_every=snapshot_every)
            await plant(runtime)
            await runtime.raise_alert("pump-1", "hot", "95 °C", cause=RAISER, severity="error")
            clock.now += 5
            await runtime.acknowledge_alert("pump-1", "hot", cause=OPERATOR, note="seen")
            await runtime.raise_alert("tank-1", "low", "2 m", cause="rule:level")
            await runtime.raise_alert("pump-2", "noisy", "x", cause=RAISER)
            await runtime.clear_alert("pump-2", "noisy", cause=OPERATOR)
            before = {twin.id: twin for twin in runtime.twins()}
            listed = runtime.alerts()
        async with await SQLiteStore.open(path) as store:
            again = await Runtime.open(store, clock=clock)
            assert {twin.id: twin for twin in again.twins()} == before
            assert again.alerts() == listed
            assert [a.alert.name for a in listed] == ["low", "hot"]
            await again.clear_alert("pump-1", "hot", cause=OPERATOR)  # still open after restart
            assert [a.alert.name for a in again.alerts()] == ["low"]

    asyncio.run(main())


def event(seq: int, kind: EventType, time: float, cause: str = "c", **data: object) -> Event:
    return Event(
        twin_id="pump-1", seq=seq, type=kind, time=time, recorded=time, cause=cause, data=data
    )


def test_the_fold_keeps_open_alerts_and_snapshots_round_trip_them() -> None:
    twin = fold(
        [
            event(1, EventType.TWIN_CREATED, 1.0, model=PUMP, properties={}),
            event(2, EventType.ALERT_RAISED, 2.0, name="a", severity="info", message="x", by="r"),
            event(3, EventType.ALERT_RAISED, 3.0, name="b", severity="error", message="y", by="r"),
            event(4, EventType.ALERT_ACKNOWLEDGED, 4.0, name="b", note="n", by="op"),
            event(5, EventType.ALERT_CLEARED, 5.0, name="a", message="", by="op"),
            event(6, EventType.ALERT_CLEARED, 6.0, name="never-open", message="", by="op"),
            event(7, EventType.ALERT_ACKNOWLEDGED, 7.0, name="never-open", note="", by="op"),
            event(8, EventType.ALERT_RAISED, 8.0, detail="an old event without name"),
        ]
    )
    assert twin is not None and twin.version == 8
    assert sorted(twin.alerts) == ["alert", "b"]
    assert twin.alerts["b"] == AlertState("b", "error", "y", 3.0, 3, 3.0, "r", 4.0, "op", "n")
    legacy = twin.alerts["alert"]
    assert (legacy.severity, legacy.message, legacy.raised_by) == ("warning", "", None)
    body = twin_to_json(twin)
    assert body["alerts"]["b"]["acknowledgedBy"] == "op"
    assert twin_from_json(body) == twin
    older = {key: value for key, value in body.items() if key != "alerts"}  # an older snapshot
    assert twin_from_json(older).alerts == {}

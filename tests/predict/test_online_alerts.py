"""The runner's alerts close: an episode that ends clears its alert (unless another episode on
the twin still holds that name), a model that works again clears ``predictorFailed``, and a
runner after a restart takes over the episodes whose alerts were left open."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from predict_models import PUMP, FailingDetector, ZScoreDetector, pumps, send
from twinkit.core import Event, EventType, Runtime
from twinkit.predict._online import PredictionRunner
from twinkit.predict._registry import PredictorRegistry
from twinkit.store import SQLiteStore

NORMAL = pd.DataFrame({"temp": [19.0, 20.0, 21.0, 20.0, 19.0, 21.0]})  # z = (t - 20) / 0.8165
ALERTS = (EventType.ALERT_RAISED, EventType.ALERT_CLEARED)


@dataclass
class Plant:
    runtime: Runtime
    registry: PredictorRegistry
    runner: PredictionRunner

    async def send(self, twin_id: str, time: float, temp: float) -> None:
        await send(self.runtime, twin_id, time, temp=temp)
        await self.runner.settle()

    async def register(self, model: Any, name: str) -> None:
        model.fit([NORMAL])
        await self.registry.register(model, name=name, model=PUMP, cause="test", activate=True)

    async def alert_events(self, twin_id: str) -> list[tuple[str, str, str]]:
        events: list[Event] = await self.runtime.events(twin_id)
        return [(e.type.value, e.data["name"], e.cause) for e in events if e.type in ALERTS]

    def open(self, twin_id: str) -> list[str]:
        return sorted(self.runtime.get(twin_id).alerts)


@asynccontextmanager
async def plant(path: Path, *, create: bool = True) -> AsyncIterator[Plant]:
    async with await SQLiteStore.open(path) as store:
        runtime = await Runtime.open(store)
        if create:
            await pumps(runtime, "pump-1", "pump-2")
        registry = PredictorRegistry(store)
        runner = PredictionRunner(runtime, registry, events=None, min_interval=0.0, clear_after=2)
        try:
            yield Plant(runtime, registry, runner)
        finally:
            await runner.stop()
            await runtime.close()


def test_an_episode_that_ends_clears_its_alert(tmp_path: Path) -> None:
    async def go() -> None:
        async with plant(tmp_path / "db") as p:
            await p.register(ZScoreDetector(k=4.0), "pump-anomaly")
            await p.runner.start()
            for t, temp in enumerate([20, 40, 41], start=1):
                await p.send("pump-1", float(t), float(temp))
            assert p.open("pump-1") == ["anomalyDetected"]
            await p.send("pump-1", 4.0, 20.0)
            assert p.open("pump-1") == ["anomalyDetected"]  # one calm row is not enough
            await p.send("pump-1", 5.0, 21.0)
            assert p.open("pump-1") == []
            await p.send("pump-1", 6.0, 45.0)
            cause = "predictor:pump-anomaly"
            assert await p.alert_events("pump-1") == [
                ("AlertRaised", "anomalyDetected", cause),
                ("AlertCleared", "anomalyDetected", cause),
                ("AlertRaised", "anomalyDetected", cause),
            ]
            (event,) = [
                e for e in await p.runtime.events("pump-1") if e.type.value == "AlertCleared"
            ]
            assert "back under threshold 4" in event.data["message"]
            assert p.open("pump-2") == []

    asyncio.run(go())


def test_an_alert_two_detectors_hold_clears_when_both_are_normal(tmp_path: Path) -> None:
    async def go() -> None:
        async with plant(tmp_path / "db") as p:
            await p.register(ZScoreDetector(k=4.0), "sensitive")
            await p.register(ZScoreDetector(k=10.0), "coarse")
            await p.runner.start()
            await p.send("pump-1", 1.0, 20.0)
            await p.send("pump-1", 2.0, 40.0)  # z 24.5: both anomalous
            for t in (3.0, 4.0, 5.0):
                await p.send("pump-1", t, 25.0)  # z 6.1: only the sensitive one
            assert p.open("pump-1") == ["anomalyDetected"]  # "coarse" ended, "sensitive" holds
            await p.send("pump-1", 6.0, 20.0)
            await p.send("pump-1", 7.0, 20.0)
            assert p.open("pump-1") == []
            kinds = [kind for kind, _, _ in await p.alert_events("pump-1")]
            assert kinds == ["AlertRaised", "AlertRaised", "AlertCleared"]

    asyncio.run(go())


def test_a_model_that_works_again_clears_predictor_failed(tmp_path: Path) -> None:
    async def go() -> None:
        async with plant(tmp_path / "db") as p:
            await p.register(FailingDetector(poison=13.0), "flaky")
            await p.runner.start()
            await p.send("pump-1", 1.0, 13.0)
            await p.send("pump-1", 2.0, 13.0)
            assert p.open("pump-1") == ["predictorFailed"]
            await p.send("pump-1", 3.0, 20.0)
            assert p.open("pump-1") == []
            events = await p.alert_events("pump-1")
            assert [kind for kind, _, _ in events] == ["AlertRaised", "AlertCleared"]

    asyncio.run(go())


def test_after_a_restart_the_runner_takes_over_open_alerts(tmp_path: Path) -> None:
    async def go() -> None:
        path = tmp_path / "db"
        async with plant(path) as p:
            await p.register(ZScoreDetector(k=4.0), "pump-anomaly")
            await p.register(FailingDetector(poison=13.0, k=1000.0), "flaky")
            await p.runner.start()
            await p.send("pump-1", 1.0, 40.0)
            await p.send("pump-2", 1.0, 13.0)
            assert p.open("pump-1") == ["anomalyDetected"]
            assert p.open("pump-2") == ["anomalyDetected", "predictorFailed"]
        async with plant(path, create=False) as p:
            await p.runner.start()
            assert p.open("pump-1") == ["anomalyDetected"]  # restored with the twin
            await p.send("pump-1", 2.0, 41.0)  # still anomalous: not raised a second time
            await p.send("pump-2", 2.0, 20.0)  # flaky works again: cleared at once
            assert p.open("pump-2") == ["anomalyDetected"]
            assert [k for k, _, _ in await p.alert_events("pump-1")] == ["AlertRaised"]
            for t in (3.0, 4.0):
                await p.send("pump-1", t, 20.0)
                await p.send("pump-2", t, 20.0)
            assert p.open("pump-1") == [] and p.open("pump-2") == []
            assert [k for k, _, _ in await p.alert_events("pump-1")] == [
                "AlertRaised",
                "AlertCleared",
            ]

    asyncio.run(go())

"""Online inference on a real runtime and store: derived values, episodes and alerts,
failures, batching, resampled rows, and a hot swap while ingest goes on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from predict_models import (
    BIG_PUMP,
    PUMP,
    EchoPredictor,
    FailingDetector,
    SlowToLoad,
    TrendPredictor,
    ZScoreDetector,
    pumps,
    send,
)
from twinkit.core import Derived, Event, EventType, Reading, Runtime
from twinkit.errors import ValidationError
from twinkit.predict._online import PredictionRunner
from twinkit.predict._online_results import EventRecorder, output_name
from twinkit.predict._registry import PredictorRegistry
from twinkit.predict._registry_entry import Limit, TrainedModel
from twinkit.store import SQLiteStore

NORMAL = pd.DataFrame({"temp": [19.0, 20.0, 21.0, 20.0, 19.0, 21.0]})  # mean 20, std 0.816


@dataclass
class Recorder:
    """Where the runner logs PredictionMade events in these tests (see _online.py)."""

    events: list[tuple[str, dict[str, Any], str, float | None]] = field(default_factory=list)

    async def record_event(
        self,
        twin_id: str,
        type: EventType,
        data: Mapping[str, Any],
        *,
        cause: str,
        time: float | None = None,
    ) -> Event:
        assert type is EventType.PREDICTION_MADE
        self.events.append((twin_id, dict(data), cause, time))
        return Event(
            twin_id=twin_id,
            seq=0,
            type=type,
            time=time or 0.0,
            recorded=0.0,
            cause=cause,
            data=data,
        )

    def reasons(self, twin_id: str) -> list[str]:
        return [data["reason"] for twin, data, _, _ in self.events if twin == twin_id]


@dataclass
class Served:
    store: SQLiteStore
    runtime: Runtime
    registry: PredictorRegistry
    runner: PredictionRunner
    events: Recorder

    async def register(self, trained: TrainedModel, name: str, **options: Any) -> None:
        options.setdefault("activate", True)
        await self.registry.register(trained, name=name, model=PUMP, cause="test", **options)

    async def alerts(self, twin_id: str) -> list[dict[str, Any]]:
        events = await self.runtime.events(twin_id)
        return [dict(e.data) for e in events if e.type is EventType.ALERT_RAISED]

    async def series(self, twin_id: str, name: str) -> list[tuple[float, float]]:
        points = await self.store.points(twin_id, name, 0, 1e12)
        return [(p.time, p.value) for p in points]

    async def send(self, twin_id: str, time: float, **values: Any) -> None:
        await send(self.runtime, twin_id, time, **values)
        await self.runner.settle()


def fitted(model: Any, frame: pd.DataFrame = NORMAL) -> Any:
    model.fit([frame])
    return model


@contextlib.asynccontextmanager
async def served(tmp_path: Path, **options: Any) -> AsyncIterator[Served]:
    """Store, runtime, three pumps and a runner (started after the body registers models:
    ``await s.runner.start()``), inferring on every row unless ``min_interval`` is given."""
    async with await SQLiteStore.open(tmp_path / "db") as store:
        runtime = await Runtime.open(store)
        await pumps(runtime, "pump-1", "pump-2")
        await pumps(runtime, "big-1", model=BIG_PUMP)
        registry = PredictorRegistry(store)
        recorder = Recorder()
        options.setdefault("min_interval", 0.0)  # these tests infer on every row
        runner = PredictionRunner(runtime, registry, events=recorder, **options)
        try:
            yield Served(store, runtime, registry, runner, recorder)
        finally:
            await runner.stop()
            await runtime.close()


def test_a_detector_writes_scores_and_alerts_once_per_episode(tmp_path: Path) -> None:
    async def go() -> None:
        async with served(tmp_path, clear_after=2) as s:
            await s.register(fitted(ZScoreDetector(k=4.0)), "pump-anomaly")
            await s.runner.start()
            for t, temp in enumerate([20, 21, 40, 41, 42, 20, 21, 20, 45], start=1):
                await s.send("pump-1", float(t), temp=float(temp))
            twin = s.runtime.get("pump-1")
            assert twin.derived["predicted:anomaly_score"].value == pytest.approx(25 / 0.8165, 1e-3)
            assert twin.derived["predicted:anomaly_threshold"].value == 4.0
            assert "temp" in twin.telemetry and "anomaly_score" not in twin.telemetry
            scores = await s.series("pump-1", "predicted:anomaly_score")
            assert [t for t, _ in scores] == [float(t) for t in range(1, 10)]
            alerts = await s.alerts("pump-1")
            assert [a["name"] for a in alerts] == ["anomalyDetected", "anomalyDetected"]
            assert "pump-anomaly@v1: anomaly score 24.49 above threshold 4" in alerts[0]["message"]
            assert "most from temp (+24.5)" in alerts[0]["message"]
            # started serving; anomalous at t=3; normal after 2 calm rows (t=6, 7); again at 9
            assert s.events.reasons("pump-1") == ["serving", "anomalous", "normal", "anomalous"]
            twin_id, data, cause, at = s.events.events[1]
            assert (twin_id, cause, at) == ("pump-1", "predictor:pump-anomaly", 3.0)
            assert data["predictor"] == "pump-anomaly" and data["version"] == 1
            assert data["anomalous"] and data["contributions"]["temp"] == pytest.approx(24.49, 1e-3)
            (latest,) = s.runner.latest("pump-1")
            assert latest.version == 1 and latest.alarmed == ("anomaly",)
            assert s.runner.latest("pump-2") == []  # no data, no answer
            (status,) = s.runner.status()
            assert (status.name, status.version, status.twins, status.updates) == (
                "pump-anomaly",
                1,
                1,
                9,
            )
            assert status.failures == 0 and status.latency_ms_p50 is not None
            assert 0 < status.latency_ms_p50 <= status.latency_ms_max < 100  # type: ignore[operator]

    asyncio.run(go())


def test_predictions_carry_their_interval_and_limits_alert(tmp_path: Path) -> None:
    async def go() -> None:
        override = {"echo": {"rul": Limit(below=45)}}
        async with served(tmp_path, limits=override) as s:
            frame = pd.DataFrame({"temp": np.arange(20.0)}, index=np.arange(20.0))
            await s.register(fitted(TrendPredictor(window=3, horizon=10.0), frame), "trend")
            await s.register(fitted(EchoPredictor()), "rul", limits={"rul": Limit(below=30)})
            await s.register(fitted(EchoPredictor()), "echo")
            await s.runner.start()
            for t, temp in enumerate([50.0, 52.0, 40.0, 25.0, 26.0], start=1):
                await s.send("big-1", float(t), temp=temp)  # a model extending Pump
            derived = s.runtime.get("big-1").derived
            slope, intercept = np.polyfit([-2.0, -1.0, 0.0], [40.0, 25.0, 26.0], 1)
            assert derived["predicted:temp_10"].value == pytest.approx(intercept + 10 * slope)
            lower, upper = derived["predicted:temp_10_lower"], derived["predicted:temp_10_upper"]
            assert lower.value < derived["predicted:temp_10"].value < upper.value
            assert derived["predicted:rul"].value == 26.0
            assert derived["predicted:rul_lower"].value == 25.0
            alerts = [(a["name"], a["message"]) for a in await s.alerts("big-1")]
            assert alerts == [
                ("predictionLimit", "predictor echo@v1: rul 40 below 45"),
                ("predictionLimit", "predictor rul@v1: rul 25 below 30"),
            ]
            by_name = {item.name: item for item in s.runner.latest("big-1")}
            assert sorted(by_name) == ["echo", "rul", "trend"]
            (prediction,) = by_name["trend"].predictions
            assert prediction.name == "temp@10" and prediction.level == 0.9
            body = by_name["trend"].to_json()
            assert body["predictions"][0]["horizon"] == 10.0 and body["kind"] == "predictor"

    asyncio.run(go())
    assert output_name("level@3600") == "level_3600" and output_name("1st") == "p_1st"


def test_a_failing_model_is_counted_and_alerted_and_the_runner_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def go() -> None:
        async with served(tmp_path) as s:
            await s.register(fitted(FailingDetector(poison=13.0)), "flaky")
            await s.runner.start()
            with caplog.at_level(logging.WARNING):
                for t, temp in enumerate([20.0, 13.0, 13.0, 21.0, 13.0], start=1):
                    await s.send("pump-1", float(t), temp=temp)
                await s.send("pump-2", 1.0, temp=13.0)
                await s.send("pump-2", 2.0, temp=20.0)
            alerts = await s.alerts("pump-1")
            assert [a["name"] for a in alerts] == ["predictorFailed", "predictorFailed"]
            assert (
                "detector flaky@v1 failed: ZeroDivisionError: poisoned by 13.0"
                in (alerts[0]["message"])
            )
            scores = await s.series("pump-1", "predicted:anomaly_score")
            assert [t for t, _ in scores] == [1.0, 4.0]
            (status,) = s.runner.status()
            assert (status.failures, status.updates) == (4, 3)
            assert caplog.text.count("Traceback") == 3  # once per streak and twin
            assert len(await s.alerts("pump-2")) == 1

    asyncio.run(go())


def test_one_round_scores_many_twins_in_one_batch_call(tmp_path: Path) -> None:
    async def go() -> None:
        async with served(tmp_path) as s:
            await s.register(fitted(ZScoreDetector()), "batched")
            await s.runner.start()
            ZScoreDetector.batch_sizes.clear()
            messages = [
                [Reading(t, {"temp": 20.0 + i}, 1.0)]
                for i, t in enumerate(["pump-1", "pump-2", "big-1"])
            ]
            assert await s.runtime.ingest(messages, cause="connector:test") == [None] * 3
            await s.runner.settle()
            assert ZScoreDetector.batch_sizes == [3]
            scores = {
                t: s.runtime.get(t).derived["predicted:anomaly_score"].value
                for t in ("pump-1", "pump-2", "big-1")
            }
            assert scores == pytest.approx({"pump-1": 0.0, "pump-2": 1.2247, "big-1": 2.4495}, 1e-3)

    asyncio.run(go())


def test_resampled_rows_and_derived_inputs_and_late_readings(tmp_path: Path) -> None:
    async def go() -> None:
        async with served(tmp_path) as s:
            frame = pd.DataFrame({"residual:temp": [0.0, 1.0, -1.0, 0.0]})
            residuals = fitted(ZScoreDetector(inputs=["residual:temp"], window=2), frame)
            await s.register(residuals, "residuals")
            slow = fitted(ZScoreDetector(window=2))
            await s.register(slow, "slow", resample=10.0, prefix="slow")
            await s.runner.start()
            for t in (1.0, 4.0, 12.0, 15.0, 23.0, 3.0):  # 3.0 comes late
                await s.send("pump-1", t, temp=20.0)
                derived = [Derived("pump-1", t, "residual", {"temp": t / 10})]
                await s.runtime.record_derived(derived, cause="simulator:test")
                await s.runner.settle()
            by_residual = await s.series("pump-1", "predicted:anomaly_score")
            assert [t for t, _ in by_residual] == [4.0, 12.0, 15.0, 23.0]  # full windows of 2
            assert by_residual[-1][1] == pytest.approx((2.3 - 0.0) / np.std([0, 1, -1, 0]))
            by_bucket = await s.series("pump-1", "predicted:slow_anomaly_score")
            assert [t for t, _ in by_bucket] == [10.0]  # 0 and 10 closed; 20 is still open
            status = {item.name: item for item in s.runner.status()}
            assert status["slow"].late == 1 and status["residuals"].late == 1

    asyncio.run(go())


def test_deleted_twins_deactivated_models_and_unloadable_versions(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def go() -> None:
        async with served(tmp_path) as s:
            await s.register(fitted(ZScoreDetector()), "good")
            await s.register(fitted(ZScoreDetector()), "bad")
            with closing(sqlite3.connect(tmp_path / "db")) as conn, conn:
                conn.execute("UPDATE predictor_artifacts SET data = x'00' WHERE name = 'bad'")
            with caplog.at_level(logging.ERROR):
                await s.runner.start()
            assert "cannot serve bad@v1: artifact of bad@v1 is corrupt" in caplog.text
            bad = [item for item in s.runner.status() if item.name == "bad"]
            assert bad[0].error is not None and "corrupt" in bad[0].error
            await s.send("pump-1", 1.0, temp=20.0)
            await s.send("pump-2", 1.0, temp=20.0)
            await s.runtime.delete_twin("pump-2", cause="test")
            assert [i.twins for i in s.runner.status() if i.name == "good"] == [1]
            await s.registry.deactivate("good")
            await s.runner.settle()
            await s.send("pump-1", 2.0, temp=20.0)
            assert [t for t, _ in await s.series("pump-1", "predicted:anomaly_score")] == [1.0]
            assert [item.name for item in s.runner.status()] == ["bad"]

    asyncio.run(go())


def test_two_detectors_writing_the_same_series_are_warned_of(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def go() -> None:
        async with served(tmp_path) as s:
            await s.register(fitted(ZScoreDetector()), "first")
            await s.register(fitted(ZScoreDetector()), "second")
            await s.register(fitted(ZScoreDetector()), "third", prefix="third")
            with caplog.at_level(logging.WARNING):
                await s.runner.start()
            assert caplog.text.count("both write") == 1
            assert "first@v1 and second@v1 both write predicted:anomaly_score" in caplog.text
            await s.send("pump-1", 1.0, temp=21.0)
            derived = s.runtime.get("pump-1").derived
            assert {"predicted:anomaly_score", "predicted:third_anomaly_score"} <= set(derived)

    asyncio.run(go())


def test_a_hot_swap_keeps_ingest_going_and_later_predictions_carry_the_new_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def go() -> None:
        async with served(tmp_path) as s:
            await s.register(fitted(SlowToLoad(k=4.0)), "swap")
            monkeypatch.setattr(SlowToLoad, "load_seconds", 0.0)
            await s.runner.start()
            sent: list[float] = []
            swapped = 0.0

            async def ingest() -> None:
                step = 0
                while not swapped or len([t for t in sent if t > swapped]) < 12:
                    twin = ("pump-1", "pump-2", "big-1")[step % 3]
                    await send(s.runtime, twin, float(step), temp=20.0)
                    sent.append(time.monotonic())
                    step += 1
                    await asyncio.sleep(0.002)

            task = asyncio.create_task(ingest())
            while len(sent) < 12:
                await asyncio.sleep(0.01)
            monkeypatch.setattr(SlowToLoad, "load_seconds", 0.4)
            await s.register(fitted(SlowToLoad(k=100.0)), "swap", activate=False)
            began = time.monotonic()
            await s.registry.activate("swap", 2)
            while s.runner.served()[0].version != 2:
                await asyncio.sleep(0.005)
            swapped = time.monotonic()
            await task
            await s.runner.settle()
            during = [t for t in sent if began < t < swapped]
            assert swapped - began >= 0.4 and len(during) >= 10  # ingest never waited
            for twin in ("pump-1", "pump-2", "big-1"):
                (latest,) = s.runner.latest(twin)
                assert latest.version == 2 and latest.score is not None
                assert latest.score.threshold == 100.0
                thresholds = await s.series(twin, "predicted:anomaly_threshold")
                values = [v for _, v in thresholds]
                first_new = values.index(100.0)
                assert set(values[:first_new]) == {4.0} and set(values[first_new:]) == {100.0}
                assert s.events.reasons(twin) == ["serving", "serving"]
            (status,) = s.runner.status()
            assert status.version == 2 and status.failures == 0

    asyncio.run(go())


def test_prediction_made_events_go_to_the_runtime_when_it_can_log_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def go() -> None:
        async with await SQLiteStore.open(tmp_path / "db") as store:
            runtime = await Runtime.open(store)
            await pumps(runtime, "pump-1")
            registry = PredictorRegistry(store)
            await registry.register(
                fitted(ZScoreDetector()), name="d", model=PUMP, cause="t", activate=True
            )
            runner = PredictionRunner(runtime, registry)
            with caplog.at_level(logging.INFO):
                await runner.start()
            await send(runtime, "pump-1", 1.0, temp=20.0)
            await runner.settle()
            await runner.stop()
            logged = [
                e for e in await runtime.events("pump-1") if e.type is EventType.PREDICTION_MADE
            ]
            if isinstance(runtime, EventRecorder):
                assert [e.data["reason"] for e in logged] == ["serving"]
            else:
                assert logged == []
                assert "PredictionMade events are not logged" in caplog.text
            await runtime.close()

    asyncio.run(go())


def test_paced_inference_coalesces_rows_and_scores_the_newest_in_the_end(tmp_path: Path) -> None:
    async def go() -> None:
        async with served(tmp_path, min_interval=0.3) as s:
            await s.register(fitted(ZScoreDetector(k=4.0)), "pump-anomaly")
            await s.runner.start()
            for t in range(1, 41):  # 40 rows within far less than 0.3 s
                await send(s.runtime, "pump-1", float(t), temp=20.0 + (t == 40) * 30)
            await s.runner.settle()  # waits for the deferred, trailing inference too
            scores = await s.series("pump-1", "predicted:anomaly_score")
            assert 2 <= len(scores) < 10  # not one per row
            assert scores[-1][0] == 40.0 and scores[-1][1] > 4.0  # the newest row, anomalous
            (status,) = s.runner.status()
            assert status.updates == len(scores) and status.throttled >= 1
            assert status.coalesced + status.updates >= 40 - 1 and status.dropped == 0
            assert status.min_interval == 0.3
            assert status.to_json()["minInterval"] == 0.3
            assert [a["name"] for a in await s.alerts("pump-1")] == ["anomalyDetected"]
            s.runner.pace("pump-anomaly", 0.0)  # now every row
            for t in range(41, 46):
                await s.send("pump-1", float(t), temp=20.0)
            assert len(await s.series("pump-1", "predicted:anomaly_score")) == len(scores) + 5
            with pytest.raises(ValidationError, match="minimum interval"):
                s.runner.pace("pump-anomaly", -1.0)

    asyncio.run(go())


def test_a_scoped_name_serves_only_its_twins_and_a_full_queue_counts_drops(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        scopes = {"only-1": ["pump-1"], "only-2": ["pump-2"]}
        async with served(tmp_path, scopes=scopes, max_pending=1) as s:
            await s.register(fitted(ZScoreDetector(k=4.0)), "only-1")
            await s.register(fitted(ZScoreDetector(k=4.0)), "only-2")
            await s.runner.start()
            both = [
                [Reading("pump-1", {"temp": 20.0}, 1.0)],
                [Reading("pump-2", {"temp": 20.0}, 1.0)],
            ]
            await s.runtime.ingest(both, cause="connector:test")  # pump-2 pushes pump-1 out
            await s.runner.settle()
            by_name = {status.name: status for status in s.runner.status()}
            assert by_name["only-1"].dropped == 1 and by_name["only-2"].updates == 1
            await s.send("pump-1", 2.0, temp=20.0)
            assert [p.name for p in s.runner.latest("pump-1")] == ["only-1"]
            assert [p.name for p in s.runner.latest("pump-2")] == ["only-2"]
            s.runner.restrict("only-2", None)  # every pump from now on
            await s.send("pump-1", 3.0, temp=20.0)
            assert [p.name for p in s.runner.latest("pump-1")] == ["only-1", "only-2"]
            s.runner.restrict("only-1", [])
            assert [p.name for p in s.runner.latest("pump-1")] == ["only-2"]

    asyncio.run(go())

"""Training from the store: the rows of each twin's history, errors for missing history, and
train() fitting, measuring and registering."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predict_models import (
    BIG_PUMP,
    PUMP,
    FailingDetector,
    TrendPredictor,
    ZScoreDetector,
    pumps,
    send,
)
from twinkit.core import Derived, Runtime
from twinkit.errors import NotFoundError, ValidationError
from twinkit.predict._online_buffer import RowBuffer
from twinkit.predict._protocol import Progress
from twinkit.predict._registry import PredictorRegistry
from twinkit.predict._training import train, training_set, windows_of
from twinkit.store import SQLiteStore

Work = Callable[[SQLiteStore, Runtime], Awaitable[None]]


def with_twins(tmp_path: Path, work: Work) -> None:
    async def go() -> None:
        async with await SQLiteStore.open(tmp_path / "db") as store:
            runtime = await Runtime.open(store, clock=lambda: 5000.0)
            await pumps(runtime, "pump-1", "pump-2")
            await pumps(runtime, "big-1", model=BIG_PUMP)
            await work(store, runtime)
            await runtime.close()

    asyncio.run(go())


def test_rows_hold_the_newest_value_of_every_input_at_each_time(tmp_path: Path) -> None:
    async def work(store: SQLiteStore, runtime: Runtime) -> None:
        await send(runtime, "pump-1", 1.0, temp=10.0)
        await send(runtime, "pump-1", 2.0, flow=1.0, running=True)
        await send(runtime, "pump-1", 3.0, temp=11.0, flow=2.0)
        await send(runtime, "pump-1", 3.5, speed=1450.0)  # a property, not an input here
        await send(runtime, "pump-1", 4.0, temp=12.0, running=False)
        await send(runtime, "pump-1", 9.0, temp=99.0)  # at the end: outside [0, 9)
        await send(runtime, "big-1", 2.0, temp=30.0, flow=3.0, running=True)
        frames = await training_set(
            store, runtime, model=PUMP, inputs=["temp", "flow", "running"], start=0, end=9
        )
        assert [f.attrs["twin_id"] for f in frames] == ["big-1", "pump-1"]  # pump-2: no data
        big, pump = frames
        assert big.index.tolist() == [2.0] and big.to_numpy().tolist() == [[30.0, 3.0, 1.0]]
        assert pump.index.name == "time" and list(pump.columns) == ["temp", "flow", "running"]
        assert pump.index.tolist() == [2.0, 3.0, 4.0]  # 1.0 has no flow yet
        assert pump.to_numpy().tolist() == [[10.0, 1.0, 1.0], [11.0, 2.0, 1.0], [12.0, 2.0, 0.0]]
        speeds = await training_set(
            store, runtime, model=PUMP, inputs=["speed"], start=0, end=9, twins=["pump-1"]
        )
        assert speeds[0]["speed"].tolist() == [1450.0]

    with_twins(tmp_path, work)


def _readings(seed: int) -> list[tuple[float, dict[str, float]]]:
    """Messages of a pump at irregular times, each with some of temp and flow."""
    rng = np.random.default_rng(seed)
    times = np.cumsum(rng.uniform(0.1, 3.0, 120)) + 100.0
    messages = []
    for time in times:
        names = [name for name in ("temp", "flow") if rng.random() < 0.6] or ["temp"]
        messages.append((float(time), {name: float(rng.normal()) for name in names}))
    return messages


@pytest.mark.parametrize("resample", [None, 5.0])
def test_history_rows_are_the_rows_a_live_model_sees(
    tmp_path: Path, resample: float | None
) -> None:
    messages = _readings(7)

    async def work(store: SQLiteStore, runtime: Runtime) -> None:
        for time, readings in messages:
            await send(runtime, "pump-1", time, **readings)
        (frame,) = await training_set(
            store,
            runtime,
            model=PUMP,
            inputs=["flow", "temp"],
            start=0,
            end=10_000,
            resample=resample,
        )
        buffer = RowBuffer(("flow", "temp"), 1000, resample)
        for time, readings in messages:
            buffer.add(time, readings)
        times, values = buffer.window()
        if resample is not None:  # live, the last bucket closes when later data comes
            assert frame.index[-1] > times[-1]
            frame = frame.iloc[:-1]
            assert np.all(np.mod(times, resample) == 0)
        assert len(frame) > 30
        np.testing.assert_array_equal(np.asarray(frame.index), times)
        np.testing.assert_array_equal(frame.to_numpy(), values)

    with_twins(tmp_path, work)


def test_derived_series_are_inputs_too(tmp_path: Path) -> None:
    async def work(store: SQLiteStore, runtime: Runtime) -> None:
        await send(runtime, "pump-1", 1.0, temp=10.0)
        items = [Derived("pump-1", 1.5, "residual", {"temp": 0.25})]
        await runtime.record_derived(items, cause="simulator:test")
        (frame,) = await training_set(
            store, runtime, model=PUMP, inputs=["temp", "residual:temp"], start=0, end=9
        )
        assert frame.to_numpy().tolist() == [[10.0, 0.25]]

    with_twins(tmp_path, work)


def test_no_history_in_range_says_what_each_twin_lacks(tmp_path: Path) -> None:
    async def work(store: SQLiteStore, runtime: Runtime) -> None:
        spec = {"model": PUMP, "start": 0, "end": 9}
        with pytest.raises(NotFoundError, match=r"no history of \['temp'\] to train from"):
            await training_set(store, runtime, inputs=["temp"], **spec)  # type: ignore[arg-type]
        await send(runtime, "pump-1", 2.0, temp=1.0)
        await send(runtime, "pump-2", 3.0, flow=1.0)
        await send(runtime, "pump-2", 30.0, temp=1.0)  # outside the range
        with pytest.raises(NotFoundError) as caught:
            await training_set(
                store,
                runtime,
                inputs=["temp", "flow"],
                twins=["pump-1", "pump-2"],
                **spec,  # type: ignore[arg-type]
            )
        message = str(caught.value)
        assert "pump-1: no points of 'flow'" in message and "pump-2: no points of 'temp'" in message
        assert "between 1970-01-01T00:00:00Z and 1970-01-01T00:00:09Z" in message
        await send(runtime, "pump-1", 4.0, flow=1.0)
        await send(runtime, "pump-1", 1.0, flow=7.0)  # late, but history: an earlier row
        (frame,) = await training_set(
            store,
            runtime,
            inputs=["temp", "flow"],
            twins=["pump-1"],
            **spec,  # type: ignore[arg-type]
        )
        assert frame.index.tolist() == [2.0, 4.0]
        assert frame.to_numpy().tolist() == [[1.0, 7.0], [1.0, 1.0]]

    with_twins(tmp_path, work)


def test_inputs_twins_and_ranges_are_checked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def work(store: SQLiteStore, runtime: Runtime) -> None:
        async def frames(**options: object) -> Sequence[pd.DataFrame]:
            spec: dict[str, object] = {"model": PUMP, "inputs": ["temp"], "start": 0, "end": 9}
            return await training_set(store, runtime, **{**spec, **options})  # type: ignore[arg-type]

        await send(runtime, "pump-1", 2.0, temp=1.0)
        with pytest.raises(ValidationError) as caught:
            await frames(inputs=["temp", "label", "nothing", "stop"])
        error = caught.value
        assert error.model == PUMP and error.path == "inputs"
        for part in ("'label' has schema string", "'nothing' is no content", "'stop' is a Command"):
            assert part in str(error)
        assert "flow, running, speed, temp" in str(error.expected)
        with pytest.raises(NotFoundError, match="model dtmi:test:none;1 not found"):
            await frames(model="dtmi:test:none;1")
        with pytest.raises(ValidationError, match="no inputs"):
            await frames(inputs=[])
        with pytest.raises(NotFoundError, match="no twins of model dtmi:test:predict:BigPump;1"):
            await runtime.delete_twin("big-1", cause="test")
            await frames(model=BIG_PUMP)
        with pytest.raises(NotFoundError, match="twin 'nope' not found"):
            await frames(twins=["nope"])
        await pumps(runtime, "big-2", model=BIG_PUMP)
        with pytest.raises(ValidationError, match="not a twin of the model trained"):
            await frames(model=BIG_PUMP, inputs=["temp"], twins=["pump-1"])
        with pytest.raises(ValidationError, match="training range is empty"):
            await frames(start=9, end=9)
        with pytest.raises(ValidationError, match="bad start time"):
            await frames(start="yesterday")
        with pytest.raises(ValidationError, match="bad resample width"):
            await frames(resample=0)
        with caplog.at_level(logging.WARNING):
            found = await frames(start="1970-01-01T00:00:00", twins=["pump-1", "pump-2"])
        assert [f.attrs["twin_id"] for f in found] == ["pump-1"]
        assert "twin pump-2 left out (no points of 'temp'" in caplog.text

    with_twins(tmp_path, work)


def test_train_fits_measures_and_registers_a_new_version(tmp_path: Path) -> None:
    async def work(store: SQLiteStore, runtime: Runtime) -> None:
        rng = np.random.default_rng(3)
        for time in range(1, 41):
            for twin in ("pump-1", "pump-2"):
                await send(runtime, twin, float(time), temp=20 + rng.normal())
        registry = PredictorRegistry(store)
        seen: list[float] = []
        entry = await train(
            ZScoreDetector(k=3.0),
            store=store,
            runtime=runtime,
            registry=registry,
            name="pump-anomaly",
            model=PUMP,
            start=0,
            end=100,
            cause="token:t1",
            progress=seen.append,
        )
        assert entry.version == 1 and not entry.active and entry.cause == "token:t1"
        assert entry.twins == ("pump-1", "pump-2") and (entry.start, entry.end) == (0.0, 100.0)
        metrics = entry.metrics
        assert metrics["rows"] == metrics["training_rows"] == 80.0  # the model's own, and ours
        assert metrics["training_units"] == 2.0 and metrics["std_temp"] > 0.5
        assert 0 < metrics["latency_ms_p50"] <= metrics["latency_ms_max"] < 50
        assert metrics["alarm_rate_train"] < 0.05 and metrics["fit_seconds"] >= 0
        assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 4
        again = await train(
            TrendPredictor(window=4, horizon=2.0),
            store=store,
            runtime=runtime,
            registry=registry,
            name="temp-ahead",
            model=PUMP,
            start=0,
            end=100,
            resample=None,
            activate=True,
        )
        assert (
            again.active and again.kind == "predictor" and "alarm_rate_train" not in again.metrics
        )
        assert again.metrics["mae"] > 0
        assert [e.name for e in await registry.active()] == ["temp-ahead"]

    with_twins(tmp_path, work)


class _Broken(ZScoreDetector):
    def fit(
        self, history: Sequence[pd.DataFrame], *, progress: Progress | None = None
    ) -> Mapping[str, float]:
        raise RuntimeError("out of cheese")


def test_a_model_that_cannot_fit_or_score_its_history_is_not_registered(tmp_path: Path) -> None:
    async def work(store: SQLiteStore, runtime: Runtime) -> None:
        for time, temp in enumerate([20.0, 13.0, 21.0], start=1):
            await send(runtime, "pump-1", float(time), temp=temp)
        registry = PredictorRegistry(store)
        spec = {"store": store, "runtime": runtime, "registry": registry, "model": PUMP}
        with pytest.raises(ValidationError, match="fitting failed: RuntimeError: out of cheese"):
            await train(_Broken(), name="a", start=0, end=9, **spec)  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="history too short"):
            await train(TrendPredictor(window=2, horizon=99.0), name="b", start=0, end=9, **spec)  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="fails on its own training window") as caught:
            await train(FailingDetector(poison=13.0), name="c", start=0, end=9, **spec)  # type: ignore[arg-type]
        assert caught.value.path == "window of pump-1 ending at 1970-01-01T00:00:02Z"
        assert await registry.entries() == []

    with_twins(tmp_path, work)


def test_windows_of_frames_from_files() -> None:
    frame = pd.DataFrame({"temp": [1.0, 2.0, 3.0, 4.0], "x": 0.0}, index=[10.0, 11.0, 12.0, 13.0])
    frame.attrs["twin_id"] = "engine-7"
    every = windows_of([frame, frame.iloc[:1]], ["temp"], 2)
    assert [w.values[:, 0].tolist() for w in every] == [[1.0, 2.0], [2.0, 3.0], [3.0, 4.0]]
    assert every[0].twin_id == "engine-7" and every[0].times.tolist() == [10.0, 11.0]
    assert len(windows_of([frame], ["temp"], 1, limit=2)) == 2
    with pytest.raises(ValidationError, match="lacks inputs") as caught:
        windows_of([frame], ["flow"], 1)
    assert caught.value.path == "frame 0 (engine-7)"

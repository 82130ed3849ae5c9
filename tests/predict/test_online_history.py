"""Live models start from the twin's history: the newest points of a series before a time, the
rows they make (the same as training's), buffers filled from them, and a runner that answers
from the first live row after a restart."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import numpy as np
import pytest

from predict_models import PUMP, EchoPredictor, WindowDigest, pumps, send
from twinkit.core import Runtime
from twinkit.errors import StoreError, ValidationError
from twinkit.predict._online import PredictionRunner
from twinkit.predict._online_buffer import RowBuffer
from twinkit.predict._online_history import history_rows
from twinkit.predict._registry import PredictorRegistry
from twinkit.predict._training import rows
from twinkit.query import series_range, series_tail
from twinkit.store import SQLiteStore

T0 = 1_700_000_000.0


async def _history(runtime: Runtime, until: int = 100) -> None:
    """pump-1: temp every second, flow every third second, from T0 + 1 to T0 + until."""
    for second in range(1, until + 1):
        values = {"temp": 20.0 + second % 7}
        if second % 3 == 0:
            values["flow"] = 10.0 + second
        await send(runtime, "pump-1", T0 + second, **values)


async def _full_rows(store: SQLiteStore, resample: float | None) -> tuple[np.ndarray, np.ndarray]:
    series = {}
    for name in ("temp", "flow"):
        page = await series_range(store, "pump-1", name, 0, 2e9, limit=10_000)
        series[name] = (page.times, page.values.astype(np.float64))
    frame = rows("pump-1", ("temp", "flow"), series, resample)
    return frame.index.to_numpy(), frame.to_numpy()


def test_series_tail_reads_the_newest_points_before_a_time(tmp_path: Path) -> None:
    async def main() -> None:
        async with await SQLiteStore.open(tmp_path / "db") as store:
            runtime = await Runtime.open(store)
            await pumps(runtime, "pump-1")
            await _history(runtime, 10)
            page = await series_tail(store, "pump-1", "temp", T0 + 8, count=3)
            assert list(page.times) == [T0 + 5, T0 + 6, T0 + 7]
            assert list(page.values) == [25.0, 26.0, 20.0] and page.next_after is None
            every = await series_tail(store, "pump-1", "flow", math.inf, count=100)
            assert list(every.times) == [T0 + 3, T0 + 6, T0 + 9]
            none = await series_tail(store, "pump-1", "power", T0 + 8, count=3)
            assert len(none.times) == 0
            with pytest.raises(ValidationError, match="bad point count"):
                await series_tail(store, "pump-1", "temp", T0, count=0)
            await runtime.close()

    asyncio.run(main())


def test_history_rows_are_the_newest_of_the_rows_training_makes(tmp_path: Path) -> None:
    async def main() -> None:
        async with await SQLiteStore.open(tmp_path / "db") as store:
            runtime = await Runtime.open(store)
            await pumps(runtime, "pump-1")
            await _history(runtime)
            times, values = await _full_rows(store, None)
            got_t, got_v = await history_rows(
                store, "pump-1", columns=("temp", "flow"), resample=None, before=T0 + 90, count=20
            )
            keep = times < T0 + 90
            np.testing.assert_array_equal(got_t, times[keep][-20:])
            np.testing.assert_array_equal(got_v, values[keep][-20:])

            times, values = await _full_rows(store, 5.0)
            got_t, got_v = await history_rows(
                store, "pump-1", columns=("temp", "flow"), resample=5.0, before=T0 + 92.5, count=6
            )
            keep = times < T0 + 90  # whole buckets before the one of T0 + 92.5
            np.testing.assert_array_equal(got_t, times[keep][-6:])
            np.testing.assert_array_equal(got_v, values[keep][-6:])

            none_t, none_v = await history_rows(
                store, "pump-1", columns=("temp", "flow"), resample=None, before=T0 + 2, count=5
            )
            assert len(none_t) == 0 and none_v.shape == (0, 2)  # no flow before T0 + 3
            await runtime.close()

    asyncio.run(main())


def test_a_buffer_takes_older_rows_before_its_own_and_keeps_the_newest() -> None:
    buffer = RowBuffer(("a", "b"), 4)
    buffer.seed({"b": 2.0})
    assert buffer.add(10.0, {"a": 1.0}) and len(buffer) == 1
    taken = buffer.backfill(
        np.array([6.0, 7.0, 8.0, 10.0]), np.array([[0.6, 0.1], [0.7, 0.1], [0.8, 0.1], [9, 9]])
    )
    assert taken == 3  # the row at 10.0 is held already
    times, values = buffer.window()
    assert list(times) == [6.0, 7.0, 8.0, 10.0] and buffer.full
    assert values[0].tolist() == [0.6, 0.1] and values[-1].tolist() == [1.0, 2.0]
    assert buffer.backfill(np.array([1.0, 2.0]), np.array([[0.1, 0.1], [0.2, 0.1]])) == 0
    empty = RowBuffer(("a", "b"), 3)
    assert empty.backfill(np.array([1.0, 2.0]), np.array([[1.0, 5.0], [2.0, 6.0]])) == 2
    assert empty.add(3.0, {"a": 3.0})  # "b" came from history: a row at once
    times, values = empty.window()
    assert list(times) == [1.0, 2.0, 3.0] and values[-1].tolist() == [3.0, 6.0] and empty.full


def test_after_a_restart_a_model_answers_from_the_first_live_row(tmp_path: Path) -> None:
    async def served(history: bool) -> dict[str, float]:
        async with await SQLiteStore.open(tmp_path / f"db-{history}") as store:
            runtime = await Runtime.open(store)
            await pumps(runtime, "pump-1")
            await _history(runtime)
            registry = PredictorRegistry(store)
            await registry.register(
                WindowDigest(20), name="digest", model=PUMP, cause="test", activate=True
            )
            runner = PredictionRunner(
                runtime, registry, min_interval=0.0, history=store if history else None
            )
            await runner.start()
            try:
                await send(runtime, "pump-1", T0 + 101, temp=30.0)
                await runner.settle()
                twin = runtime.get("pump-1")
                return {
                    name.removeprefix("predicted:"): value.value
                    for name, value in twin.derived.items()
                }
            finally:
                await runner.stop()
                await runtime.close()

    assert asyncio.run(served(False)) == {}  # one row: no answer without history
    answer = asyncio.run(served(True))
    assert answer["rows"] == 20 and answer["first"] == T0 + 82  # rows 82 .. 101
    expected_temp = sum(20.0 + s % 7 for s in range(82, 101)) + 30.0
    assert answer["sum_temp"] == pytest.approx(expected_temp)
    flows = [10.0 + (s - s % 3) for s in range(82, 102)]  # flow carried from its last report
    assert answer["sum_flow"] == pytest.approx(sum(flows))


def test_a_version_with_other_inputs_starts_from_history_without_a_new_row(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with await SQLiteStore.open(tmp_path / "db") as store:
            runtime = await Runtime.open(store)
            await pumps(runtime, "pump-1")
            registry = PredictorRegistry(store)
            await registry.register(
                WindowDigest(5, ("temp",)), name="digest", model=PUMP, cause="test", activate=True
            )
            runner = PredictionRunner(runtime, registry, min_interval=0.0, history=store)
            await runner.start()
            try:
                await _history(runtime, 30)
                await runner.settle()
                twin = runtime.get("pump-1")
                assert twin.derived["predicted:rows"].value == 5
                assert "predicted:sum_flow" not in twin.derived
                await registry.register(
                    WindowDigest(8), name="digest", model=PUMP, cause="test", activate=True
                )
                await runner.settle()  # no new row: the new inputs' rows come from history
                (latest,) = runner.latest("pump-1")
                assert latest.version == 2 and latest.values["rows"] == 8
                assert latest.values["first"] == T0 + 23  # rows 23 .. 30
                flows = [10.0 + (s - s % 3) for s in range(23, 31)]
                assert latest.values["sum_flow"] == pytest.approx(sum(flows))
            finally:
                await runner.stop()
                await runtime.close()

    asyncio.run(main())


def test_resampled_rows_from_all_history_stop_before_the_open_bucket(tmp_path: Path) -> None:
    async def main() -> None:
        async with await SQLiteStore.open(tmp_path / "db") as store:
            runtime = await Runtime.open(store)
            await pumps(runtime, "pump-1")
            await _history(runtime, 42)
            times, values = await _full_rows(store, 5.0)
            got_t, got_v = await history_rows(
                store, "pump-1", columns=("temp", "flow"), resample=5.0, before=math.inf, count=4
            )
            keep = times < T0 + 40  # the bucket of the newest point (T0 + 42) is still open
            np.testing.assert_array_equal(got_t, times[keep][-4:])
            np.testing.assert_array_equal(got_v, values[keep][-4:])
            await runtime.close()

    asyncio.run(main())


def test_a_new_versions_answer_for_the_same_row_replaces_the_old_ones(tmp_path: Path) -> None:
    """Activating a version answers at once on the newest row; that answer, for a time the
    old version answered for already, is what the twin and its series keep."""

    async def main() -> None:
        async with await SQLiteStore.open(tmp_path / "db") as store:
            runtime = await Runtime.open(store)
            await pumps(runtime, "pump-1")
            registry = PredictorRegistry(store)
            echo = EchoPredictor(spread=1.0)
            echo.fitted = True
            await registry.register(echo, name="echo", model=PUMP, cause="test", activate=True)
            runner = PredictionRunner(runtime, registry, min_interval=0.0, history=store)
            await runner.start()
            try:
                await send(runtime, "pump-1", T0 + 1, temp=50.0)
                await runner.settle()
                assert runtime.get("pump-1").derived["predicted:rul_upper"].value == 51.0
                wider = EchoPredictor(spread=2.0)
                wider.fitted = True
                await registry.register(wider, name="echo", model=PUMP, cause="test", activate=True)
                await runner.settle()
                upper = runtime.get("pump-1").derived["predicted:rul_upper"]
                assert (upper.value, upper.time) == (52.0, T0 + 1)
                page = await series_range(store, "pump-1", "predicted:rul_upper", 0, 2e9)
                assert list(page.times) == [T0 + 1] and list(page.values) == [52.0]
            finally:
                await runner.stop()
                await runtime.close()

    asyncio.run(main())


class _BrokenHistory:
    """A store whose newest-points read fails (everything else is the real store's)."""

    def __init__(self, store: SQLiteStore, error: Exception) -> None:
        self._store, self._error = store, error

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def series_tail(self, *args: object, **kwargs: object) -> object:
        raise self._error


@pytest.mark.parametrize(
    "error", [StoreError("reading the newest points failed"), RuntimeError("a bug")]
)
def test_a_failing_history_read_leaves_the_model_serving_from_live_rows(
    tmp_path: Path, error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> dict[str, float]:
        async with await SQLiteStore.open(tmp_path / "db") as store:
            runtime = await Runtime.open(store)
            await pumps(runtime, "pump-1")
            await _history(runtime, 30)
            registry = PredictorRegistry(store)
            await registry.register(
                WindowDigest(3), name="digest", model=PUMP, cause="test", activate=True
            )
            broken = _BrokenHistory(store, error)
            runner = PredictionRunner(runtime, registry, min_interval=0.0, history=broken)  # type: ignore[arg-type]
            await runner.start()
            try:
                await send(runtime, "pump-1", T0 + 31, temp=1.0)
                await runner.settle()
                assert runner.latest("pump-1") == []  # one live row: no answer yet
                for second in (32, 33):
                    await send(runtime, "pump-1", T0 + second, temp=1.0)
                await runner.settle()
                (latest,) = runner.latest("pump-1")
                return dict(latest.values)
            finally:
                await runner.stop()
                await runtime.close()

    values = asyncio.run(main())
    assert values["rows"] == 3 and values["first"] == T0 + 31
    assert "starts without history" in caplog.text

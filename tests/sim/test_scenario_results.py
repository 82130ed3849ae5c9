"""A scenario's series, raw and bucketed, compared with reality and plotted."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from scenario_plant import bindings, build_plant, tank_level
from twinkit.core import Runtime
from twinkit.errors import NotFoundError, ValidationError
from twinkit.sim._scenario import Scenarios
from twinkit.sim._scenario_results import compare_scenario, plot_scenario, scenario_series
from twinkit.store import ScenarioStatus, SQLiteStore


@contextlib.asynccontextmanager
async def past_run(tmp_path: Path) -> AsyncIterator[tuple[SQLiteStore, Scenarios, float]]:
    """A scenario forked at t0 + 50 for 100 s in steps of 10 (reality: level 2 m measured at
    t0, 5 m at t0 + 100)."""
    t0 = time.time() - 1000
    store = await SQLiteStore.open(tmp_path / "twin.db")
    runtime = await Runtime.open(store, clock=lambda: t0 - 10)
    scenarios = Scenarios(store, runtime, bindings=lambda: found[0])
    try:
        await build_plant(runtime, t0)
        found = [bindings(runtime)]
        spec = {"name": "past", "roots": ["tank-1"], "horizon": 100, "dt": 10, "at": t0 + 50}
        record = await scenarios.run(spec, cause="test")
        assert record.status is ScenarioStatus.DONE
        yield store, scenarios, t0
    finally:
        await scenarios.close()
        await runtime.close()
        await store.close()


def simulated(offsets: Any) -> Any:
    return np.array([tank_level(t, 2.0, 1.5) for t in offsets])


def seconds(index: pd.DatetimeIndex) -> Any:
    return (index - pd.Timestamp(0, tz="UTC")).total_seconds().to_numpy()


def test_raw_comparison_holds_reality_between_its_points(tmp_path: Path) -> None:
    async def go() -> None:
        async with past_run(tmp_path) as (store, _, t0):
            frame = await compare_scenario(store, "past", "tank-1", "level")
            assert list(frame.columns) == ["scenario", "reality", "difference"]
            offsets = seconds(frame.index) - (t0 + 50)
            np.testing.assert_allclose(offsets, np.arange(0, 101, 10), atol=1e-5)
            np.testing.assert_allclose(frame["scenario"], simulated(np.arange(0, 101, 10)))
            # reality: 2 m (measured at t0) until the 5 m measured at t0 + 100 (offset 50)
            expected = np.where(np.arange(0, 101, 10) < 50, 2.0, 5.0)
            np.testing.assert_allclose(frame["reality"], expected)
            np.testing.assert_allclose(frame["difference"], frame["scenario"] - expected)
            assert frame.attrs["scenario"] == "past" and frame.attrs["twin"] == "tank-1"

    asyncio.run(go())


def test_bucketed_series_and_comparison(tmp_path: Path) -> None:
    async def go() -> None:
        async with past_run(tmp_path) as (store, _, t0):
            series = await scenario_series(store, "past", "tank-1", "level", buckets=5)
            offsets = seconds(series.index) - (t0 + 50)
            np.testing.assert_allclose(offsets, [0, 20, 40, 60, 80], atol=1e-5)
            levels = simulated(np.arange(0, 101, 10))
            # buckets of 20 s: two points each, the last point (at 100 s) joins the last one
            means = [levels[0:2].mean(), levels[2:4].mean(), levels[4:6].mean()]
            means += [levels[6:8].mean(), levels[8:11].mean()]
            np.testing.assert_allclose(series.to_numpy(), means)
            frame = await compare_scenario(store, "past", "tank-1", "level", buckets=5)
            np.testing.assert_allclose(frame["scenario"], means)
            # reality: the 5 m point falls in bucket 2; the others hold the value before
            np.testing.assert_allclose(frame["reality"], [2.0, 2.0, 5.0, 5.0, 5.0])
            raw = await scenario_series(store, "past", "tank-1", "outflow")
            np.testing.assert_allclose(raw.to_numpy(), 0.5 * levels)
            assert raw.name == "outflow" and str(raw.index.tz) == "UTC"

    asyncio.run(go())


def test_reality_ahead_of_now_is_missing(tmp_path: Path) -> None:
    async def go() -> None:
        async with past_run(tmp_path) as (store, _, t0):
            frame = await compare_scenario(store, "past", "tank-1", "level", now=t0 + 75)
            assert frame["reality"].notna().tolist() == [True] * 3 + [False] * 8
            assert frame["difference"].isna().sum() == 8
            # another series of reality can be named
            other = await compare_scenario(
                store, "past", "tank-1", "outflow", reality="level", buckets=2
            )
            np.testing.assert_allclose(other["reality"], [2.0, 5.0])

    asyncio.run(go())


def test_unknown_scenario_series_or_bucket_count(tmp_path: Path) -> None:
    async def go() -> None:
        async with past_run(tmp_path) as (store, _, _t0):
            with pytest.raises(NotFoundError, match=r"no series tank-1/volume.*tank-1/level"):
                await scenario_series(store, "past", "tank-1", "volume")
            with pytest.raises(NotFoundError, match="no series spring-1/flow"):
                await compare_scenario(store, "past", "spring-1", "flow", buckets=3)
            with pytest.raises(NotFoundError, match="'nope' not found"):
                await compare_scenario(store, "nope", "tank-1", "level")
            for bad in (0, -1, 10**9, 2.5, True):
                with pytest.raises(ValidationError, match="bad bucket count"):
                    await scenario_series(store, "past", "tank-1", "level", buckets=bad)  # type: ignore[arg-type]

    asyncio.run(go())


def test_a_raw_comparison_over_too_many_real_points_asks_for_buckets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("twinkit.sim._scenario_results.MAX_RAW", 0)

    async def go() -> None:
        async with past_run(tmp_path) as (store, _, _t0):
            with pytest.raises(ValidationError, match="more than 0 points") as caught:
                await compare_scenario(store, "past", "tank-1", "level")
            assert caught.value.path == "buckets"
            assert len(await compare_scenario(store, "past", "tank-1", "level", buckets=2)) == 2

    asyncio.run(go())


def test_plot_writes_a_png_without_pyplot(tmp_path: Path) -> None:
    async def go() -> pd.DataFrame:
        async with past_run(tmp_path) as (store, _, _t0):
            return await compare_scenario(store, "past", "tank-1", "level")

    frame = asyncio.run(go())
    target = tmp_path / "plot.png"
    ax = plot_scenario(frame, path=target)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [line.get_label() for line in ax.get_lines()] == ["reality", "scenario past"]
    assert ax.get_title() == "tank-1/level: scenario against reality"
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), frame["scenario"])
    with pytest.raises(ValidationError, match="not a scenario comparison"):
        plot_scenario(pd.DataFrame({"x": [1.0]}))


def test_plot_on_given_axes(tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    index = pd.DatetimeIndex(pd.to_datetime([0, 10], unit="s", utc=True), name="time")
    frame = pd.DataFrame(
        {"scenario": [1.0, 2.0], "reality": [1.0, math.nan], "difference": [0.0, math.nan]},
        index=index,
    )
    ax = Figure().subplots()
    assert plot_scenario(frame, ax=ax, title="mine") is ax
    assert ax.get_title() == "mine" and len(ax.get_lines()) == 2

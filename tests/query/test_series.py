"""The public series queries: pages, buckets that agree with pandas, frames, gap filling, and
clear errors for bad arguments."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pytest

from twinkit.errors import ValidationError
from twinkit.query._series import (
    delete_retention,
    downsample,
    frame,
    retention_rules,
    series_range,
    set_retention,
)
from twinkit.store import Point, SQLiteStore

T = TypeVar("T")
T0 = 1_699_999_200.0  # 2023-11-14 22:00 UTC, a whole hour


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def test_pages_walk_a_range_with_the_after_cursor() -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            await store.append((), [Point("p", "x", T0 + i, float(i)) for i in range(25)])
            seen: list[float] = []
            after = None
            while True:
                page = await series_range(store, "p", "x", T0 + 2, T0 + 22, after=after, limit=7)
                seen += page.values.tolist()
                if page.next_after is None:
                    break
                after = page.next_after
            assert seen == [float(i) for i in range(2, 22)]
            assert page.values.dtype == np.float64
            await store.append(
                (), [Point("v", "mode", T0, "auto"), Point("v", "mode", T0 + 1, True)]
            )
            mixed = await series_range(store, "v", "mode", T0, T0 + 10)
            assert mixed.values.tolist() == ["auto", True] and mixed.next_after is None
            assert mixed.to_series().index[0] == pd.Timestamp("2023-11-14 22:00", tz="UTC")
            missing = await series_range(store, "nobody", "x", T0, T0 + 10)
            assert len(missing.times) == 0 and missing.next_after is None

    run(scenario())


def test_downsample_agrees_with_pandas_resample() -> None:
    rng = np.random.default_rng(7)
    times = T0 + np.sort(rng.choice(4 * 3600 * 2, size=3000, replace=False)) / 2
    values = rng.normal(10, 3, size=len(times)).round(3)

    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            await store.append(
                (),
                [Point("p", "x", float(t), float(v)) for t, v in zip(times, values, strict=True)],
            )
            raw = pd.Series(values, index=pd.to_datetime(times, unit="s", utc=True))
            start, end = T0 + 600, T0 + 4 * 3600
            window = raw[
                (raw.index >= pd.Timestamp(start, unit="s", tz="UTC"))
                & (raw.index < pd.Timestamp(end, unit="s", tz="UTC"))
            ]
            for agg, how in [
                ("avg", "mean"),
                ("min", "min"),
                ("max", "max"),
                ("first", "first"),
                ("last", "last"),
                ("sum", "sum"),
                ("count", "count"),
            ]:
                got = await downsample(store, "p", "x", start, end, width=1800, agg=agg)  # type: ignore[arg-type]
                want = getattr(window.resample("1800s", origin="epoch"), how)()
                pd.testing.assert_series_equal(
                    got,
                    want.rename("x"),
                    check_names=False,
                    check_freq=False,
                    check_index_type=False,
                    check_dtype=False,
                )

    run(scenario())


def test_gap_filling_and_frames_align_several_series() -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            # buckets 1 and 4 of 0..5 hold values; 0, 2, 3 and 5 are empty
            await store.append(
                (),
                [Point("a", "x", T0 + 60 + 1, 10.0), Point("a", "x", T0 + 240 + 1, 40.0)]
                + [Point("b", "y", T0 + 60 * i, float(i)) for i in range(6)],
            )
            args = ("a", "x", T0, T0 + 360)
            none = await downsample(store, *args, width=60)
            assert np.isnan(none.to_numpy()[[0, 2, 3, 5]]).all()
            previous = await downsample(store, *args, width=60, fill="previous")
            assert previous.tolist()[1:] == [10.0, 10.0, 10.0, 40.0, 40.0]
            assert math.isnan(previous.iloc[0])
            linear = await downsample(store, *args, width=60, fill="linear")
            assert linear.tolist()[1:5] == [10.0, 20.0, 30.0, 40.0]
            assert math.isnan(linear.iloc[0]) and math.isnan(linear.iloc[5])
            counts = await downsample(store, *args, width=60, agg="count", fill="linear")
            assert counts.tolist() == [0, 1, 0, 0, 1, 0]
            table = await frame(
                store, [("a", "x"), ("b", "y")], T0, T0 + 360, width=120, fill="previous"
            )
            assert list(table.columns) == ["a/x", "b/y"]
            assert table["b/y"].tolist() == [0.5, 2.5, 4.5]
            assert table["a/x"].tolist() == [10.0, 10.0, 40.0]
            assert table.index[0] == pd.Timestamp("2023-11-14 22:00", tz="UTC")

    run(scenario())


def test_times_widths_and_origins_in_every_accepted_form() -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            await store.append((), [Point("p", "x", T0 + i * 60, 1.0) for i in range(180)])
            by_datetime = await downsample(
                store,
                "p",
                "x",
                datetime(2023, 11, 14, 22, tzinfo=UTC),
                "2023-11-15T01:00:00",
                width=timedelta(hours=1),
                agg="count",
                origin="2023-11-14T21:30:00+00:00",
            )
            assert by_datetime.tolist() == [30, 60, 60, 30]
            assert by_datetime.index[0] == pd.Timestamp("2023-11-14 21:30", tz="UTC")

    run(scenario())


def test_bad_arguments_say_what_was_expected() -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            cases = [
                (downsample(store, "p", "x", T0, T0 + 60, width=0), "width", "seconds > 0"),
                (downsample(store, "p", "x", T0, T0 + 60, width=-5), "width", "seconds > 0"),
                (downsample(store, "p", "x", T0 + 60, T0, width=10), "start, end", "start <= end"),
                (
                    downsample(store, "p", "x", T0, T0 + 60, width=10, agg="median"),
                    "agg",
                    "avg | min",
                ),  # type: ignore[arg-type]
                (
                    downsample(store, "p", "x", T0, T0 + 60, width=10, fill="zero"),
                    "fill",
                    "none | previous | linear",
                ),  # type: ignore[arg-type]
                (downsample(store, "p", "x", "yesterday", T0, width=10), "start", "ISO 8601"),
                (downsample(store, "p", "x", math.nan, T0, width=10), "start", "finite"),
                (downsample(store, "p", "x", 0, T0, width=1), "width", "at most"),
                (series_range(store, "p", "x", T0, T0 + 60, limit=0), "limit", "from 1 to"),
                (frame(store, [], T0, T0 + 60, width=10), "frame", "at least one"),
                (set_retention(store, "pump-1", raw=10), "scope", "'default'"),
                (set_retention(store, "default", raw=timedelta(days=-1)), "raw", "positive"),
            ]
            for call, where, expected in cases:
                with pytest.raises(ValidationError) as caught:
                    await call
                assert where in (caught.value.path or "") and expected in (
                    caught.value.expected or ""
                )

    run(scenario())


def test_retention_through_the_query_api() -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            rule = await set_retention(
                store, "model:dtmi:ex:Pump;1", raw=timedelta(days=7), rollup_1m=timedelta(days=90)
            )
            assert (rule.raw, rule.rollup_1m, rule.rollup_1h) == (7 * 86400.0, 90 * 86400.0, None)
            assert await retention_rules(store) == [rule]
            await delete_retention(store, "model:dtmi:ex:Pump;1")
            assert await retention_rules(store) == []

    run(scenario())

"""What the twin page reads from a real store: chart lines over short and long ranges (raw points
or buckets), the twin as of a past time, its newest events and token names."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from ui_browser import run_async

from twinkit.api._auth import issue_token
from twinkit.core import Derived, EventType, Reading, Runtime
from twinkit.query._series import set_retention
from twinkit.store import SQLiteStore
from twinkit.ui._twin_charts import TARGET_POINTS, chart_specs
from twinkit.ui._twin_history import (
    EVENTS_SHOWN,
    load_chart,
    load_charts,
    raw_kept,
    recent_events,
    token_names,
    twin_then,
)

T = TypeVar("T")
PUMP = "dtmi:ui:HistoryPump;1"
MODELS: list[dict[str, Any]] = [
    {
        "@context": "dtmi:dtdl:context;3",
        "@id": PUMP,
        "@type": "Interface",
        "contents": [
            {"@type": "Telemetry", "name": "flow", "schema": "double"},
            {"@type": "Property", "name": "speed", "schema": "double", "writable": True},
        ],
    }
]
DEVICE = "connector:mqtt"
START = 1_699_920_000.0  # midnight UTC: six-hour buckets start at 0, 6, 12, 18 h
HOUR = 3600.0
YEAR = 365 * 86400.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def with_runtime(
    tmp_path: Path,
    body: Callable[[SQLiteStore, Runtime], Awaitable[T]],
    clock: Callable[[], float] = time.time,
) -> T:
    async def main() -> T:
        store = await SQLiteStore.open(str(tmp_path / "twins.db"))
        try:
            runtime = await Runtime.open(store, clock=clock)
            try:
                await runtime.add_models(MODELS)
                await runtime.create_twin("p1", PUMP, {"speed": 1.0}, cause="system")
                return await body(store, runtime)
            finally:
                await runtime.close()
        finally:
            await store.close()

    # a worker that ran a browser test holds Playwright's loop in this thread: run beside it
    return run_async(main())


def test_a_year_of_hourly_history_comes_back_as_a_few_thousand_points(tmp_path: Path) -> None:
    async def body(store: SQLiteStore, runtime: Runtime) -> None:
        times = START + np.arange(0, YEAR, HOUR)
        await runtime.ingest(
            [[Reading("p1", {"flow": float(i % 24)}, float(t))] for i, t in enumerate(times)],
            cause=DEVICE,
        )
        (spec,) = chart_specs(runtime.models.contents(PUMP), [])
        (found,) = await load_charts(store, "p1", [spec], START, START + YEAR)
        flow = found["flow"]
        assert flow.width == 21600.0  # six-hour buckets
        assert len(flow.times) <= TARGET_POINTS
        known = flow.values[~np.isnan(flow.values)]
        assert len(known) >= 1400
        # buckets of 6 h over a 0..23 daily cycle: the averages of 0-5, 6-11, 12-17, 18-23
        assert set(np.round(known, 6)) <= {2.5, 8.5, 14.5, 20.5}
        assert np.all(np.diff(flow.times) > 0)
        assert flow.times[0] >= START - 21600 and flow.times[-1] <= START + YEAR + 21600

        zoomed = await load_chart(store, "p1", spec, START, START + 10 * HOUR)
        raw = zoomed["flow"]
        assert raw.width is None  # ten points: raw
        assert raw.times.tolist() == (START + np.arange(10) * HOUR).tolist()
        assert raw.values.tolist() == [float(i) for i in range(10)]

        # raw points kept for a day only: older ranges are read from rollups alone
        await set_retention(store, "default", raw=86400.0)
        kept = await raw_kept(store, "p1", PUMP, START + 2 * 86400.0)
        assert kept.since("flow") == START + 86400.0
        assert (await raw_kept(store, "p1", PUMP, START + 86400.0)).since("flow") == START
        old = await load_chart(store, "p1", spec, START, START + 10 * HOUR, kept=kept)
        assert old["flow"].width == 30.0
        assert np.nansum(old["flow"].values) == sum(range(10))
        recent = await load_chart(
            store, "p1", spec, START + 3 * 86400.0, START + 3 * 86400.0 + HOUR, kept=kept
        )
        assert recent["flow"].width is None and recent["flow"].values.tolist() == [0.0]

    with_runtime(tmp_path, body)


def test_dense_short_ranges_are_bucketed_and_bands_line_up(tmp_path: Path) -> None:
    async def body(store: SQLiteStore, runtime: Runtime) -> None:
        times = START + np.arange(0, 2 * TARGET_POINTS) * 0.5  # 25 min at 2 Hz: too many raw
        await runtime.ingest(
            [[Reading("p1", {"flow": 1.0}, float(t))] for t in times], cause=DEVICE
        )
        await runtime.record_derived(
            [
                Derived(
                    "p1", float(t), "predicted", {"flow": 1.0, "flow_lower": 0.5, "flow_upper": 2}
                )
                for t in times[::100]
            ],
            cause="predictor:f",
        )
        contents = runtime.models.contents(PUMP)
        (spec,) = chart_specs(contents, runtime.get("p1").derived)
        found = await load_chart(store, "p1", spec, START, START + 1500.0)
        assert found["flow"].width == 1.0
        assert found["predicted:flow_lower"].width is None  # thirty points: raw
        assert found["predicted:flow_lower"].times.tolist() == (
            found["predicted:flow_upper"].times.tolist()
        )
        assert found["predicted:flow_upper"].values.tolist() == [2.0] * 30

    with_runtime(tmp_path, body)


def test_twin_then_recent_events_and_token_names(tmp_path: Path) -> None:
    clock = Clock(START)

    async def body(store: SQLiteStore, runtime: Runtime) -> None:
        record, _ = await issue_token(store, "operator", "alice")
        created = runtime.get("p1").created
        await runtime.ingest([[Reading("p1", {"speed": 2.0}, created + 10)]], cause=DEVICE)
        await runtime.ingest([[Reading("p1", {"speed": 3.0}, created + 20)]], cause=DEVICE)
        await runtime.ingest([[Reading("p1", {"flow": 1.0}, created + 21)]], cause=DEVICE)
        clock.now = created + 30
        await runtime.set_desired("p1", "speed", 4.0, cause=f"token:{record.id}")
        await runtime.raise_alert("p1", "hot", "too hot", cause="simulator:physics")

        then = await twin_then(store, "p1", created + 15, runtime.models)
        assert then is not None and then.reported("speed") == 2.0
        assert await twin_then(store, "p1", created - 1) is None

        now = runtime.get("p1")
        events = await recent_events(store, "p1", now.version)
        assert [e.type for e in events] == [
            EventType.TWIN_CREATED,
            EventType.PROPERTY_REPORTED,
            EventType.PROPERTY_REPORTED,
            EventType.DESIRED_PROPERTY_SET,
            EventType.ALERT_RAISED,
        ]
        past = await recent_events(store, "p1", then.version, until=created + 15)
        assert [e.seq for e in past] == [1, 2]
        assert (await token_names(store))[record.id] == "alice"

        for value in range(EVENTS_SHOWN + 5):
            await runtime.report("p1", {"speed": float(value)}, cause="system")
        many = await recent_events(store, "p1", runtime.get("p1").version)
        assert len(many) == EVENTS_SHOWN and many[-1].data["value"] == EVENTS_SHOWN + 4

    with_runtime(tmp_path, body, clock)

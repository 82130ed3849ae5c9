"""``twinkit demo turbofan`` end to end: a tiny generated fleet over a real Mosquitto, an
estimate with its interval at every cycle from the fifth, alerts, a second run reusing the
trained model."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import pytest
from turbofan_helpers import FAST, TINY

from twinkit.api import Settings
from twinkit.core import EventType, Runtime
from twinkit.examples.turbofan import (
    FLEET_TWIN,
    RUL_NAME,
    EngineResult,
    TurbofanDemoOptions,
    run_turbofan_demo,
)
from twinkit.store import SQLiteStore


def _run(options: TurbofanDemoOptions, lines: list[str], until: str) -> list[EngineResult]:
    """Run the demo until a line starting with ``until`` is said (at most 60 s)."""

    async def main() -> list[EngineResult]:
        stop = asyncio.Event()
        demo = asyncio.create_task(run_turbofan_demo(options, say=lines.append, stop=stop))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while not any(line.startswith(until) for line in lines):
            if demo.done():
                demo.result()
                raise AssertionError(f"the demo ended before {until!r}: {lines}")
            assert loop.time() < deadline, f"no {until!r} within 60 s: {lines}"
            await asyncio.sleep(0.05)
        stop.set()
        return await demo

    return asyncio.run(main())


async def _read(state: Path, twins: list[str]) -> dict[str, Any]:
    async with await SQLiteStore.open(Settings(data_dir=state).database) as store:
        runtime = await Runtime.open(store)
        found: dict[str, Any] = {}
        for twin in twins:
            series = {
                name: await store.points(twin, name, 0, math.inf)
                for name in ("cycle", "predicted:rul", "predicted:rul_lower", "predicted:rul_upper")
            }
            events = await runtime.events(twin)
            alerts = [dict(e.data) for e in events if e.type is EventType.ALERT_RAISED]
            found[twin] = {"series": series, "alerts": alerts, "twin": runtime.get(twin)}
        found["fleet"] = runtime.get(FLEET_TWIN)
        await runtime.close()
        return found


@pytest.mark.integration
@pytest.mark.usefixtures("mosquitto_binary")
def test_the_demo_estimates_every_cycle_alerts_and_reuses_its_model(tmp_path: Path) -> None:
    state = tmp_path / "state"
    options = TurbofanDemoOptions(
        Settings(data_dir=state, port=0),
        engines=2,
        speedup=12.0,
        threshold=30.0,
        fleet=TINY,
        rul=FAST,
        duration=120.0,
    )
    lines: list[str] = []
    results = _run(options, lines, "every replay has ended")
    output = "\n".join(lines)
    assert "training the RUL model on 12 engines: 100%" in output
    assert f"{RUL_NAME}@v1, trained now in" in output and "supervised mosquitto" in output
    assert sorted(r.twin_id for r in results) == ["engine-1", "engine-2"]
    for result in results:
        assert result.estimate is not None and result.truth is not None
        assert result.lower is not None and result.upper is not None
        assert result.lower <= result.estimate <= result.upper
        assert abs(result.estimate - result.truth) < 20  # a few cycles from failure, both
    assert any(line.startswith("RUL at the end of 2 replays: RMSE") for line in lines)
    assert lines[-1] == "twinkit demo stopped"

    found = asyncio.run(_read(state, ["engine-1", "engine-2"]))
    assert {e.target for e in found["fleet"].relationships.values()} == {"engine-1", "engine-2"}
    for twin in ("engine-1", "engine-2"):
        series = found[twin]["series"]
        cycles = {p.time: p.value for p in series["cycle"]}
        assert sorted(cycles.values()) == list(range(1, len(cycles) + 1))  # every cycle came
        estimated = [p.time for p in series["predicted:rul"]]
        # an estimate at every cycle from the fifth on, none before
        assert estimated == sorted(t for t, cycle in cycles.items() if cycle >= 5), twin
        for value, low, high in zip(
            series["predicted:rul"],
            series["predicted:rul_lower"],
            series["predicted:rul_upper"],
            strict=True,
        ):
            assert low.time == value.time == high.time
            assert low.value <= value.value <= high.value
        (alert, *_) = found[twin]["alerts"]
        assert alert["name"] == "predictionLimit" and "below 30" in alert["message"]
        assert f"alert    {twin}: predictor {RUL_NAME}@v1" in output
        assert found[twin]["twin"].reported("dataset") == "generated"

    again: list[str] = []
    _run(options, again, "The demo stops")
    said = "\n".join(again)
    assert "reused from this state folder" in said and "training the RUL model" not in said
    assert f"{RUL_NAME}@v1" in said and "(reused)" in said

"""The fleet's RUL model served live: trained once and reused, an estimate with its interval at
every cycle from the fifth on, an alert once when it falls below the threshold."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from turbofan_helpers import FAST, TINY

from twinkit.core import EventType, Reading, Runtime
from twinkit.errors import NotFoundError
from twinkit.examples.turbofan import (
    RUL_NAME,
    TELEMETRY,
    ensure_rul_model,
    fleet_data,
    install_fleet,
)
from twinkit.predict import PredictionRunner
from twinkit.predict._registry import PredictorRegistry
from twinkit.predict._registry_entry import Limit
from twinkit.store import SQLiteStore


def test_the_model_is_trained_once_and_reused_with_a_new_threshold_without_training(
    tmp_path: Path,
) -> None:
    data = fleet_data(None, fleet=TINY)
    said: list[float] = []

    async def main() -> None:
        async with await SQLiteStore.open(tmp_path / "twins.db") as store:
            registry = PredictorRegistry(store)
            first = await ensure_rul_model(
                registry, data, threshold=30, cause="test", config=FAST, progress=said.append
            )
            assert first.trained and first.entry.version == 1 and first.entry.active
            entry = first.entry
            assert entry.limits == {"rul": Limit(below=30)}
            assert entry.metrics["train_engines"] == 12 and entry.metrics["oof_rmse"] > 0
            assert entry.metrics["train_cycles"] == sum(len(f) for f in data.train)
            assert entry.params["dataset"] == "generated" and entry.params["seed"] == TINY.seed
            assert entry.inputs == TELEMETRY and entry.window == 300
            again = await ensure_rul_model(registry, data, threshold=30, cause="test", config=FAST)
            assert not again.trained and again.entry.version == 1
            other = await ensure_rul_model(registry, data, threshold=20, cause="test", config=FAST)
            assert not other.trained and other.entry.version == 2 and other.entry.active
            assert other.entry.checksum == entry.checksum  # the same artifact, a new limit
            assert other.entry.limits == {"rul": Limit(below=20)}

    asyncio.run(main())
    assert said and said[-1] == pytest.approx(1.0)  # progress was reported up to the end


def test_a_folder_without_cmapss_files_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"train_FD001\.txt or train_FD001\.txt\.gz"):
        fleet_data(tmp_path, "FD001")


def test_every_cycle_from_the_fifth_gets_an_estimate_with_its_interval_and_one_alert(
    tmp_path: Path,
) -> None:
    data = fleet_data(None, fleet=TINY)
    engine = data.test[0]
    twin = "engine-1"

    async def main() -> dict[str, Any]:
        async with await SQLiteStore.open(tmp_path / "twins.db") as store:
            runtime = await Runtime.open(store)
            await install_fleet(runtime, [1])
            registry = PredictorRegistry(store)
            runner = PredictionRunner(runtime, registry)  # answers from min_history on
            runner.pace(RUL_NAME, 0.0)  # every cycle (the demo does the same)
            await runner.start()
            await ensure_rul_model(registry, data, threshold=30, cause="test", config=FAST)
            await runner.settle()
            seen = []
            try:
                for n, row in enumerate(engine[list(TELEMETRY)].itertuples(index=False)):
                    values = dict(zip(TELEMETRY, row, strict=True))
                    values["cycle"] = int(values["cycle"])
                    reading = Reading(twin, values, time=1000.0 + n)
                    await runtime.ingest([[reading]], cause="test")
                    await runner.settle()
                    derived = runtime.get(twin).derived
                    seen.append({k: (v.value, v.time) for k, v in derived.items()})
                alerts = [
                    dict(e.data)
                    for e in await runtime.events(twin)
                    if e.type is EventType.ALERT_RAISED
                ]
                (status,) = runner.status()
            finally:
                await runner.stop()
                await runtime.close()
            return {"seen": seen, "alerts": alerts, "status": status}

    result = asyncio.run(main())
    seen = result["seen"]
    assert all(not s for s in seen[:4])  # nothing before the fifth cycle
    for n, derived in enumerate(seen[4:], start=4):
        value, at = derived["predicted:rul"]
        assert at == 1000.0 + n  # this cycle's estimate, not an older one
        low, high = derived["predicted:rul_lower"][0], derived["predicted:rul_upper"][0]
        assert 0 <= low <= value <= high <= 125
    status = result["status"]
    assert status.updates == len(engine) - 4 and status.coalesced == status.throttled == 0
    final = seen[-1]["predicted:rul"][0]
    assert final < 30 and abs(final - data.test_rul[0]) < 15
    (alert,) = result["alerts"]  # once per episode, not once per cycle below the limit
    assert alert["name"] == "predictionLimit" and "below 30" in alert["message"]

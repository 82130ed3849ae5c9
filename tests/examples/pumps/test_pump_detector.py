"""The pump station's anomaly detector live: calibrated on a replayed SKAB run and alerting in
its labelled anomaly, and trained on the simulated pumps after their warm-up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest
from pump_helpers import Broker

from twinkit.api import Services, Settings
from twinkit.core import Event, EventType
from twinkit.examples.pumps import station_layout
from twinkit.examples.pumps._demo import install_station
from twinkit.examples.pumps._detector import (
    SKAB_DETECTOR,
    SKAB_INPUTS,
    STATION_DETECTOR,
    WARMUP,
    PumpDetectors,
    SkabCalibration,
)
from twinkit.examples.pumps._devices import start_devices
from twinkit.examples.pumps._mqtt import Broker as BrokerAddress
from twinkit.examples.pumps._skab import SkabReplay
from twinkit.predict._skab import read_skab_run

SPEEDUP = 60.0  # 740 rows in 12 s: time enough to calibrate on a busy machine


@asynccontextmanager
async def station(tmp_path: Path, mosquitto: Broker, replay: bool) -> AsyncIterator[Services]:
    settings = Settings(data_dir=tmp_path / "state", port=0, mqtt_url=mosquitto.url)
    services = await Services.open(settings)
    try:
        await install_station(services.runtime, station_layout(3, replay_pump=replay))
        yield services
    finally:
        await services.close()


async def made(services: Services, twin_id: str, reason: str) -> list[Event]:
    return [
        e
        for e in await services.runtime.events(twin_id)
        if e.type is EventType.PREDICTION_MADE and e.data.get("reason") == reason
    ]


def short_run(shared_data: Path, tmp_path: Path, rows: int) -> Path:
    """The first ``rows`` rows of SKAB's valve1/0 (anomaly labelled from row 573 on)."""
    lines = (shared_data / "skab" / "valve1" / "0.csv").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "skab" / "valve1" / "0.csv"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines[: rows + 1]) + "\n", encoding="utf-8")
    return path


@pytest.mark.integration
def test_a_replayed_skab_run_is_calibrated_on_and_alerts_within_its_anomaly(
    tmp_path: Path, mosquitto: Broker, shared_data: Path
) -> None:
    path = short_run(shared_data, tmp_path, 740)

    async def go() -> None:
        async with station(tmp_path, mosquitto, replay=True) as services:
            detectors = PumpDetectors(
                services, station_layout(3, replay_pump=True), speedup=SPEEDUP
            )
            await detectors.prepare()
            replay = SkabReplay(
                BrokerAddress.from_url(mosquitto.url),
                "pump-skab",
                [path],
                speedup=SPEEDUP,
                loop=False,
            )
            calibration = SkabCalibration(services.predictions, services.runtime, replay)
            task = asyncio.create_task(calibration.run())
            await asyncio.to_thread(replay.start)
            try:
                assert await asyncio.to_thread(replay.finished.wait, 30)
                await asyncio.sleep(0.3)  # the last rows through the broker
                await services.predictions.runner.settle()
            finally:
                task.cancel()
                await asyncio.to_thread(replay.stop)
            playing = replay.playing
            assert playing is not None and calibration.calibrated == 1
            window = playing.anomaly_window()
            assert window is not None
            (entry,) = await services.predictions.registry.entries(SKAB_DETECTOR)
            assert entry.twins == ("pump-skab",) and entry.inputs == SKAB_INPUTS
            assert not entry.active  # retired at the run's last row: the next is another session
            assert entry.start == playing.stamps[0] and entry.end == playing.stamps[400]

            anomalous = await made(services, "pump-skab", "anomalous")
            assert anomalous, "no anomaly episode on pump-skab"
            first = anomalous[0].time
            assert window[0] <= first <= window[1], (first - window[0]) * SPEEDUP
            row = int(np.searchsorted(playing.stamps, first))
            assert row >= 573  # offline, the protocol alarms at row 576
            alerts = [
                e.data
                for e in await services.runtime.events("pump-skab")
                if e.type is EventType.ALERT_RAISED and e.data["name"] == "anomalyDetected"
            ]
            assert alerts and f"detector {SKAB_DETECTOR}@v1" in alerts[0]["message"]
            assert not await made(services, "pump-1", "serving")  # scoped to pump-skab

            # live scores are the offline scores of the same model on the same rows
            points = await services.store.points("pump-skab", "predicted:anomaly_score", 0, 1e12)
            assert len(points) > 10  # of rows 430-740: a busy machine coalesces more of them
            loaded = await services.predictions.registry.load(SKAB_DETECTOR, 1)
            offline = loaded.model.score_frame(read_skab_run(path, pump_names=True).frame)  # type: ignore[union-attr]
            rows = np.searchsorted(playing.stamps, [p.time for p in points])
            assert np.allclose([p.value for p in points], offline[rows], rtol=1e-6)
            threshold = services.runtime.get("pump-skab").derived["predicted:anomaly_threshold"]
            assert threshold.value == 1.0

    asyncio.run(go())


@pytest.mark.integration
def test_the_simulated_pumps_get_a_detector_after_warm_up_once_per_state_folder(
    tmp_path: Path, mosquitto: Broker
) -> None:
    speedup = 100.0
    layout = station_layout(3, replay_pump=False)

    async def go() -> None:
        async with station(tmp_path, mosquitto, replay=False) as services:
            detectors = PumpDetectors(services, layout, speedup=speedup)
            await detectors.prepare()
            assert "trains on pump-1, pump-2, pump-3" in detectors.describe(replaying=False)[0]
            started = services.clock()
            devices = await asyncio.to_thread(
                start_devices, mosquitto.url, layout, speedup=speedup, seed=1
            )
            detectors.start(devices.replay, started)
            try:
                deadline = time.monotonic() + 30
                while not await made(services, "pump-1", "anomalous"):
                    assert time.monotonic() < deadline, "pump-1's wear never raised its score"
                    await asyncio.sleep(0.1)
            finally:
                await detectors.stop()
                await asyncio.to_thread(devices.stop)
            (entry,) = await services.predictions.registry.entries(STATION_DETECTOR)
            assert entry.active and entry.twins == ("pump-1", "pump-2", "pump-3")
            assert entry.end == pytest.approx(started + WARMUP / speedup)
            (job,) = services.predictions.jobs(STATION_DETECTOR)
            assert job.progress == 1.0 and job.cause == "system:demo"
            # a worn bearing: the first anomaly is pump-1's, whose bearing wears ten times faster
            first = (await made(services, "pump-1", "anomalous"))[0].time
            for other in ("pump-2", "pump-3"):
                assert all(e.time >= first for e in await made(services, other, "anomalous"))
            assert (await made(services, "pump-1", "serving"))[0].time <= first

            again = PumpDetectors(services, layout, speedup=speedup)
            await again.prepare()  # a second run on the same state folder
            assert again.station is not None and again.station.version == 1
            assert "pump-anomaly@v1" in again.describe(replaying=False)[0]

    asyncio.run(go())

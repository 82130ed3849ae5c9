"""SKAB runs replayed live, as ``twinkit demo pumps --data`` does: when does the detector alert?

One SkabReplay publishes the chosen runs one after the other over MQTT (a supervised
Mosquitto) as the pump twin ``pump-skab``, ``--speedup`` times faster than recorded; the
Services of ``twinkit serve`` ingest them, and the demo's detector set-up (PumpDetectors,
SkabCalibration) fits the default detector on each run's first 400 rows once they are in the
store, activates it (the previous run's version stops serving at the run's start) and serves
it on the rest of the run. Per run:

- the labelled anomaly (first and last row);
- the row of the first live ``anomalous`` PredictionMade (the alert), and how many anomaly
  episodes started before the labelled anomaly (false alerts);
- the offline protocol's first alarm after row 400 (the same detector fitted on the same 400
  rows, ``score_frame`` on the whole run), for comparison;
- how many rows were scored live, and the largest difference between a live score and the
  offline score of the same row; and how many of the run's first rows the previous run's
  version still scored before it was retired (the moment deactivation takes).

``--quick`` replays 6 runs. The last line printed is a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from _machine import describe
from twinkit.api import Services, Settings
from twinkit.core import EventType
from twinkit.examples.pumps import station_layout
from twinkit.examples.pumps._demo import install_station
from twinkit.examples.pumps._detector import (
    SKAB_INPUTS,
    SKAB_SLOW,
    PumpDetectors,
    SkabCalibration,
    pump_detector,
)
from twinkit.examples.pumps._mqtt import Broker
from twinkit.examples.pumps._skab import ReplayedRun, SkabReplay
from twinkit.predict._skab import SKAB_TRAIN_ROWS, read_skab_run, skab_runs

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "skab"
QUICK = ("valve1/0", "valve1/3", "valve2/0", "other/3", "other/5", "other/11")


def offline_first_alarm(path: Path) -> tuple[int | None, np.ndarray]:
    frame = read_skab_run(path, pump_names=True).frame
    detector = pump_detector(SKAB_INPUTS, SKAB_SLOW)
    detector.fit([frame.iloc[:SKAB_TRAIN_ROWS]])
    scores = detector.score_frame(frame)
    alarms = np.flatnonzero(scores[SKAB_TRAIN_ROWS:] > detector.threshold) + SKAB_TRAIN_ROWS
    return (int(alarms[0]) if len(alarms) else None), scores


async def replay_all(paths: list[Path], speedup: float, workdir: Path) -> list[dict[str, Any]]:
    services = await Services.open(Settings(data_dir=workdir, port=0))
    try:
        layout = station_layout(1, replay_pump=True)
        await install_station(services.runtime, layout)
        detectors = PumpDetectors(services, layout, speedup=speedup)
        await detectors.prepare()
        assert services.broker is not None
        replay = SkabReplay(
            Broker.from_url(services.broker.url), "pump-skab", paths, speedup=speedup, loop=False
        )
        calibration = SkabCalibration(services.predictions, services.runtime, replay)
        task = asyncio.create_task(calibration.run())
        played: list[ReplayedRun] = []
        await asyncio.to_thread(replay.start)
        try:
            while not replay.finished.is_set():
                if replay.playing is not None and (not played or played[-1] is not replay.playing):
                    played.append(replay.playing)
                    print(f"  replaying {replay.playing.name}", file=sys.stderr, flush=True)
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.5)
            await services.predictions.runner.settle(timeout=120)
        finally:
            task.cancel()
            await asyncio.to_thread(replay.stop)
        events = await services.runtime.events("pump-skab")
        anomalous = [
            e.time
            for e in events
            if e.type is EventType.PREDICTION_MADE and e.data.get("reason") == "anomalous"
        ]
        points = await services.store.points("pump-skab", "predicted:anomaly_score", 0, 1e13)
        return [one_run(run, anomalous, points) for run in played]
    finally:
        await services.close()


def one_run(run: ReplayedRun, anomalous: list[float], points: list[Any]) -> dict[str, Any]:
    stamps = run.stamps
    inside = [t for t in anomalous if stamps[0] <= t <= stamps[-1]]
    rows = [int(np.searchsorted(stamps, t)) for t in inside]
    labels = run.run.labels.get("anomaly")
    window = np.flatnonzero(labels == 1) if labels is not None else np.array([], dtype=int)
    start = int(window[0]) if len(window) else None
    offline, scores = offline_first_alarm(run.run.path)
    live = [p for p in points if stamps[0] <= p.time <= stamps[-1]]
    at = np.searchsorted(stamps, [p.time for p in live])
    # Rows before the run's own version serves were scored by the previous run's version in
    # the moment it took to retire it: counted apart, not compared.
    own = at >= SKAB_TRAIN_ROWS
    values = np.array([p.value for p in live])
    gap = float(np.max(np.abs(values[own] - scores[at[own]]))) if own.any() else None
    return {
        "run": run.name,
        "rows": len(stamps),
        "anomaly_rows": [start, int(window[-1])] if start is not None else None,
        "first_alert_row": rows[0] if rows else None,
        "alerts_before_anomaly": sum(1 for r in rows if start is not None and r < start),
        "offline_first_alarm_row": offline,
        "scored_rows": int(own.sum()),
        "scored_by_previous_version": int((~own).sum()),
        "max_score_difference": gap,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the SKAB data folder")
    parser.add_argument("--speedup", type=float, default=50.0)
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    args = parser.parse_args()
    print(describe(), flush=True)
    runs = [run.path for run in skab_runs(args.data)]
    if args.quick:
        runs = [p for p in runs if f"{p.parent.name}/{p.stem}" in QUICK]
    print(f"{len(runs)} SKAB runs replayed live at {args.speedup:g}x", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        results = asyncio.run(replay_all(runs, args.speedup, Path(tmp)))
    print(
        f"{'run':10s} {'anomaly':>11s} {'alert':>6s} {'early':>5s} {'offline':>7s} {'scored':>6s}"
    )
    for r in results:
        window = "-" if r["anomaly_rows"] is None else "{}-{}".format(*r["anomaly_rows"])
        alert = "-" if r["first_alert_row"] is None else r["first_alert_row"]
        offline = "-" if r["offline_first_alarm_row"] is None else r["offline_first_alarm_row"]
        print(
            f"{r['run']:10s} {window:>11s} {alert!s:>6s} {r['alerts_before_anomaly']:>5d} "
            f"{offline!s:>7s} {r['scored_rows']:>6d}"
        )
    labelled = [r for r in results if r["anomaly_rows"] is not None]
    within = [
        r
        for r in labelled
        if r["first_alert_row"] is not None
        and r["anomaly_rows"][0] <= r["first_alert_row"] <= r["anomaly_rows"][1]
    ]
    summary = {
        "runs": len(results),
        "speedup": args.speedup,
        "first_alert_within_anomaly": len(within),
        "runs_with_early_alerts": sum(1 for r in labelled if r["alerts_before_anomaly"]),
        "runs_without_alert": sum(1 for r in labelled if r["first_alert_row"] is None),
        "median_delay_rows": float(
            np.median([r["first_alert_row"] - r["anomaly_rows"][0] for r in within])
        )
        if within
        else None,
        "max_score_difference": max(
            (r["max_score_difference"] for r in results if r["max_score_difference"] is not None),
            default=None,
        ),
    }
    print(
        f"first alert within the labelled anomaly: {len(within)} of {len(labelled)} runs; "
        f"runs with an alert before it: {summary['runs_with_early_alerts']}; "
        f"without alert: {summary['runs_without_alert']}"
    )
    print(json.dumps({**summary, "per_run": results}))


if __name__ == "__main__":
    main()

"""MQTT ingest with an anomaly detector served live on every twin: what online inference costs.

The set-up of bench/ingest.py (one publisher fills the broker queue of a persistent session
while it is offline; the MqttConnector then drains it into the Runtime on SQLite, timed from
connect to the last message), three times over the same messages:

- *no detector*: ingest alone;
- *listener only*: a subscriber that does nothing with the telemetry events: the runtime then
  makes an event per message for it, which any live consumer costs (the floor for the others);
- *every row*: twinkit's default detector (PCA T²/SPE + MSET-like similarity + EWMA, the SKAB
  benchmark's choice) served on all twins by a PredictionRunner with ``min_interval=0``: every
  telemetry event makes an inference (coalesced only while the worker is busy), as before the
  runner was paced;
- *paced*: the same with the runner's default minimum interval per twin (1 s): rows in between
  fill the buffers and are coalesced into the next inference.

Each message carries one of the ten inputs (``v<index % 10>``), so every twin's rows change
with every message once it has had all ten: with ~1k twins each one gets a new row per message.
Each twin first gets 45 untimed rows of all ten inputs (a full window of 30 rows and more), so
that every timed message is a new row the detector could judge. For each: messages/s, the runner's counters (inferences, coalesced, put off, dropped) and the
time the runner took after the last message to score what it still held. ``--quick`` sends
fewer messages. The last line printed is a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from _ingest_publish import BASE
from _machine import describe
from ingest import MODEL, QueueingMosquitto, drain_twinkit, make_runtime, publish, register
from twinkit.core import EventType, Reading, Runtime
from twinkit.predict._detect_ensemble import default_detector
from twinkit.predict._online import PredictionRunner
from twinkit.predict._online_pace import DEFAULT_MIN_INTERVAL
from twinkit.predict._registry import PredictorRegistry

INPUTS = [f"v{i}" for i in range(10)]
WARMUP = 45
"""Untimed messages per twin before the timed ones: all inputs seen, a full window of rows."""
LISTENER = -1.0  # a no-op subscriber to the same events: what any live listener costs
MODES: dict[str, float | None] = {
    "no detector": None,
    "listener only": LISTENER,
    "every row": 0.0,
    "paced": DEFAULT_MIN_INTERVAL,
}


def fitted_detector() -> Any:
    """The default detector fitted on values like the publisher's (``index % 97``)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.integers(0, 97, size=(2_000, len(INPUTS))).astype(float))
    frame.columns = INPUTS
    detector = default_detector(INPUTS)
    detector.fit([frame])
    return detector


async def warm_up(runtime: Runtime, twins: int) -> None:
    """Untimed: WARMUP rows of all ten inputs per twin, stamped before the publisher's first
    message, so that each timed message makes a new row to judge."""
    for k in range(WARMUP):
        at = BASE - WARMUP + k
        batch = [
            [Reading(f"dev-{i}", {name: float((i + k) % 97) for name in INPUTS}, at)]
            for i in range(twins)
        ]
        results = await runtime.ingest(batch, cause="connector:bench")
        refused = [r for r in results if r is not None]
        if refused:
            raise RuntimeError(f"warm-up refused: {refused[0]}")


async def one_run(
    broker: QueueingMosquitto,
    workdir: Path,
    *,
    interval: float | None,
    twins: int,
    count: int,
    detector: Any,
) -> dict[str, Any]:
    tag = f"pl-{time.time_ns()}"
    store, runtime = await make_runtime(workdir / f"{tag}.db", twins)
    runner = None
    try:
        if interval == LISTENER:
            runtime.subscribe(
                lambda event: None, models={MODEL}, types=(EventType.TELEMETRY_RECEIVED,)
            )
        elif interval is not None:
            registry = PredictorRegistry(store)
            await registry.register(
                detector, name="anomaly", model=MODEL, cause="bench", activate=True
            )
            runner = PredictionRunner(runtime, registry, min_interval=interval)
            await runner.start()
        await warm_up(runtime, twins)
        if runner is not None:
            await runner.settle(timeout=600)
            (status,) = runner.status()
            before = status.updates
        register(broker.host, broker.port, f"twinkit-{tag}", 1)
        publish(broker.host, broker.port, qos=1, count=count, twins=twins, points=1)
        seconds = await drain_twinkit(broker.url, f"twinkit-{tag}", runtime, count, 1)
        row: dict[str, Any] = {"msgs_per_s": count / seconds}
        if runner is not None:
            began = time.perf_counter()
            await runner.settle(timeout=600)
            row["settle_s"] = time.perf_counter() - began
            (status,) = runner.status()
            row.update(
                inferences=status.updates - before,
                coalesced=status.coalesced,  # warm-up included, as put_off and dropped
                put_off=status.throttled,
                dropped=status.dropped,
                failures=status.failures,
                latency_ms_p50=status.latency_ms_p50,
            )
    finally:
        if runner is not None:
            await runner.stop()
        await runtime.close()
        await store.close()
    return row


async def run(twins: int, count: int, repeat: int) -> dict[str, Any]:
    detector = fitted_detector()
    figures: dict[str, Any] = {"twins": twins, "messages": count, "qos": 1, "modes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        broker = QueueingMosquitto(Path(tmp), max_inflight=1000, autosave_interval=3600)
        await broker.start()
        try:
            for name, interval in MODES.items():
                runs = [
                    await one_run(
                        broker,
                        Path(tmp),
                        interval=interval,
                        twins=twins,
                        count=count,
                        detector=detector,
                    )
                    for _ in range(repeat)
                ]
                row = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
                row["min_interval"] = interval if interval != LISTENER else None
                figures["modes"][name] = row
                extra = ""
                if interval is not None and interval >= 0:
                    extra = (
                        f", {row['inferences']:,.0f} inferences, {row['coalesced']:,.0f} "
                        f"coalesced, {row['put_off']:,.0f} put off, {row['dropped']:,.0f} dropped, "
                        f"settled {row['settle_s']:.2f} s after"
                    )
                print(f"{name:12s} {row['msgs_per_s']:>9,.0f} msg/s{extra}", flush=True)
        finally:
            await broker.stop()
    base = figures["modes"]["no detector"]["msgs_per_s"]
    for row in figures["modes"].values():
        row["ratio_to_no_detector"] = row["msgs_per_s"] / base
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="40k messages, for a smoke run")
    parser.add_argument(
        "--twins",
        type=int,
        default=999,
        help="not a multiple of 10, so that each twin gets every input in turn (default 999)",
    )
    parser.add_argument("--messages", type=int, default=None, help="default 50k (40k quick)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per mode (median kept)")
    args = parser.parse_args()
    count = args.messages or (40_000 if args.quick else 50_000)
    print(describe(), flush=True)
    print(f"QoS1, 1 point per message, {args.twins:,} twins, {count:,} messages", flush=True)
    figures = asyncio.run(run(args.twins, count, args.repeat))
    figures["quick"] = args.quick
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

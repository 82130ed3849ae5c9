"""Publisher process for bench/ingest.py: numbered telemetry messages to many twins, as fast as
the broker takes them (or paced at a given rate), then exit.

    python bench/_ingest_publish.py HOST PORT QOS COUNT TWINS POINTS [RATE [LATER]]

POINTS is 1 (one value per message) or a multiple of 10 (``POINTS // 10`` timestamped entries of
ten values each). With RATE > 0 messages are paced at RATE per second and carry the send time
as their ``ts`` (for latency); otherwise ``ts`` is a synthetic, per-message unique time, LATER
seconds (default 0) after that of the same message in a run without it: a second run with LATER
sends every twin newer values, as devices do, rather than redeliveries of the first run's.
"""

from __future__ import annotations

import sys
import threading
import time

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

NAMES = [f"v{i}" for i in range(10)]
BASE = 1.7e9


def payload(index: int, points: int, now: float | None, later: float = 0.0) -> bytes:
    ts = BASE + later + index * 1e-3 if now is None else now
    if points == 1:
        return orjson.dumps({"ts": ts, "values": {NAMES[index % 10]: float(index % 97)}})
    entries = [
        {"ts": ts + j * 1e-6, "values": {name: float((index + j) % 97) for name in NAMES}}
        for j in range(points // 10)
    ]
    return orjson.dumps(entries)


def main(
    host: str,
    port: int,
    *,
    qos: int,
    count: int,
    twins: int,
    points: int,
    rate: float,
    later: float,
) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{time.time_ns()}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    done = threading.Event()
    acked = [0]

    def on_publish(*_: object) -> None:
        acked[0] += 1
        if acked[0] >= count:
            done.set()

    client.on_publish = on_publish
    client.connect(host, port)
    client.loop_start()
    start = time.perf_counter()
    for index in range(count):
        if rate > 0:
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        topic = f"site/dev-{index % twins}/telemetry"
        now = time.time() if rate > 0 else None
        client.publish(topic, payload(index, points, now, later), qos=qos)
    if qos == 0:
        done.set()
    done.wait(600)
    time.sleep(0.2)
    client.disconnect()
    client.loop_stop()


if __name__ == "__main__":
    host, port, qos, count, twins, points, *rest = sys.argv[1:]
    main(
        host,
        int(port),
        qos=int(qos),
        count=int(count),
        twins=int(twins),
        points=int(points),
        rate=float(rest[0]) if rest else 0.0,
        later=float(rest[1]) if len(rest) > 1 else 0.0,
    )

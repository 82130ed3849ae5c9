"""Publisher process for bench/dashboard.py: telemetry at a steady rate over many twins, one of
them hot, until stopped (SIGTERM) or SECONDS have passed; then one JSON line of what it sent.

    python bench/_dashboard_publish.py HOST PORT QOS RATE SECONDS TWINS HOT_EVERY

Every HOT_EVERY-th message goes to ``dev-0`` (the twin the bench opens in the browser, so its
charts get more points than 10 redraws a second could show one by one), the others round-robin
to ``dev-1`` .. ``dev-<TWINS-1>``. Each message carries one value of ``v0`` .. ``v9`` (the
names rotate per twin) stamped with its send time, like the latency publisher of
bench/ingest.py. Messages are paced in 10 ms slices; a publisher that falls behind sends the
backlog as fast as the broker takes it.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import time

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

NAMES = [f"v{i}" for i in range(10)]
SLICE_S = 0.01


def topic_and_name(index: int, twins: int, hot_every: int) -> tuple[str, str]:
    """Where message ``index`` goes and which telemetry it carries."""
    if hot_every > 0 and index % hot_every == 0:
        return "site/dev-0/telemetry", NAMES[(index // hot_every) % len(NAMES)]
    return f"site/dev-{1 + index % (twins - 1)}/telemetry", NAMES[index % len(NAMES)]


def main(
    host: str, port: int, *, qos: int, rate: float, seconds: float, twins: int, hot_every: int
) -> None:
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-dash-{time.time_ns()}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    acked = [0]
    client.on_publish = lambda *_: acked.__setitem__(0, acked[0] + 1)
    client.connect(host, port)
    client.loop_start()
    start = time.perf_counter()
    sent = 0
    behind = 0.0  # the largest backlog seen, in seconds of messages
    while not stop[0]:
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
        due = min(int(rate * elapsed) + int(rate * SLICE_S), int(rate * seconds))
        behind = max(behind, (due - sent) / rate - SLICE_S)
        now = time.time()
        for index in range(sent, due):
            topic, name = topic_and_name(index, twins, hot_every)
            value = round(50.0 + 40.0 * math.sin(index / 5_000.0), 3)
            client.publish(topic, orjson.dumps({"ts": now, "values": {name: value}}), qos=qos)
        sent = due
        pause = start + sent / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    spent = time.perf_counter() - start
    time.sleep(0.5)  # let the last acknowledgements come
    client.disconnect()
    client.loop_stop()
    print(
        json.dumps(
            {"sent": sent, "acked": acked[0], "seconds": spent, "max_behind_s": max(behind, 0.0)}
        ),
        flush=True,
    )


if __name__ == "__main__":
    host, port, qos, rate, seconds, twins, hot_every = sys.argv[1:8]
    main(
        host,
        int(port),
        qos=int(qos),
        rate=float(rate),
        seconds=float(seconds),
        twins=int(twins),
        hot_every=int(hot_every),
    )

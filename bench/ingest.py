"""End-to-end MQTT ingest: twinkit against a bare paho subscriber on the same broker, same run.

For each configuration (QoS 0/1, 1 or 50 points per message, 1k or 100k twins) one publisher
process fills the broker queues of two persistent sessions with the same messages, while
neither is connected; then each session is drained in turn and timed from connect to the last
message:

- *bare*: a paho subscriber that only counts messages (the machine's limit for this path);
- *twinkit*: the MqttConnector feeding the Runtime on SQLite (synchronous=FULL): parsed,
  validated against the model, committed in one transaction per batch, acknowledged to the
  broker after the commit (QoS1), applied to the twin graph and published to subscribers. The
  process runs as ``twinkit serve`` does (its garbage collector tuned by ``tune_collector``).

Draining a queue measures the receiving side alone, not the publisher's speed. The ratio
twinkit/bare is the figure DESIGN.md sets a target for (>= 0.8), with >= 200k points/s batched.
Then: resident memory of 100k twins with 10 properties each (in a fresh process), and the time to
load them again after a restart. ``--quick`` runs a small subset. The last line printed is a JSON
object of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from _machine import describe
from twinkit.connect import Mosquitto, MqttConnector, MqttMapping
from twinkit.core import Runtime, tune_collector
from twinkit.store import SQLiteStore

HERE = Path(__file__).resolve().parent
MODEL = "dtmi:bench:Sensor;1"
SENSOR = {
    "@context": "dtmi:dtdl:context;3",
    "@id": MODEL,
    "@type": "Interface",
    "contents": [
        *({"@type": "Telemetry", "name": f"v{i}", "schema": "double"} for i in range(10)),
        *({"@type": "Property", "name": f"p{i}", "schema": "double"} for i in range(10)),
    ],
}


class QueueingMosquitto(Mosquitto):
    """The supervised broker, also queueing QoS0 messages for offline persistent sessions."""

    def config(self) -> str:
        return super().config() + "queue_qos0_messages true\n"


def register(host: str, port: int, client_id: str, qos: int) -> None:
    """Create a persistent session subscribed to the telemetry topics, then leave."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    subscribed = threading.Event()
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect(host, port)
    client.loop_start()
    client.subscribe("site/+/telemetry", qos=qos)
    if not subscribed.wait(10):
        raise RuntimeError("subscription not acknowledged")
    client.disconnect()
    client.loop_stop()


def publish(
    host: str, port: int, *, qos: int, count: int, twins: int, points: int, later: float = 0.0
) -> None:
    """Queue ``count`` messages; ``later``: their times are that many seconds later than
    those of the same messages in a run without it."""
    args = [str(a) for a in (host, port, qos, count, twins, points, 0, later)]
    subprocess.run([sys.executable, str(HERE / "_ingest_publish.py"), *args], check=True)
    time.sleep(0.5)  # let the broker finish queueing


def drain_bare(host: str, port: int, client_id: str, count: int) -> float:
    """Seconds from connect to the ``count``-th message of the queued session."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    client.max_inflight_messages_set(1000)
    received = [0]
    done = threading.Event()

    def on_message(*_: object) -> None:
        received[0] += 1
        if received[0] >= count:
            done.set()

    client.on_message = on_message
    start = time.perf_counter()
    client.connect(host, port)
    client.loop_start()
    if not done.wait(600):
        raise RuntimeError(f"bare subscriber got {received[0]} of {count} messages")
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    return elapsed


async def make_runtime(path: Path, twins: int) -> tuple[SQLiteStore, Runtime]:
    store = await SQLiteStore.open(path)
    runtime = await Runtime.open(store)
    await runtime.add_models([SENSOR])
    for start in range(0, twins, 10_000):
        specs = [(f"dev-{i}", MODEL, None) for i in range(start, min(start + 10_000, twins))]
        await runtime.create_twins(specs, cause="system")
    return store, runtime


async def drain_twinkit(url: str, client_id: str, runtime: Runtime, count: int, qos: int) -> float:
    mapping = MqttMapping.from_dict({"reports": ["site/{twin_id}/telemetry"]})
    connector = MqttConnector(runtime, mapping, url, client_id, protocol="3.1.1", qos=qos)  # type: ignore[arg-type]
    start = time.perf_counter()
    await connector.start()
    while True:
        stats = connector.stats()
        if stats.accepted + stats.dead_lettered >= count:
            break
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - start
    await connector.stop()
    if stats.dead_lettered:
        raise RuntimeError(f"{stats.dead_lettered} messages were dead-lettered")
    return elapsed


async def one_config(
    broker: Mosquitto,
    workdir: Path,
    *,
    qos: int,
    points: int,
    twins: int,
    count: int,
    warm: bool = False,
) -> dict[str, Any]:
    """Bare subscriber and twinkit on the same queued messages. ``warm``: every twin the run
    sends to has reported once before, an hour earlier (steady state: its series and latest
    values exist, and each message brings a newer value); otherwise many messages are their
    twin's first report."""
    host, port = broker.host, broker.port
    tag = f"q{qos}-p{points}-t{twins}-{time.time_ns()}"
    store, runtime = await make_runtime(workdir / f"{tag}.db", twins)
    try:
        if warm:
            first = min(count, twins)
            register(host, port, f"twinkit-{tag}", qos)
            publish(host, port, qos=qos, count=first, twins=twins, points=points)
            await drain_twinkit(broker.url, f"twinkit-{tag}", runtime, first, qos)
        register(host, port, f"bare-{tag}", qos)
        register(host, port, f"twinkit-{tag}", qos)
        later = 3600.0 if warm else 0.0
        publish(host, port, qos=qos, count=count, twins=twins, points=points, later=later)
        bare = drain_bare(host, port, f"bare-{tag}", count)
        ours = await drain_twinkit(broker.url, f"twinkit-{tag}", runtime, count, qos)
    finally:
        await runtime.close()
        await store.close()
    return {
        "qos": qos,
        "points_per_message": points,
        "twins": twins,
        "warm": warm,
        "messages": count,
        "bare_msgs_per_s": count / bare,
        "twinkit_msgs_per_s": count / ours,
        "twinkit_points_per_s": count * points / ours,
        "ratio": bare / ours,
    }


async def latency(rate: float, seconds: float, twins: int = 1_000) -> dict[str, float]:
    """p50/p99 from publish to the event on a WebSocket client, against ``twinkit serve``."""
    import httpx
    import psutil
    import websockets

    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp) / "broker")
        await broker.start()
        data = Path(tmp) / "server"
        twinkit = Path(sys.executable).with_name("twinkit")
        server = subprocess.Popen(
            [str(twinkit), "serve", "--data", str(data), "--port", "0", "--mqtt-url", broker.url],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            base = _served_url(server)
            token = (data / "admin-token").read_text().strip()
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
                (await http.post("/api/v1/models", json=[SENSOR])).raise_for_status()
                for start in range(0, twins, 50):
                    answers = await asyncio.gather(
                        *(
                            http.put(f"/api/v1/twins/dev-{i}", json={"model": MODEL})
                            for i in range(start, min(start + 50, twins))
                        )
                    )
                    for answer in answers:
                        answer.raise_for_status()
            stream = base.replace("http://", "ws://") + "/api/v1/stream?types=TelemetryReceived"
            delays: list[float] = []
            count = int(rate * seconds)
            async with websockets.connect(stream, additional_headers=headers) as ws:
                cpu = psutil.Process(server.pid)
                cpu.cpu_percent()
                publisher = await asyncio.create_subprocess_exec(
                    sys.executable,
                    str(HERE / "_ingest_publish.py"),
                    *(str(a) for a in (broker.host, broker.port, 1, count, twins, 1, rate)),
                )
                while len(delays) < count:
                    try:
                        message = await asyncio.wait_for(ws.recv(), 10)
                    except TimeoutError:
                        break
                    delays.append(time.time() - json.loads(message)["time"])
                server_cpu = cpu.cpu_percent()
                await publisher.wait()
        finally:
            server.terminate()
            server.wait(30)
            await broker.stop()
    steady = sorted(delays[int(rate) :])  # drop the first second (connections warming up)
    return {
        "rate": rate,
        "received": len(delays),
        "sent": count,
        "p50_ms": 1000 * steady[len(steady) // 2],
        "p99_ms": 1000 * steady[int(len(steady) * 0.99)],
        "max_ms": 1000 * steady[-1],
        "server_cpu_percent": server_cpu,
    }


def _served_url(server: subprocess.Popen[str]) -> str:
    assert server.stdout is not None
    for line in server.stdout:
        if "twinkit serving" in line:
            url = line.rsplit(" on ", 1)[1].strip()
            threading.Thread(target=server.stdout.read, daemon=True).start()  # keep draining
            return url
    raise RuntimeError(f"twinkit serve exited with {server.wait()}")


def memory_child(twins: int) -> None:
    """Run in a fresh process: RSS of ``twins`` twins with 10 properties each, and reload time."""
    import psutil

    async def main() -> None:
        process = psutil.Process()
        with tempfile.TemporaryDirectory() as tmp:
            before = process.memory_info().rss
            store = await SQLiteStore.open(Path(tmp) / "mem.db")
            runtime = await Runtime.open(store)
            await runtime.add_models([SENSOR])
            props = {f"p{i}": float(i) + 0.5 for i in range(10)}
            for start in range(0, twins, 10_000):
                end = min(start + 10_000, twins)
                specs = [(f"dev-{i}", MODEL, props) for i in range(start, end)]
                await runtime.create_twins(specs, cause="system")
            after = process.memory_info().rss
            await store.close()
            store = await SQLiteStore.open(Path(tmp) / "mem.db")
            t0 = time.perf_counter()
            again = await Runtime.open(store)
            reload_s = time.perf_counter() - t0
            assert len(again.twins()) == twins
            await store.close()
        print(
            json.dumps(
                {
                    "rss_mb": after / 2**20,
                    "twins_mb": (after - before) / 2**20,
                    "reload_s": reload_s,
                }
            )
        )

    asyncio.run(main())


def memory(twins: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(twins)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


Config = tuple[int, int, int, int, bool]


def configs(quick: bool, chosen: list[Config] | None = None) -> list[Config]:
    """(qos, points per message, twins, messages, warm): those of ``--config`` when given, else
    the quick subset or the full grid. With 100k twins and 50k messages every message is its
    twin's first report (a cold start), so the grid also runs those warm (steady state)."""
    if chosen:
        return chosen
    if quick:
        return [(1, 1, 1_000, 20_000, False), (1, 50, 1_000, 2_000, False)]
    grid = [
        (qos, points, twins, 50_000 if points == 1 else 5_000, False)
        for twins in (1_000, 100_000)
        for qos in (0, 1)
        for points in (1, 50)
    ]
    return grid + [(qos, 1, 100_000, 50_000, True) for qos in (0, 1)]


def parse_config(text: str) -> Config:
    """``QOS:POINTS:TWINS[:COUNT][:warm]``, e.g. ``0:1:100000`` or ``0:1:100000:50000:warm``
    (COUNT defaults as in the full run)."""
    parts = text.split(":")
    warm = parts[-1] == "warm"
    if warm:
        parts = parts[:-1]
    try:
        numbers = [int(part) for part in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (3, 4) or numbers[0] not in (0, 1) or min(numbers[1:]) < 1:
        raise argparse.ArgumentTypeError(
            f"bad --config {text!r}: expected QOS:POINTS:TWINS[:COUNT][:warm], "
            "e.g. 0:1:100000 or 0:1:100000:50000:warm"
        )
    qos, points, twins = numbers[:3]
    count = numbers[3] if len(numbers) == 4 else (50_000 if points == 1 else 5_000)
    return qos, points, twins, count, warm


async def throughput(
    quick: bool, repeat: int, chosen: list[Config] | None = None
) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # No autosaves: writing a queue of 100k messages to disk stalls the broker for seconds.
        broker = QueueingMosquitto(Path(tmp), max_inflight=1000, autosave_interval=3600)
        await broker.start()
        try:
            for qos, points, twins, count, warm in configs(quick, chosen):
                runs = [
                    await one_config(
                        broker,
                        Path(tmp),
                        qos=qos,
                        points=points,
                        twins=twins,
                        count=count,
                        warm=warm,
                    )
                    for _ in range(repeat)
                ]
                row = {
                    key: runs[0][key]
                    for key in ("qos", "points_per_message", "twins", "warm", "messages")
                }
                for key in (
                    "bare_msgs_per_s",
                    "twinkit_msgs_per_s",
                    "twinkit_points_per_s",
                    "ratio",
                ):
                    row[key] = statistics.median(run[key] for run in runs)
                print(
                    f"QoS{qos} {points:>2} pt/msg {twins:>6} twins{' (warm)' if warm else '       '}: bare {row['bare_msgs_per_s']:>8,.0f} msg/s, "
                    f"twinkit {row['twinkit_msgs_per_s']:>8,.0f} msg/s = {row['twinkit_points_per_s']:>9,.0f} points/s, "
                    f"ratio {row['ratio']:.2f}",
                    flush=True,
                )
                rows.append(row)
        finally:
            await broker.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small subset, for a smoke run")
    parser.add_argument(
        "--repeat", type=int, help="runs per configuration (median); 3, or 1 with --quick"
    )
    parser.add_argument(
        "--config",
        action="append",
        type=parse_config,
        metavar="QOS:POINTS:TWINS[:COUNT][:warm]",
        help="run this throughput configuration instead (repeatable), e.g. 0:1:100000:50000:warm",
    )
    parser.add_argument(
        "--throughput-only", action="store_true", help="leave out the latency and memory figures"
    )
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    print(describe(), flush=True)
    tune_collector()  # as twinkit serve and the demos do
    repeat = args.repeat or (1 if args.quick else 3)
    rows = asyncio.run(throughput(args.quick, repeat, args.config))
    if args.throughput_only:
        print(json.dumps({"throughput": rows}))
        return
    lat = asyncio.run(latency(5_000, 3 if args.quick else 10))
    print(
        f"latency at {lat['rate']:,.0f} msg/s (QoS1, publish -> WebSocket event): "
        f"p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms, max {lat['max_ms']:.1f} ms; "
        f"{lat['received']:,} of {lat['sent']:,} received; server CPU {lat['server_cpu_percent']:.0f}%",
        flush=True,
    )
    twins = 10_000 if args.quick else 100_000
    mem = memory(twins)
    print(
        f"memory: {twins:,} twins x 10 properties: {mem['twins_mb']:.0f} MB for the twins, "
        f"{mem['rss_mb']:.0f} MB resident in all; reload after restart {mem['reload_s']:.1f} s",
        flush=True,
    )
    print(json.dumps({"throughput": rows, "latency": lat, "memory": {"twins": twins, **mem}}))


if __name__ == "__main__":
    main()

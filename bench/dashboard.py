"""The dashboard under load: what it costs ``twinkit serve`` while 1,000 twins take 10k
messages a second, how often its charts redraw, and how quickly its pages answer.

``twinkit serve`` (API and dashboard) runs as a child process with its supervised Mosquitto (or
against ``--mqtt-url``), with 1,000 twins of bench/ingest.py's SENSOR model created through the API.
A publisher process sends QoS1 telemetry at ``--rate`` (10,000/s) for the whole run, one message
in a hundred to ``dev-0`` (the twin opened in the browser: 100 messages/s, 10 per telemetry
series, so each 100 ms tick has several to draw), the rest round-robin to the other twins.
After a warm-up, three phases of equal length are measured:

1. no browser;
2. headless Chromium with the Overview open;
3. the Overview and, in a second tab, the twin page of ``dev-0`` (live charts).

For each phase: the server process's CPU (user + system over the phase; 100% = one core) and
its difference to phase 1 (what the open pages cost), messages accepted per second (the
connector's counters from ``/api/v1/health``), the event-loop lag as the time to answer
``GET /api/v1/health`` (every 0.25 s), Chromium's CPU and the machine's. In phase 3, the twin
page's chart updates per second, counted in the page (the dashboard caps them at 10): live
appends (one call for all charts; with the age of the newest point each draws) and each
chart's redraws (appends and reloads). Then, with ingest still running: the time
from navigating to another twin's page until its telemetry table and its first chart with data
show, and until the Overview's twin table shows, medians of ``--navigations``.

The last line printed is a JSON object of the figures. ``--quick``: 5 s phases.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from playwright.sync_api import sync_playwright

from _dashboard_browser import (
    CHROMIUM,
    Tab,
    draw_stats,
    login,
    long_task_stats,
    open_tab,
    time_to_chart,
    time_to_overview,
)
from _machine import describe
from ingest import MODEL, SENSOR

HERE = Path(__file__).resolve().parent
HOT_EVERY = 100  # every 100th message goes to dev-0, the twin shown in the browser
WARMUP_S = 4.0
SETTLE_S = 2.0  # after opening pages, before their phase is measured


@dataclass
class Probe:
    """Polls ``GET /api/v1/health`` in a thread: answer times (the server's event-loop lag under
    load) and the connector's ``accepted`` counter over time."""

    base: str
    period_s: float = 0.25
    samples: list[tuple[float, float, int]] = field(default_factory=list)  # (t, s, accepted)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as http:
            while not self._stop.is_set():
                started = time.perf_counter()
                answer = http.get("/api/v1/health")
                took = time.perf_counter() - started
                connector = answer.json().get("connector") or {}
                self.samples.append((time.monotonic(), took, int(connector.get("accepted", 0))))
                self._stop.wait(max(0.0, self.period_s - took))

    def accepted_now(self) -> int:
        with httpx.Client(base_url=self.base, timeout=30) as http:
            connector = http.get("/api/v1/health").json().get("connector") or {}
        return int(connector.get("accepted", 0))


@dataclass
class Machine:
    """CPU counters of the server, Chromium and the whole machine."""

    server: psutil.Process

    def browser_seconds(self) -> float:
        total = 0.0
        for child in psutil.Process().children(recursive=True):
            try:
                if "chrom" in child.name():
                    times = child.cpu_times()
                    total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total

    def snapshot(self) -> tuple[float, float, float, float]:
        times = self.server.cpu_times()
        machine = psutil.cpu_times()
        busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        return time.monotonic(), times.user + times.system, self.browser_seconds(), busy


def measure(
    name: str,
    seconds: float,
    *,
    machine: Machine,
    probe: Probe,
    tabs: list[Tab],
    pump: Any,
    profile: Path | None = None,
) -> dict[str, Any]:
    """One phase: counters before and after ``seconds`` (``pump`` waits, keeping Playwright's
    events flowing); with ``profile``, py-spy samples the server meanwhile into that file."""
    spy = None
    if profile is not None:
        spy = subprocess.Popen(
            [
                *(_py_spy(), "record", "--pid", str(machine.server.pid), "--format", "raw"),
                *("--duration", str(round(seconds)), "--rate", "100", "--output", str(profile)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)  # py-spy attaching
    accepted_before = probe.accepted_now()
    frames_before = [tab.counters() for tab in tabs]
    t0, server0, browser0, busy0 = machine.snapshot()
    pump(seconds)
    t1, server1, browser1, busy1 = machine.snapshot()
    accepted_after = probe.accepted_now()
    if spy is not None:
        spy.wait(60)
    wall = t1 - t0
    lags = sorted(took for at, took, _ in probe.samples if t0 <= at <= t1)
    frames = [
        (after[0] - before[0], after[1] - before[1])
        for before, after in zip(frames_before, (tab.counters() for tab in tabs), strict=True)
    ]
    return {
        "phase": name,
        "seconds": wall,
        "server_cpu_percent": 100.0 * (server1 - server0) / wall,
        "browser_cpu_percent": 100.0 * (browser1 - browser0) / wall,
        "machine_cpu_percent": 100.0 * (busy1 - busy0) / wall,
        "accepted_per_s": (accepted_after - accepted_before) / wall,
        "health_p50_ms": 1000 * lags[len(lags) // 2] if lags else None,
        "health_p99_ms": 1000 * lags[int(len(lags) * 0.99)] if lags else None,
        "health_max_ms": 1000 * lags[-1] if lags else None,
        "ws_frames_per_s": sum(f for f, _ in frames) / wall,
        "ws_kb_per_s": sum(b for _, b in frames) / wall / 1024,
    }


def _py_spy() -> str:
    """py-spy next to this interpreter, or on the PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("--profile needs py-spy (pip install py-spy)")
    return found


def start_server(data: Path, mqtt_url: str | None) -> tuple[subprocess.Popen[str], str, str]:
    """``twinkit serve`` with the dashboard on ``data`` and its supervised Mosquitto (or the
    broker at ``mqtt_url``): (process, base URL, broker URL)."""
    twinkit = Path(sys.executable).with_name("twinkit")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINKIT_")}
    broker = ["--mqtt-url", mqtt_url] if mqtt_url else []
    server = subprocess.Popen(
        [str(twinkit), "serve", "--data", str(data), "--port", "0", *broker],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**env, "PYTHONUNBUFFERED": "1"},
    )
    assert server.stdout is not None
    base, printed = "", []
    for line in server.stdout:
        printed.append(line)
        if "twinkit serving" in line:
            base = line.rsplit(" on ", 1)[1].strip()
        elif base and "MQTT" in line:  # the broker line comes last
            threading.Thread(target=server.stdout.read, daemon=True).start()  # keep draining
            return server, base, line.split()[1]
    raise RuntimeError(
        f"twinkit serve exited with {server.wait()}; it printed:\n" + "".join(printed)
    )


def create_twins(base: str, token: str, twins: int) -> None:
    """The SENSOR model and ``dev-0`` .. ``dev-<twins-1>``, through the API."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        http.post("/api/v1/models", json=[SENSOR]).raise_for_status()

        def one(index: int) -> None:
            http.put(f"/api/v1/twins/dev-{index}", json={"model": MODEL}).raise_for_status()

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(one, range(twins)))


def start_publisher(host: str, port: int, rate: float, seconds: float, twins: int) -> Any:
    args = [str(a) for a in (host, port, 1, rate, seconds, twins, HOT_EVERY)]
    return subprocess.Popen(
        [sys.executable, str(HERE / "_dashboard_publish.py"), *args],
        stdout=subprocess.PIPE,
        text=True,
    )


def navigations(tab: Tab, ui_base: str, twins: int, count: int) -> dict[str, Any]:
    """Open ``count`` other twins' pages, then the Overview ``count`` times, in ``tab``."""
    tables, charts, overviews = [], [], []
    step = max(1, (twins - 1) // count)
    for k in range(count):
        table, chart = time_to_chart(tab.page, f"{ui_base}/twins/dev-{1 + k * step}")
        tables.append(table)
        charts.append(chart)
    for _ in range(count):
        overviews.append(time_to_overview(tab.page, ui_base + "/"))

    def summary(values: list[float]) -> dict[str, float]:
        return {
            "median_ms": 1000 * statistics.median(values),
            "max_ms": 1000 * max(values),
        }

    return {
        "count": count,
        "twin_table": summary(tables),
        "twin_chart": summary(charts),
        "overview_table": summary(overviews),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "server"
        server, base, mqtt_url = start_server(data, args.mqtt_url)
        host, port = mqtt_url.removeprefix("mqtt://").rsplit(":", 1)
        token = (data / "admin-token").read_text().strip()
        publisher = None
        try:
            create_twins(base, token, args.twins)
            print(f"twinkit serve on {base} (broker {mqtt_url}), {args.twins:,} twins", flush=True)
            probe = Probe(base)
            probe.start()
            machine = Machine(psutil.Process(server.pid))
            total = WARMUP_S + args.seconds + 2 * SETTLE_S + 120 + 30 * args.navigations
            publisher = start_publisher(host, int(port), args.rate, total, args.twins)
            result = _phases(args, base, token, machine=machine, probe=probe)
            probe.stop()
            publisher.terminate()
            out, _ = publisher.communicate(timeout=30)
            result["publisher"] = json.loads(out.strip().splitlines()[-1])
            return result
        finally:
            if publisher is not None and publisher.poll() is None:
                publisher.kill()
            server.terminate()
            server.wait(30)


def _phases(
    args: argparse.Namespace,
    base: str,
    token: str,
    *,
    machine: Machine,
    probe: Probe,
) -> dict[str, Any]:
    out: Path | None = args.profile
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    phases: list[dict[str, Any]] = []

    def phase(name: str, tabs: list[Tab], pump: Any) -> None:
        spied = None if out is None else out / f"phase{len(phases) + 1}.txt"
        phases.append(
            measure(
                name,
                args.seconds / 3,
                machine=machine,
                probe=probe,
                tabs=tabs,
                pump=pump,
                profile=spied,
            )
        )
        _say(phases[-1])

    time.sleep(WARMUP_S)
    phase("no browser", [], time.sleep)
    found = _browser_phases(args, base + "/ui", token, phase)
    _costs(phases)
    return {"phases": phases, **found}


def _browser_phases(
    args: argparse.Namespace, ui_base: str, token: str, phase: Any
) -> dict[str, Any]:
    """Phases 2 and 3 (``phase(name, tabs, pump)`` measures one), then the navigations."""
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(30_000)
        overview = open_tab(context)
        login(overview.page, ui_base, token, "/")
        overview.page.locator('[data-testid="twin-table"] tbody tr').first.wait_for()

        def pump(seconds: float) -> None:
            overview.page.wait_for_timeout(seconds * 1000)

        pump(SETTLE_S)
        phase("overview", [overview], pump)
        twin = open_tab(context)
        time_to_chart(twin.page, ui_base + "/twins/dev-0")
        charts = twin.hook_charts()
        pump(SETTLE_S)
        page_start = twin.page.evaluate("performance.now()")
        phase("overview + twin page", [overview, twin], pump)
        page_end = twin.page.evaluate("performance.now()")
        draws = draw_stats(twin.draws(), twin.redraws(), page_start, page_end)
        draws["charts_on_page"] = charts
        draws.update(long_task_stats(twin.long_tasks(), page_start, page_end))
        nav = navigations(twin, ui_base, args.twins, args.navigations)
        browser.close()
    return {"twin_page_charts": draws, "navigation": nav}


def _costs(phases: list[dict[str, Any]]) -> None:
    """Each phase's server CPU over phase 1's: plainly, and against what ingest alone would
    have cost at the phase's accepted rate (a server starved of CPU accepts fewer messages)."""
    first = phases[0]
    per_message = first["server_cpu_percent"] / max(first["accepted_per_s"], 1.0)
    for phase in phases:
        phase["dashboard_cpu_percent"] = phase["server_cpu_percent"] - first["server_cpu_percent"]
        expected = per_message * phase["accepted_per_s"]
        phase["dashboard_cpu_percent_at_same_ingest"] = phase["server_cpu_percent"] - expected


def _say(phase: dict[str, Any]) -> None:
    print(
        f"{phase['phase']:<22} server CPU {phase['server_cpu_percent']:5.1f}% "
        f"(machine {phase['machine_cpu_percent']:5.1f}%, Chromium {phase['browser_cpu_percent']:5.1f}%), "
        f"accepted {phase['accepted_per_s']:8,.0f} msg/s, GET /health p50 {phase['health_p50_ms']:.1f} ms "
        f"p99 {phase['health_p99_ms']:.1f} ms max {phase['health_max_ms']:.1f} ms, "
        f"websocket {phase['ws_frames_per_s']:.1f} frames/s {phase['ws_kb_per_s']:.1f} KiB/s",
        flush=True,
    )


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    for phase in result["phases"][1:]:
        print(
            f"dashboard CPU ({phase['phase']}): {phase['dashboard_cpu_percent']:+.1f}% of a core "
            f"over no browser; {phase['dashboard_cpu_percent_at_same_ingest']:+.1f}% against "
            "ingest alone at this phase's rate",
            flush=True,
        )
    draws = result["twin_page_charts"]
    print(
        f"twin page ({draws['charts_on_page']} charts): {draws['appends_per_s']:.1f} live appends/s, "
        f"{draws['points_per_append']:.0f} points each; busiest second {draws['sent_busiest_1s_appends']} "
        f"as sent (shortest gap {draws['sent_min_gap_ms'] or 0:.0f} ms), {draws['run_busiest_1s_appends']} "
        f"as run in the browser (shortest gap {draws['run_min_gap_ms'] or 0:.0f} ms); redraws per chart "
        f"{draws['redraws_per_chart_per_s']:.1f}/s, busiest chart's busiest second "
        f"{draws['busiest_chart_1s_redraws']}; newest point drawn {draws['newest_point_age_p50_ms'] or 0:.0f} ms "
        f"after it was published at p50, {draws['newest_point_age_p99_ms'] or 0:.0f} ms at p99 "
        f"(of which sent to run in the browser {draws['sent_to_run_p50_ms'] or 0:.0f} ms at p50, "
        f"{draws['sent_to_run_p99_ms'] or 0:.0f} ms at p99); "
        f"main thread: {draws['long_tasks']} tasks over 50 ms ({100 * draws['long_task_share']:.1f}% of "
        f"the time, longest {draws['longest_task_ms']:.0f} ms)",
        flush=True,
    )
    nav = result["navigation"]
    print(
        f"navigation under load (median of {nav['count']}): twin page telemetry table "
        f"{nav['twin_table']['median_ms']:.0f} ms, first chart with data {nav['twin_chart']['median_ms']:.0f} ms "
        f"(max {nav['twin_chart']['max_ms']:.0f} ms); overview twin table {nav['overview_table']['median_ms']:.0f} ms",
        flush=True,
    )
    pub = result["publisher"]
    print(
        f"publisher: {pub['sent']:,} messages in {pub['seconds']:.0f} s = {pub['sent'] / pub['seconds']:,.0f}/s "
        f"(target {args.rate:,.0f}/s; largest backlog {pub['max_behind_s']:.2f} s)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 s phases, 3 navigations")
    parser.add_argument("--seconds", type=float, help="seconds of the three phases together (60)")
    parser.add_argument("--rate", type=float, default=10_000.0, help="messages per second")
    parser.add_argument("--twins", type=int, default=1_000, help="twins (at least 2)")
    parser.add_argument("--navigations", type=int, help="page openings timed (7; 3 with --quick)")
    parser.add_argument("--mqtt-url", help="use this broker instead of starting a Mosquitto")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample the server with py-spy in each phase (DIR/phase<N>.txt, collapsed stacks)",
    )
    args = parser.parse_args()
    if args.seconds is None:
        args.seconds = 15.0 if args.quick else 60.0
    if args.navigations is None:
        args.navigations = 3 if args.quick else 7
    if args.twins < 2:
        parser.error(f"--twins must be at least 2, got {args.twins}")
    print(describe(), flush=True)
    print("command: " + " ".join([Path(sys.executable).name, *sys.argv]), flush=True)
    result = run(args)
    report(result, args)
    print(json.dumps({"rate": args.rate, "twins": args.twins, **result}))


if __name__ == "__main__":
    main()

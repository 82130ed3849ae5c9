"""The browser side of bench/dashboard.py: Debian's Chromium under Playwright, signing in, the
dashboard's pages, and what the bench reads from them (chart redraws, websocket traffic, the
time until a page shows its data).

Chart redraws are counted in the page itself: an init script wraps ``window.twinkitAppend``
(the function the twin page's live charts call once per update, see
``twinkit.ui._twin_chartview.APPEND_JS``) and records when each call came and how old the
newest point it draws is. Websocket frames are counted per tab from Playwright's events.
"""

from __future__ import annotations

import itertools
import re
import statistics
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from playwright.sync_api import BrowserContext, Page, WebSocket

__all__ = [
    "CHROMIUM",
    "Tab",
    "busiest_second",
    "draw_stats",
    "login",
    "long_task_stats",
    "open_tab",
    "time_to_chart",
    "time_to_overview",
]

CHROMIUM = "/usr/bin/chromium"

# Records every live chart update: when it came, how many points, and the newest point's age.
_COUNT_DRAWS = """
(() => {
  window.__draws = [];
  window.__longTasks = [];  // [start, duration] of main-thread tasks over 50 ms
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longTasks.push([e.startTime, e.duration]);
  }).observe({type: "longtask", buffered: true});
  let inner;
  Object.defineProperty(window, "twinkitAppend", {
    configurable: true,
    get() { return inner; },
    set(fn) {
      inner = function (patches, lo, hi, cap) {
        let points = 0, newest = 0;
        for (const rows of Object.values(patches))
          for (const add of Object.values(rows))
            for (const p of add) { points++; if (p[0] > newest) newest = p[0]; }
        // hi: the end of the time axis, the server's clock when it sent this update
        const now = Date.now();
        window.__draws.push([performance.now(), points, newest ? now - newest : null, hi, now - hi]);
        return fn(patches, lo, hi, cap);
      };
    },
  });
})();
"""

# Wraps setOption of every chart on the page: counts each chart's redraws, appends and reloads.
_HOOK_CHARTS = """
() => {
  window.__redraws = window.__redraws || [];
  let hooked = 0;
  for (const el of document.querySelectorAll('[data-testid^="chart-"]')) {
    const chart = getElement(el)?.chart;
    if (!chart || chart.__counted) continue;
    const inner = chart.setOption.bind(chart);
    chart.setOption = (...args) => {
      window.__redraws.push([performance.now(), el.id]);
      return inner(...args);
    };
    chart.__counted = true;
    hooked++;
  }
  return hooked;
}
"""

# True once some echart of the twin page has a series with data.
_CHART_HAS_DATA = """
() => [...document.querySelectorAll('[data-testid^="chart-"]')].some((el) => {
  const chart = getElement(el)?.chart;
  const series = chart ? chart.getOption().series || [] : [];
  return series.some((s) => (s.data || []).length > 0);
})
"""


@dataclass
class Tab:
    """A page with counters of the websocket frames it received."""

    page: Page
    frames: int = 0
    frame_bytes: int = 0
    sockets: list[WebSocket] = field(default_factory=list)

    def _watch(self, socket: WebSocket) -> None:
        self.sockets.append(socket)
        socket.on("framereceived", self._frame)

    def _frame(self, payload: str | bytes) -> None:
        self.frames += 1
        self.frame_bytes += len(payload)

    def counters(self) -> tuple[int, int]:
        """(frames, bytes) received so far."""
        return self.frames, self.frame_bytes

    def hook_charts(self) -> int:
        """Count every redraw of the charts on the page from now on; gives how many charts."""
        hooked: int = self.page.evaluate(_HOOK_CHARTS)
        return hooked

    def redraws(self) -> list[list[Any]]:
        """Every redraw of a hooked chart so far: ``[ms since page load, element id]``."""
        found: list[list[Any]] = self.page.evaluate("window.__redraws || []")
        return found

    def long_tasks(self) -> list[list[float]]:
        """The page's main-thread tasks over 50 ms so far: ``[start ms, duration ms]``."""
        found: list[list[float]] = self.page.evaluate("window.__longTasks || []")
        return found

    def draws(self) -> list[list[float | None]]:
        """Every live chart update so far: ``[ms since page load, points, age of the newest
        point in ms, the server's clock when it was sent (ms since the epoch), ms from sent to
        run]``."""
        found: list[list[float | None]] = self.page.evaluate("window.__draws || []")
        return found


def open_tab(context: BrowserContext) -> Tab:
    """A new tab that counts its websocket frames and its live chart updates."""
    page = context.new_page()
    tab = Tab(page)
    page.on("websocket", tab._watch)
    page.add_init_script(_COUNT_DRAWS)
    return tab


def login(page: Page, base: str, secret: str, path: str = "/") -> None:
    """Sign in on the dashboard at ``base`` (``http://host:port/ui``) and land on ``path``."""
    page.goto(base + "/login?next=" + quote(path, safe=""))
    page.get_by_test_id("token").fill(secret)
    page.get_by_test_id("sign-in").click()
    page.wait_for_url(re.compile(re.escape(base + path.rstrip("/")) + r"/?(\?.*)?$"))


def time_to_chart(page: Page, url: str, timeout_s: float = 30.0) -> tuple[float, float]:
    """Open ``url`` (a twin page) and give the seconds until its telemetry table has a row and
    until its first chart shows data."""
    start = time.perf_counter()
    page.goto(url, wait_until="commit", timeout=timeout_s * 1000)
    page.locator('[data-testid="telemetry"] tbody tr').first.wait_for(
        state="visible", timeout=timeout_s * 1000
    )
    table = time.perf_counter() - start
    page.wait_for_function(_CHART_HAS_DATA, timeout=timeout_s * 1000, polling=20)
    return table, time.perf_counter() - start


def time_to_overview(page: Page, url: str, timeout_s: float = 30.0) -> float:
    """Open the overview at ``url`` and give the seconds until its twin table has a row."""
    start = time.perf_counter()
    page.goto(url, wait_until="commit", timeout=timeout_s * 1000)
    page.locator('[data-testid="twin-table"] tbody tr').first.wait_for(
        state="visible", timeout=timeout_s * 1000
    )
    return time.perf_counter() - start


def busiest_second(times: list[float]) -> int:
    """The most of ``times`` (ms, sorted) inside any one second."""
    busiest = first = 0
    for last, at in enumerate(times):
        while at - times[first] >= 1000.0:
            first += 1
        busiest = max(busiest, last - first + 1)
    return busiest


def long_task_stats(tasks: list[list[float]], since_ms: float, until_ms: float) -> dict[str, Any]:
    """Main-thread tasks over 50 ms between two page times: how many, the share of the time
    they took, the longest."""
    inside = [float(d) for start, d in tasks if since_ms <= start < until_ms]
    seconds = max((until_ms - since_ms) / 1000.0, 1e-9)
    return {
        "long_tasks": len(inside),
        "long_task_share": sum(inside) / 1000.0 / seconds,
        "longest_task_ms": max(inside, default=0.0),
    }


def draw_stats(
    draws: list[list[Any]], redraws: list[list[Any]], since_ms: float, until_ms: float
) -> dict[str, Any]:
    """The twin page's chart updates between two page times. ``draws``: live appends (one
        call updates every chart); per second, the busiest 1 s window and the shortest gap by the
        server's clock when it sent them (``sent_*``) and by when the browser ran them, points per
        call, the newest point's age (publish to drawn) and the time from sent to run (server
    tick to the browser running it). ``redraws``: every chart's ``setOption`` calls (appends and
        reloads of bucketed charts); per chart per second and the busiest chart's busiest second
        (browser clock)."""
    seconds = max((until_ms - since_ms) / 1000.0, 1e-9)
    inside = [d for d in draws if since_ms <= d[0] < until_ms]
    times = [float(d[0]) for d in inside]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    sent = sorted(float(d[3]) for d in inside)
    sent_gaps = [b - a for a, b in itertools.pairwise(sent)]
    ages = sorted(float(d[2]) for d in inside if d[2] is not None)
    transit = sorted(float(d[4]) for d in inside)
    per_chart: dict[str, list[float]] = {}
    for at, chart in redraws:
        if since_ms <= at < until_ms:
            per_chart.setdefault(str(chart), []).append(float(at))
    return {
        "appends": len(inside),
        "appends_per_s": len(inside) / seconds,
        "sent_busiest_1s_appends": busiest_second(sent),
        "sent_min_gap_ms": min(sent_gaps) if sent_gaps else None,
        "run_busiest_1s_appends": busiest_second(times),
        "run_min_gap_ms": min(gaps) if gaps else None,
        "points_per_append": statistics.mean(float(d[1]) for d in inside) if inside else 0.0,
        "newest_point_age_p50_ms": ages[len(ages) // 2] if ages else None,
        "newest_point_age_p99_ms": ages[int(len(ages) * 0.99)] if ages else None,
        "sent_to_run_p50_ms": transit[len(transit) // 2] if transit else None,
        "sent_to_run_p99_ms": transit[int(len(transit) * 0.99)] if transit else None,
        "charts": len(per_chart),
        "redraws_per_chart_per_s": (
            statistics.mean(len(t) for t in per_chart.values()) / seconds if per_chart else 0.0
        ),
        "busiest_chart_1s_redraws": max((busiest_second(t) for t in per_chart.values()), default=0),
    }

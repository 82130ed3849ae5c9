"""The twin page's charts as NiceGUI elements: a range picker, one ``ui.echart`` per chart,
live points appended in the browser, and zoom into history by loading the zoomed range again.

Live: each tick appends only the new points (a small ``run_javascript`` call per tick for all
charts); the full options are sent only when a range is loaded. Charts of a range read as
buckets (longer than an hour, or dense) are read again every few seconds instead of being fed
raw points. Zoom (``ctrl`` + wheel, drag on the slider): after the zoom settles the page
loads the zoomed range, downsampled for its length, on every chart, and stops following live
until "Live" is pressed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from nicegui import background_tasks, ui
from nicegui.client import Client
from nicegui.events import GenericEventArguments

from twinkit.core import Event
from twinkit.query._series import SeriesStore
from twinkit.ui._twin_charts import (
    MAX_LIVE_POINTS,
    ChartSpec,
    SeriesData,
    append_live,
    bucket_width,
    chart_options,
    default_charts,
    live_patch,
    live_rows,
    zoom_range,
)
from twinkit.ui._twin_data import format_duration, format_time
from twinkit.ui._twin_history import load_chart, raw_kept

__all__ = ["RANGES", "ChartPanel"]

logger = logging.getLogger(__name__)

RANGES: Final = {
    600: "10 min",
    3600: "1 h",
    86400: "24 h",
    7 * 86400: "7 d",
    30 * 86400: "30 d",
    365 * 86400: "1 y",
}
"""Live ranges to pick, in seconds."""
ZOOM_SETTLE_S: Final = 0.4
"""A zoom loads its range once no other zoom came for this long."""
BUCKET_RELOAD_S: Final = 5.0
"""Least seconds between two reloads of a bucketed chart while live."""

# Appends new points to the charts' series and slides the time axis (see the module docstring).
APPEND_JS: Final = """
window.twinkitAppend = function (patches, lo, hi, cap) {
  for (const [id, rows] of Object.entries(patches)) {
    const el = getElement(id);
    if (!el || !el.chart || !el.options) continue;
    const update = [];
    for (const s of el.options.series) {
      const add = rows[s.id];
      if (add) for (const p of add) s.data.push(p);
      let cut = 0;
      while (cut < s.data.length && s.data[cut][0] < lo) cut++;
      cut = Math.max(cut, s.data.length - cap);
      if (cut > 0) s.data.splice(0, cut);
      update.push({id: s.id, data: s.data});
    }
    el.options.xAxis.min = lo;
    el.options.xAxis.max = hi;
    el.chart.setOption({xAxis: {min: lo, max: hi}, series: update});
  }
};
"""


@dataclass(slots=True, eq=False)
class _Chart:
    spec: ChartSpec
    element: ui.echart
    data: dict[str, SeriesData] = field(default_factory=dict)

    @property
    def bucketed(self) -> bool:
        return any(found.width is not None for found in self.data.values())


class ChartPanel:
    """The charts of one twin on one page; build it inside the page (a NiceGUI context)."""

    def __init__(
        self,
        twin_id: str,
        model: str,
        specs: Sequence[ChartSpec],
        store: SeriesStore,
        *,
        clock: Callable[[], float] = time.time,
        with_data: Collection[str] = (),
    ) -> None:
        self.twin_id = twin_id
        self.model = model
        self.specs = list(specs)
        self.store = store
        self.clock = clock
        self.span = 600.0  # the live range, seconds
        self.follow = True  # following live (False: zoomed, or in the past)
        self.start, self.end = 0.0, 0.0
        self.marker: float | None = None
        self.shown = default_charts(self.specs, with_data)
        self.charts: dict[str, _Chart] = {}
        self._client: Client | None = None
        self._grid: ui.element | None = None
        self._range_label: ui.label | None = None
        self._live_button: ui.button | None = None
        self._zooms = 0
        self._last_reload = 0.0
        self._loading = False

    # --- building -----------------------------------------------------------------------

    def build(self) -> None:
        """The toolbar and the chart grid; call :meth:`load` afterwards."""
        self._client = ui.context.client
        ui.add_head_html(f"<script>{APPEND_JS}</script>")
        with ui.row().classes("items-center gap-4 w-full"):
            ui.toggle(
                {float(k): v for k, v in RANGES.items()}, value=self.span, on_change=self._pick
            ).props("dense no-caps data-testid=chart-range")
            self._live_button = ui.button("Live", on_click=self.go_live).props(
                "dense outline data-testid=chart-live"
            )
            self._range_label = (
                ui.label().classes("text-caption").props("data-testid=chart-range-label")
            )
            ui.space()
            options = {spec.key: spec.title for spec in self.specs}
            ui.select(
                options,
                value=list(self.shown),
                multiple=True,
                label="Charts",
                on_change=self._choose,
            ).classes("min-w-64").props("dense use-chips data-testid=chart-picker")
        self._grid = ui.element("div").classes("grid grid-cols-1 lg:grid-cols-2 gap-2 w-full")
        self._draw_charts()

    def _draw_charts(self) -> None:
        assert self._grid is not None
        self._grid.clear()
        self.charts.clear()
        with self._grid:
            if not self.specs:
                ui.label("This twin's model has no numeric telemetry to chart.").classes(
                    "text-grey"
                )
            for spec in self.specs:
                if spec.key not in self.shown:
                    continue
                element = ui.echart({"series": []}).classes("w-full h-64")
                element.props(f"data-testid=chart-{spec.key}")
                element.on("chart:datazoom", self._zoomed, ["start", "end", "batch"])
                self.charts[spec.key] = _Chart(spec, element)

    # --- ranges -------------------------------------------------------------------------

    async def load(self, start: float, end: float, *, marker: float | None = None) -> None:
        """Read ``[start, end]`` for every shown chart and draw it."""
        self.start, self.end, self.marker = start, end, marker
        self._loading = True
        try:
            charts = list(self.charts.values())
            kept = await raw_kept(self.store, self.twin_id, self.model, self.clock())
            found = await asyncio.gather(
                *(
                    load_chart(self.store, self.twin_id, c.spec, start, end, kept=kept)
                    for c in charts
                )
            )
        finally:
            self._loading = False
        for chart, data in zip(charts, found, strict=True):
            chart.data = data
            chart.element.options.clear()
            chart.element.options.update(chart_options(chart.spec, data, start, end, marker=marker))
            chart.element.update()
        self._last_reload = self.clock()
        self._show_range()

    def _show_range(self) -> None:
        if self._range_label is not None:
            how = "live" if self.follow else ("then" if self.marker is not None else "zoomed")
            found = [d for chart in self.charts.values() for d in chart.data.values()]
            widths = sorted({d.width for d in found if d.width is not None})
            read = []
            if any(d.width is None for d in found):
                read.append("raw points")
            if widths:
                read.append("buckets of " + ", ".join(format_duration(w) for w in widths))
            self._range_label.text = (
                f"{format_time(self.start)} to {format_time(self.end)} "
                f"({how}; {' and '.join(read) or 'no data'})"
            )
        if self._live_button is not None:
            self._live_button.set_enabled(not self.follow)

    async def go_live(self) -> None:
        """Follow live again over the picked range."""
        self.follow = True
        now = self.clock()
        await self.load(now - self.span, now)

    async def reload(self) -> None:
        """Read the current range again (the live one moved on to now)."""
        if self.follow:
            await self.go_live()
        else:
            await self.load(self.start, self.end, marker=self.marker)

    async def show_past(self, at: float) -> None:
        """Stop following live and show the range around ``at`` with a line at ``at``."""
        self.follow = False
        await self.load(at - self.span * 0.9, at + self.span * 0.1, marker=at)

    async def _pick(self, event: Any) -> None:
        self.span = float(event.value or 600.0)
        if self.marker is not None:
            await self.show_past(self.marker)
        else:
            await self.go_live()

    async def _choose(self, event: Any) -> None:
        self.shown = [key for key in (event.value or []) if any(s.key == key for s in self.specs)]
        self._draw_charts()
        await self.reload()

    async def _zoomed(self, event: GenericEventArguments) -> None:
        wanted = zoom_range(event.args, self.start, self.end)
        if wanted is None:
            return
        self._zooms += 1
        mine = self._zooms
        await asyncio.sleep(ZOOM_SETTLE_S)
        if mine != self._zooms:  # another zoom came: that one loads
            return
        wanted = zoom_range(event.args, self.start, self.end)
        if wanted is None:
            return
        self.follow = False
        await self.load(*wanted, marker=self.marker)

    # --- live ---------------------------------------------------------------------------

    def set_specs(self, specs: Sequence[ChartSpec]) -> bool:
        """Take new chart specs (a twin gained derived series); True when they differ."""
        if list(specs) == self.specs:
            return False
        known = {s.key for s in self.specs}
        self.specs = list(specs)
        self.shown += [s.key for s in self.specs if s.key not in known]
        self._draw_charts()
        return True

    def on_events(self, events: Sequence[Event]) -> None:
        """Append the new points of ``events`` while following live."""
        if not self.follow or self._loading or self._client is None:
            return
        names = {name for chart in self.charts.values() for name in chart.spec.names()}
        new = live_rows(events, names)
        now = self.clock()
        newest = max((float(p.times[-1]) for p in new.values() if len(p.times)), default=now)
        self.end = max(now, newest, self.end)
        self.start = self.end - self.span
        patches: dict[str, Any] = {}
        reload = False
        for chart in self.charts.values():
            if chart.bucketed:
                reload = True
                continue
            added = append_live(chart.data, new, self.start)
            patch = live_patch(chart.spec, added)
            if patch:
                patches[str(chart.element.id)] = patch
        if patches:
            lo, hi = round(self.start * 1000.0, 3), round(self.end * 1000.0, 3)
            data = orjson.dumps(patches).decode()
            self._client.run_javascript(f"twinkitAppend({data}, {lo}, {hi}, {MAX_LIVE_POINTS})")
        if reload and now - self._last_reload >= max(
            BUCKET_RELOAD_S, bucket_width(self.start, self.end)
        ):
            self._last_reload = now
            background_tasks.create(self.reload(), name="twin charts")

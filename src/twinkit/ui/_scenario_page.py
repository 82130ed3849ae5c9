"""One scenario's page (``/scenarios/{name}``): its status and progress, followed live until
it ends, cancel (operator), and the comparison with reality the API's ``/compare`` gives
(``compare_scenario``), drawn with ECharts: reality solid, the scenario dashed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Final

from nicegui import ui

from twinkit.api._auth import Role
from twinkit.errors import TwinkitError
from twinkit.model import Property, Telemetry
from twinkit.sim._scenario_results import compare_scenario
from twinkit.store import ScenarioRecord
from twinkit.ui._context import page_url, services, twin_url
from twinkit.ui._control_forms import error_text
from twinkit.ui._frame import frame
from twinkit.ui._scenario_view import comparison_options, default_series
from twinkit.ui._session import authorize, signed_in

__all__ = ["CHART_BUCKETS", "scenario_page"]

logger = logging.getLogger(__name__)

POLL_S: Final = 0.5
"""Seconds between two looks at a running scenario (its progress is kept in the store)."""
CHART_BUCKETS: Final = 600
"""A scenario with more steps than this is compared in this many buckets (means)."""


def _label(series: tuple[str, str]) -> str:
    return f"{series[0]} / {series[1]}"


@dataclass(slots=True, eq=False)
class _View:
    """The live parts of one scenario's page."""

    name: str
    record: ScenarioRecord
    status: ui.label
    progress: ui.linear_progress
    error: ui.label
    picker: ui.select
    chart: ui.echart
    note: ui.label
    series: list[tuple[str, str]] = field(default_factory=list)
    cancel: ui.button | None = None

    def show(self, record: ScenarioRecord) -> None:
        self.record = record
        self.status.text = record.status.value
        self.progress.value = round(record.progress, 3)
        self.error.text = record.error or ""
        if self.cancel is not None:
            self.cancel.set_visibility(not record.status.final)

    async def load_series(self) -> None:
        found = await services().store.scenario_series(self.name)
        if found == self.series:
            return
        chosen = _chosen(self.picker.value)
        self.series = found
        self.picker.options = {_label(s): _label(s) for s in found}
        if chosen not in found:
            roots = [str(r) for r in self.record.spec.get("roots") or []]
            first = default_series(found, roots, _measured(roots))
            self.picker.value = None if first is None else _label(first)
        self.picker.update()

    async def draw(self) -> None:
        chosen = _chosen(self.picker.value)
        if chosen is None:
            self.note.text = "No simulated series yet."
            return
        twin_id, series = chosen
        buckets = _buckets(self.record)
        try:
            frame = await compare_scenario(
                services().store, self.name, twin_id, series, buckets=buckets
            )
        except TwinkitError as err:
            self.note.text = error_text(err)
            return
        real = int(frame["reality"].notna().sum()) if "reality" in frame else 0
        self.note.text = (
            f"{len(frame)} points"
            + (f" (means of {buckets} buckets)" if buckets else "")
            + ("" if real else "; no measured values of this series over the horizon")
        )
        self.chart.options.clear()
        self.chart.options.update(
            comparison_options(frame, label=_label(chosen), unit=_unit(twin_id, series))
        )
        self.chart.update()


def _chosen(value: Any) -> tuple[str, str] | None:
    if not isinstance(value, str) or " / " not in value:
        return None
    twin_id, _, name = value.rpartition(" / ")
    return twin_id, name


def _buckets(record: ScenarioRecord) -> int | None:
    horizon, dt = record.spec.get("horizon"), record.spec.get("dt")
    if isinstance(horizon, int | float) and isinstance(dt, int | float) and dt > 0:
        return CHART_BUCKETS if horizon / dt > CHART_BUCKETS else None
    return CHART_BUCKETS


def _measured(twin_ids: list[str]) -> dict[str, list[str]]:
    """Per twin, the contents it has measured values of (telemetry and properties)."""
    runtime = services().runtime
    found: dict[str, list[str]] = {}
    for twin_id in twin_ids:
        twin = runtime.find(twin_id)
        if twin is not None:
            found[twin_id] = [*twin.telemetry, *twin.properties]
    return found


def _unit(twin_id: str, name: str) -> str | None:
    runtime = services().runtime
    twin = runtime.find(twin_id)
    if twin is None:
        return None
    content = runtime.models.contents(twin.model).get(name)
    return content.unit if isinstance(content, Property | Telemetry) else None


def _summary(record: ScenarioRecord) -> None:
    spec = record.spec
    roots = [str(r) for r in spec.get("roots") or []]
    with ui.row().classes("items-center gap-2"):
        ui.label("Roots:")
        for root in roots:
            ui.link(root, twin_url(root))
        ui.label(
            f"depth {spec.get('depth')}, horizon {spec.get('horizon')} s, step {spec.get('dt')} s"
            f", started by {record.cause}"
        )
    changes = {k: spec.get(k) for k in ("parameters", "inputs", "setpoints", "faults")}
    if any(changes.values()):
        with ui.expansion("Overrides and faults").classes("w-full"):
            ui.code(json.dumps({k: v for k, v in changes.items() if v}, indent=2), language="json")


async def _cancel(view: _View) -> None:
    principal = await authorize(Role.OPERATOR, "cancelling a scenario")
    if principal is None:
        return
    try:
        record = await services().scenarios.cancel(view.name)
    except TwinkitError as err:
        ui.notify(error_text(err), type="negative")
        return
    logger.info("dashboard: %s cancelled scenario %s", principal.cause, view.name)
    view.show(record)


async def scenario_page(scenario_id: str) -> None:
    """The page of scenario ``scenario_id``."""
    principal = await signed_in(Role.VIEWER)
    if principal is None:
        return
    with frame(f"Scenario {scenario_id}", principal):
        ui.link("All scenarios", page_url("/scenarios"))
        try:
            record = await services().scenarios.get(scenario_id)
        except TwinkitError as err:
            ui.label(error_text(err)).classes("text-negative").props("data-testid=scenario-missing")
            return
        _summary(record)
        with ui.row().classes("items-center gap-4 w-full"):
            status = ui.label(record.status.value).classes("text-bold")
            status.props("data-testid=scenario-status")
            progress = ui.linear_progress(value=record.progress, show_value=False).classes("w-96")
            progress.props("data-testid=scenario-progress size=12px animation-speed=200")
            cancel = None
            if principal.role.allows(Role.OPERATOR):
                cancel = ui.button("Cancel").props(
                    "color=negative flat data-testid=scenario-cancel"
                )
        error = ui.label("").classes("text-negative").props("data-testid=scenario-failure")
        ui.label("Scenario against reality").classes("text-h6")
        picker = ui.select({}, label="Series", with_input=True).classes("w-96")
        picker.props("data-testid=scenario-series")
        note = ui.label("").classes("text-caption").props("data-testid=scenario-note")
        chart = ui.echart({"series": []}).classes("w-full h-96").props("data-testid=scenario-chart")
        view = _View(scenario_id, record, status, progress, error, picker, chart, note)
        view.cancel = cancel
        if cancel is not None:
            cancel.on_click(lambda: _cancel(view))
        view.show(record)
        picker.on_value_change(lambda _: view.draw())
        _follow(view)


def _follow(view: _View) -> None:
    """Poll the record while it runs (chart redrawn as points come), once more when it ends."""

    async def tick() -> None:
        try:
            record = await services().scenarios.get(view.name)
        except TwinkitError:
            timer.deactivate()
            view.status.text = "deleted"
            return
        view.show(record)
        await view.load_series()
        await view.draw()
        if record.status.final:
            timer.deactivate()

    timer = ui.timer(POLL_S, tick, immediate=True)

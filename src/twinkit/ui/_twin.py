"""The twin page (``/twins/{id}``): one twin's state, live — header with relationships and open
alerts, reported vs desired properties with their sync state, latest telemetry, charts with
derived values and zoom into history, events with who caused them, a time-travel control, and
(operator and up) the control panel of :mod:`twinkit.ui._control`.

Live parts follow the runtime's events for this twin through :func:`twinkit.ui._live.live`
(at most ten updates a second). Time travel folds the twin as of a past instant
(:func:`twinkit.query._timetravel.twin_as_of`, as ``GET /twins/{id}/as-of`` does); the page
then says it shows the past and stops following live until "Back to live".
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from nicegui import background_tasks, ui

from twinkit.api._auth import Principal, Role
from twinkit.api._services import Services
from twinkit.core import Event, EventType, Twin
from twinkit.ui._alert_buttons import alert_buttons
from twinkit.ui._context import page_url, services, twin_url
from twinkit.ui._control import control_panel
from twinkit.ui._frame import frame
from twinkit.ui._live import live
from twinkit.ui._session import signed_in
from twinkit.ui._twin_charts import chart_specs
from twinkit.ui._twin_chartview import ChartPanel
from twinkit.ui._twin_data import (
    cause_label,
    event_row,
    format_time,
    format_value,
    is_logged,
    open_alerts,
    property_rows,
    relationship_links,
    unit_label,
)
from twinkit.ui._twin_history import EVENTS_SHOWN, recent_events, token_names, twin_then

__all__ = ["register"]

logger = logging.getLogger(__name__)


def _column(name: str, label: str, align: str = "left") -> dict[str, Any]:
    return {"name": name, "label": label, "field": name, "align": align}


_PROPERTY_COLUMNS: Final = [
    _column("name", "Property"),
    _column("reported", "Reported", "right"),
    _column("unit", ""),
    _column("desired", "Desired", "right"),
    _column("desiredVersion", "Version", "right"),
    _column("ack", "Acknowledgement"),
    _column("sync", "Sync"),
    _column("lastChanged", "Changed (UTC)"),
    _column("lastReported", "Reported at (UTC)"),
]
_TELEMETRY_COLUMNS: Final = [
    _column("name", "Telemetry"),
    _column("value", "Latest", "right"),
    _column("unit", ""),
    _column("time", "At (UTC)"),
]
_EVENT_COLUMNS: Final = [
    _column("seq", "Seq", "right"),
    _column("time", "Time (UTC)"),
    _column("type", "Event"),
    _column("summary", "What"),
    _column("cause", "Caused by"),
]
_SYNC_CELL: Final = """
<q-td :props="props">
  <q-badge v-if="props.value" :label="props.value"
    :color="{'in sync': 'positive', 'pending': 'info', 'rejected': 'negative'}[props.value]" />
</q-td>
"""
ALERT_RECHECK_S: Final = 30.0
_ALERT_EVENTS: Final = frozenset(
    {EventType.ALERT_RAISED, EventType.ALERT_ACKNOWLEDGED, EventType.ALERT_CLEARED}
)
"""Seconds between two checks of which alerts are still open (they close by age)."""
_LINK_EVENTS: Final = frozenset({EventType.RELATIONSHIP_ADDED, EventType.RELATIONSHIP_REMOVED})
_STATE_EVENTS: Final = frozenset(
    {
        EventType.PROPERTY_REPORTED,
        EventType.DESIRED_PROPERTY_SET,
        EventType.DESIRED_PROPERTY_ACKNOWLEDGED,
        EventType.TWIN_CREATED,
    }
)


def _parse_time(text: str) -> float | None:
    """Seconds of ``2026-11-24 14:00`` (UTC unless it names a zone) or of plain seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


class _TwinPage:
    """The elements of one twin's page and what updates them."""

    def __init__(self, svc: Services, twin: Twin, principal: Principal) -> None:
        self.svc = svc
        self.twin_id = twin.id
        self.principal = principal
        self.twin = twin
        self.at: float | None = None  # the time-travel instant; None: live
        self.events: list[Event] = []
        self.tokens: Mapping[str, str] = {}
        self.alerts_drawn: object = None  # what the alerts show now (redrawn when it changes)
        contents = svc.runtime.models.contents(twin.model)
        self.contents = contents
        specs = chart_specs(contents, twin.derived)
        self.charts = ChartPanel(
            twin.id, twin.model, specs, svc.store, clock=svc.clock, with_data=twin.telemetry
        )

    async def build(self) -> None:
        self.tokens = await token_names(self.svc.store)
        self.events = await recent_events(self.svc.store, self.twin_id, self.twin.version)
        self.banner = ui.row().classes("w-full items-center gap-4 q-pa-sm bg-amber-2 rounded")
        self.banner.props("data-testid=past-banner").set_visibility(False)
        with self.banner:
            ui.icon("history").classes("text-h6")
            self.banner_text = ui.label().classes("text-weight-medium")
            ui.button("Back to live", on_click=self.back_to_live).props(
                "dense color=primary data-testid=back-to-live"
            )
        self._header()
        self._travel_controls()
        with ui.card().classes("w-full"):
            self.charts.build()
        self.properties = ui.table(columns=_PROPERTY_COLUMNS, rows=[], row_key="name")
        self.properties.classes("w-full").props("dense flat bordered data-testid=properties")
        self.properties.add_slot("body-cell-sync", _SYNC_CELL)
        self.telemetry = ui.table(columns=_TELEMETRY_COLUMNS, rows=[], row_key="name")
        self.telemetry.classes("w-full").props("dense flat bordered data-testid=telemetry")
        if self.principal.role.allows(Role.OPERATOR):
            with (
                ui.expansion("Control", icon="tune")
                .classes("w-full")
                .props("data-testid=twin-control")
            ):
                control_panel(self.twin_id, self.principal)
        ui.label("Events").classes("text-h6")
        self.event_table = ui.table(
            columns=_EVENT_COLUMNS, rows=[], row_key="seq", pagination=20
        ).classes("w-full")
        self.event_table.props("dense flat bordered data-testid=events")
        self._render(self.twin)
        live(self._on_live, twins=[self.twin_id])
        ui.timer(ALERT_RECHECK_S, self._render_alerts)  # acknowledgements and clears, too
        now = self.svc.clock()
        await self.charts.load(now - self.charts.span, now)

    # --- drawing ------------------------------------------------------------------------

    def _render(self, twin: Twin) -> None:
        """Everything but the charts, from ``twin`` and :attr:`events`."""
        self.twin = twin
        self._render_header(twin)
        self.properties.rows = [row.to_row() for row in property_rows(twin, self.contents)]
        self._render_telemetry(twin)
        self._render_events()

    def _header(self) -> None:
        with ui.card().classes("w-full").props("data-testid=twin-header"):
            with ui.row().classes("items-baseline gap-6"):
                ui.label(self.twin_id).classes("text-h6").props("data-testid=twin-id")
                self.model_label = ui.label().classes("text-grey-8")
                self.model_label.props("data-testid=twin-model")
                self.version_label = ui.label().props("data-testid=twin-version")
                self.times_label = ui.label().classes("text-caption")
            self.links = ui.row().classes("items-center gap-2").props("data-testid=relationships")
            self.alerts = ui.column().classes("gap-1").props("data-testid=alerts")

    def _render_header(self, twin: Twin, *, links: bool = True, alerts: bool = True) -> None:
        """The header's texts; relationships and alerts (rebuilt) only when asked."""
        self.model_label.text = twin.model
        self.version_label.text = f"version {twin.version}"
        self.times_label.text = (
            f"created {format_time(twin.created)} · updated {format_time(twin.updated)}"
        )
        if links:
            live_twin = self.svc.runtime.find(twin.id)
            self._render_links(twin, self.svc.runtime.incoming(twin.id) if live_twin else [])
        if alerts:
            self.alert_twin = twin
            self._render_alerts()

    def _render_alerts(self) -> None:
        """The open alerts of the twin shown (now, or as of the time travelled to)."""
        shown = getattr(self, "alert_twin", None) or self.twin
        found = open_alerts(shown)
        drawn = ([(a.name, a.time, a.acknowledged_by) for a in found], self.at is None)
        if drawn == self.alerts_drawn:
            return  # unchanged: keep the buttons (and what a click on them opened) in place
        self.alerts_drawn = drawn
        self.alerts.clear()
        with self.alerts:
            if not found:
                ui.label("No open alerts.").classes("text-caption text-grey")
            for alert in found:
                who = cause_label(alert.cause, self.tokens)
                acked = (
                    f" · acknowledged by {cause_label(alert.acknowledged_by, self.tokens)}"
                    if alert.acknowledged_by
                    else ""
                )
                with ui.row().classes("items-center gap-2").props("data-testid=alert"):
                    ui.label(
                        f"⚠ {alert.name} ({alert.severity}): {alert.message} "
                        f"· {format_time(alert.time)} · {who}{acked}"
                    ).classes("text-negative")
                    if self.at is None and self.principal.role.allows(Role.OPERATOR):
                        alert_buttons(
                            self.twin_id,
                            alert.name,
                            acknowledged=alert.acknowledged_by is not None,
                            redraw=self._redraw_alerts,
                        )

    def _redraw_alerts(self) -> None:
        """After an acknowledgement or a clear from this page: the live twin's alerts now."""
        live = self.svc.runtime.find(self.twin_id)
        if live is not None and self.at is None:
            self.alert_twin = live
        self._render_alerts()

    def _render_links(self, twin: Twin, incoming: Sequence[Any]) -> None:
        links = relationship_links(twin, incoming)
        self.links.clear()
        with self.links:
            if not links:
                ui.label("No relationships.").classes("text-caption text-grey")
            for link in links:
                arrow = "→" if link.outgoing else "←"
                with ui.row().classes("items-center gap-1 q-px-sm rounded bg-blue-grey-1"):
                    ui.label(f"{link.name} {arrow}").classes("text-caption")
                    ui.link(link.other, twin_url(link.other)).props(
                        f"data-testid=link-{'out' if link.outgoing else 'in'}-{link.other}"
                    )
            if self.at is not None and any(not link.outgoing for link in links):
                ui.label("(incoming: as now)").classes("text-caption text-grey")

    def _render_telemetry(self, twin: Twin) -> None:
        rows = []
        for name, latest in twin.telemetry.items():
            content = self.contents.get(name)
            unit = getattr(content, "unit", None)
            rows.append(
                {
                    "name": name,
                    "value": format_value(latest.value),
                    "unit": unit_label(unit),
                    "time": format_time(latest.time),
                }
            )
        self.telemetry.rows = sorted(rows, key=lambda row: row["name"])

    def _render_events(self) -> None:
        rows = [event_row(event, self.tokens).to_row() for event in reversed(self.events)]
        self.event_table.rows = rows

    # --- time travel --------------------------------------------------------------------

    def _travel_controls(self) -> None:
        now = self.svc.clock()
        created = min(self.twin.created, now - 1.0)
        with ui.row().classes("w-full items-center gap-4 no-wrap"):
            ui.label("Time travel").classes("text-weight-medium whitespace-nowrap")
            self.slider = ui.slider(min=created, max=now, step=1, value=now).classes("grow")
            self.slider.props("data-testid=time-slider")
            self.slider.on("change", self._slid)
            self.slider.on_value_change(self._sliding)
            self.when = ui.input("UTC time", placeholder="2026-11-24 14:00:00").classes("w-56")
            self.when.props("dense data-testid=time-input")
            self.when.on("keydown.enter", self._typed)
            ui.button("Go", on_click=self._typed).props("dense outline data-testid=time-go")

    def _sliding(self, event: Any) -> None:
        """Say which time the slider points at while it moves."""
        if isinstance(event.value, int | float):
            self.when.value = format_time(float(event.value))

    async def _slid(self, event: Any) -> None:
        value = event.args
        if isinstance(value, int | float) and not isinstance(value, bool):
            if value >= self.svc.clock() - 1.0:
                await self.back_to_live()
            else:
                await self.travel(float(value))

    async def _typed(self) -> None:
        at = _parse_time(str(self.when.value or ""))
        if at is None:
            ui.notify(
                f"not a time: {self.when.value!r}; expected e.g. 2026-11-24 14:00:00 (UTC)",
                type="warning",
            )
            return
        await self.travel(at)

    async def travel(self, at: float) -> None:
        """Show the twin as it was at ``at`` (the future shows it live)."""
        if at >= self.svc.clock():
            await self.back_to_live()
            return
        past = await twin_then(self.svc.store, self.twin_id, at, self.svc.runtime.models)
        if past is None:
            ui.notify(f"{self.twin_id} did not exist at {format_time(at)}", type="warning")
            return
        self.at = at
        self.events = await recent_events(self.svc.store, self.twin_id, past.version, until=at)
        self.banner_text.text = (
            f"The past: {self.twin_id} as it was at {format_time(at)}. Live updates are paused."
        )
        self.banner.set_visibility(True)
        self.slider.value = at
        self._render(past)
        await self.charts.show_past(at)

    async def back_to_live(self) -> None:
        """Leave the past: the live twin, its newest events, charts following live."""
        twin = self.svc.runtime.find(self.twin_id)
        if twin is None:
            ui.notify(f"{self.twin_id} no longer exists", type="warning")
            return
        self.at = None
        self.banner.set_visibility(False)
        self.events = await recent_events(self.svc.store, self.twin_id, twin.version)
        now = self.svc.clock()
        self.slider.props(f"max={now}")
        self.slider.value = now
        self._render(twin)
        await self.charts.go_live()

    # --- live ---------------------------------------------------------------------------

    def _on_live(self, events: list[Event]) -> None:
        if self.at is not None:
            return
        twin = self.svc.runtime.find(self.twin_id)
        if twin is None:
            self.banner_text.text = f"{self.twin_id} was deleted."
            self.banner.set_visibility(True)
            return
        logged = [event for event in events if is_logged(event)]
        if logged:
            self.events = (self.events + logged)[-EVENTS_SHOWN:]
            self._render_events()
            kinds = {event.type for event in logged}
            self._render_header(
                twin,
                links=bool(kinds & _LINK_EVENTS),
                alerts=bool(kinds & _ALERT_EVENTS),
            )
        if any(event.type in _STATE_EVENTS for event in logged):
            self.properties.rows = [row.to_row() for row in property_rows(twin, self.contents)]
        if any(event.type is EventType.TELEMETRY_RECEIVED for event in events):
            self._render_telemetry(twin)
        self.twin = twin
        derived = any(event.type is EventType.VALUES_DERIVED for event in events)
        if derived and self.charts.set_specs(chart_specs(self.contents, twin.derived)):
            background_tasks.create(self.charts.reload(), name="twin charts")
            return  # the reload reads these events' points too
        self.charts.on_events(events)


async def _page(twin_id: str) -> None:
    principal = await signed_in()
    if principal is None:
        return
    svc = services()
    twin = svc.runtime.find(twin_id)
    with frame(f"Twin {twin_id}", principal):
        if twin is None:
            ui.label(f"No twin {twin_id!r}.").classes("text-negative").props(
                "data-testid=twin-missing"
            )
            ui.link("Back to the overview", page_url("/"))
            return
        await _TwinPage(svc, twin, principal).build()


def register() -> None:
    """Add the twin page (``/twins/{id}``; ids are URL-quoted, see ``twin_url``)."""
    ui.page("/twins/{twin_id:path}")(_page)

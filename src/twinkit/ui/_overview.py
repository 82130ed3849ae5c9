"""The dashboard's home page: twins by model and their health, open alerts, the ingest rate
and the dead letters (docs/dashboard.md).

Cheap with 1,000 twins and 10k messages a second: events only add to a points counter (the
live feed hands them over at most 10 times a second); everything else is recomputed on a
one-second timer from the runtime's state and the shared alert book, and a table is sent to
the browser only when what it shows changed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from typing import Any, Final

from nicegui import ui

from twinkit.api._auth import Role
from twinkit.api._services import Services
from twinkit.ui._alert_buttons import alert_buttons
from twinkit.ui._context import UI_PREFIX, services, twin_url
from twinkit.ui._frame import frame
from twinkit.ui._overview_alerts import Alert, AlertBook
from twinkit.ui._overview_data import (
    RATE_WINDOW_S,
    STALE_AFTER_S,
    DeadLetterSummary,
    Health,
    ModelSummary,
    RateMeter,
    Rates,
    TwinHealth,
    clock_text,
    dead_letter_summary,
    health_rows,
    model_name,
    summarize,
)
from twinkit.ui._session import signed_in
from twinkit.ui._twin_data import cause_label
from twinkit.ui._twin_history import token_names

__all__ = ["register"]

REFRESH_S: Final = 1.0
"""Seconds between two refreshes of health, rates and alerts."""

DEAD_LETTERS_EVERY: Final = 3
"""Dead letters are read from the store every this many refreshes."""

ALERTS_SHOWN: Final = 20
DEAD_LETTERS_SHOWN: Final = 5
RATE_HISTORY: Final = 120  # samples in the ingest chart: two minutes

HEALTH_COLOURS: Final = {
    Health.ALERT: "negative",
    Health.STALE: "grey-7",
    Health.PENDING: "warning",
    Health.OK: "positive",
}
_ALL_MODELS: Final = ""

_TWIN_COLUMNS: Final[list[dict[str, Any]]] = [
    {"name": "id", "label": "Twin", "field": "id", "align": "left", "sortable": True},
    {"name": "model", "label": "Model", "field": "model", "align": "left", "sortable": True},
    {"name": "health", "label": "Health", "field": "health", "align": "left", "sortable": True},
    {"name": "detail", "label": "Why", "field": "detail", "align": "left"},
]
_MODEL_COLUMNS: Final[list[dict[str, Any]]] = [
    {"name": "name", "label": "Model", "field": "name", "align": "left"},
    {"name": "twins", "label": "Twins", "field": "twins"},
    *({"name": h.value, "label": h.value, "field": h.value} for h in Health),
]
_LINK_CELL: Final = (
    '<q-td :props="props"><a :href="props.row.href" class="text-primary">'
    "{{ props.value }}</a></q-td>"
)
_HEALTH_CELL: Final = (
    '<q-td :props="props"><q-badge :color="'
    + str({h.value: c for h, c in HEALTH_COLOURS.items()}).replace('"', "'")
    + '[props.value]" :label="props.value" /></q-td>'
)


def register() -> None:
    """Add the overview at the dashboard's root."""
    ui.page("/")(overview_page)


async def overview_page() -> None:
    """Build the overview for a signed-in viewer (or better)."""
    principal = await signed_in()
    if principal is None:
        return
    svc = services()
    book = AlertBook(svc.runtime)
    with frame("Overview", principal):
        page = _Overview(svc, book, can_act=principal.role.allows(Role.OPERATOR))
    page.tokens = await token_names(svc.store)
    ui.timer(REFRESH_S, page.refresh)
    await page.refresh()


def _rate_text(rate: float | None) -> str:
    if rate is None:
        return "—"
    return f"{rate:.1f}" if rate < 10 else f"{rate:,.0f}"


def _health_count(health: Health) -> ui.label:
    with ui.column().classes("gap-0 items-center"):
        count = ui.label("…").classes(f"text-h5 text-{HEALTH_COLOURS[health]}")
        ui.label(health.value).classes("text-caption")
    return count.props(f"data-testid=health-{health.value}")


def _rate_label(testid: str) -> ui.label:
    return ui.label("…").classes("text-h6").props(f"data-testid={testid}")


def _stat(label: str, testid: str) -> ui.label:
    with ui.card().classes("min-w-[9rem] q-pa-sm gap-0"):
        ui.label(label).classes("text-caption text-grey-7")
        return ui.label("…").classes("text-h5").props(f"data-testid={testid}")


class _Overview:
    """The overview's elements and their state, for one browser tab."""

    def __init__(self, svc: Services, book: AlertBook, *, can_act: bool = False) -> None:
        self._svc = svc
        self._book = book
        self._can_act = can_act  # operators get acknowledge and clear buttons
        self.tokens: Mapping[str, str] = {}  # token id -> name, for who acknowledged
        self._meter = RateMeter()
        self._points_seen = svc.runtime.points_written
        self._rates: deque[tuple[float, float]] = deque(maxlen=RATE_HISTORY)
        self._ticks = 0
        self._health_due = 0.0
        self._shown: dict[str, Any] = {}  # what each part shows now, to skip unchanged sends
        self._build_stats()
        with ui.row().classes("w-full gap-4 items-start no-wrap max-lg:flex-wrap"):
            with ui.column().classes("grow gap-4 min-w-[28rem]"):
                self._build_twins()
            with ui.column().classes("w-[26rem] max-lg:w-full gap-4"):
                self._build_side()

    # --- building ------------------------------------------------------------------------

    def _build_stats(self) -> None:
        with ui.row().classes("w-full gap-4 items-stretch"):
            self._twins_label = _stat("Twins", "twins-count")
            self._models_label = _stat("Models", "models-count")
            with ui.card().classes("q-pa-sm gap-0"):
                ui.label("Health").classes("text-caption text-grey-7")
                with ui.row().classes("gap-4"):
                    self._health_labels = {h: _health_count(h) for h in Health}
            self._letters_label = _stat("Dead letters", "dead-letters-count")
            with ui.card().classes("q-pa-sm gap-0"):
                ui.label(f"Ingest (last {RATE_WINDOW_S:g} s)").classes("text-caption text-grey-7")
                with ui.row().classes("items-baseline gap-2"):
                    self._messages_label = _rate_label("ingest-messages")
                    ui.label("messages/s").classes("text-caption")
                    self._points_label = _rate_label("ingest-points")
                    ui.label("points/s").classes("text-caption")
        self._rate_chart = ui.echart(_rate_chart_options([])).classes("w-full h-28")

    def _build_twins(self) -> None:
        ui.label("Twins by model").classes("text-h6")
        self._model_table = (
            ui.table(columns=list(_MODEL_COLUMNS), rows=[], row_key="model")
            .classes("w-full")
            .props("dense flat bordered data-testid=model-table")
        )
        self._model_table.on("rowClick", self._pick_model_row)
        with ui.row().classes("w-full items-center gap-4"):
            self._model_select = (
                ui.select(
                    {_ALL_MODELS: "All models"}, value=_ALL_MODELS, on_change=self._show_twins
                )
                .props("dense outlined data-testid=model-filter")
                .classes("min-w-[14rem]")
            )
            self._filter = ui.input(placeholder="Filter twins").props("dense clearable")
        self._twin_table = (
            ui.table(columns=list(_TWIN_COLUMNS), rows=[], row_key="id", pagination=15)
            .classes("w-full")
            .props("dense flat bordered data-testid=twin-table")
        )
        self._twin_table.add_slot("body-cell-id", _LINK_CELL)
        self._twin_table.add_slot("body-cell-health", _HEALTH_CELL)
        self._filter.bind_value_to(self._twin_table, "filter")
        self._rows: list[TwinHealth] = []
        self._names: dict[str, str] = {}

    def _build_side(self) -> None:
        ui.label("Open alerts").classes("text-h6")
        ui.label("raised and not cleared yet, newest first").classes("text-caption text-grey-7")
        self._alerts = ui.column().classes("w-full gap-1").props("data-testid=alerts")
        ui.label("Dead letters").classes("text-h6")
        ui.label(
            "rejected messages waiting for a replay (POST /api/v1/dead-letters/replay)"
        ).classes("text-caption text-grey-7")
        self._letters = ui.column().classes("w-full gap-1").props("data-testid=dead-letters")

    # --- updating ------------------------------------------------------------------------

    async def refresh(self) -> None:
        """One tick: rates every time, health when due, dead letters every few ticks."""
        self._ticks += 1
        self._show_rates()
        now = self._svc.clock()
        if time.monotonic() >= self._health_due:
            started = time.monotonic()
            self._show_health(now)
            spent = time.monotonic() - started
            # Keep the health scan under ~5% of a core, however many twins there are.
            self._health_due = started + max(REFRESH_S, 20 * spent) - REFRESH_S / 2
        self._show_alerts(now)
        if self._ticks % DEAD_LETTERS_EVERY == 1:
            self._show_dead_letters(await dead_letter_summary(self._svc.store, DEAD_LETTERS_SHOWN))

    def _show_rates(self) -> None:
        # the runtime's counter, not a feed of every telemetry event: listening to all of them
        # would make the runtime build one event per message for this page alone
        written = self._svc.runtime.points_written
        self._meter.add_points(max(0, written - self._points_seen))
        self._points_seen = written
        state = self._svc.connector_state()
        received = int(state["received"]) if state is not None else None
        rates: Rates = self._meter.sample(time.monotonic(), received)
        self._messages_label.set_text(_rate_text(rates.messages))
        self._points_label.set_text(_rate_text(rates.points))
        self._rates.append((time.time() * 1000, rates.points))
        self._rate_chart.options.update(_rate_chart_options(list(self._rates)))
        self._rate_chart.update()

    def _show_health(self, now: float) -> None:
        runtime = self._svc.runtime
        rows = health_rows(
            runtime.twins(), now, self._book.by_twin(now), stale_after_s=STALE_AFTER_S
        )
        models = runtime.models
        names = {row.model: model_name(models, row.model) for row in rows}
        summaries = summarize(rows, names)
        self._twins_label.set_text(str(len(rows)))
        self._models_label.set_text(str(len(summaries)))
        counts = dict.fromkeys(Health, 0)
        for summary in summaries:
            for health, count in summary.counts.items():
                counts[health] += count
        for health, label in self._health_labels.items():
            label.set_text(str(counts[health]))
        self._send("models", _model_rows(summaries), self._set_model_rows)
        self._names = names
        self._rows = rows
        self._show_twins()

    def _set_model_rows(self, rows: list[dict[str, Any]]) -> None:
        self._model_table.rows = rows
        options = {_ALL_MODELS: "All models"}
        options.update({row["model"]: f"{row['name']} ({row['twins']})" for row in rows})
        self._model_select.set_options(options)
        if self._model_select.value not in options:
            self._model_select.set_value(_ALL_MODELS)

    def _pick_model_row(self, event: Any) -> None:
        args = event.args
        row = args[1] if isinstance(args, list) and len(args) > 1 else None
        if isinstance(row, dict) and isinstance(row.get("model"), str):
            self._model_select.set_value(row["model"])

    def _show_twins(self) -> None:
        model = self._model_select.value or _ALL_MODELS
        rows = [
            {
                "id": row.twin_id,
                "href": UI_PREFIX + twin_url(row.twin_id),  # a raw <a>: no prefix added
                "model": self._names.get(row.model, row.model),
                "health": row.health.value,
                "detail": row.detail,
            }
            for row in self._rows
            if model in (_ALL_MODELS, row.model)
        ]
        self._send("twins", rows, lambda value: setattr(self._twin_table, "rows", value))

    def _send(self, part: str, value: Any, put: Any) -> None:
        """Hand ``value`` to ``put`` only when it differs from what ``part`` shows now."""
        if self._shown.get(part) != value:
            self._shown[part] = value
            put(value)

    def _show_alerts(self, now: float) -> None:
        alerts = self._book.open(now)
        shown = ([(a.key, a.acknowledged_by) for a in alerts[:ALERTS_SHOWN]], len(alerts))
        self._send("alerts", shown, lambda _: self._draw_alerts(alerts, now))

    def _redraw_alerts(self) -> None:
        """After an acknowledgement or a clear from this page: at once, not on the next tick."""
        self._show_alerts(self._svc.clock())

    def _draw_alerts(self, alerts: list[Alert], now: float) -> None:
        self._alerts.clear()
        with self._alerts:
            if not alerts:
                ui.label("No open alerts.").classes("text-grey-7")
            for alert in alerts[:ALERTS_SHOWN]:
                card = _alert_line(alert, now, self.tokens)
                if self._can_act:
                    with card:
                        alert_buttons(
                            alert.twin_id,
                            alert.name,
                            acknowledged=alert.acknowledged_by is not None,
                            redraw=self._redraw_alerts,
                        )
            if len(alerts) > ALERTS_SHOWN:
                ui.label(f"and {len(alerts) - ALERTS_SHOWN} more").classes("text-grey-7")

    def _show_dead_letters(self, summary: DeadLetterSummary) -> None:
        self._letters_label.set_text(str(summary.pending))
        self._send("letters", summary, self._draw_dead_letters)

    def _draw_dead_letters(self, summary: DeadLetterSummary) -> None:
        now = self._svc.clock()
        self._letters.clear()
        with self._letters:
            if not summary.pending:
                ui.label("None waiting.").classes("text-grey-7")
            for letter in summary.newest:
                with ui.card().classes("w-full q-pa-xs gap-0").props("flat bordered"):
                    ui.label(
                        f"#{letter.id} · {clock_text(letter.received, now)} · {letter.source}"
                    ).classes("text-caption text-grey-7")
                    ui.label(letter.reason).classes("text-body2 break-all")
            if summary.pending > len(summary.newest):
                ui.label(f"{summary.pending - len(summary.newest)} older ones").classes(
                    "text-grey-7"
                )


def _alert_line(alert: Alert, now: float, tokens: Mapping[str, str]) -> ui.card:
    """One open alert as a card (returned: the caller may add to it)."""
    colour = "negative" if alert.severity in ("error", "critical") else "warning"
    card = ui.card().classes("w-full q-pa-xs gap-0").props("flat bordered data-testid=alert")
    with card:
        with ui.row().classes("items-center gap-2"):
            ui.badge(alert.severity, color=colour)
            ui.link(alert.twin_id, twin_url(alert.twin_id)).classes("text-primary")
            ui.label(alert.name).classes("text-weight-medium")
            ui.label(clock_text(alert.raised, now)).classes("text-caption text-grey-7")
        if alert.message:
            ui.label(alert.message).classes("text-body2")
        if alert.acknowledged_by:
            who = cause_label(alert.acknowledged_by, tokens)
            ui.label(f"acknowledged by {who}").classes("text-caption text-grey-7").props(
                "data-testid=alert-acknowledged"
            )
    return card


def _model_rows(summaries: list[ModelSummary]) -> list[dict[str, Any]]:
    return [
        {
            "model": s.model,
            "name": s.name,
            "twins": s.twins,
            **{health.value: s.counts[health] for health in Health},
        }
        for s in summaries
    ]


def _rate_chart_options(points: list[tuple[float, float]]) -> dict[str, Any]:
    """A small line chart of points per second over the last two minutes."""
    return {
        "animation": False,
        "grid": {"left": 48, "right": 12, "top": 16, "bottom": 24},
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "time", "splitLine": {"show": False}},
        "yAxis": {"type": "value", "name": "points/s", "minInterval": 1},
        "series": [
            {
                "type": "line",
                "name": "points/s",
                "showSymbol": False,
                "areaStyle": {"opacity": 0.15},
                "data": [[t, round(v, 1)] for t, v in points],
            }
        ],
    }

"""The explorer: a twin query, its rows as a table linking to twin pages, and a graph of the
result's twins and their neighbours (docs/dashboard.md).

A query runs exactly as ``POST /api/v1/query`` runs it (:func:`twinkit.query._tql.run_query`
on the store's query index, one page at a time); an error shows what the query language says
and where (line and column, with a caret under the spot). The page's URL keeps the query
(``?q=...``), so a result can be linked to.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final
from urllib.parse import quote

from nicegui import ui
from nicegui.events import EChartPointClickEventArguments

from twinkit.api._services import Services
from twinkit.errors import TwinkitError, ValidationError
from twinkit.query._tql import QuerySyntaxError, run_query
from twinkit.ui._context import UI_PREFIX, services, twin_url
from twinkit.ui._explorer_graph import MAX_NODES, Layout, graph_options, neighbourhood
from twinkit.ui._explorer_table import ResultTable, result_table
from twinkit.ui._frame import frame
from twinkit.ui._overview_data import model_name
from twinkit.ui._session import signed_in

__all__ = ["DEFAULT_QUERY", "MAX_ROWS", "PAGE_SIZE", "register"]

logger = logging.getLogger(__name__)

DEFAULT_QUERY: Final = "SELECT * FROM DIGITALTWINS"
PAGE_SIZE: Final = 500
"""Rows fetched per run (and per "more")."""
MAX_ROWS: Final = 5000
"""Most rows the page holds; a narrower query beats scrolling further."""

_CELL: Final = (
    '<q-td :props="props">'
    "<a v-if=\"props.row[props.col.name + '_href']\" "
    ':href="props.row[props.col.name + \'_href\']" class="text-primary">{{ props.value }}</a>'
    "<span v-else>{{ props.value }}</span></q-td>"
)


def register() -> None:
    """Add the explorer at ``/explorer``."""
    ui.page("/explorer")(explorer_page)


async def explorer_page(q: str | None = None) -> None:
    """Build the explorer for a signed-in viewer (or better) and run ``q`` (or a default)."""
    principal = await signed_in()
    if principal is None:
        return
    with frame("Explorer", principal):
        page = _Explorer(services(), q if q and q.strip() else DEFAULT_QUERY)
    await page.run()


class _Explorer:
    """The explorer's elements and the rows of the current query, for one browser tab."""

    def __init__(self, svc: Services, text: str) -> None:
        self._svc = svc
        self._rows: list[dict[str, Any]] = []
        self._continuation: str | None = None
        self._ran = text
        self._table_view: ResultTable | None = None
        with ui.row().classes("w-full items-start gap-2 no-wrap"):
            self._query = (
                ui.textarea(value=text, placeholder=DEFAULT_QUERY)
                .props("outlined autogrow input-class=font-mono data-testid=query")
                .classes("grow")
            )
            self._query.on("keydown.ctrl.enter", self.run)
            self._query.on("keydown.meta.enter", self.run)
            with ui.column().classes("gap-1"):
                ui.button("Run", on_click=self.run).props("data-testid=run-query")
                self._layout = ui.toggle(
                    {"layered": "Layered", "force": "Force"},
                    value="layered",
                    on_change=lambda _: self._draw_graph(),
                ).props("dense no-caps data-testid=graph-layout")
        ui.label("Ctrl+Enter runs the query; see docs/query-language.md").classes(
            "text-caption text-grey-7"
        )
        self._error = ui.column().classes("w-full gap-1").props("data-testid=query-error")
        self._error.set_visibility(False)
        with ui.row().classes("items-center gap-4"):
            self._status = ui.label("").props("data-testid=query-status")
            self._more = ui.button("More rows", on_click=self.more).props("flat dense")
            self._more.set_visibility(False)
        self._table = (
            ui.table(columns=[], rows=[], row_key="_n", pagination=15)
            .classes("w-full")
            .props("dense flat bordered data-testid=result-table")
        )
        self._table.add_slot("body-cell", _CELL)
        ui.label("Graph").classes("text-h6")
        self._graph_note = (
            ui.label("").classes("text-caption text-grey-7").props("data-testid=graph-note")
        )
        self._graph_box = ui.column().classes("w-full")

    async def run(self) -> None:
        """Run the query in the box from its first page."""
        text = self._query.value or ""
        self._rows = []
        self._continuation = None
        if await self._fetch(text):
            self._ran = text
            ui.navigate.history.replace("?q=" + quote(text, safe=""))  # this page, this query

    async def more(self) -> None:
        """Fetch the next page of the query that ran last."""
        if self._continuation is not None:
            await self._fetch(self._ran)

    async def _fetch(self, text: str) -> bool:
        started = time.perf_counter()
        runtime = self._svc.runtime
        try:
            page_size = min(PAGE_SIZE, MAX_ROWS - len(self._rows))
            result = await run_query(
                self._svc.store,
                runtime.models,
                text,
                page_size=max(page_size, 1),
                continuation=self._continuation,
            )
        except TwinkitError as error:
            self._show_error(error)
            return False
        self._error.set_visibility(False)
        self._rows.extend(result.rows)
        self._continuation = result.continuation if len(self._rows) < MAX_ROWS else None
        elapsed = (time.perf_counter() - started) * 1000
        self._show_rows(elapsed)
        self._draw_graph()
        return True

    def _show_error(self, error: TwinkitError) -> None:
        logger.debug("explorer: query refused: %s", error)
        self._error.clear()
        with self._error:
            message = error.message if isinstance(error, ValidationError) else str(error)
            ui.label(message).classes("text-negative text-weight-medium")
            if error.where:
                ui.label(f"at {error.where}").classes("text-negative").props(
                    "data-testid=query-error-where"
                )
            shown = str(error)
            if isinstance(error, QuerySyntaxError) and "\n" in shown:
                caret = shown.split("\n", 1)[1]  # the query line with a caret under the spot
                ui.label(caret).classes("font-mono whitespace-pre text-caption").props(
                    "data-testid=query-error-caret"
                )
            elif isinstance(error, ValidationError) and error.expected:
                ui.label(f"expected {error.expected}").classes("text-caption")
        self._error.set_visibility(True)

    def _show_rows(self, elapsed_ms: float) -> None:
        runtime = self._svc.runtime
        models = runtime.models
        view = result_table(
            self._rows,
            is_twin=lambda twin_id: runtime.find(twin_id) is not None,
            href=lambda twin_id: UI_PREFIX + twin_url(twin_id),  # raw <a>: no prefix added
            model_name=lambda model: model_name(models, model),
        )
        self._table_view = view
        self._table.columns = [
            {"name": c.key, "label": c.label, "field": c.key, "align": "left", "sortable": True}
            for c in view.columns
        ]
        self._table.rows = list(view.rows)
        status = f"{len(self._rows)} rows in {elapsed_ms:.0f} ms"
        if view.hidden_columns:
            status += f"; {view.hidden_columns} more columns not shown"
        if len(self._rows) >= MAX_ROWS:
            status += f"; stopped at {MAX_ROWS} rows"
        self._status.set_text(status)
        self._more.set_visibility(self._continuation is not None)

    def _draw_graph(self) -> None:
        view = self._table_view
        self._graph_box.clear()
        if view is None or not view.twin_ids:
            self._graph_note.set_text("No twins in the result to draw.")
            return
        runtime = self._svc.runtime
        graph = neighbourhood(runtime, view.twin_ids, cap=MAX_NODES)
        models = runtime.models
        names = {node.model: model_name(models, node.model) for node in graph.nodes}
        layout: Layout = "force" if self._layout.value == "force" else "layered"
        self._graph_note.set_text(graph.note + ". Click a twin to open it.")
        with self._graph_box:
            ui.echart(
                graph_options(graph, names, layout=layout), on_point_click=_open_twin
            ).classes("w-full h-[36rem] twin-graph").props("data-testid=twin-graph")


def _open_twin(event: EChartPointClickEventArguments) -> None:
    data: Any = event.data
    if event.data_type == "node" and isinstance(data, dict) and isinstance(data.get("id"), str):
        ui.navigate.to(twin_url(data["id"]))

"""The Scenarios page (``/scenarios``): the scenarios kept, and (operator) a form that starts a
what-if from the current state of a twin subgraph, with the overrides and faults the twins'
simulation bindings offer. One scenario's page (``/scenarios/{name}``) is in
:mod:`twinkit.ui._scenario_page`.

The form calls the same service as ``POST /scenarios`` (``Scenarios.submit`` with
``cause=principal.cause``) after checking the spec (errors name the field) and the role again.
Progress is polled from the store (a scenario's progress is kept there, not sent as events).
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import quote

from nicegui import ui

from twinkit.api._auth import Role
from twinkit.core import Runtime, Twin
from twinkit.errors import TwinkitError
from twinkit.ui._context import UI_PREFIX, page_url, services
from twinkit.ui._control_forms import error_text
from twinkit.ui._frame import frame
from twinkit.ui._scenario_page import scenario_page
from twinkit.ui._scenario_view import (
    FaultRow,
    OverrideRow,
    TwinOffer,
    build_spec,
    default_name,
    scenario_row,
    subgraph,
    twin_offer,
)
from twinkit.ui._session import authorize, signed_in

__all__ = ["register", "scenario_url"]

logger = logging.getLogger(__name__)

LIST_POLL_S: Final = 1.0
_COLUMNS: Final[list[dict[str, Any]]] = [
    {"name": "name", "label": "Name", "field": "name", "align": "left", "sortable": True},
    {"name": "status", "label": "Status", "field": "status", "align": "left", "sortable": True},
    {"name": "progress", "label": "Progress", "field": "progress", "align": "right"},
    {"name": "at", "label": "Forked at (UTC)", "field": "at", "align": "left", "sortable": True},
    {"name": "horizon", "label": "Horizon", "field": "horizon", "align": "right"},
    {"name": "roots", "label": "Roots", "field": "roots", "align": "left"},
    {"name": "error", "label": "Error", "field": "error", "align": "left"},
]
_NAME_CELL: Final = (
    '<q-td :props="props"><a :href="props.row.href" class="text-primary">{{ props.value }}</a>'
    "</q-td>"
)


def scenario_url(name: str) -> str:
    """The URL of one scenario's page (for ui.link and ui.navigate, as page_url)."""
    return page_url("/scenarios/" + quote(name, safe=""))


class _Graph:
    """The live twin graph, as the scenario's fork walks it (deleted twins left out)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def find(self, twin_id: str) -> Twin | None:
        twin = self._runtime.find(twin_id)
        return None if twin is None or twin.deleted else twin

    def incoming(self, twin_id: str) -> list[Any]:
        return self._runtime.incoming(twin_id)


@dataclass(slots=True, eq=False)
class _Form:
    """The new-scenario form's state: the twins the roots take in and what each offers."""

    offers: dict[str, TwinOffer] = field(default_factory=dict)
    taken_in: tuple[str, ...] = ()
    overrides: list[dict[str, Any]] = field(default_factory=list)  # kind, twin, name, value
    faults: list[dict[str, Any]] = field(default_factory=list)

    def preview(self, roots: list[str], depth: int) -> str:
        """Recompute the subgraph and offers; a line saying what the scenario takes in."""
        runtime = services().runtime
        self.offers, self.taken_in = {}, ()
        if not roots:
            return "Pick one or more root twins."
        try:
            self.taken_in = subgraph(_Graph(runtime), roots, depth)
        except TwinkitError as err:
            return error_text(err)
        for twin_id in self.taken_in:
            twin = runtime.find(twin_id)
            offer = None if twin is None else twin_offer(twin, services().bindings, runtime.models)
            if offer is not None:
                self.offers[twin_id] = offer
        if not self.offers:
            return (
                f"{len(self.taken_in)} twins, none with a simulator bound: pick other roots "
                "or a larger depth."
            )
        return f"{len(self.taken_in)} twins; simulated: {', '.join(sorted(self.offers))}."


def _list(table: ui.table) -> None:
    async def poll() -> None:
        records = await services().scenarios.records()
        rows = [
            {**scenario_row(r), "href": UI_PREFIX + scenario_url(r.name)} for r in reversed(records)
        ]
        if rows != table.rows:
            table.rows = rows
            table.update()

    ui.timer(LIST_POLL_S, poll, immediate=True)


def _choices(options: list[str], value: Any) -> tuple[list[str], Any]:
    """Options with ``value`` kept (a name typed in, not offered); None when it is blank."""
    if value in (None, ""):
        return options, None
    return (options if value in options else [*options, str(value)]), value


def _twin_select(form: _Form, entry: dict[str, Any], redraw: Any, testid: str) -> None:
    twins = sorted(form.offers)
    if entry["twin"] not in twins:
        entry["twin"] = twins[0] if twins else None
    ui.select(twins, label="Twin", value=entry["twin"]).bind_value(entry, "twin").on_value_change(
        lambda _: redraw()
    ).classes("w-40").props(f"data-testid={testid}")


def _override_editor(form: _Form, host: ui.column) -> None:
    """Rows of parameter/input/setpoint overrides, each offering the names its twin has."""
    host.clear()
    redraw = functools.partial(_override_editor, form, host)
    with host:
        for index, entry in enumerate(form.overrides):
            with ui.row().classes("items-center gap-2"):
                ui.select(
                    ["parameter", "input", "setpoint"], label="Kind", value=entry["kind"]
                ).bind_value(entry, "kind").on_value_change(lambda _: redraw()).classes(
                    "w-32"
                ).props(f"data-testid=override-kind-{index}")
                _twin_select(form, entry, redraw, f"override-twin-{index}")
                offer = form.offers.get(entry["twin"])
                names, entry["name"] = _choices(
                    list(offer.names(entry["kind"])) if offer else [], entry["name"]
                )
                ui.select(
                    names, label="Name", value=entry["name"], new_value_mode="add-unique"
                ).bind_value(entry, "name").classes("w-48").props(
                    f"data-testid=override-name-{index}"
                )
                ui.input("Value, or offset:value, ...").bind_value(entry, "value").classes(
                    "w-64"
                ).props(f"data-testid=override-value-{index}")
                ui.button(
                    icon="close", on_click=lambda _, e=entry: _drop(form.overrides, e, redraw)
                ).props("flat dense")


def _drop(rows: list[dict[str, Any]], entry: dict[str, Any], redraw: Any) -> None:
    rows.remove(entry)
    redraw()


def _fault_editor(form: _Form, host: ui.column) -> None:
    """Rows of faults: a parameter or input scaled or replaced over a window of the run."""
    host.clear()
    redraw = functools.partial(_fault_editor, form, host)
    with host:
        for index, entry in enumerate(form.faults):
            with ui.row().classes("items-center gap-2"):
                _twin_select(form, entry, redraw, f"fault-twin-{index}")
                offer = form.offers.get(entry["twin"])
                targets, entry["target"] = _choices(
                    list(offer.fault_targets) if offer else [], entry["target"]
                )
                ui.select(
                    targets, label="Target", value=entry["target"], new_value_mode="add-unique"
                ).bind_value(entry, "target").classes("w-48").props(
                    f"data-testid=fault-target-{index}"
                )
                ui.select(
                    {"multiply": "x multiply", "replace": "= replace"}, value=entry["mode"]
                ).bind_value(entry, "mode").classes("w-32").props(f"data-testid=fault-mode-{index}")
                for key, label, width in (
                    ("amount", "Amount", "w-24"),
                    ("start", "From (s)", "w-24"),
                    ("end", "Until (s; blank: end)", "w-36"),
                ):
                    ui.input(label).bind_value(entry, key).classes(width).props(
                        f"data-testid=fault-{key}-{index}"
                    )
                ui.button(
                    icon="close", on_click=lambda _, e=entry: _drop(form.faults, e, redraw)
                ).props("flat dense")


def _first_twin(form: _Form) -> str | None:
    return next(iter(sorted(form.offers)), None)


def _add_override(form: _Form, host: ui.column) -> None:
    form.overrides.append({"kind": "input", "twin": _first_twin(form), "name": None, "value": ""})
    _override_editor(form, host)


def _add_fault(form: _Form, host: ui.column) -> None:
    form.faults.append(
        {
            "twin": _first_twin(form),
            "target": None,
            "mode": "multiply",
            "amount": "0.5",
            "start": "0",
            "end": "",
        }
    )
    _fault_editor(form, host)


@dataclass(slots=True, eq=False)
class _Inputs:
    """The form's plain fields."""

    roots: ui.select
    depth: ui.number
    preview: ui.label  # what the roots and depth take in
    name: ui.input
    ago: ui.number
    horizon: ui.number
    dt: ui.number
    description: ui.input

    def spec(self, form: _Form) -> dict[str, Any]:
        """The checked JSON spec of what the form holds (ValidationError with the field)."""
        overrides = [
            OverrideRow(_kind(e["kind"]), e["twin"] or "", e["name"] or "", str(e["value"] or ""))
            for e in form.overrides
        ]
        faults = [
            FaultRow(
                e["twin"] or "",
                e["target"] or "",
                "replace" if e["mode"] == "replace" else "multiply",
                str(e["amount"] or ""),
                str(e["start"] or "0"),
                str(e["end"] or ""),
            )
            for e in form.faults
        ]
        spec = build_spec(
            name=str(self.name.value or ""),
            roots=list(self.roots.value or []),
            horizon=float(self.horizon.value or 0.0),
            dt=None if self.dt.value in (None, "") else float(self.dt.value),
            depth=int(self.depth.value or 0),
            overrides=overrides,
            faults=faults,
            description=str(self.description.value or ""),
        )
        if self.ago.value:
            spec["at"] = time.time() - float(self.ago.value) * 60.0
        return spec


def _fields(twin_ids: list[str]) -> _Inputs:
    with ui.row().classes("items-center gap-4"):
        roots = ui.select(twin_ids, label="Root twins", multiple=True, with_input=True, value=[])
        roots.classes("w-96").props("use-chips data-testid=scenario-roots")
        depth = ui.number("Depth (hops)", value=1, min=0, max=32, precision=0).classes("w-28")
        depth.props("data-testid=scenario-depth")
    preview = ui.label("Pick one or more root twins.").props("data-testid=scenario-preview")
    with ui.row().classes("items-center gap-4"):
        name = ui.input("Name").classes("w-80").props("data-testid=scenario-name")
        ago = ui.number("Fork (minutes ago; 0: now)", value=0, min=0).classes("w-52")
        ago.props("data-testid=scenario-ago")
        horizon = ui.number("Horizon (s)", value=600, min=0.001).classes("w-32")
        horizon.props("data-testid=scenario-horizon")
        dt = ui.number("Step (s; blank: the binding's)", value=None, min=0.001).classes("w-56")
        dt.props("data-testid=scenario-dt")
    description = ui.input("Description").classes("w-full")
    return _Inputs(roots, depth, preview, name, ago, horizon, dt, description)


def _new_scenario_form() -> None:
    """The operator's form; says so instead when no simulation bindings are loaded."""
    if not len(services().bindings):
        ui.label(
            "No simulation bindings are loaded, so there is nothing to simulate: start the "
            "server with --simulators MODULE (see docs/simulation.md)."
        ).classes("text-grey").props("data-testid=no-bindings")
        return
    form = _Form()
    twin_ids = sorted(twin.id for twin in services().runtime.twins())
    with ui.card().classes("w-full").props("data-testid=scenario-form"):
        ui.label("New what-if scenario").classes("text-h6")
        inputs = _fields(twin_ids)
        ui.label("Overrides").classes("text-subtitle1")
        overrides_host = ui.column().classes("gap-1")
        ui.button("Add override", on_click=lambda: _add_override(form, overrides_host)).props(
            "flat dense icon=add data-testid=add-override"
        )
        ui.label("Faults").classes("text-subtitle1")
        faults_host = ui.column().classes("gap-1")
        ui.button("Add fault", on_click=lambda: _add_fault(form, faults_host)).props(
            "flat dense icon=add data-testid=add-fault"
        )
        error = ui.label("").classes("text-negative").props("data-testid=scenario-error")

        def changed() -> None:
            chosen = list(inputs.roots.value or [])
            inputs.preview.text = form.preview(chosen, int(inputs.depth.value or 0))
            if chosen and not inputs.name.value:
                inputs.name.value = default_name(chosen)
            _override_editor(form, overrides_host)
            _fault_editor(form, faults_host)

        inputs.roots.on_value_change(lambda _: changed())
        inputs.depth.on_value_change(lambda _: changed())
        ui.button("Start", on_click=lambda: _start(form, inputs, error)).props(
            "color=primary data-testid=scenario-start"
        )


async def _start(form: _Form, inputs: _Inputs, error: ui.label) -> None:
    """Check the spec, check the role again, submit, and go to the scenario's page."""
    error.text = ""
    try:
        spec = inputs.spec(form)
    except TwinkitError as err:
        error.text = error_text(err)
        return
    principal = await authorize(Role.OPERATOR, "starting a scenario")
    if principal is None:
        return
    try:
        record = await services().scenarios.submit(spec, cause=principal.cause)
    except TwinkitError as err:
        error.text = error_text(err)
        return
    logger.info("dashboard: %s started scenario %s", principal.cause, record.name)
    ui.navigate.to(scenario_url(record.name))


def _kind(value: Any) -> Literal["parameter", "input", "setpoint"]:
    if value == "parameter":
        return "parameter"
    return "setpoint" if value == "setpoint" else "input"


async def _list_page() -> None:
    principal = await signed_in(Role.VIEWER)
    if principal is None:
        return
    with frame("Scenarios", principal):
        if principal.role.allows(Role.OPERATOR):
            _new_scenario_form()
        table = ui.table(columns=_COLUMNS, rows=[], row_key="name", pagination=20).classes("w-full")
        table.props("data-testid=scenario-list flat bordered")
        table.add_slot("body-cell-name", _NAME_CELL)
        _list(table)


def register() -> None:
    """Add the Scenarios pages (``/scenarios`` and ``/scenarios/{scenario_id}``)."""
    ui.page("/scenarios")(_list_page)
    ui.page("/scenarios/{scenario_id}")(scenario_page)

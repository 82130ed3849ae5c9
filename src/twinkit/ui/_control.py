"""The Control page (``/control``, operator role) and :func:`control_panel`, the widget the twin
page embeds: desired values and commands of one twin, confirmed, audited, and followed live.

Every write re-checks the signed-in token and its role on the server when it is made
(:func:`~twinkit.ui._session.authorize`), then calls the runtime as the API does:
``set_desired`` and ``invoke`` with ``cause=principal.cause``. A desired value is checked
against the model before the confirmation dialog; after it is set, the page follows the
property's events until the device acknowledges it (or rejects it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

from nicegui import ui

from twinkit.api._auth import Principal, Role
from twinkit.core import Event, Twin
from twinkit.errors import TwinkitError, ValidationError
from twinkit.model import Command, Property
from twinkit.ui._context import page_url, services, twin_url
from twinkit.ui._control_forms import (
    CommandForm,
    FieldSpec,
    Outcome,
    PropertyRow,
    check_desired,
    check_request,
    command_forms,
    command_outcome,
    confirmation_text,
    desired_outcome,
    error_text,
    format_value,
    parse_field,
    property_rows,
)
from twinkit.ui._frame import frame
from twinkit.ui._live import live
from twinkit.ui._session import authorize, signed_in

__all__ = ["control_panel", "controllable_twins", "register"]

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S: Final = 10.0
MAX_TIMEOUT_S: Final = 300.0
_COLOURS: Final = {"done": "text-positive", "waiting": "text-info", "failed": "text-negative"}
_SYNC_COLOURS: Final = {
    "in sync": "positive",
    "waiting for the device": "info",
    "rejected": "negative",
    "no desired value": "grey",
}


def controllable_twins() -> list[str]:
    """Ids of the twins with a writable property or a command, sorted."""
    runtime = services().runtime
    models = runtime.models
    wanted = {
        model_id
        for model_id in models
        if any(
            isinstance(c, Command) or (isinstance(c, Property) and c.writable)
            for c in models.contents(model_id).values()
        )
    }
    return sorted(twin.id for twin in runtime.twins() if twin.model in wanted)


def _show(label: ui.label, outcome: Outcome) -> None:
    label.text = outcome.text
    label.classes(remove=" ".join(_COLOURS.values())).classes(_COLOURS[outcome.state])


def _input(spec: FieldSpec, label: str, value: Any, testid: str) -> ui.element:
    """The input ``spec`` asks for, prefilled with ``value``; ``.value`` is what was typed."""
    hint = f"{spec.schema}{f', {spec.unit}' if spec.unit else ''}"
    element: ui.element
    if spec.kind == "boolean":
        element = ui.switch(label, value=bool(value))
    elif spec.kind == "enum":
        options = {v: text for text, v in spec.options}
        element = ui.select(options, label=label, value=value if value in options else None)
    elif spec.kind == "json":
        text = "" if value is None else format_value(value)
        element = ui.textarea(label, value=text).props(f'hint="JSON of {hint}"')
    else:
        text = "" if value is None else format_value(value)
        element = ui.input(label, value=text).props(f'hint="{hint}"')
    return element.props(f"data-testid={testid}").classes("w-64")


@dataclass(slots=True, eq=False)
class _Panel:
    """The state of one twin's control panel on one page."""

    twin_id: str
    cells: dict[str, dict[str, ui.label]] = field(default_factory=dict)
    badges: dict[str, ui.badge] = field(default_factory=dict)
    results: dict[str, ui.label] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)  # property -> desired version set

    def rows(self) -> dict[str, PropertyRow]:
        twin = services().runtime.find(self.twin_id)
        if twin is None or twin.deleted:
            return {}
        return {row.name: row for row in property_rows(services().runtime.models, twin)}

    def refresh(self, events: list[Event] | None = None) -> None:
        """Redraw the values and sync states, and the outcome of writes still pending."""
        del events  # the twin's current state says it all
        rows = self.rows()
        for name, row in rows.items():
            shown = row.to_json()
            for key, label in self.cells.get(name, {}).items():
                label.text = str(shown[key])
            badge = self.badges.get(name)
            if badge is not None:
                badge.text = row.sync.value
                badge.props(f"color={_SYNC_COLOURS[row.sync.value]}")
        twin = services().runtime.find(self.twin_id)
        for name, version in list(self.pending.items()):
            state = None if twin is None or twin.deleted else twin.properties.get(name)
            outcome = desired_outcome(state, version)
            _show(self.results[name], outcome)
            if outcome.state != "waiting":
                del self.pending[name]


def control_panel(twin_id: str, principal: Principal) -> None:
    """Desired values and commands of ``twin_id`` for ``principal`` (operator or admin; a
    viewer gets a line saying so, and no form). Call it while building a page."""
    if not principal.role.allows(Role.OPERATOR):
        ui.label(f"Control needs the operator role; you have {principal.role.value}.").classes(
            "text-negative"
        ).props("data-testid=control-refused")
        return
    twin = services().runtime.find(twin_id)
    if twin is None or twin.deleted:
        ui.label(f"No twin {twin_id!r}.").classes("text-negative")
        return
    panel = _Panel(twin_id)
    with ui.column().classes("w-full gap-4").props("data-testid=control-form"):
        _properties(panel, twin)
        _commands(twin)
    live(panel.refresh, twins=[twin_id])


def _properties(panel: _Panel, twin: Twin) -> None:
    rows = panel.rows()
    ui.label("Desired values").classes("text-h6")
    if not rows:
        ui.label(f"{twin.model} has no writable properties.").classes("text-grey")
        return
    with ui.grid(columns="auto auto auto auto auto auto").classes("items-center gap-x-6 gap-y-1"):
        for title in ("Property", "Reported", "Desired", "Version", "Sync", ""):
            ui.label(title).classes("text-bold")
        for name, row in rows.items():
            shown = row.to_json()
            ui.label(name)
            panel.cells[name] = {
                key: ui.label(str(shown[key])).props(f"data-testid={key}-{name}")
                for key in ("reported", "desired", "version")
            }
            panel.badges[name] = ui.badge(
                row.sync.value, color=_SYNC_COLOURS[row.sync.value]
            ).props(f"data-testid=sync-{name}")
            ui.button("Set…", on_click=lambda _, n=name: _ask_desired(panel, n)).props(
                f"dense flat data-testid=set-{name}"
            )
    with ui.column().classes("gap-0"):
        for name in rows:
            panel.results[name] = ui.label("").props(f"data-testid=desired-result-{name}")


def _ask_desired(panel: _Panel, name: str) -> None:
    """The form for a new desired value; Next checks it and asks for confirmation."""
    row = panel.rows().get(name)
    if row is None:
        ui.notify(f"{panel.twin_id} has no property {name!r} any more", type="negative")
        return
    start = row.desired if row.desired_version else row.reported
    with ui.dialog() as dialog, ui.card().classes("min-w-96"):
        ui.label(f"Set {name} of {panel.twin_id}").classes("text-h6")
        entry = _input(row.field, name, start, "desired-input")
        error = ui.label("").classes("text-negative").props("data-testid=desired-error")

        def next_step() -> None:
            twin = services().runtime.find(panel.twin_id)
            try:
                if twin is None or twin.deleted:
                    raise TwinkitError(f"twin {panel.twin_id!r} was deleted")
                value = parse_field(row.field, getattr(entry, "value", None), name)
                typed = check_desired(services().runtime.models, twin, name, value)
            except TwinkitError as err:
                error.text = error_text(err)
                return
            dialog.close()
            _confirm(
                confirmation_text(panel.twin_id, name, row, typed, row.field.unit),
                lambda: _set_desired(panel, name, typed),
            )

        with ui.row():
            ui.button("Cancel", on_click=dialog.close).props("flat")
            ui.button("Next", on_click=next_step).props("data-testid=desired-next")
    dialog.open()


def _confirm(question: str, action: Callable[[], Any]) -> None:
    """A dialog asking ``question``; Confirm runs ``action`` (awaited when it is a coroutine)."""
    with ui.dialog() as dialog, ui.card():
        ui.label(question).props("data-testid=confirm-text")

        async def confirmed() -> None:
            dialog.close()
            result = action()
            if hasattr(result, "__await__"):
                await result

        with ui.row():
            ui.button("Cancel", on_click=dialog.close).props("flat data-testid=confirm-cancel")
            ui.button("Confirm", on_click=confirmed).props("color=warning data-testid=confirm-ok")
    dialog.open()


async def _set_desired(panel: _Panel, name: str, value: Any) -> None:
    principal = await authorize(Role.OPERATOR, "setting a desired value")
    if principal is None:
        return
    label = panel.results[name]
    try:
        twin = await services().runtime.set_desired(
            panel.twin_id, name, value, cause=principal.cause
        )
    except TwinkitError as err:
        _show(label, Outcome("failed", f"{name}: {error_text(err)}"))
        return
    version = twin.properties[name].desired_version
    logger.info(
        "dashboard: %s set %s/%s to %r (version %d)",
        principal.cause,
        panel.twin_id,
        name,
        value,
        version,
    )
    panel.pending[name] = version
    panel.refresh()


def _commands(twin: Twin) -> None:
    forms = command_forms(services().runtime.models, twin.model)
    ui.label("Commands").classes("text-h6")
    if not forms:
        ui.label(f"{twin.model} has no commands.").classes("text-grey")
        return
    with ui.row().classes("gap-4 items-stretch"):
        for form in forms:
            _command_card(twin.id, form)


def _command_card(twin_id: str, form: CommandForm) -> None:
    with ui.card().classes("min-w-72").props(f"data-testid=command-{form.name}"):
        ui.label(form.name).classes("text-subtitle1 text-bold")
        if form.description:
            ui.label(form.description).classes("text-caption")
        entry = None
        if form.request is not None:
            label = form.request_name or "request"
            entry = _input(form.request, label, None, f"request-{form.name}")
        timeout = ui.number("Timeout (s)", value=DEFAULT_TIMEOUT_S, min=0.1, max=MAX_TIMEOUT_S)
        timeout.props(f"dense data-testid=timeout-{form.name}")
        result = ui.label("").props(f"data-testid=command-result-{form.name}")

        def ask() -> None:
            live_twin = services().runtime.find(twin_id)
            try:
                if live_twin is None or live_twin.deleted:
                    raise TwinkitError(f"twin {twin_id!r} was deleted")
                request = None
                if form.request is not None and entry is not None:
                    raw = getattr(entry, "value", None)
                    request = parse_field(form.request, raw, form.request_name or "request")
                typed = check_request(services().runtime.models, live_twin, form.name, request)
                seconds = _timeout(timeout.value)
            except TwinkitError as err:
                _show(result, Outcome("failed", error_text(err)))
                return
            payload = "" if typed is None else f" with {format_value(typed)}"
            _confirm(
                f"Invoke {form.name} on {twin_id}{payload}?",
                lambda: _invoke(twin_id, form.name, typed, seconds, result),
            )

        ui.button("Invoke…", on_click=ask).props(f"data-testid=invoke-{form.name}")


def _timeout(value: Any) -> float:
    if isinstance(value, int | float) and 0 < value <= MAX_TIMEOUT_S:
        return float(value)
    raise ValidationError(
        "bad timeout", path="timeout", expected=f"seconds, 0 < t <= {MAX_TIMEOUT_S:g}", got=value
    )


async def _invoke(twin_id: str, name: str, request: Any, timeout: float, label: ui.label) -> None:
    principal = await authorize(Role.OPERATOR, "invoking a command")
    if principal is None:
        return
    _show(label, Outcome("waiting", f"{name}: waiting up to {timeout:g} s for the device"))
    try:
        result = await services().runtime.invoke(
            twin_id, name, request, cause=principal.cause, timeout=timeout
        )
    except TwinkitError as err:
        _show(label, Outcome("failed", f"{name}: {error_text(err)}"))
        return
    _show(label, command_outcome(result, timeout))


async def _page(twin: str | None = None) -> None:
    principal = await signed_in(Role.OPERATOR)
    if principal is None:
        return
    with frame("Control", principal):
        choices = controllable_twins()
        if not choices:
            ui.label("No twin has writable properties or commands.").classes("text-grey")
            return

        def pick(event: Any) -> None:
            if event.value and event.value != twin:
                ui.navigate.to(page_url("/control") + "?twin=" + quote(event.value, safe=""))

        with ui.row().classes("items-center gap-4"):
            ui.select(
                choices,
                label="Twin",
                value=twin if twin in choices else None,
                with_input=True,
                on_change=pick,
            ).classes("w-80").props("data-testid=control-twin")
            if twin:
                ui.link("Open twin page", twin_url(twin))
        if twin:
            control_panel(twin, principal)
        else:
            ui.label("Pick a twin to set its desired values or invoke its commands.")


def register() -> None:
    """Add the Control page (``/control?twin=<id>``)."""
    ui.page("/control")(_page)

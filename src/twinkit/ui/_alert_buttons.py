"""Acknowledge and clear an open alert from the dashboard, as ``POST /twins/{id}/alerts/{name}/
acknowledge|clear`` do: operator role, checked again on the server at the click (a viewer gets
no buttons, and a role revoked since the page loaded is refused), the event's cause the signed-in
token. Clearing asks for a confirmation and an optional reason, which the ``AlertCleared`` event
keeps; acknowledging marks the alert seen and leaves it open.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from twinkit.api._auth import Role
from twinkit.errors import TwinkitError
from twinkit.ui._context import services
from twinkit.ui._session import authorize

__all__ = ["alert_buttons"]

Redraw = Callable[[], Awaitable[None] | None]


def alert_buttons(twin_id: str, name: str, *, acknowledged: bool, redraw: Redraw) -> None:
    """Buttons for one open alert; ``redraw`` runs after an action succeeded."""
    with ui.row().classes("gap-1").props(f"data-testid=alert-actions-{twin_id}-{name}"):
        if not acknowledged:
            ui.button(
                "Acknowledge", icon="done", on_click=lambda: _acknowledge(twin_id, name, redraw)
            ).props("dense flat size=sm no-caps data-testid=alert-acknowledge")
        ui.button(
            "Clear", icon="close", on_click=lambda: _confirm_clear(twin_id, name, redraw)
        ).props("dense flat size=sm no-caps color=negative data-testid=alert-clear")


async def _acknowledge(twin_id: str, name: str, redraw: Redraw) -> None:
    principal = await authorize(Role.OPERATOR, f"Acknowledging alert {name!r} of {twin_id}")
    if principal is None:
        return
    try:
        await services().runtime.acknowledge_alert(twin_id, name, cause=principal.cause)
    except TwinkitError as err:
        ui.notify(f"Alert {name!r} of {twin_id} not acknowledged: {err}", type="negative")
        return
    ui.notify(f"Alert {name!r} of {twin_id} acknowledged", type="positive")
    await _run(redraw)


def _confirm_clear(twin_id: str, name: str, redraw: Redraw) -> None:
    # On the page itself, not in the alert's card: pages redraw their alerts (a live event, a
    # timer), which would take an open dialog with them.
    with ui.context.client.layout:
        dialog = ui.dialog().props("persistent")  # closed by its buttons, then deleted
    with dialog, ui.card().props("data-testid=alert-clear-dialog"):
        ui.label(f"Clear alert {name!r} of {twin_id}?").classes("text-h6")
        ui.label("It closes now; the detector or simulator raises it again if it recurs.")
        reason = ui.input("Why (kept with the event)").classes("w-full")
        reason.props("data-testid=alert-clear-reason")

        async def clear() -> None:
            dialog.close()
            await _clear(twin_id, name, reason.value or "", redraw)
            dialog.delete()

        def cancel() -> None:
            dialog.close()
            dialog.delete()

        with ui.row().classes("justify-end w-full"):
            ui.button("Cancel", on_click=cancel).props("flat data-testid=alert-clear-cancel")
            ui.button("Clear alert", on_click=clear).props(
                "color=negative data-testid=alert-clear-confirm"
            )
    dialog.open()


async def _clear(twin_id: str, name: str, message: str, redraw: Redraw) -> None:
    principal = await authorize(Role.OPERATOR, f"Clearing alert {name!r} of {twin_id}")
    if principal is None:
        return
    try:
        await services().runtime.clear_alert(
            twin_id, name, cause=principal.cause, message=message.strip()
        )
    except TwinkitError as err:
        ui.notify(f"Alert {name!r} of {twin_id} not cleared: {err}", type="negative")
        return
    ui.notify(f"Alert {name!r} of {twin_id} cleared", type="positive")
    await _run(redraw)


async def _run(redraw: Redraw) -> None:
    result = redraw()
    if result is not None:
        await result

"""The login page: paste an API token (``twinkit token create --role viewer``) to sign in."""

from __future__ import annotations

from nicegui import ui

from twinkit.errors import AuthError
from twinkit.ui._context import page_url
from twinkit.ui._session import sign_in

__all__ = ["register"]


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a dashboard page only (never another site)."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return page_url("/")


def register() -> None:
    """Register the login page."""
    ui.page("/login")(_login_page)


def _login_page(next: str | None = None) -> None:
    ui.page_title("Sign in · twinkit")
    target = _safe_next(next)
    with ui.card().classes("absolute-center w-96"):
        ui.label("twinkit").classes("text-h5")
        ui.label("Sign in with an API token (twinkit token create --role viewer).").classes(
            "text-caption"
        )
        secret = (
            ui.input("Token", password=True, password_toggle_button=True)
            .classes("w-full")
            .props("data-testid=token autofocus")
        )
        error = ui.label("").classes("text-negative").props("data-testid=login-error")

        async def submit() -> None:
            try:
                await sign_in(secret.value or "")
            except AuthError as exc:
                error.text = str(exc)
                return
            ui.navigate.to(target)

        secret.on("keydown.enter", submit)
        ui.button("Sign in", on_click=submit).classes("w-full").props("data-testid=sign-in")

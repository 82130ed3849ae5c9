"""The frame every dashboard page sits in: a header with the navigation and who is signed in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from nicegui import ui

from twinkit.api._auth import Principal, Role
from twinkit.ui._context import page_url
from twinkit.ui._session import sign_out

__all__ = ["NAVIGATION", "frame"]

NAVIGATION: Final[tuple[tuple[str, str, Role], ...]] = (
    ("Overview", "/", Role.VIEWER),
    ("Explorer", "/explorer", Role.VIEWER),
    ("3D scene", "/scene", Role.VIEWER),
    ("Scenarios", "/scenarios", Role.VIEWER),
    ("Control", "/control", Role.OPERATOR),
)
"""(label, page, role needed to see the link): a viewer sees no control."""


def _logout() -> None:
    sign_out()
    ui.navigate.to(page_url("/login"))


@contextmanager
def frame(title: str, principal: Principal) -> Iterator[None]:
    """Draw the header (navigation for ``principal``'s role, the page title, who is signed in,
    sign out) and put what the ``with`` block builds below it."""
    ui.page_title(f"{title} · twinkit")
    with ui.header().classes("items-center gap-4 bg-slate-800 q-px-md q-py-xs"):
        ui.link("twinkit", page_url("/")).classes("text-white text-h6 no-underline")
        for label, path, needed in NAVIGATION:
            if principal.role.allows(needed):
                ui.link(label, page_url(path)).classes("text-white no-underline").props(
                    f"data-testid=nav-{path.strip('/') or 'overview'}"
                )
        ui.space()
        ui.label(f"{principal.name or principal.token_id} · {principal.role.value}").classes(
            "text-white text-caption"
        ).props("data-testid=signed-in-as")
        ui.button("Sign out", on_click=_logout).props("flat dense color=white")
    with ui.column().classes("w-full q-pa-md gap-4"):
        ui.label(title).classes("text-h5")
        yield

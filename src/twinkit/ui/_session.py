"""Signing in to the dashboard with an API token, and the role checks every page and action make.

A browser signs in with a token's secret on the login page. The secret is kept in this
process's memory only, keyed by the browser's id (NiceGUI's signed session cookie), and checked
again by the same :class:`~twinkit.api._auth.Authenticator` as the API on every page load and
every action: a revoked token is refused within the authenticator's cache time, a server
restart signs everybody out, and nothing secret is written to disk or sent back to the browser.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from nicegui import app, ui

from twinkit.api._auth import Principal, Role
from twinkit.errors import AuthError, TwinkitError
from twinkit.ui._context import UI_PREFIX, page_url, services

__all__ = [
    "IDLE_TIMEOUT_S",
    "authorize",
    "current_principal",
    "sign_in",
    "sign_out",
    "signed_in",
]

logger = logging.getLogger(__name__)

IDLE_TIMEOUT_S: Final = 12 * 3600.0
"""A browser idle for this long signs in again."""


@dataclass(slots=True)
class _Login:
    secret: str
    last_seen: float


_logins: dict[str, _Login] = {}  # browser id -> its sign-in


def _browser_id() -> str:
    browser_id = app.storage.browser.get("id")
    if not isinstance(browser_id, str):
        raise TwinkitError("the dashboard needs NiceGUI's browser storage (a storage secret)")
    return browser_id


async def sign_in(secret: str) -> Principal:
    """Check ``secret`` and sign this browser in; AuthError (with why) when it is no token."""
    principal = await services().auth.verify(secret.strip(), "dashboard login")
    _logins[_browser_id()] = _Login(secret.strip(), time.monotonic())
    logger.info("dashboard: token %s (%s) signed in", principal.token_id, principal.role.value)
    return principal


def sign_out() -> None:
    """Forget this browser's sign-in."""
    _logins.pop(_browser_id(), None)


async def current_principal() -> Principal | None:
    """This browser's principal, checked again now; None when not (or no longer) signed in."""
    browser_id = _browser_id()
    login = _logins.get(browser_id)
    if login is None:
        return None
    now = time.monotonic()
    if now - login.last_seen > IDLE_TIMEOUT_S:
        del _logins[browser_id]
        return None
    try:
        principal = await services().auth.verify(login.secret, "dashboard")
    except AuthError:
        del _logins[browser_id]  # revoked: sign out
        return None
    login.last_seen = now
    return principal


async def signed_in(needed: Role = Role.VIEWER) -> Principal | None:
    """For a page being built: its principal, or None after sending the browser to the login
    page (not signed in) or after saying which role the page needs (too low a role)."""
    principal = await current_principal()
    if principal is None:
        request = ui.context.client.request
        here = request.url.path if request is not None else page_url()
        if request is not None and request.url.query:
            here += "?" + request.url.query
        ui.navigate.to(page_url("/login") + "?next=" + quote(_inside(here), safe=""))
        return None
    if not principal.role.allows(needed):
        logger.warning(
            "dashboard: token %s (%s) refused a page that needs %s",
            principal.token_id,
            principal.role.value,
            needed.value,
        )
        ui.label(
            f"This page needs the {needed.value} role; you are signed in as "
            f"{principal.name or principal.token_id} ({principal.role.value})."
        ).classes("text-negative text-lg q-pa-md").props("data-testid=role-refused")
        ui.link("Back to the overview", page_url("/"))
        return None
    return principal


async def authorize(needed: Role, what: str) -> Principal | None:
    """For an action (a click): the principal if it may do ``what``; else None after telling
    the user why (server-side check: a hidden button is never the only guard)."""
    principal = await current_principal()
    if principal is None:
        ui.notify(f"{what}: you are signed out; sign in again", type="negative")
        return None
    if not principal.role.allows(needed):
        logger.warning(
            "dashboard: token %s (%s) refused: %s needs %s",
            principal.token_id,
            principal.role.value,
            what,
            needed.value,
        )
        ui.notify(
            f"{what} needs the {needed.value} role; you have {principal.role.value}",
            type="negative",
        )
        return None
    return principal


def _inside(path: str) -> str:
    """A request path (``/ui/twins/x``) as a path inside the dashboard (``/twins/x``)."""
    return path.removeprefix(UI_PREFIX) or "/"

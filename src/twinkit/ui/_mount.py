"""Mounting the dashboard on the API's FastAPI app (same process, same services)."""

from __future__ import annotations

import importlib
import logging
import secrets
from collections.abc import Sequence
from typing import Final

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from nicegui import ui

from twinkit.api._services import Services
from twinkit.errors import TwinkitError
from twinkit.ui._context import UI_PREFIX, bind_services

__all__ = ["PAGE_MODULES", "mount_dashboard"]

logger = logging.getLogger(__name__)

PAGE_MODULES: Final = (
    "twinkit.ui._login",
    "twinkit.ui._overview",
    "twinkit.ui._explorer",
    "twinkit.ui._twin",
    "twinkit.ui._scene",
    "twinkit.ui._scenarios",
    "twinkit.ui._control",
)
"""The modules whose ``register()`` adds their pages."""

_mounted: list[FastAPI] = []


def mount_dashboard(
    app: FastAPI, services: Services, *, pages: Sequence[str] = PAGE_MODULES
) -> None:
    """Serve the dashboard at ``/ui`` on ``app`` over ``services`` (``/`` redirects to it),
    with the pages of the modules ``pages``.

    NiceGUI keeps one app per process, so this is done once per process; the server must run
    with its lifespan on (NiceGUI starts and stops with it).
    """
    if _mounted:
        raise TwinkitError(
            "the dashboard is already mounted in this process (NiceGUI keeps one app per "
            "process); run one server per process"
        )
    bind_services(services)
    for name in pages:
        importlib.import_module(name).register()

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse(UI_PREFIX + "/")

    ui.run_with(
        app,
        mount_path=UI_PREFIX,
        title="twinkit",
        favicon="🛰",
        # signs the browser-id cookie only: sign-ins live in memory (see _session)
        storage_secret=secrets.token_urlsafe(32),
        show_welcome_message=False,
        reconnect_timeout=10.0,
    )
    _mounted.append(app)
    logger.info("dashboard mounted at %s", UI_PREFIX)

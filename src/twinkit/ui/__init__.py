"""The web dashboard: NiceGUI pages mounted on the API's FastAPI app, in the same process,
over the same services (see docs/dashboard.md).

NiceGUI is imported only when the dashboard is mounted, so ``import twinkit.ui`` stays cheap.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from twinkit.api._services import Services

__all__ = ["dashboard_available", "mount_dashboard"]


def dashboard_available() -> bool:
    """Whether the dashboard's packages are installed (``pip install 'twinkit[ui]'``)."""
    return importlib.util.find_spec("nicegui") is not None


def mount_dashboard(app: FastAPI, services: Services) -> None:
    """Serve the dashboard at ``/ui`` on ``app`` (see :func:`twinkit.ui._mount.mount_dashboard`)."""
    from twinkit.ui._mount import mount_dashboard as mount

    mount(app, services)

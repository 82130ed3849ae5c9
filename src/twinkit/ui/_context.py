"""What every dashboard page needs: the services it is a face over, and its URLs.

NiceGUI keeps its pages in one process-wide app, so the dashboard is mounted at most once per
process (:func:`twinkit.ui.mount_dashboard`), and the pages find the services it was mounted
with here.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

from twinkit.api._services import Services
from twinkit.errors import TwinkitError

__all__ = [
    "UI_PREFIX",
    "bind_services",
    "page_url",
    "services",
    "twin_url",
]

UI_PREFIX: Final = "/ui"
"""Where the dashboard is mounted on the API's app."""

_bound: list[Services] = []  # the services of this process: none or one


def bind_services(value: Services | None) -> None:
    """Give the pages the services of this process (None: unbind, after closing them)."""
    _bound.clear()
    if value is not None:
        _bound.append(value)


def services() -> Services:
    """The services the dashboard was mounted with."""
    if not _bound:
        raise TwinkitError("the dashboard is not mounted: call twinkit.ui.mount_dashboard first")
    return _bound[0]


def page_url(path: str = "/") -> str:
    """The link to a dashboard page, for ``ui.link`` and ``ui.navigate.to``: the path inside
    the dashboard (``page_url("scene")`` → ``/scene``), to which NiceGUI adds the mount
    (``/ui``) in the browser. Outside NiceGUI (redirects, banners) prefix :data:`UI_PREFIX`."""
    return path if path.startswith("/") else "/" + path


def twin_url(twin_id: str) -> str:
    """The URL of a twin's page (ids may hold any character, so they are quoted)."""
    return page_url("/twins/" + quote(twin_id, safe=""))

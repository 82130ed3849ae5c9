"""The REST and WebSocket API (FastAPI), its bearer-token auth, and the services it runs on.

``create_app(services)`` builds the application; :class:`Services` opens the store, runtime,
broker and connector it serves; :class:`Client` is a small synchronous client of a running
server (what the CLI uses).
"""

from __future__ import annotations

from twinkit.api._app import API_PREFIX, create_app
from twinkit.api._auth import Authenticator, Principal, Role, hash_secret, issue_token
from twinkit.api._client import Client, ClientError
from twinkit.api._errors import ApiError, ForbiddenError
from twinkit.api._services import Services
from twinkit.api._settings import Settings

__all__ = [
    "API_PREFIX",
    "ApiError",
    "Authenticator",
    "Client",
    "ClientError",
    "ForbiddenError",
    "Principal",
    "Role",
    "Services",
    "Settings",
    "create_app",
    "hash_secret",
    "issue_token",
]

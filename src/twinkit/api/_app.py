"""``create_app``: the FastAPI application over one :class:`~twinkit.api.Services`."""

from __future__ import annotations

import logging

from fastapi import APIRouter, FastAPI

from twinkit.api import (
    _routes_alerts,
    _routes_history,
    _routes_models,
    _routes_ops,
    _routes_predict,
    _routes_query,
    _routes_scenarios,
    _routes_sim,
    _routes_twins,
    _stream,
)
from twinkit.api._errors import install_error_handlers
from twinkit.api._services import Services

__all__ = ["API_PREFIX", "create_app"]

API_PREFIX = "/api/v1"

_DESCRIPTION = """
The twinkit REST and WebSocket API.

Every route but `/api/v1/health` needs `Authorization: Bearer <token>`. Roles: **viewer**
(read), **operator** (viewer + ingest, desired values, commands, dead-letter replay,
acknowledging and clearing alerts), **admin**
(operator + models, twins, relationships, tokens).

Errors are JSON: `{"error": <kind>, "detail": <message>, "where": <path or null>}`.
"""


def _redact_server_logs() -> None:
    """Keep ``?token=`` secrets of WebSocket URLs out of uvicorn's log lines."""
    for name in ("uvicorn.access", "uvicorn.error"):
        target = logging.getLogger(name)
        if not any(isinstance(f, _stream.RedactTokens) for f in target.filters):
            target.addFilter(_stream.RedactTokens())


def create_app(services: Services) -> FastAPI:
    """The API over ``services``, which the caller opens before and closes after serving."""
    app = FastAPI(
        title="twinkit",
        version=_routes_ops._VERSION,
        description=_DESCRIPTION,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.services = services
    install_error_handlers(app)
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(_routes_models.router)
    api.include_router(_routes_twins.router)
    api.include_router(_routes_ops.router)
    api.include_router(_routes_query.router)
    api.include_router(_routes_history.router)
    api.include_router(_routes_sim.router)
    api.include_router(_routes_scenarios.router)
    api.include_router(_routes_predict.router)
    api.include_router(_routes_alerts.router)
    api.include_router(_stream.router)
    app.include_router(api)
    _redact_server_logs()
    return app

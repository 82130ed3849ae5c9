"""Errors as JSON: the one place where twinkit errors become HTTP status codes.

Every error answer has the same shape::

    {"error": "<kind>", "detail": "<what was expected, what came>", "where": "<path or null>"}

plus, for some kinds, extra keys (``issues`` for DTDL parsing errors, ``id`` for failed
commands). The kinds and their status codes:

=================== ====== ======================================================
kind                status raised as
=================== ====== ======================================================
``validation``      422    ValidationError, and FastAPI's request validation
``not_found``       404    NotFoundError (and unknown routes)
``conflict``        409    ConflictError: a duplicate, or a stale ``If-Match``
``unauthenticated`` 401    AuthError: no token, an unknown or a revoked one
``forbidden``       403    ForbiddenError: the token's role is too low
``device_offline``  503    a command to a device that is offline
``device_timeout``  504    a command the device did not answer in time
``connector``       502    ConnectorError
``store``           503    StoreError
``simulation``      422    SimulationError
``internal``        500    anything else (logged with its traceback)
=================== ====== ======================================================
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from twinkit.errors import (
    AuthError,
    ConflictError,
    ConnectorError,
    NotFoundError,
    SimulationError,
    StoreError,
    TwinkitError,
    ValidationError,
)

__all__ = [
    "ApiError",
    "ForbiddenError",
    "error_body",
    "install_error_handlers",
    "kind_of",
    "status_and_body",
]

logger = logging.getLogger(__name__)


class ForbiddenError(AuthError):
    """The caller is authenticated, but its role does not allow what it asked for."""


class ApiError(TwinkitError):
    """An error answer the API makes itself, with its own status and kind (503/504 commands)."""

    def __init__(
        self, status: int, kind: str, detail: str, where: str | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.where = where
        self.extra = extra


# Most specific first: ForbiddenError before AuthError.
_KINDS: tuple[tuple[type[TwinkitError], int, str], ...] = (
    (ForbiddenError, 403, "forbidden"),
    (AuthError, 401, "unauthenticated"),
    (ValidationError, 422, "validation"),
    (NotFoundError, 404, "not_found"),
    (ConflictError, 409, "conflict"),
    (ConnectorError, 502, "connector"),
    (StoreError, 503, "store"),
    (SimulationError, 422, "simulation"),
)

_HTTP_KINDS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation",
}


def error_body(kind: str, detail: str, where: str | None = None, **extra: Any) -> dict[str, Any]:
    """The JSON object of an error answer."""
    return {"error": kind, "detail": detail, "where": where, **extra}


def _where(error: TwinkitError, request: Request) -> str | None:
    where = getattr(error, "where", None)
    if where:
        return str(where)
    if isinstance(error, ValidationError) and error.model:
        return error.model
    twin_id = request.path_params.get("twin_id")
    if twin_id is not None:
        return f"twin {twin_id}"
    return request.url.path


def _twinkit_response(request: Request, error: TwinkitError) -> JSONResponse:
    if isinstance(error, ApiError):
        body = error_body(error.kind, error.detail, error.where, **error.extra)
        return JSONResponse(body, status_code=error.status)
    status, kind = _status_and_kind(error)
    extra: dict[str, Any] = {}
    issues = getattr(error, "errors", None)
    if isinstance(error, ValidationError) and isinstance(issues, tuple):
        extra["issues"] = [_issue_json(issue) for issue in issues]
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status >= 500:
        logger.warning("%s %s: %s", request.method, request.url.path, error)
    body = error_body(kind, str(error), _where(error, request), **extra)
    return JSONResponse(body, status_code=status, headers=headers)


def _issue_json(issue: Any) -> dict[str, Any]:
    """A DTDL ParseIssue as JSON (duck-typed: the API does not care which parser made it)."""
    return {
        "document": getattr(issue, "document", None),
        "element": getattr(issue, "element", None),
        "rule": getattr(issue, "rule", None),
        "message": getattr(issue, "message", str(issue)),
    }


def _validation_response(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = []
    for item in error.errors():
        location = ".".join(str(part) for part in item.get("loc", ()))
        problems.append(f"{location}: {item.get('msg', 'invalid')}")
    first = error.errors()[0] if error.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ())) or request.url.path
    body = error_body(
        "validation",
        "request does not fit the API: " + "; ".join(problems),
        where,
        issues=[
            {"loc": [str(p) for p in item.get("loc", ())], "message": item.get("msg")}
            for item in error.errors()
        ],
    )
    return JSONResponse(body, status_code=422)


def _http_response(request: Request, error: StarletteHTTPException) -> JSONResponse:
    kind = _HTTP_KINDS.get(error.status_code, "http")
    detail = error.detail if isinstance(error.detail, str) else str(error.detail)
    if error.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.method} {request.url.path}"
    return JSONResponse(
        error_body(kind, detail, request.url.path),
        status_code=error.status_code,
        headers=getattr(error, "headers", None),
    )


def _internal_response(request: Request, error: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    detail = f"internal error ({type(error).__name__}); see the server log"
    return JSONResponse(error_body("internal", detail, request.url.path), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Map every error to the JSON shape above; the only place that picks status codes."""

    async def twinkit_handler(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, TwinkitError)
        return _twinkit_response(request, error)

    async def validation_handler(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return _validation_response(request, error)

    async def http_handler(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        return _http_response(request, error)

    async def internal_handler(request: Request, error: Exception) -> JSONResponse:
        return _internal_response(request, error)

    app.add_exception_handler(TwinkitError, twinkit_handler)
    app.add_exception_handler(RequestValidationError, validation_handler)
    app.add_exception_handler(StarletteHTTPException, http_handler)
    app.add_exception_handler(Exception, internal_handler)


def _status_and_kind(error: TwinkitError) -> tuple[int, str]:
    return next(
        ((status, kind) for cls, status, kind in _KINDS if isinstance(error, cls)),
        (500, "internal"),
    )


def kind_of(error: TwinkitError) -> str:
    """The ``error`` kind of a twinkit error, as the error answers name it."""
    return _status_and_kind(error)[1]


def status_and_body(error: TwinkitError) -> tuple[int, dict[str, Any]]:
    """Status and JSON of ``error`` outside a request (WebSocket denials)."""
    status, kind = _status_and_kind(error)
    return status, error_body(kind, str(error), None)

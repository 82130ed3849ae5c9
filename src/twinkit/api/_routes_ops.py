"""Commands, HTTP ingest, dead letters, tokens and health.

Ingest answers **200** when every record was accepted, **207** when some were and some were
not, and **422** when none was; every rejected record is kept as a dead letter (source
``http:/api/v1/ingest``) and listed in ``errors`` with its position, why, and the dead
letter's id. A body that is not ingestible as a whole (wrong content type) is a plain 422
(415 would fit too; one kind per error class keeps the mapping in one place).
"""

from __future__ import annotations

import dataclasses
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.responses import JSONResponse

from twinkit.api._auth import Role, issue_token
from twinkit.api._deps import Admin, Operator, Svc, Viewer
from twinkit.api._errors import ApiError, error_body, kind_of
from twinkit.api._schemas import (
    ReplayBody,
    TokenBody,
    command_json,
    dead_letter_json,
    token_json,
)
from twinkit.connect import parse_ingest_body, replay_dead_letters
from twinkit.errors import NotFoundError, TwinkitError, ValidationError

__all__ = ["INGEST_SOURCE", "router"]

INGEST_SOURCE = "http:/api/v1/ingest"
MAX_INGEST_BYTES = 64 * 1024 * 1024

router = APIRouter()

try:
    _VERSION = version("twinkit")
except PackageNotFoundError:  # a source tree that was never installed
    _VERSION = "0.0.0+unknown"

_COMMAND_ERRORS = {503: "device_offline", 504: "device_timeout"}


@router.post("/twins/{twin_id}/commands/{name}", tags=["commands"], summary="Invoke a command")
async def invoke(
    twin_id: str,
    name: str,
    *,
    services: Svc,
    caller: Operator,
    request: Annotated[Any, Body(description="the command's request payload")] = None,
    timeout: Annotated[float, Query(gt=0, le=300, description="seconds to wait")] = 10.0,
) -> dict[str, Any]:
    """The device's answer; 503 (device offline) and 504 (no answer in time) as errors."""
    result = await services.runtime.invoke(
        twin_id, name, request, cause=caller.cause, timeout=timeout
    )
    kind = _COMMAND_ERRORS.get(result.status)
    if kind is not None:
        raise ApiError(
            result.status,
            kind,
            result.description or f"command {name!r} of twin {twin_id} failed",
            f"twin {twin_id}/commands/{name}",
            id=result.id,
        )
    return command_json(result)


@router.get("/commands/{correlation_id}", tags=["commands"], summary="A command's result")
async def command_result(correlation_id: str, services: Svc, caller: Viewer) -> dict[str, Any]:
    result = services.runtime.command_result(correlation_id)
    if result is None:
        raise NotFoundError(
            f"no result for command {correlation_id!r} (unknown, still running, or forgotten)",
            where=f"command {correlation_id}",
        )
    return command_json(result)


@router.post(
    "/ingest",
    tags=["ingest"],
    summary="Ingest telemetry and property values (JSON or NDJSON)",
    responses={
        207: {"description": "some records rejected"},
        422: {"description": "none accepted"},
    },
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            }
        }
    },
)
async def ingest(request: Request, services: Svc, caller: Operator) -> JSONResponse:
    body = await request.body()
    if len(body) > MAX_INGEST_BYTES:
        raise ValidationError(
            "ingest body too large",
            path="body",
            expected=f"at most {MAX_INGEST_BYTES} bytes; split it",
            got=f"{len(body)} bytes",
        )
    content_type = request.headers.get("content-type", "")
    parsed = parse_ingest_body(body, content_type, services.mapping)
    good = [message for message in parsed if message.error is None]
    outcomes = await services.runtime.ingest(
        [message.readings for message in good], cause=caller.cause
    )
    verdicts: dict[int, TwinkitError | None] = {}
    for message, outcome in zip(good, outcomes, strict=True):
        verdicts[id(message)] = outcome
    errors = []
    for index, message in enumerate(parsed):
        error = message.error if message.error is not None else verdicts[id(message)]
        if error is None:
            continue
        letter = await services.runtime.dead_letter(INGEST_SOURCE, message.raw, str(error))
        errors.append(
            {
                "record": index,
                "where": message.where,
                "error": kind_of(error),
                "detail": str(error),
                "deadLetter": letter,
            }
        )
    accepted = len(parsed) - len(errors)
    status = 200 if not errors else (207 if accepted else 422)
    body_json = {"accepted": accepted, "rejected": len(errors), "errors": errors}
    if status == 422:
        body_json = {
            **error_body("validation", f"none of {len(parsed)} records accepted", "body"),
            **body_json,
        }
    return JSONResponse(body_json, status_code=status)


@router.get("/dead-letters", tags=["dead letters"], summary="List dead letters")
async def dead_letters(
    services: Svc,
    caller: Viewer,
    all: Annotated[bool, Query(description="include replayed ones")] = False,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> dict[str, Any]:
    letters = await services.store.dead_letters(pending_only=not all, limit=limit)
    return {"items": [dead_letter_json(letter) for letter in letters], "total": len(letters)}


@router.post("/dead-letters/replay", tags=["dead letters"], summary="Replay dead letters")
async def replay(services: Svc, caller: Operator, body: ReplayBody | None = None) -> dict[str, Any]:
    """Re-parse and ingest pending dead letters (all, or ``ids``); report what passed."""
    ids = body.ids if body is not None else None
    report = await replay_dead_letters(
        services.store, services.runtime, services.mapping, ids, cause=caller.cause
    )
    return _report_json(report)


def _report_json(report: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(report) and not isinstance(report, type):
        return {key: _plain(value) for key, value in dataclasses.asdict(report).items()}
    return dict(report)


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


@router.post("/tokens", status_code=201, tags=["tokens"], summary="Create a token")
async def create_token(body: TokenBody, services: Svc, caller: Admin) -> dict[str, Any]:
    """The answer holds the secret; it is shown this once and never again."""
    record, secret = await issue_token(
        services.store, Role(body.role), body.name, clock=services.clock
    )
    return token_json(record, secret)


@router.get("/tokens", tags=["tokens"], summary="List tokens (never their secrets)")
async def list_tokens(services: Svc, caller: Admin) -> dict[str, Any]:
    records = await services.store.tokens()
    return {"items": [token_json(record) for record in records], "total": len(records)}


@router.delete("/tokens/{token_id}", status_code=204, tags=["tokens"], summary="Revoke a token")
async def revoke_token(token_id: str, services: Svc, caller: Admin) -> Response:
    await services.auth.revoke(token_id, services.clock())
    return Response(status_code=204)


@router.get("/health", tags=["health"], summary="Liveness, with the connector's state")
async def health(services: Svc) -> dict[str, Any]:
    """No token needed; says nothing a stranger could use beyond counts."""
    return {
        "status": "ok",
        "version": _VERSION,
        "twins": len(services.runtime.twins()),
        "models": len(services.runtime.models),
        "connector": services.connector_state(),
    }

"""``/stream``: committed events pushed to WebSocket clients as they happen.

``/api/v1/stream?twins=a,b&models=dtmi:...&types=PropertyReported,...`` sends each matching
event as one text frame, ``Event.to_json()``. The token comes in the ``Authorization: Bearer``
header or, for browsers that cannot set headers, as ``?token=`` (redacted from the server's
logs). A refused handshake is an HTTP error answer in the API's JSON shape where the server
supports it (uvicorn does), else a close with code 4401/4403/4422.

Each client has a bounded queue. Events are offered to it on the event loop without waiting;
a client that falls ``queue`` events behind is disconnected with close code 1008 and a reason,
so a slow client never holds up ingest or the other clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse

from twinkit.api._auth import Principal, Role
from twinkit.api._errors import status_and_body
from twinkit.api._services import Services
from twinkit.core import Event, EventType
from twinkit.errors import TwinkitError, ValidationError

__all__ = ["SLOW_CLIENT_CLOSE", "RedactTokens", "router"]

logger = logging.getLogger(__name__)

SLOW_CLIENT_CLOSE = 1008
"""Close code for a client that fell too far behind (RFC 6455: policy violation)."""

router = APIRouter()


class RedactTokens(logging.Filter):
    """Hides ``token=...`` query values in log lines (uvicorn logs WebSocket paths)."""

    _PATTERN = re.compile(r"(token=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self._PATTERN.sub(r"\1<redacted>", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        if isinstance(record.msg, str) and "token=" in record.msg:
            record.msg = self._PATTERN.sub(r"\1<redacted>", record.msg)
        return True


def _default(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def _types(value: str | None) -> list[EventType] | None:
    names = _split(value)
    if names is None:
        return None
    try:
        return [EventType(name) for name in names]
    except ValueError as err:
        raise ValidationError(
            "unknown event type in the stream filter",
            path="query types",
            expected=", ".join(t.value for t in EventType),
            got=value,
        ) from err


class _Session:
    """One client: a bounded queue filled by the runtime, drained by a sender task."""

    def __init__(self, websocket: WebSocket, size: int, who: str) -> None:
        self.websocket = websocket
        self.queue: asyncio.Queue[Event] = asyncio.Queue(size)
        self.overflow = asyncio.Event()
        self.size = size
        self.who = who

    def offer(self, event: Event) -> None:
        """Called by the runtime on the event loop; never waits."""
        if self.overflow.is_set():
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflow.set()

    async def run(self) -> None:
        sender = asyncio.create_task(self._send())
        receiver = asyncio.create_task(self._receive())
        overflow = asyncio.create_task(self.overflow.wait())
        done, pending = await asyncio.wait(
            {sender, receiver, overflow}, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if overflow in done:
            reason = f"too slow: more than {self.size} events waiting to be sent"
            logger.warning("stream client %s disconnected: %s", self.who, reason)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self.websocket.close(code=SLOW_CLIENT_CLOSE, reason=reason), 2.0
                )
        elif sender in done and sender.exception() is not None:
            logger.info("stream client %s gone: %s", self.who, sender.exception())

    async def _send(self) -> None:
        while True:
            event = await self.queue.get()
            text = orjson.dumps(event.to_json(), default=_default).decode()
            await self.websocket.send_text(text)

    async def _receive(self) -> None:
        while True:  # clients send nothing we use; this notices when they leave
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return


async def _deny(websocket: WebSocket, error: TwinkitError) -> None:
    status, body = status_and_body(error)
    body["where"] = websocket.url.path
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse(body, status_code=status))
    else:
        await websocket.close(code=4000 + status, reason=body["detail"][:120])


def _secret(websocket: WebSocket) -> str | None:
    header = websocket.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return websocket.query_params.get("token")


@router.websocket("/stream")
async def stream(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    params = websocket.query_params
    try:
        where = f"WS {websocket.url.path}"
        principal: Principal = await services.auth.verify(_secret(websocket), where)
        services.auth.check_role(principal, Role.VIEWER, where)
        filters: dict[str, Any] = {
            "twins": _split(params.get("twins")),
            "models": _split(params.get("models")),
            "types": _types(params.get("types")),
        }
    except TwinkitError as err:
        await _deny(websocket, err)
        return
    session = _Session(websocket, services.settings.stream_queue, principal.token_id)
    # Subscribed before the handshake completes: a client sees every event committed after
    # its connect() returned.
    unsubscribe = services.runtime.subscribe(session.offer, **filters)
    try:
        await websocket.accept()
        await session.run()
    finally:
        unsubscribe()

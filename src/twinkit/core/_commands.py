"""Commands in flight: correlation ids waiting for a device's answer, and recent results."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from twinkit.core._requests import CommandResult, CommandTransport
from twinkit.errors import ConnectorError

__all__ = ["PendingCommands", "deliver"]


@dataclass(frozen=True, slots=True)
class _Pending:
    twin_id: str
    name: str
    future: asyncio.Future[CommandResult]


class PendingCommands:
    """Futures by correlation id, and the last ``keep`` results for ``result(id)``."""

    __slots__ = ("_keep", "_pending", "_results")

    def __init__(self, keep: int = 1000) -> None:
        self._pending: dict[str, _Pending] = {}
        self._results: OrderedDict[str, CommandResult] = OrderedDict()
        self._keep = keep

    def expect(self, correlation_id: str, twin_id: str, name: str) -> asyncio.Future[CommandResult]:
        future: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = _Pending(twin_id, name, future)
        return future

    def waiting(self, correlation_id: str) -> tuple[str, str] | None:
        """(twin id, command name) of a command still waiting for its answer."""
        pending = self._pending.get(correlation_id)
        return None if pending is None else (pending.twin_id, pending.name)

    def resolve(self, result: CommandResult) -> bool:
        """Hand a device's answer to the waiting invoker; False when nobody waits for it."""
        pending = self._pending.get(result.id)
        if pending is None or pending.future.done():
            return False
        pending.future.set_result(result)
        return True

    def finish(self, result: CommandResult) -> None:
        """Forget the waiter and keep the final result."""
        self._pending.pop(result.id, None)
        self._results[result.id] = result
        while len(self._results) > self._keep:
            self._results.popitem(last=False)

    def result(self, correlation_id: str) -> CommandResult | None:
        return self._results.get(correlation_id)


async def deliver(
    transport: CommandTransport | None,
    *,
    twin_id: str,
    name: str,
    correlation_id: str,
    request: Any,
    timeout: float,
    future: Awaitable[CommandResult],
) -> CommandResult:
    """Send a command through ``transport`` and wait for the device's answer (``future``):
    503 when no transport is attached or it cannot deliver, 504 when no answer comes in time."""

    def failed(status: int, why: str) -> CommandResult:
        return CommandResult(correlation_id, twin_id, name, status, None, why)

    if transport is None:
        return failed(503, "no connector is attached that can deliver commands to devices")
    try:
        await transport.send_command(twin_id, name, correlation_id, request, timeout)
    except ConnectorError as err:
        return failed(503, str(err))
    try:
        return await asyncio.wait_for(future, timeout)
    except TimeoutError:
        return failed(
            504, f"device of twin {twin_id!r} did not answer {name!r} within {timeout:g} s"
        )

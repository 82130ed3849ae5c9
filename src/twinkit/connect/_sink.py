"""What connectors feed: the runtime's ingest side, and its control side.

Connectors depend on these small protocols, not on the runtime class, so a test can hand them a
recording sink and the runtime stays replaceable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from twinkit.core import CommandTransport, Event, EventType, Reading
from twinkit.errors import TwinkitError

__all__ = ["ControlSink", "IngestSink"]


@runtime_checkable
class IngestSink(Protocol):
    """Where readings go (``Runtime.ingest``) and where rejected messages are kept."""

    async def ingest(
        self, messages: Sequence[Sequence[Reading]], *, cause: str
    ) -> list[TwinkitError | None]:
        """One entry per message, in order: None when accepted (committed on return), else
        the error. Raising means nothing of the call was committed."""
        ...

    async def dead_letter(self, source: str, payload: bytes, reason: str) -> int:
        """Keep a rejected message; durable when it returns."""
        ...


@runtime_checkable
class ControlSink(IngestSink, Protocol):
    """An ingest sink that also drives devices: desired values out, command answers in."""

    def subscribe(
        self,
        callback: Callable[[Event], None],
        *,
        twins: Sequence[str] | None = None,
        models: Sequence[str] | None = None,
        types: Sequence[EventType] | None = None,
    ) -> Callable[[], None]:
        """Call ``callback`` after each committed event that matches; returns the unsubscribe."""
        ...

    def set_command_transport(self, transport: CommandTransport | None) -> None: ...

    async def complete_command(
        self, twin_id: str, correlation_id: str, status: int, response: Any, *, cause: str
    ) -> None:
        """Record a device's answer to a command (raises NotFoundError for an unknown id)."""
        ...

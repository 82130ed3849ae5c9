"""What connectors hand the runtime, and what the runtime hands them back.

A connector turns a device message into :class:`Reading` objects (one per twin and time) and
passes a batch of messages to :meth:`Runtime.ingest <twinkit.core.Runtime.ingest>`. For control,
the runtime calls a :class:`CommandTransport` the connector registered, and the connector reports
the device's answer with :meth:`Runtime.complete_command <twinkit.core.Runtime.complete_command>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

__all__ = ["Ack", "CommandResult", "CommandTransport", "Reading", "RelationshipSpec"]


@dataclass(frozen=True, slots=True)
class Ack:
    """A device's answer to a desired value: IoT Plug and Play's ``ac``/``av``/``ad``.

    ``code`` is HTTP-like (200 applied, 202 in progress, 4xx/5xx refused or failed) and
    ``version`` the desired version it answers.
    """

    version: int
    code: int
    description: str | None = None


_NO_ACKS: Mapping[str, Ack] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Reading:
    """Values of one twin at one time, as a device sent them.

    ``values`` maps content names (telemetry or properties; the twin's model says which) to
    wire values, validated by the runtime. ``time`` is the device's timestamp in seconds since
    the epoch, or None for "when received". ``acks`` maps writable property names to the
    acknowledgement the device sent with the value.
    """

    twin_id: str
    values: Mapping[str, Any]
    time: float | None = None
    acks: Mapping[str, Ack] = field(default_factory=lambda: _NO_ACKS)


@dataclass(frozen=True, slots=True)
class RelationshipSpec:
    """One relationship to add: ``source --name--> target``, with an optional id and edge
    properties (see :meth:`~twinkit.core.Runtime.add_relationships`)."""

    source: str
    name: str
    target: str
    id: str | None = None
    properties: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CommandResult:
    """The outcome of one command invocation.

    ``status`` is the device's (HTTP-like) status, or 503 when the device is offline and 504
    when it did not answer in time; ``response`` is the device's payload (None on failure) and
    ``description`` says what went wrong when it did.
    """

    id: str
    twin_id: str
    name: str
    status: int
    response: Any = None
    description: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class CommandTransport(Protocol):
    """Delivers commands to devices (registered by a connector with the runtime)."""

    async def send_command(
        self, twin_id: str, name: str, correlation_id: str, request: Any, timeout: float
    ) -> None:
        """Send the request; raise ConnectorError when the device cannot be reached (offline,
        no route). The answer comes back through ``Runtime.complete_command``."""
        ...

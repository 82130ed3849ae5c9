"""The Store protocol: everything twinkit keeps durably, behind one replaceable interface.

One write path for the live data, ``append``: a batch of events, telemetry points and touches
lands in one transaction or not at all, so an acknowledgement to a broker can follow the commit.
Reads are by twin (events since a sequence number, the latest snapshot), by series (points in a
time range, the newest point of every series) and by property (the newest touch).

Beside the live data the store keeps the records the runtime and the API need across restarts:
the DTDL models uploaded, the API tokens (hashed: the store never sees a token) and the
dead letters, messages twinkit could not accept, with their reason, until they are replayed.

:class:`Store` is a superset of :class:`twinkit.core.EventLog`, the part the runtime uses.
The embedded backend is SQLite; PostgreSQL implements the same protocol later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from twinkit.core import EventLog, Point, Touch

__all__ = ["DeadLetter", "Point", "Store", "TokenRecord", "Touch"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message twinkit could not accept, kept with why, where from and when."""

    id: int
    source: str  # e.g. "mqtt:site/pump-1/telemetry", "http:/ingest"
    payload: bytes
    reason: str
    received: float
    replayed: float | None = None


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """An API bearer token as kept: a hash of it, never the token itself.

    ``role`` is what the API lets the token do; ``revoked`` is when it stopped working (None
    while it works). The hash is left out of ``repr`` so records can be logged.
    """

    id: str
    name: str
    role: str
    hash: bytes = field(repr=False)
    created: float
    revoked: float | None = None


class Store(EventLog, Protocol):
    """Durable event log, snapshots, telemetry, touches, models, tokens and dead letters.

    Inherited from :class:`~twinkit.core.EventLog`: ``append``, ``events``, ``last_seqs``,
    ``snapshot``, ``save_snapshot``, ``latest_points``, ``touches``, ``add_dead_letter``,
    ``save_models``, ``models`` and ``delete_model``.
    """

    async def points(
        self, twin_id: str, name: str, start: float, end: float, limit: int | None = None
    ) -> list[Point]:
        """Points of one series with ``start <= time < end``, by time."""
        ...

    async def dead_letters(
        self, *, pending_only: bool = True, limit: int = 100
    ) -> list[DeadLetter]: ...

    async def dead_letter(self, dead_letter_id: int) -> DeadLetter:
        """One dead letter; NotFoundError for an unknown id."""
        ...

    async def mark_replayed(self, dead_letter_id: int, when: float) -> None: ...

    async def add_token(self, record: TokenRecord) -> None:
        """Keep a new token; ConflictError when its id or its hash is already kept."""
        ...

    async def token_by_hash(self, hash: bytes) -> TokenRecord | None:
        """The token with this hash, revoked or not, or None."""
        ...

    async def tokens(self) -> list[TokenRecord]:
        """Every token, revoked ones included, oldest first."""
        ...

    async def revoke_token(self, token_id: str, when: float) -> None:
        """Mark the token revoked at ``when``; NotFoundError for an unknown id."""
        ...

    async def close(self) -> None: ...

"""The Store protocol: what the runtime needs from durable storage.

One write path, ``append``: a batch of events and telemetry points lands in one transaction
or not at all, so an acknowledgement to a broker can follow the commit. Reads are by twin
(events since a sequence number, the latest snapshot) and by series (points in a time range).
Rejected input goes to the dead-letter table with its reason and stays there until replayed.

The embedded backend is SQLite; PostgreSQL implements the same protocol later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from twinkit.core import Event, Point, Touch, Twin

__all__ = ["DeadLetter", "Point", "Store", "Touch"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message twinkit could not accept, kept with why, where from and when."""

    id: int
    source: str  # e.g. "mqtt:site/pump-1/telemetry", "http:/ingest"
    payload: bytes
    reason: str
    received: float
    replayed: float | None = None


class Store(Protocol):
    """Durable event log, snapshots, telemetry points and dead letters."""

    async def append(self, events: Sequence[Event], points: Sequence[Point] = ()) -> None:
        """Write a batch in one transaction. A (twin, seq) already stored is a ConflictError."""
        ...

    async def events(self, twin_id: str, since_seq: int = 0) -> list[Event]:
        """The twin's events with ``seq > since_seq``, in order."""
        ...

    async def last_seqs(self) -> dict[str, int]:
        """Every twin's last sequence number (for the runtime to resume after a restart)."""
        ...

    async def save_snapshot(self, twin: Twin) -> None:
        """Keep ``twin`` as the state at ``twin.version``; replay starts from the newest one."""
        ...

    async def snapshot(self, twin_id: str) -> Twin | None:
        """The newest snapshot of the twin, or None."""
        ...

    async def points(
        self, twin_id: str, name: str, start: float, end: float, limit: int | None = None
    ) -> list[Point]:
        """Points of one series with ``start <= time < end``, by time."""
        ...

    async def add_dead_letter(
        self, source: str, payload: bytes, reason: str, received: float
    ) -> int:
        """Keep a rejected message; returns its id."""
        ...

    async def dead_letters(
        self, *, pending_only: bool = True, limit: int = 100
    ) -> list[DeadLetter]: ...

    async def mark_replayed(self, dead_letter_id: int, when: float) -> None: ...

    async def close(self) -> None: ...

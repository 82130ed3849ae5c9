"""What the runtime needs from durable storage: the narrow protocol ``core`` depends on.

``core`` may not import ``store`` (a lower layer); :class:`~twinkit.store.SQLiteStore` and the
other backends satisfy :class:`EventLog` structurally. The full storage protocol, with series
and dead-letter reads, is :class:`twinkit.store.Store`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from twinkit.core._events import Event
from twinkit.core._twin import Twin

__all__ = ["EventLog", "Point", "Touch"]


@dataclass(frozen=True, slots=True)
class Point:
    """One telemetry value of one series (twin, name) at one time (seconds since epoch).

    ``value`` is a number (booleans count as 0/1 in aggregates) or, for telemetry with a string
    or complex schema, any JSON value.
    """

    twin_id: str
    name: str
    time: float
    value: Any


@dataclass(frozen=True, slots=True)
class Touch:
    """A report that repeated a property's current value: only ``last_reported`` moves.

    Touches are not events (they would bump the twin's version and fill the log with nothing
    new); the store keeps the newest touch per property so a restart restores it.
    """

    twin_id: str
    name: str
    time: float


class EventLog(Protocol):
    """Durable storage as the runtime sees it (a subset of :class:`twinkit.store.Store`)."""

    async def append(
        self,
        events: Sequence[Event],
        points: Sequence[Point] = (),
        touches: Sequence[Touch] = (),
        twins: Mapping[str, Twin] | None = None,
    ) -> None:
        """Write a batch in one transaction. A (twin, seq) already stored is a ConflictError.

        ``twins`` maps each twin the events changed to its state after them (the store keeps
        its query index of the graph from them).
        """
        ...

    async def events(self, twin_id: str, since_seq: int = 0) -> list[Event]: ...

    async def last_seqs(self) -> dict[str, int]: ...

    async def load_twins(self) -> tuple[list[Twin], list[Event]]:
        """Every snapshot, and every event after its twin's snapshot, by twin then seq."""
        ...

    async def snapshot(self, twin_id: str) -> Twin | None: ...

    async def save_snapshot(self, twin: Twin) -> None: ...

    async def latest_points(self) -> list[Point]:
        """The newest point of every series (restores the twins' latest telemetry)."""
        ...

    async def touches(self) -> list[Touch]:
        """The newest touch of every property."""
        ...

    async def add_dead_letter(
        self, source: str, payload: bytes, reason: str, received: float
    ) -> int: ...

    async def save_models(self, documents: Sequence[dict[str, Any]], uploaded: float) -> None:
        """Keep DTDL interface documents (one per top-level interface), by their ``@id``."""
        ...

    async def models(self) -> list[dict[str, Any]]:
        """Every kept DTDL document, in upload order."""
        ...

    async def delete_model(self, model_id: str) -> None: ...

"""The Store protocol: everything twinkit keeps durably, behind one replaceable interface.

One write path for the live data, ``append``: a batch of events, telemetry points and touches
lands in one transaction or not at all, so an acknowledgement to a broker can follow the commit.
Reads are by twin (events since a sequence number, the latest snapshot), by series (points in a
time range, the newest point of every series) and by property (the newest touch).

Beside the live data the store keeps the records the runtime and the API need across restarts:
the DTDL models uploaded, the API tokens (hashed: the store never sees a token) and the
dead letters, messages twinkit could not accept, with their reason, until they are replayed.
What-if scenarios (:class:`ScenarioRecord`) keep their simulated series in tables of their own,
apart from reality's points. Trained predictors and detectors (:class:`PredictorRecord`) are
kept by name and version with their serialized artifacts, one version per name active.

:class:`Store` is a superset of :class:`twinkit.core.EventLog`, the part the runtime uses.
The embedded backend is SQLite; PostgreSQL implements the same protocol later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from twinkit.core import EventLog, Point, Touch
from twinkit.store._sqlite_predictors import PredictorRecord
from twinkit.store._sqlite_scenarios import (
    ScenarioBuckets,
    ScenarioPoints,
    ScenarioRecord,
    ScenarioStatus,
)

__all__ = [
    "DeadLetter",
    "Point",
    "PredictorRecord",
    "ScenarioBuckets",
    "ScenarioPoints",
    "ScenarioRecord",
    "ScenarioStatus",
    "Store",
    "TokenRecord",
    "Touch",
]


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

    async def add_scenario(self, record: ScenarioRecord) -> None:
        """Keep a new scenario; ConflictError when its name is taken."""
        ...

    async def update_scenario(
        self,
        name: str,
        *,
        status: ScenarioStatus | None = None,
        progress: float | None = None,
        error: str | None = None,
        started: float | None = None,
        finished: float | None = None,
    ) -> ScenarioRecord:
        """Set the given fields of a scenario (None leaves one as it is); returns it as kept."""
        ...

    async def scenario(self, name: str) -> ScenarioRecord:
        """One scenario; NotFoundError for an unknown name."""
        ...

    async def scenarios(self) -> list[ScenarioRecord]:
        """Every scenario, oldest first."""
        ...

    async def delete_scenario(self, name: str) -> None:
        """Forget a scenario and its points; NotFoundError for an unknown name."""
        ...

    async def add_scenario_points(self, name: str, chunk: Sequence[ScenarioPoints]) -> int:
        """Keep simulated points of a scenario in one transaction; returns how many."""
        ...

    async def scenario_series(self, name: str) -> list[tuple[str, str]]:
        """(twin id, series name) of every series of a scenario, sorted."""
        ...

    async def scenario_points(
        self, name: str, twin_id: str, series: str, start: float, end: float
    ) -> ScenarioPoints:
        """Points of one scenario series with ``start <= time < end``, by time."""
        ...

    async def scenario_buckets(
        self, name: str, twin_id: str, series: str, start: float, end: float, *, width: float
    ) -> ScenarioBuckets:
        """Aggregates of one scenario series per bucket of ``width`` seconds from ``start``."""
        ...

    async def add_predictor(self, record: PredictorRecord, artifact: bytes) -> PredictorRecord:
        """Keep a trained model and its artifact as the name's next version (numbered by the
        store, never reused); returns it as kept. A checksum or size that does not match the
        artifact is a ValidationError."""
        ...

    async def predictor(self, name: str, version: int) -> PredictorRecord:
        """One version of a kept model; NotFoundError for an unknown name or version."""
        ...

    async def predictors(self, name: str | None = None) -> list[PredictorRecord]:
        """Every kept version (of ``name``), by name then version."""
        ...

    async def active_predictors(self) -> list[PredictorRecord]:
        """The active version of every name that has one, by name."""
        ...

    async def predictor_artifact(self, name: str, version: int) -> bytes:
        """The artifact of one version; NotFoundError for an unknown version, StoreError when
        its artifact is missing."""
        ...

    async def activate_predictor(self, name: str, version: int) -> PredictorRecord:
        """Make ``version`` the only active version of ``name``; returns it as kept."""
        ...

    async def deactivate_predictor(self, name: str) -> None:
        """Leave no version of ``name`` active; NotFoundError for an unknown name."""
        ...

    async def delete_predictor(self, name: str, version: int) -> None:
        """Forget one version and its artifact; ConflictError while it is active."""
        ...

    async def close(self) -> None: ...

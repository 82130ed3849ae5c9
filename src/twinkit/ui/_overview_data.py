"""What the overview shows, computed without a browser: each twin's health, the counts per
model, the ingest rate and the dead letters.

Health is one of four states, worst first (the first rule that holds wins):

``alert``
    an alert raised on the twin is open (raised and not cleared, see
    :mod:`twinkit.ui._overview_alerts`).
``stale``
    the twin has had live data (telemetry, or a property reported after it was created) but
    none for :data:`STALE_AFTER_S`. A twin that never had any (a pipe, a station) is not stale.
``pending``
    a desired value is not in sync: not yet acknowledged with 200, or reported otherwise.
``ok``
    none of these.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from twinkit.core import Twin
from twinkit.model import ModelSet
from twinkit.store import SQLiteStore
from twinkit.ui._overview_alerts import Alert

__all__ = [
    "RATE_WINDOW_S",
    "STALE_AFTER_S",
    "DeadLetterLine",
    "DeadLetterSummary",
    "Health",
    "ModelSummary",
    "RateMeter",
    "Rates",
    "TwinHealth",
    "clock_text",
    "dead_letter_summary",
    "health_rows",
    "last_seen",
    "model_name",
    "summarize",
    "twin_health",
]

STALE_AFTER_S: Final = 300.0
"""Seconds without live data after which a twin that had some is stale."""

RATE_WINDOW_S: Final = 10.0
"""The sliding window the ingest rate is averaged over, in seconds."""


class Health(StrEnum):
    """A twin's health, worst first (see the module docstring for the rule)."""

    ALERT = "alert"
    STALE = "stale"
    PENDING = "pending"
    OK = "ok"

    @property
    def rank(self) -> int:
        """0 for the worst (alert) to 3 for ok: sort by it to put trouble first."""
        return _RANK[self]


_RANK: Final = {health: index for index, health in enumerate(Health)}


@dataclass(frozen=True, slots=True)
class TwinHealth:
    """One twin's health and the reason for it, in words."""

    twin_id: str
    model: str
    health: Health
    detail: str


def clock_text(at: float, now: float) -> str:
    """A time as a person reads it on a dashboard: ``14:03:07`` today, with the date if not."""
    local = time.localtime(at)
    if time.strftime("%Y-%m-%d", local) == time.strftime("%Y-%m-%d", time.localtime(now)):
        return time.strftime("%H:%M:%S", local)
    return time.strftime("%Y-%m-%d %H:%M:%S", local)


def last_seen(twin: Twin) -> float | None:
    """When live data last came for ``twin`` (telemetry, or a property reported after the twin
    was created, repeats included); None when it never had any."""
    newest: float | None = None
    for value in twin.telemetry.values():
        if newest is None or value.time > newest:
            newest = value.time
    for state in twin.properties.values():
        reported = state.last_reported
        if (
            reported is not None
            and reported > twin.created
            and (newest is None or reported > newest)
        ):
            newest = reported
    return newest


def twin_health(
    twin: Twin,
    now: float,
    alerts: Mapping[str, Alert],
    *,
    stale_after_s: float = STALE_AFTER_S,
) -> TwinHealth:
    """The health of ``twin`` at ``now``; ``alerts`` maps twin ids to their newest open alert."""
    alert = alerts.get(twin.id)
    if alert is not None:
        return TwinHealth(twin.id, twin.model, Health.ALERT, f"{alert.name}: {alert.message}")
    seen = last_seen(twin)
    if seen is not None and now - seen > stale_after_s:
        return TwinHealth(
            twin.id, twin.model, Health.STALE, f"no data since {clock_text(seen, now)}"
        )
    pending = sorted(name for name, state in twin.properties.items() if not state.in_sync)
    if pending:
        return TwinHealth(
            twin.id, twin.model, Health.PENDING, "desired not in sync: " + ", ".join(pending)
        )
    return TwinHealth(twin.id, twin.model, Health.OK, "" if seen is not None else "no live data")


def health_rows(
    twins: Iterable[Twin],
    now: float,
    alerts: Mapping[str, Alert],
    *,
    stale_after_s: float = STALE_AFTER_S,
) -> list[TwinHealth]:
    """The health of every twin, worst first, then by id."""
    rows = [twin_health(t, now, alerts, stale_after_s=stale_after_s) for t in twins]
    rows.sort(key=lambda row: (row.health.rank, row.twin_id))
    return rows


def model_name(models: ModelSet, model_id: str) -> str:
    """What to call a model: its display name, else the last part of its DTMI (``Pump``)."""
    try:
        interface = models[model_id]
    except (KeyError, ValueError):  # not (or no longer) a model; not a DTMI
        interface = None
    if interface is not None and interface.display_name:
        return str(interface.display_name)
    local = model_id.rsplit(";", 1)[0].rsplit(":", 1)[-1]
    return local or model_id


@dataclass(frozen=True, slots=True)
class ModelSummary:
    """How many twins a model has, and how many of them are in each health state."""

    model: str
    name: str
    twins: int
    counts: Mapping[Health, int]

    @property
    def worst(self) -> Health:
        """The worst health among the model's twins."""
        return min((h for h, n in self.counts.items() if n), key=lambda h: h.rank)


def summarize(rows: Iterable[TwinHealth], names: Mapping[str, str]) -> list[ModelSummary]:
    """One summary per model that has twins, the ones in worst health first, then by name;
    ``names`` gives each model's display name (the DTMI when missing)."""
    per_model: dict[str, Counter[Health]] = {}
    for row in rows:
        per_model.setdefault(row.model, Counter())[row.health] += 1
    out = [
        ModelSummary(
            model=model,
            name=names.get(model, model),
            twins=sum(counts.values()),
            counts={health: counts.get(health, 0) for health in Health},
        )
        for model, counts in per_model.items()
    ]
    out.sort(key=lambda s: (s.worst.rank, s.name, s.model))
    return out


@dataclass(frozen=True, slots=True)
class Rates:
    """Ingest per second over the window; ``messages`` is None without a connector."""

    messages: float | None
    points: float
    window_s: float


class RateMeter:
    """Messages and points per second over a sliding window of cumulative counters.

    Feed it the points as events arrive (:meth:`add_points`) and sample it on a timer with
    the connector's ``received`` counter (:meth:`sample`); a rate is the rise of a counter
    between the oldest sample in the window and now. A counter that goes down (the connector
    was restarted) starts the window over.
    """

    __slots__ = ("_points", "_samples", "_window_s")

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        if not window_s > 0:
            raise ValueError(f"a rate window must be positive seconds, got {window_s!r}")
        self._window_s = window_s
        self._points = 0
        self._samples: deque[tuple[float, int | None, int]] = deque()

    def add_points(self, count: int) -> None:
        """``count`` more points arrived."""
        self._points += count

    def sample(self, now: float, messages: int | None) -> Rates:
        """Record the counters at ``now`` (a monotonic clock) and give the rates."""
        samples = self._samples
        if samples and (now < samples[-1][0] or _went_down(samples[-1][1], messages)):
            samples.clear()
        samples.append((now, messages, self._points))
        while len(samples) > 2 and now - samples[1][0] >= self._window_s:
            samples.popleft()
        first_time, first_messages, first_points = samples[0]
        span = now - first_time
        if span <= 0:
            return Rates(None if messages is None else 0.0, 0.0, self._window_s)
        message_rate = None
        if messages is not None and first_messages is not None:
            message_rate = (messages - first_messages) / span
        return Rates(message_rate, (self._points - first_points) / span, self._window_s)


def _went_down(before: int | None, now: int | None) -> bool:
    return (before is None) != (now is None) or (
        before is not None and now is not None and now < before
    )


@dataclass(frozen=True, slots=True)
class DeadLetterLine:
    """A pending dead letter as the overview lists it (its payload stays in the store)."""

    id: int
    source: str
    reason: str
    received: float


@dataclass(frozen=True, slots=True)
class DeadLetterSummary:
    """How many dead letters wait for a replay, and the newest few."""

    pending: int
    newest: tuple[DeadLetterLine, ...]


_PENDING_COUNT_SQL: Final = "SELECT count(*) FROM dead_letters WHERE replayed IS NULL"
_NEWEST_SQL: Final = (
    "SELECT id, source, reason, received FROM dead_letters "
    "WHERE replayed IS NULL ORDER BY id DESC LIMIT ?"
)


async def dead_letter_summary(store: SQLiteStore, newest: int = 5) -> DeadLetterSummary:
    """The pending dead letters' count and the ``newest`` latest ones, newest first: two
    indexed reads (the store's list is oldest first and carries every payload)."""

    def read(conn: sqlite3.Connection) -> DeadLetterSummary:
        (count,) = conn.execute(_PENDING_COUNT_SQL).fetchone()
        lines = tuple(
            DeadLetterLine(int(row[0]), str(row[1]), str(row[2]), float(row[3]))
            for row in conn.execute(_NEWEST_SQL, (newest,))
        )
        return DeadLetterSummary(int(count), lines)

    return await store.read("summing up dead letters", read)

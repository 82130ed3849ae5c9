"""Open alerts for the dashboard's pages: the runtime's own (raised and not cleared), newest
first, as the overview, the scene and the twin page show them.

An alert opens with ``AlertRaised`` and stays open until ``AlertCleared`` (a detector whose
episode ended, a simulator that runs again, or an operator); ``AlertAcknowledged`` marks it
seen without closing it. The runtime keeps each twin's open alerts in its state
(:attr:`twinkit.core.Twin.alerts`) with an index of the twins that have any, so reading them
is cheap and needs no scan of the event log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from twinkit.core import OpenAlert, Runtime

__all__ = ["MAX_ALERTS", "Alert", "AlertBook", "alert_of"]

MAX_ALERTS: Final = 1000
"""Most open alerts a page lists (the API lists them all)."""


@dataclass(frozen=True, slots=True)
class Alert:
    """One open alert: on which twin, what (``name``), how bad, why, when, by whom, and who
    acknowledged it (None: nobody yet)."""

    twin_id: str
    seq: int
    name: str
    severity: str
    message: str
    raised: float
    cause: str
    acknowledged_by: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """A twin has at most one open alert of a name."""
        return (self.twin_id, self.name)


def alert_of(found: OpenAlert) -> Alert:
    """The page's view of one of the runtime's open alerts."""
    state = found.alert
    return Alert(
        twin_id=found.twin_id,
        seq=state.raised_seq,
        name=state.name,
        severity=state.severity,
        message=state.message,
        raised=state.updated,
        cause=state.raised_by or "",
        acknowledged_by=state.acknowledged_by,
    )


class AlertBook:
    """The open alerts of one runtime, read from it when asked (``now`` is accepted for
    callers that pass their clock: openness does not depend on age)."""

    __slots__ = ("_limit", "_runtime")

    def __init__(self, runtime: Runtime, *, limit: int = MAX_ALERTS) -> None:
        self._runtime = runtime
        self._limit = limit

    def open(self, now: float | None = None, *, limit: int | None = None) -> list[Alert]:
        """The open alerts, newest first (at most ``limit``, else the book's limit)."""
        found = self._runtime.alerts()
        return [alert_of(item) for item in found[: limit or self._limit]]

    def count_open(self, now: float | None = None) -> int:
        """How many alerts are open."""
        return len(self._runtime.alerts())

    def by_twin(self, now: float | None = None) -> dict[str, Alert]:
        """Each twin with an open alert, and its newest one."""
        newest: dict[str, Alert] = {}
        for item in self._runtime.alerts():
            newest.setdefault(item.twin_id, alert_of(item))
        return newest

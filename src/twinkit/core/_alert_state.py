"""The open alerts of a twin, and how alert events change them.

An alert follows the ISA-18.2 life cycle, reduced to what a twin needs: ``AlertRaised`` opens
it (or updates it while open: one open alert per name and twin, never duplicates),
``AlertAcknowledged`` records that somebody has seen it (it stays open), ``AlertCleared``
closes it. What is open is part of the twin's state, folded from its events like everything
else, so a restart, a snapshot and time travel all give the same answer.

The fold reads only an event's ``data``, never its ``cause``: the stored rows time travel folds
from carry no cause, so each alert event repeats the cause it was made by as ``by``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Final

from twinkit.core._events import EventType

__all__ = [
    "ALERT_EVENTS",
    "NO_ALERTS",
    "SEVERITIES",
    "AlertState",
    "alerts_after",
    "severity_rank",
]

SEVERITIES: Final = ("info", "warning", "error", "critical")
"""The severities an alert may have, least severe first."""

ALERT_EVENTS: Final = frozenset(
    {EventType.ALERT_RAISED, EventType.ALERT_ACKNOWLEDGED, EventType.ALERT_CLEARED}
)

NO_ALERTS: Final[Mapping[str, AlertState]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class AlertState:
    """One open alert of a twin.

    ``raised`` and ``raised_seq`` are when (and by which event) it opened; ``updated`` when it
    was last raised again, by ``raised_by`` (the cause of that raise; None for alerts raised
    before twinkit recorded it). Raising it again with another severity takes back an
    acknowledgement: the operator acknowledged something less (or more) severe.
    """

    name: str
    severity: str
    message: str
    raised: float
    raised_seq: int
    updated: float
    raised_by: str | None = None
    acknowledged: float | None = None
    acknowledged_by: str | None = None
    note: str | None = None

    @property
    def is_acknowledged(self) -> bool:
        return self.acknowledged is not None


def severity_rank(severity: str) -> int:
    """The position of ``severity`` in :data:`SEVERITIES` (-1 for one twinkit does not know)."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        return -1


def _by(data: Mapping[str, Any]) -> str | None:
    by = data.get("by")
    return None if by is None else str(by)


def _raised(
    alerts: Mapping[str, AlertState], seq: int, time: float, data: Mapping[str, Any]
) -> AlertState:
    # Lenient on purpose: the fold never raises on a logged event (older logs hold alerts
    # written before name and severity were checked).
    name = str(data.get("name", "alert"))
    severity = str(data.get("severity", "warning"))
    message = str(data.get("message", ""))
    current = alerts.get(name)
    if current is None:
        return AlertState(name, severity, message, time, seq, time, _by(data))
    changed = replace(current, message=message, updated=time, raised_by=_by(data))
    if severity == current.severity:
        return changed
    return replace(changed, severity=severity, acknowledged=None, acknowledged_by=None, note=None)


def alerts_after(
    alerts: Mapping[str, AlertState],
    kind: str,
    seq: int,
    time: float,
    data: Mapping[str, Any],
) -> Mapping[str, AlertState]:
    """A twin's open alerts after an alert event of type ``kind`` (its value); ``alerts``
    itself when the event changes nothing (an acknowledgement or clearance of an alert that is
    not open)."""
    if kind == EventType.ALERT_RAISED:
        state = _raised(alerts, seq, time, data)
        return MappingProxyType({**alerts, state.name: state})
    name = str(data.get("name", "alert"))
    current = alerts.get(name)
    if current is None:
        return alerts
    if kind == EventType.ALERT_CLEARED:
        return MappingProxyType({key: a for key, a in alerts.items() if key != name})
    if kind == EventType.ALERT_ACKNOWLEDGED:
        note = data.get("note")
        acked = replace(
            current,
            acknowledged=time,
            acknowledged_by=_by(data),
            note=None if note is None else str(note),
        )
        return MappingProxyType({**alerts, name: acked})
    return alerts

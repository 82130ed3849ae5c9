"""Alert requests staged as events, and the open alerts across twins.

The runtime's ``raise_alert``, ``acknowledge_alert`` and ``clear_alert`` check their request
against the twin's open alerts here and stage one event each; the state change itself is the
fold's (:mod:`twinkit.core._alert_state`). Names are DTDL-like names (``anomalyDetected``),
since they travel in URL paths; severities one of :data:`SEVERITIES`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from twinkit.core._alert_state import SEVERITIES, AlertState, severity_rank
from twinkit.core._batch import Batch
from twinkit.core._derived import is_name
from twinkit.core._events import Event, EventType
from twinkit.core._twin import Twin
from twinkit.core._writes import require_live
from twinkit.errors import ValidationError

__all__ = [
    "OpenAlert",
    "check_severity",
    "select_alerts",
    "stage_acknowledge",
    "stage_clear",
    "stage_raise",
]


@dataclass(frozen=True, slots=True)
class OpenAlert:
    """An open alert with the twin it is on."""

    twin_id: str
    model: str
    alert: AlertState


def check_severity(severity: object, where: str) -> str:
    """``severity`` when it is one of :data:`SEVERITIES`, else a ValidationError at ``where``."""
    if not isinstance(severity, str) or severity not in SEVERITIES:
        raise ValidationError(
            "unknown alert severity",
            path=where,
            expected=f"one of {', '.join(SEVERITIES)}",
            got=severity,
        )
    return severity


def _check_text(value: object, what: str, where: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(
            f"alert {what} is not text", path=where, expected="a string", got=value
        )
    return value


def _open(twin: Twin, name: str, doing: str) -> AlertState:
    alert = twin.alerts.get(name)
    if alert is None:
        raise ValidationError(
            f"cannot {doing} alert {name!r} of twin {twin.id!r}: it is not open",
            model=twin.model,
            path=f"{twin.id}/alerts/{name}",
            expected=f"an open alert: {', '.join(sorted(twin.alerts)) or 'none is open'}",
            got=name,
        )
    return alert


def stage_raise(batch: Batch, twin_id: str, name: str, message: str, severity: str) -> Event:
    """Stage ``AlertRaised``: opens alert ``name`` on the twin, or updates the open one."""
    twin = require_live(batch.twin(twin_id), twin_id)
    where = f"{twin_id}/alerts/{name}"
    if not is_name(name):
        raise ValidationError(
            "bad alert name",
            model=twin.model,
            path=where,
            expected="a DTDL name: letters, digits and '_', starting with a letter",
            got=name,
        )
    data = {
        "name": name,
        "severity": check_severity(severity, f"{where}/severity"),
        "message": _check_text(message, "message", f"{where}/message"),
        "by": batch.cause,
    }
    return batch.record(twin_id, EventType.ALERT_RAISED, data, batch.recorded)


def stage_acknowledge(batch: Batch, twin_id: str, name: str, note: str) -> Event:
    """Stage ``AlertAcknowledged`` of an open alert (again: the newest acknowledgement counts)."""
    twin = require_live(batch.twin(twin_id), twin_id)
    _open(twin, name, "acknowledge")
    data = {
        "name": name,
        "note": _check_text(note, "note", f"{twin_id}/alerts/{name}/note"),
        "by": batch.cause,
    }
    return batch.record(twin_id, EventType.ALERT_ACKNOWLEDGED, data, batch.recorded)


def stage_clear(batch: Batch, twin_id: str, name: str, message: str) -> Event:
    """Stage ``AlertCleared``: the alert is closed (a later raise opens a new one)."""
    twin = require_live(batch.twin(twin_id), twin_id)
    _open(twin, name, "clear")
    data = {
        "name": name,
        "message": _check_text(message, "message", f"{twin_id}/alerts/{name}/message"),
        "by": batch.cause,
    }
    return batch.record(twin_id, EventType.ALERT_CLEARED, data, batch.recorded)


def select_alerts(
    twins: Iterable[Twin],
    *,
    model: str | None,
    severity: str | None,
    is_a: Callable[[str, str], bool],
) -> list[OpenAlert]:
    """The open alerts of ``twins`` of ``model`` (or one extending it, by ``is_a``) at least as
    severe as ``severity``, newest raised first."""
    least = -1 if severity is None else severity_rank(check_severity(severity, "severity"))
    found = [
        OpenAlert(twin.id, twin.model, alert)
        for twin in twins
        if model is None or twin.model == model or is_a(twin.model, model)
        for alert in twin.alerts.values()
        if severity_rank(alert.severity) >= least
    ]
    found.sort(key=lambda item: (-item.alert.raised, item.twin_id, item.alert.name))
    return found

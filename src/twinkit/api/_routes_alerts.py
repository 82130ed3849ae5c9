"""``/alerts`` and ``/twins/{id}/alerts/{name}/...``: open alerts, acknowledged and cleared.

An alert is open from its ``AlertRaised`` until its ``AlertCleared``, whether or not somebody
acknowledged it (ISA-18.2's active, acknowledged, cleared). The open alerts are part of each
twin's state (``alerts`` in ``GET /twins/{id}``), so listing them reads no event log. Raising
is for behaviours (detectors, predictors, simulators); people acknowledge and clear.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field

from twinkit.api._deps import Operator, Svc, Viewer
from twinkit.core import SEVERITIES, OpenAlert, alert_to_json

__all__ = ["AcknowledgeBody", "ClearBody", "open_alert_json", "router"]

router = APIRouter(tags=["alerts"])


class AcknowledgeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=2000, description="what the operator says")


class ClearBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(default="", max_length=2000, description="why it is cleared")


def open_alert_json(item: OpenAlert) -> dict[str, Any]:
    """An open alert with its twin: ``twinId``, ``model`` and the alert's own keys."""
    return {"twinId": item.twin_id, "model": item.model, **alert_to_json(item.alert)}


@router.get("/alerts", summary="Open alerts across twins")
async def list_alerts(
    services: Svc,
    caller: Viewer,
    twin: Annotated[str | None, Query(description="only this twin's alerts")] = None,
    model: Annotated[
        str | None, Query(description="only twins of this model or one extending it")
    ] = None,
    severity: Annotated[
        str | None, Query(description=f"at least this severity: {', '.join(SEVERITIES)}")
    ] = None,
) -> dict[str, Any]:
    """Newest raised first; ``total`` is how many there are."""
    found = services.runtime.alerts(twin_id=twin, model=model, severity=severity)
    return {"items": [open_alert_json(item) for item in found], "total": len(found)}


@router.post("/twins/{twin_id}/alerts/{name}/acknowledge", summary="Acknowledge an open alert")
async def acknowledge_alert(
    twin_id: str,
    name: str,
    services: Svc,
    caller: Operator,
    body: Annotated[AcknowledgeBody | None, Body()] = None,
) -> dict[str, Any]:
    """The alert as it is now (still open); 422 when it is not open."""
    note = "" if body is None else body.note
    runtime = services.runtime
    await runtime.acknowledge_alert(twin_id, name, cause=caller.cause, note=note)
    twin = runtime.get(twin_id)  # no await since the write: the alert is as it left it
    return open_alert_json(OpenAlert(twin.id, twin.model, twin.alerts[name]))


@router.post("/twins/{twin_id}/alerts/{name}/clear", summary="Clear an open alert")
async def clear_alert(
    twin_id: str,
    name: str,
    services: Svc,
    caller: Operator,
    body: Annotated[ClearBody | None, Body()] = None,
) -> dict[str, Any]:
    """The ``AlertCleared`` event; 422 when the alert is not open."""
    message = "" if body is None else body.message
    event = await services.runtime.clear_alert(twin_id, name, cause=caller.cause, message=message)
    return event.to_json()

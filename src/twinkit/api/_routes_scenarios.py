"""What-if scenarios through the API (docs/scenarios.md).

- ``POST /scenarios`` (operator): check a scenario spec, fork its twins and start it;
  ``202 Accepted`` with the scenario (``queued``), ``Location`` its URL. A bad spec answers
  422 with ``where`` naming the field (``inputs/pump-1/speed``), a taken name 409.
- ``GET /scenarios``, ``GET /scenarios/{name}`` (viewer): status, progress (0 to 1), the
  error of a failed one, the spec as run (``at`` and ``dt`` resolved); one scenario also
  lists its series. Poll it to follow a run.
- ``GET /scenarios/{name}/series?twin=&name=&buckets=``: one simulated series, raw points or
  the mean of ``buckets`` equal buckets over the horizon.
- ``GET /scenarios/{name}/compare?twin=&name=&buckets=&reality=``: the scenario against the
  twin's real series on one time grid, with the difference.
- ``POST /scenarios/{name}/cancel`` (operator): stop a queued or running one (409 when it
  has ended); ``DELETE /scenarios/{name}`` (operator): cancel if needed, then forget it and
  its points.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Final

import numpy as np
from fastapi import APIRouter, Body, Query, Response

from twinkit.api._deps import Operator, Svc, Viewer
from twinkit.sim._scenario_results import MAX_BUCKETS, compare_scenario, scenario_series
from twinkit.store import ScenarioRecord

__all__ = ["router", "scenario_json"]

router = APIRouter(prefix="/scenarios", tags=["scenarios"])

_EXAMPLE: Final = {
    "name": "clogged-outlet",
    "roots": ["tank-1"],
    "depth": 1,
    "at": None,
    "horizon": 3600,
    "dt": 10,
    "parameters": {"tank-1": {"area": 4.0}},
    "inputs": {"pump-1": {"speed": [[0, 1450], [1800, 1200]]}},
    "setpoints": {"valve-1": {"openingSetpoint": 40}},
    "faults": [{"twin": "valve-1", "target": "opening", "start": 600, "multiplier": 0.3}],
}

TwinParam = Annotated[str, Query(description="the twin id")]
NameParam = Annotated[str, Query(description="the series: a content or simulator output name")]
BucketsParam = Annotated[
    int | None,
    Query(ge=1, le=MAX_BUCKETS, description="average into this many buckets (raw if absent)"),
]


def scenario_json(
    record: ScenarioRecord, series: list[tuple[str, str]] | None = None
) -> dict[str, Any]:
    """A scenario as the API shows it."""
    body: dict[str, Any] = {
        "name": record.name,
        "status": record.status.value,
        "progress": record.progress,
        "error": record.error,
        "created": record.created,
        "started": record.started,
        "finished": record.finished,
        "cause": record.cause,
        "spec": dict(record.spec),
    }
    if series is not None:
        body["series"] = [{"twinId": twin, "name": name} for twin, name in series]
    return body


def _value(value: float) -> float | None:
    return value if math.isfinite(value) else None


@router.post("", status_code=202, summary="Fork the twins and run a what-if scenario")
async def run_scenario(
    body: Annotated[dict[str, Any], Body(openapi_examples={"fault": {"value": _EXAMPLE}})],
    *,
    services: Svc,
    caller: Operator,
    response: Response,
) -> dict[str, Any]:
    record = await services.scenarios.submit(body, cause=caller.cause)
    response.headers["Location"] = f"/api/v1/scenarios/{record.name}"
    return scenario_json(record)


@router.get("", summary="Every scenario, oldest first")
async def list_scenarios(services: Svc, caller: Viewer) -> dict[str, Any]:
    return {"items": [scenario_json(r) for r in await services.scenarios.records()]}


@router.get("/{scenario}", summary="One scenario: status, progress, spec, series")
async def get_scenario(scenario: str, *, services: Svc, caller: Viewer) -> dict[str, Any]:
    record = await services.scenarios.get(scenario)
    return scenario_json(record, await services.store.scenario_series(scenario))


@router.get("/{scenario}/series", summary="One simulated series, raw or in buckets")
async def get_series(
    scenario: str,
    *,
    services: Svc,
    caller: Viewer,
    twin: TwinParam,
    name: NameParam,
    buckets: BucketsParam = None,
) -> dict[str, Any]:
    """``points``: ``{"time": <epoch seconds>, "value": <number or null>}``; with
    ``buckets``, one per bucket (its start and mean; null when empty)."""
    found = await scenario_series(services.store, scenario, twin, name, buckets=buckets)
    seconds = np.asarray(found.index, dtype="datetime64[ns]").astype(np.int64) / 1e9
    return {
        "scenario": scenario,
        "twinId": twin,
        "name": name,
        "buckets": buckets,
        "points": [
            {"time": float(t), "value": _value(float(v))}
            for t, v in zip(seconds, found.to_numpy(), strict=True)
        ],
    }


@router.get("/{scenario}/compare", summary="The scenario against reality on one time grid")
async def compare(
    scenario: str,
    *,
    services: Svc,
    caller: Viewer,
    twin: TwinParam,
    name: NameParam,
    buckets: BucketsParam = None,
    reality: Annotated[
        str | None, Query(description="the real series to compare with (default: name)")
    ] = None,
) -> dict[str, Any]:
    """``{"time": [ISO 8601...], "columns": {"scenario", "reality", "difference"}}``."""
    frame = await compare_scenario(
        services.store, scenario, twin, name, buckets=buckets, reality=reality
    )
    return {
        "scenario": scenario,
        "twinId": twin,
        "name": name,
        "at": frame.attrs.get("at"),
        "time": [t.isoformat().replace("+00:00", "Z") for t in frame.index],
        "columns": {
            column: [_value(float(v)) for v in frame[column].to_numpy()] for column in frame.columns
        },
    }


@router.post("/{scenario}/cancel", summary="Stop a queued or running scenario")
async def cancel(scenario: str, *, services: Svc, caller: Operator) -> dict[str, Any]:
    return scenario_json(await services.scenarios.cancel(scenario))


@router.delete("/{scenario}", status_code=204, summary="Forget a scenario and its series")
async def delete(scenario: str, *, services: Svc, caller: Operator) -> Response:
    await services.scenarios.delete(scenario)
    return Response(status_code=204)

"""Learned models through the API: the registry, training, activation and live predictions.

- ``GET /predictors`` (viewer): every registered name with its active and newest version,
  and the factories this server can train (``factories``).
- ``GET /predictors/{name}``: every version (inputs, window, training range and twins,
  metrics, limits, artifact checksum, the versions that made it), how the active one is
  serving (updates, failures, latency) and the training jobs of the name.
- ``POST /predictors/{name}/train`` (operator): train a new version with a factory of this
  server (``{"factory", "model", "params", "start", "end", "twins", "resample", "activate",
  "limits"}``); ``202 Accepted`` with the job, ``Location`` its URL. Poll
  ``GET /predictors/{name}/jobs/{id}`` for ``progress`` (0 to 1) and ``status``; a failed job
  says why in ``error`` (no history, a bad input name...).
- ``POST /predictors/{name}/activate`` ``{"version": n}`` (operator): serve that version from
  now on (swapped in while ingest goes on); ``POST /predictors/{name}/deactivate``: serve none.
- ``DELETE /predictors/{name}/versions/{version}`` (admin): forget a version and its artifact
  (409 while it is active).
- ``GET /twins/{id}/predictions`` (viewer): the newest answer of every served model about the
  twin (values with intervals, score and threshold, model version, what is alarmed) and the
  twin's latest ``predicted:*`` values as kept (also after a restart).

Factories: a server trains the kinds of model its ``twinkit.predictors`` entry points name
(twinkit's own and plug-in packages') and those added to ``services.predictions.factories``
(see :mod:`twinkit.predict._factories`).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Response
from pydantic import BaseModel, ConfigDict, Field

from twinkit.api._deps import Admin, Operator, Svc, Viewer
from twinkit.core import PREDICTED
from twinkit.core._derived import split_derived
from twinkit.predict._registry_entry import RegistryEntry
from twinkit.predict._service import TrainRequest

__all__ = ["router"]

router = APIRouter(tags=["prediction"])

_EXAMPLE: Final = {
    "factory": "zscore",
    "model": "dtmi:example:Pump;1",
    "params": {"inputs": ["temp", "vibration"], "window": 30},
    "start": 1767225600,
    "end": None,
    "activate": True,
    "limits": {},
}


class ActivateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, description="the version to serve")


def _summary(versions: list[RegistryEntry], serving: bool) -> dict[str, Any]:
    newest = versions[-1]
    active = next((entry.version for entry in versions if entry.active), None)
    return {
        "name": newest.name,
        "model": newest.model,
        "kind": newest.kind,
        "active": active,
        "latest": newest.version,
        "versions": len(versions),
        "created": newest.created,
        "serving": serving,
    }


@router.get("/predictors", summary="Registered predictors and detectors, and the factories")
async def list_predictors(services: Svc, caller: Viewer) -> dict[str, Any]:
    predictions = services.predictions
    by_name: dict[str, list[RegistryEntry]] = {}
    for entry in await predictions.registry.entries():
        by_name.setdefault(entry.name, []).append(entry)
    serving = {entry.name for entry in predictions.runner.served()}
    factories = predictions.factories
    return {
        "items": [_summary(versions, name in serving) for name, versions in by_name.items()],
        "factories": [factories.describe(name) for name in factories.names()],
    }


@router.get("/predictors/{name}", summary="Every version of one predictor, and its serving")
async def get_predictor(name: str, services: Svc, caller: Viewer) -> dict[str, Any]:
    predictions = services.predictions
    versions = await predictions.registry.entries(name)
    serving = [s.to_json() for s in predictions.runner.status() if s.name == name]
    return {
        **_summary(versions, bool(serving) and serving[0]["error"] is None),
        "items": [entry.to_json() for entry in versions],
        "status": serving[0] if serving else None,
        "jobs": [job.to_json() for job in predictions.jobs(name)],
    }


@router.post(
    "/predictors/{name}/train", status_code=202, summary="Train a new version with a factory"
)
async def train_predictor(
    name: str,
    body: Annotated[dict[str, Any], Body(openapi_examples={"detector": {"value": _EXAMPLE}})],
    *,
    services: Svc,
    caller: Operator,
    response: Response,
) -> dict[str, Any]:
    request = TrainRequest.from_json(body)
    job = services.predictions.submit(name, request, cause=caller.cause)
    response.headers["Location"] = f"/api/v1/predictors/{name}/jobs/{job.id}"
    return job.to_json()


@router.get("/predictors/{name}/jobs", summary="The training jobs of a predictor")
async def list_jobs(name: str, services: Svc, caller: Viewer) -> dict[str, Any]:
    return {"items": [job.to_json() for job in services.predictions.jobs(name)]}


@router.get("/predictors/{name}/jobs/{job_id}", summary="One training job: status, progress")
async def get_job(name: str, job_id: str, services: Svc, caller: Viewer) -> dict[str, Any]:
    return services.predictions.job(name, job_id).to_json()


@router.post("/predictors/{name}/activate", summary="Serve a version from now on")
async def activate(
    name: str, body: ActivateBody, services: Svc, caller: Operator
) -> dict[str, Any]:
    entry = await services.predictions.registry.activate(name, body.version)
    return entry.to_json()


@router.post("/predictors/{name}/deactivate", status_code=204, summary="Serve no version")
async def deactivate(name: str, services: Svc, caller: Operator) -> Response:
    await services.predictions.registry.deactivate(name)
    return Response(status_code=204)


@router.delete("/predictors/{name}/versions/{version}", status_code=204, summary="Forget a version")
async def delete_version(name: str, version: int, services: Svc, caller: Admin) -> Response:
    await services.predictions.registry.delete(name, version)
    return Response(status_code=204)


@router.get("/twins/{twin_id}/predictions", summary="The twin's newest predictions")
async def twin_predictions(twin_id: str, services: Svc, caller: Viewer) -> dict[str, Any]:
    twin = services.runtime.get(twin_id)
    values = {}
    for series, latest in sorted(twin.derived.items()):
        split = split_derived(series)
        if split is not None and split[0] == PREDICTED:
            values[split[1]] = {"value": latest.value, "time": latest.time}
    return {
        "twinId": twin_id,
        "model": twin.model,
        "predictions": [item.to_json() for item in services.predictions.runner.latest(twin_id)],
        "values": values,
    }

"""Simulation through the API: bindings, shadow status, and runs from a twin's state.

- ``GET /simulation/bindings``: the simulators this server runs, per model, with their maps.
- ``GET /twins/{id}/shadow``: where each shadow of the twin stands (state, simulated time,
  steps, latest simulated values and residuals, the error of a failed one).
- ``POST /twins/{id}/simulate``: run the twin's simulator from its current state, or from its
  state at ``at`` (time travel), for ``horizon`` seconds; nothing is stored. The run takes a
  worker thread, at most :data:`MAX_STEPS` steps and :data:`MAX_SECONDS` of wall-clock time
  (then it stops and answers what it has, ``cancelled: true``). A diverging simulation
  answers 422 (``simulation``) naming the time, and the server goes on.

Viewers read; operators run simulations.
"""

from __future__ import annotations

import asyncio
import math
import threading
from typing import Any, Final

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from twinkit.api._deps import Operator, Svc, Viewer
from twinkit.core import Twin
from twinkit.errors import NotFoundError, ValidationError
from twinkit.query._timetravel import twin_as_of
from twinkit.sim._binding import Related, SimulationBinding
from twinkit.sim._engine import SimulationResult
from twinkit.sim._shadow import ShadowStatus
from twinkit.sim._shadow_start import simulate_twin

__all__ = ["MAX_SECONDS", "MAX_STEPS", "router"]

router = APIRouter(tags=["simulation"])

MAX_STEPS: Final = 200_000
"""The most steps one ``simulate`` request may take."""
MAX_SECONDS: Final = 60.0
"""Wall-clock seconds after which a ``simulate`` request stops and answers what it has."""


class SimulateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    horizon: float = Field(gt=0, description="seconds of simulated time to run")
    dt: float | None = Field(default=None, gt=0, description="step; the binding's by default")
    at: float | str | None = Field(
        default=None, description="start from the twin as it was then (seconds or ISO 8601)"
    )
    inputs: dict[str, float] = Field(
        default_factory=dict, description="simulator inputs held over the run (override)"
    )
    binding: str | None = Field(
        default=None, description="which binding, when the twin's model has several"
    )


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def binding_json(binding: SimulationBinding) -> dict[str, Any]:
    def source(value: str | Related) -> Any:
        if isinstance(value, Related):
            return {
                "relationship": value.relationship,
                "content": value.content,
                "aggregate": value.aggregate,
                "incoming": value.incoming,
            }
        return value

    return {
        "model": binding.model,
        "name": binding.name,
        "dt": binding.dt,
        "parameters": dict(binding.parameters),
        "inputs": {name: source(value) for name, value in binding.inputs.items()},
        "states": dict(binding.states),
        "outputs": dict(binding.outputs),
    }


def status_json(status: ShadowStatus) -> dict[str, Any]:
    return {
        "binding": status.binding,
        "model": status.model,
        "state": status.state.value,
        "time": status.time,
        "steps": status.steps,
        "updates": status.updates,
        "ignored": status.ignored,
        "reseeds": status.reseeds,
        "failures": status.failures,
        "simulated": dict(status.simulated),
        "residuals": dict(status.residuals),
        "error": status.error,
        "retryIn": status.retry_in,
    }


def result_json(result: SimulationResult) -> dict[str, Any]:
    def column(values: Any) -> list[float | None]:
        return [_number(v) for v in values.tolist()]

    return {
        "cancelled": result.cancelled,
        "times": result.times.tolist(),
        "outputs": {name: column(values) for name, values in result.outputs.items()},
        "inputs": {name: column(values) for name, values in result.inputs.items()},
    }


def _pick(bindings: list[SimulationBinding], name: str | None, twin: Twin) -> SimulationBinding:
    if not bindings:
        raise NotFoundError(
            f"no simulation binding applies to twin {twin.id!r} (model {twin.model})",
            where=f"twin {twin.id}",
        )
    if name is None:
        return bindings[0]
    for binding in bindings:
        if binding.name == name:
            return binding
    raise ValidationError(
        "unknown binding",
        model=twin.model,
        path="body.binding",
        expected=f"one of {sorted(b.name for b in bindings)}",
        got=name,
    )


@router.get("/simulation/bindings", summary="The simulators this server runs, per model")
async def list_bindings(services: Svc, caller: Viewer) -> dict[str, Any]:
    items = [binding_json(binding) for binding in services.bindings]
    return {"items": items, "total": len(items)}


@router.get("/twins/{twin_id}/shadow", summary="The twin's shadow simulations")
async def shadow(twin_id: str, services: Svc, caller: Viewer) -> dict[str, Any]:
    """404 when no binding applies to the twin's model or shadow mode is off."""
    twin = services.runtime.get(twin_id)
    _pick(services.bindings.for_model(twin.model, services.runtime.models), None, twin)
    if services.shadow is None:
        raise NotFoundError("shadow mode is not running on this server", where=f"twin {twin_id}")
    statuses = services.shadow.status(twin_id)
    return {"twinId": twin_id, "model": twin.model, "shadows": [status_json(s) for s in statuses]}


@router.post("/twins/{twin_id}/simulate", summary="Simulate ahead from the twin's state")
async def simulate(
    twin_id: str, body: SimulateBody, services: Svc, caller: Operator
) -> dict[str, Any]:
    """The outputs (and inputs) at every step from the start; nothing is stored."""
    runtime = services.runtime
    twin = runtime.find(twin_id)
    if twin is None and body.at is not None:  # deleted since: its model then
        twin = await twin_as_of(services.store, twin_id, body.at, models=runtime.models)
    if twin is None:
        raise NotFoundError(f"twin {twin_id!r} not found", where=f"twin {twin_id}")
    binding = _pick(services.bindings.for_model(twin.model, runtime.models), body.binding, twin)
    cancel = threading.Event()
    timer = asyncio.get_running_loop().call_later(MAX_SECONDS, cancel.set)
    try:
        result = await simulate_twin(
            runtime,
            binding,
            twin_id,
            horizon=body.horizon,
            dt=body.dt,
            at=body.at,
            store=services.store,
            models=runtime.models,
            inputs=body.inputs or None,
            max_steps=MAX_STEPS,
            cancel=cancel,
        )
    finally:
        timer.cancel()
    return {
        "twinId": twin_id,
        "binding": binding.name,
        "model": binding.model,
        "dt": body.dt or binding.dt,
        "contents": dict(binding.outputs),
        **result_json(result),
    }

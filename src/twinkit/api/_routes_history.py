"""History through the API: series (raw pages, buckets, frames), retention, time travel.

Times in query parameters are seconds since the epoch or ISO 8601 strings
(``2026-11-24T14:00:00Z``); widths are seconds. NaN and empty buckets come back as null.
Viewers read; retention rules are for admins.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from twinkit.api._deps import Admin, Svc, Viewer
from twinkit.api._schemas import edge_json, twin_json
from twinkit.core import RelationshipEdge, Twin
from twinkit.errors import NotFoundError, ValidationError
from twinkit.query._series import (
    delete_retention,
    downsample,
    frame,
    retention_rules,
    series_range,
    set_retention,
)
from twinkit.query._timetravel import (
    Change,
    PropertyChange,
    diff,
    graph_as_of,
    property_history,
    twin_as_of,
)

__all__ = ["router"]

router = APIRouter()

TimeParam = Annotated[str, Query(description="seconds since the epoch, or ISO 8601")]
_AGGS = "avg, min, max, count, first, last or sum"


def instant(value: str | None, what: str) -> float | str | None:
    """A query parameter as seconds when it is a number, else as given (ISO 8601)."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        if not value.strip():
            raise ValidationError(
                f"empty {what} time", path=what, expected="seconds or ISO 8601", got=value
            ) from None
        return value


def _number(value: Any) -> Any:
    """A JSON-ready value: numpy scalars as Python ones, NaN and infinities as null."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _buckets(times: Any, values: Any) -> list[dict[str, Any]]:
    return [
        {"time": stamp.isoformat().replace("+00:00", "Z"), "value": _number(value)}
        for stamp, value in zip(times, values, strict=True)
    ]


# --- series ---------------------------------------------------------------------------------


@router.get("/twins/{twin_id}/series/{name}", tags=["series"], summary="Raw points, paged")
async def raw_points(
    twin_id: str,
    name: str,
    *,
    services: Svc,
    caller: Viewer,
    start: TimeParam,
    end: TimeParam,
    after: Annotated[str | None, Query(description="the nextAfter of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> dict[str, Any]:
    """Points with ``start <= time < end``; ``nextAfter`` (null on the last page) reads on."""
    page = await series_range(
        services.store,
        twin_id,
        name,
        instant(start, "start"),  # type: ignore[arg-type]
        instant(end, "end"),  # type: ignore[arg-type]
        after=instant(after, "after"),
        limit=limit,
    )
    points = [
        {"time": float(t), "value": _number(v)}
        for t, v in zip(page.times, page.values, strict=True)
    ]
    return {"twinId": twin_id, "name": name, "points": points, "nextAfter": page.next_after}


@router.get(
    "/twins/{twin_id}/series/{name}/buckets", tags=["series"], summary="Downsampled buckets"
)
async def buckets(
    twin_id: str,
    name: str,
    *,
    services: Svc,
    caller: Viewer,
    start: TimeParam,
    end: TimeParam,
    width: Annotated[float, Query(gt=0, description="bucket width in seconds")],
    agg: Annotated[str, Query(description=_AGGS)] = "avg",
    fill: Annotated[str, Query(description="none, previous or linear")] = "none",
    origin: Annotated[float, Query(description="a bucket boundary, seconds")] = 0.0,
) -> dict[str, Any]:
    """One value per bucket; rollups serve long ranges (the level is picked for you)."""
    series = await downsample(
        services.store,
        twin_id,
        name,
        instant(start, "start"),  # type: ignore[arg-type]
        instant(end, "end"),  # type: ignore[arg-type]
        width=width,
        agg=agg,  # type: ignore[arg-type]
        fill=fill,  # type: ignore[arg-type]
        origin=origin,
    )
    return {
        "twinId": twin_id,
        "name": name,
        "agg": agg,
        "width": width,
        "buckets": _buckets(series.index, series.to_numpy()),
    }


class FrameBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    series: list[str] = Field(min_length=1, description='"<twin id>/<name>" per column')
    start: float | str
    end: float | str
    width: float = Field(gt=0)
    agg: str = "avg"
    fill: str = "none"
    origin: float = 0.0


@router.post("/series/frame", tags=["series"], summary="Several series on the same buckets")
async def series_frame(body: FrameBody, *, services: Svc, caller: Viewer) -> dict[str, Any]:
    """``{"time": [...], "columns": {"<twin>/<name>": [...]}}``."""
    pairs = []
    for item in body.series:
        twin_id, slash, name = item.rpartition("/")
        if not slash or not twin_id or not name:
            raise ValidationError(
                "bad series in a frame",
                path="body.series",
                expected='"<twin id>/<name>"',
                got=item,
            )
        pairs.append((twin_id, name))
    table = await frame(
        services.store,
        pairs,
        body.start,
        body.end,
        width=body.width,
        agg=body.agg,  # type: ignore[arg-type]
        fill=body.fill,  # type: ignore[arg-type]
        origin=body.origin,
    )
    return {
        "time": [t.isoformat().replace("+00:00", "Z") for t in table.index],
        "columns": {c: [_number(float(v)) for v in table[c].to_numpy()] for c in table.columns},
    }


class RetentionBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    raw: float | None = Field(default=None, gt=0, description="seconds; null keeps forever")
    rollup_1m: float | None = Field(default=None, gt=0, alias="rollup1m")
    rollup_1h: float | None = Field(default=None, gt=0, alias="rollup1h")


@router.get("/retention", tags=["series"], summary="Retention rules")
async def list_retention(services: Svc, caller: Viewer) -> dict[str, Any]:
    return {"items": [asdict(rule) for rule in await retention_rules(services.store)]}


@router.put("/retention/{scope:path}", tags=["series"], summary="Set a retention rule")
async def put_retention(
    scope: str, body: RetentionBody, *, services: Svc, caller: Admin
) -> dict[str, Any]:
    """``scope``: ``default``, ``model:<dtmi>`` or ``series:<twin id>/<name>``."""
    rule = await set_retention(
        services.store, scope, raw=body.raw, rollup_1m=body.rollup_1m, rollup_1h=body.rollup_1h
    )
    return asdict(rule)


@router.delete(
    "/retention/{scope:path}", status_code=204, tags=["series"], summary="Drop a retention rule"
)
async def drop_retention(scope: str, *, services: Svc, caller: Admin) -> None:
    await delete_retention(services.store, scope)


# --- time travel ----------------------------------------------------------------------------


def _state(twin: Twin) -> dict[str, Any]:
    return twin_json(twin)


def _change(change: Change) -> dict[str, Any]:
    def side(value: Any) -> Any:
        if isinstance(value, Twin):
            return _state(value)
        if isinstance(value, RelationshipEdge):
            return edge_json(value)
        if hasattr(value, "__dataclass_fields__"):
            return asdict(value)
        return value

    return {
        "kind": change.kind.value,
        "twinId": change.twin_id,
        "name": change.name,
        "before": side(change.before),
        "after": side(change.after),
    }


def _property_change(change: PropertyChange) -> dict[str, Any]:
    body = asdict(change)
    body["kind"] = change.kind.value
    return body


@router.get("/twins/{twin_id}/as-of", tags=["time travel"], summary="A twin as it was at a time")
async def twin_then(
    twin_id: str, *, services: Svc, caller: Viewer, time: TimeParam
) -> dict[str, Any]:
    found = await twin_as_of(
        services.store,
        twin_id,
        instant(time, "time"),  # type: ignore[arg-type]
        models=services.runtime.models,
    )
    if found is None:
        raise NotFoundError(f"twin {twin_id!r} did not exist at {time}", where=twin_id)
    return _state(found)


@router.get("/graph/as-of", tags=["time travel"], summary="The whole graph as it was at a time")
async def graph_then(
    *,
    services: Svc,
    caller: Viewer,
    time: TimeParam,
    telemetry: Annotated[bool, Query(description="include latest telemetry then")] = True,
) -> dict[str, Any]:
    state = await graph_as_of(
        services.store,
        instant(time, "time"),  # type: ignore[arg-type]
        models=services.runtime.models,
        telemetry=telemetry,
    )
    return {"time": state.time, "twins": [_state(t) for _, t in sorted(state.twins.items())]}


@router.get("/diff", tags=["time travel"], summary="What changed between two times")
async def changes(
    *,
    services: Svc,
    caller: Viewer,
    start: TimeParam,
    end: TimeParam,
    twin: Annotated[str | None, Query(description="one twin only")] = None,
) -> dict[str, Any]:
    found = await diff(
        services.store,
        instant(start, "start"),  # type: ignore[arg-type]
        instant(end, "end"),  # type: ignore[arg-type]
        twin_id=twin,
    )
    return {"changes": [_change(c) for c in found]}


@router.get(
    "/twins/{twin_id}/properties/{name}/history",
    tags=["time travel"],
    summary="Every change of a property, with who made it",
)
async def history(
    twin_id: str,
    name: str,
    *,
    services: Svc,
    caller: Viewer,
    start: Annotated[str | None, Query(description="seconds or ISO 8601")] = None,
    end: Annotated[str | None, Query(description="seconds or ISO 8601")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    newest_first: Annotated[bool, Query(alias="newestFirst")] = True,
    after: Annotated[str | None, Query(description='the "next" of the previous page')] = None,
) -> dict[str, Any]:
    cursor = None
    if after is not None:
        stamp, _, seq = after.partition(":")
        try:
            cursor = (float(stamp), int(seq))
        except ValueError:
            raise ValidationError(
                "bad history cursor", path="after", expected='"<time>:<seq>"', got=after
            ) from None
    found = await property_history(
        services.store,
        twin_id,
        name,
        start=instant(start, "start"),
        end=instant(end, "end"),
        limit=limit,
        newest_first=newest_first,
        after=cursor,
    )
    last = found[-1].cursor if len(found) == limit else None
    return {
        "changes": [_property_change(c) for c in found],
        "next": None if last is None else f"{last[0]!r}:{last[1]}",
    }

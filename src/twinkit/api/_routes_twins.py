"""``/twins``: create, read, list, patch and delete twins; desired values; relationships.

Writes take an optional ``If-Match: <version>`` header (the ``ETag`` of ``GET /twins/{id}``).
A stale version answers **409 conflict**, like every other ConflictError, and the detail
names the expected and the current version; 409 rather than 412 keeps one status per error
kind, mapped in one place.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Response

from twinkit.api._deps import Admin, Operator, Svc, Viewer
from twinkit.api._schemas import (
    DesiredBody,
    PatchOp,
    RelationshipBody,
    TwinBody,
    edge_json,
    parse_if_match,
    patch_to_report,
    property_json,
    twin_json,
)
from twinkit.core import PropertyState, Twin
from twinkit.errors import NotFoundError, ValidationError

__all__ = ["router"]

router = APIRouter(prefix="/twins", tags=["twins"])

IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", description="the twin version the write expects (its ETag)"),
]


def _answer(twin: Twin, response: Response) -> dict[str, Any]:
    response.headers["ETag"] = f'"{twin.version}"'
    return twin_json(twin)


@router.put("/{twin_id}", status_code=201, summary="Create a twin with this id")
async def put_twin(
    twin_id: str, body: TwinBody, services: Svc, caller: Admin, response: Response
) -> dict[str, Any]:
    """409 when the id is taken; 422 when the properties do not fit the model."""
    if body.id is not None and body.id != twin_id:
        raise ValidationError(
            "twin id in the body differs from the path",
            path="body.id",
            expected=twin_id,
            got=body.id,
        )
    twin = await services.runtime.create_twin(
        twin_id, body.model, body.properties, cause=caller.cause
    )
    response.headers["Location"] = f"/api/v1/twins/{twin_id}"
    return _answer(twin, response)


@router.post("", status_code=201, summary="Create a twin (id in the body)")
async def post_twin(
    body: TwinBody, services: Svc, caller: Admin, response: Response
) -> dict[str, Any]:
    if not body.id:
        raise ValidationError("twin id missing", path="body.id", expected="a twin id", got=None)
    return await put_twin(body.id, body, services, caller, response)


@router.get("", summary="List twins")
async def list_twins(
    services: Svc,
    caller: Viewer,
    model: Annotated[
        str | None, Query(description="only twins of this model or one extending it")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    twins = sorted(services.runtime.twins(model=model), key=lambda twin: twin.id)
    page = twins[offset : offset + limit]
    return {
        "items": [twin_json(twin) for twin in page],
        "total": len(twins),
        "offset": offset,
        "limit": limit,
    }


@router.get("/{twin_id}", summary="One twin")
async def get_twin(
    twin_id: str, services: Svc, caller: Viewer, response: Response
) -> dict[str, Any]:
    return _answer(services.runtime.get(twin_id), response)


@router.delete("/{twin_id}", status_code=204, summary="Delete a twin")
async def delete_twin(
    twin_id: str, services: Svc, caller: Admin, if_match: IfMatch = None
) -> Response:
    await services.runtime.delete_twin(
        twin_id, cause=caller.cause, expected_version=parse_if_match(if_match)
    )
    return Response(status_code=204)


@router.patch("/{twin_id}", summary="Report property values with a JSON Patch")
async def patch_twin(
    twin_id: str,
    ops: Annotated[list[PatchOp], Body(description="RFC 6902: add/replace/remove on /<property>")],
    *,
    services: Svc,
    caller: Admin,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    values, removed = patch_to_report(twin_id, ops)
    twin = await services.runtime.report(
        twin_id,
        values,
        removed=removed,
        cause=caller.cause,
        expected_version=parse_if_match(if_match),
    )
    return _answer(twin, response)


@router.get("/{twin_id}/properties/{name}", summary="A property: reported, desired, in sync")
async def get_property(twin_id: str, name: str, services: Svc, caller: Viewer) -> dict[str, Any]:
    twin = services.runtime.get(twin_id)
    state = twin.properties.get(name)
    if state is None:
        if name not in services.runtime.models.contents(twin.model):
            raise NotFoundError(
                f"twin {twin_id} (model {twin.model}) has no content {name!r}",
                where=f"twin {twin_id}/{name}",
            )
        state = PropertyState()
    return property_json(name, state)


async def _set_desired(
    twin_id: str,
    name: str,
    body: DesiredBody,
    *,
    services: Svc,
    caller: Operator,
    if_match: IfMatch,
) -> dict[str, Any]:
    twin = await services.runtime.set_desired(
        twin_id, name, body.value, cause=caller.cause, expected_version=parse_if_match(if_match)
    )
    answer = property_json(name, twin.properties[name])
    answer["twinVersion"] = twin.version
    return answer


@router.put("/{twin_id}/properties/{name}/desired", summary="Set a desired value")
@router.post("/{twin_id}/properties/{name}/desired", summary="Set a desired value (as PUT)")
async def put_desired(
    twin_id: str,
    name: str,
    body: DesiredBody,
    *,
    services: Svc,
    caller: Operator,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """The property afterwards: ``inSync`` is false until the device acknowledges and reports."""
    return await _set_desired(
        twin_id, name, body, services=services, caller=caller, if_match=if_match
    )


@router.post("/{twin_id}/relationships", status_code=201, summary="Add a relationship")
async def add_relationship(
    twin_id: str, body: RelationshipBody, services: Svc, caller: Admin, if_match: IfMatch = None
) -> dict[str, Any]:
    """422 when the model has no such relationship or the target's model does not fit it."""
    edge = await services.runtime.add_relationship(
        twin_id,
        body.name,
        body.target,
        cause=caller.cause,
        relationship_id=body.id,
        properties=body.properties,
        expected_version=parse_if_match(if_match),
    )
    return edge_json(edge)


@router.get("/{twin_id}/relationships", summary="Outgoing relationships")
async def outgoing(twin_id: str, services: Svc, caller: Viewer) -> dict[str, Any]:
    edges = services.runtime.outgoing(twin_id)
    return {"items": [edge_json(edge) for edge in edges], "total": len(edges)}


@router.get("/{twin_id}/incoming", summary="Incoming relationships")
async def incoming(twin_id: str, services: Svc, caller: Viewer) -> dict[str, Any]:
    edges = services.runtime.incoming(twin_id)
    return {"items": [edge_json(edge) for edge in edges], "total": len(edges)}


@router.delete("/{twin_id}/relationships/{relationship_id}", status_code=204)
async def remove_relationship(
    twin_id: str, relationship_id: str, services: Svc, caller: Admin, if_match: IfMatch = None
) -> Response:
    await services.runtime.remove_relationship(
        twin_id, relationship_id, cause=caller.cause, expected_version=parse_if_match(if_match)
    )
    return Response(status_code=204)


@router.get("/{twin_id}/telemetry", summary="Latest telemetry values")
async def latest_telemetry(twin_id: str, services: Svc, caller: Viewer) -> dict[str, Any]:
    twin = services.runtime.get(twin_id)
    return {name: {"value": t.value, "time": t.time} for name, t in twin.telemetry.items()}


@router.get("/{twin_id}/telemetry/{name}", summary="Telemetry points in a time range")
async def telemetry_range(
    twin_id: str,
    name: str,
    *,
    services: Svc,
    caller: Viewer,
    start: Annotated[float, Query(description="seconds since the epoch, inclusive")] = 0.0,
    end: Annotated[float, Query(description="seconds since the epoch, exclusive")] = 1e12,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> dict[str, Any]:
    services.runtime.get(twin_id)  # 404 for an unknown twin
    points = await services.store.points(twin_id, name, start, end, limit)
    return {
        "twinId": twin_id,
        "name": name,
        "points": [{"time": p.time, "value": p.value} for p in points],
    }


@router.get("/{twin_id}/events", summary="A twin's events after a sequence number")
async def events(
    twin_id: str,
    services: Svc,
    caller: Viewer,
    since: Annotated[int, Query(ge=0, description="return events with seq > since")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    found = await services.runtime.events(twin_id, since)
    if not found and since == 0 and services.runtime.find(twin_id) is None:
        raise NotFoundError(f"no twin {twin_id!r} and no events of it", where=f"twin {twin_id}")
    page = found[:limit]
    return {
        "items": [event.to_json() for event in page],
        "next": page[-1].seq if page else since,
        "more": len(found) > limit,
    }

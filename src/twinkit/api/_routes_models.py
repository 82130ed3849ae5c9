"""``/models``: upload, list, read and delete DTDL interfaces."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from twinkit.api._deps import Admin, Svc, Viewer
from twinkit.errors import ValidationError
from twinkit.model import Interface

__all__ = ["router"]

router = APIRouter(prefix="/models", tags=["models"])


def _summary(interface: Interface, twins: int) -> dict[str, Any]:
    return {
        "id": str(interface.id),
        "displayName": dict(interface.display_name),
        "extends": [str(base) for base in interface.extends],
        "contents": {content.name: type(content).__name__ for content in interface.contents},
        "twins": twins,
    }


@router.post("", status_code=201, summary="Upload DTDL interfaces")
async def upload(
    services: Svc,
    caller: Admin,
    documents: Annotated[Any, Body(description="one DTDL interface document or an array of them")],
) -> dict[str, Any]:
    """Parse the documents together with the models already kept; 422 lists every issue."""
    if isinstance(documents, dict):
        documents = [documents]
    if not isinstance(documents, list) or not all(isinstance(d, dict) for d in documents):
        raise ValidationError(
            "models body is not DTDL",
            path="body",
            expected="a DTDL interface object or an array of them",
            got=type(documents).__name__,
        )
    ids = await services.runtime.add_models(documents)
    return {"ids": ids}


@router.get("", summary="List models")
async def list_models(services: Svc, caller: Viewer) -> dict[str, Any]:
    runtime = services.runtime
    models = runtime.models
    counts: dict[str, int] = {}
    for twin in runtime.twins():
        counts[twin.model] = counts.get(twin.model, 0) + 1
    items = [_summary(models[key], counts.get(str(key), 0)) for key in models]
    return {"items": items, "total": len(items)}


@router.get("/{model_id}", summary="One model as DTDL JSON")
async def get_model(model_id: str, services: Svc, caller: Viewer) -> dict[str, Any]:
    """The document as it was uploaded."""
    return services.runtime.model_document(model_id)


@router.delete("/{model_id}", status_code=204, summary="Delete a model")
async def delete_model(model_id: str, services: Svc, caller: Admin) -> Response:
    """409 while twins or other models use it."""
    await services.runtime.delete_model(model_id)
    return Response(status_code=204)

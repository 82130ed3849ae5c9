"""Twin queries: ``POST /api/v1/query`` runs the twin query language (docs/query-language.md).

The body and answer follow Azure Digital Twins' query API: ``{"query": "...",
"continuationToken": null}`` in, ``{"value": [...], "continuationToken": "..."}`` out; pass
the token back to get the next page. Viewers may query.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from twinkit.api._deps import Svc, Viewer
from twinkit.query._tql import MAX_PAGE_SIZE, run_query

__all__ = ["router"]

router = APIRouter(tags=["query"])


class QueryBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    query: str = Field(description="a twin query, e.g. SELECT T FROM DIGITALTWINS T WHERE ...")
    continuation_token: str | None = Field(
        default=None,
        alias="continuationToken",
        description="the token of the previous page, to get the next one",
    )
    page_size: int = Field(default=1000, ge=1, le=MAX_PAGE_SIZE, alias="pageSize")


@router.post("/query", summary="Run a twin query (one page of rows)")
async def query(body: QueryBody, *, services: Svc, caller: Viewer) -> dict[str, Any]:
    """Rows of the query; ``continuationToken`` is null on the last page."""
    result = await run_query(
        services.store,
        services.runtime.models,
        body.query,
        page_size=body.page_size,
        continuation=body.continuation_token,
    )
    return {"value": result.rows, "continuationToken": result.continuation}

"""Checks shared by the runtime's writes: twin ids, expected versions, relationships."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from twinkit.core._events import EventType
from twinkit.core._models import ModelRegistry
from twinkit.core._twin import Twin
from twinkit.errors import ConflictError, NotFoundError, ValidationError
from twinkit.model import Relationship

__all__ = [
    "check_behaviour_event",
    "check_expected",
    "check_twin_id",
    "plan_relationship",
    "require_live",
]

_TWIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:~-]{0,127}")
"""Twin ids travel in MQTT topic levels and URL paths: no '/', '+', '#', spaces or '%'."""


def check_twin_id(twin_id: str) -> None:
    if not isinstance(twin_id, str) or not _TWIN_ID.fullmatch(twin_id):
        raise ValidationError(
            "invalid twin id",
            path="twin id",
            expected="1-128 characters of letters, digits and . _ : ~ - (not first), so that "
            "the id fits an MQTT topic level and a URL path",
            got=twin_id,
        )


def require_live(twin: Twin | None, twin_id: str) -> Twin:
    if twin is None:
        raise NotFoundError(f"twin {twin_id!r} not found", where=twin_id)
    return twin


def check_expected(twin: Twin, expected_version: int | None) -> None:
    """ConflictError when the caller's view of the twin is stale."""
    if expected_version is not None and twin.version != expected_version:
        raise ConflictError(
            f"twin {twin.id!r} is at version {twin.version}, but the write expected version "
            f"{expected_version}: read it again and retry",
            where=twin.id,
        )


def plan_relationship(
    registry: ModelRegistry,
    source: Twin,
    *,
    name: str,
    target: Twin | None,
    target_id: str,
    relationship_id: str | None,
    properties: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The data of a RelationshipAdded event, after checking it against the source's model."""
    where = f"{source.id}/relationships/{name}"
    content = registry.models.contents(source.model).get(name)
    if not isinstance(content, Relationship):
        names = sorted(
            n
            for n, c in registry.models.contents(source.model).items()
            if isinstance(c, Relationship)
        )
        raise ValidationError(
            f"model {source.model} has no relationship {name!r}",
            model=source.model,
            path=where,
            expected=f"one of: {', '.join(names) or 'none'}",
            got=name,
        )
    if target is None:
        raise NotFoundError(f"target twin {target_id!r} not found", where=where)
    if content.target is not None and not (
        target.model == content.target or registry.models.is_a(target.model, content.target)
    ):
        raise ValidationError(
            f"relationship {name!r} cannot target a twin of model {target.model}",
            model=source.model,
            path=where,
            expected=f"a twin of {content.target} (or a model extending it)",
            got=f"{target.id} ({target.model})",
        )
    count = sum(1 for edge in source.relationships.values() if edge.name == name)
    if content.max_multiplicity is not None and count >= content.max_multiplicity:
        raise ValidationError(
            f"relationship {name!r} allows at most {content.max_multiplicity} target(s)",
            model=source.model,
            path=where,
            expected=f"at most {content.max_multiplicity} {name!r} relationships",
            got=f"{count + 1} (adding {target.id})",
        )
    edge_id = relationship_id or f"{name}-{target.id}"
    check_twin_id(edge_id)
    if edge_id in source.relationships:
        raise ConflictError(
            f"twin {source.id!r} already has a relationship {edge_id!r}", where=where
        )
    typed = registry.validator(source.model).relationship_properties(name, properties or {})
    return {"id": edge_id, "name": name, "target": target.id, "properties": typed}


_BEHAVIOUR_EVENTS = frozenset({EventType.PREDICTION_MADE, EventType.MODEL_CALIBRATED})


def check_behaviour_event(type: EventType, twin_id: str) -> None:
    """Refuse an event type a behaviour may not record (the others change twin state)."""
    if type not in _BEHAVIOUR_EVENTS:
        raise ValidationError(
            f"{type} is not an event behaviours may record",
            path=f"{twin_id}/events",
            expected=f"one of {sorted(e.value for e in _BEHAVIOUR_EVENTS)}",
            got=str(type),
        )

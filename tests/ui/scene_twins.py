"""Twins for the scene's unit tests: the pump-station layout as Twin states (no runtime)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from twinkit.core import Twin
from twinkit.core._twin import PropertyState, RelationshipEdge, TelemetryValue
from twinkit.examples.pumps._layout import station_layout


def twin(
    twin_id: str,
    model: str,
    properties: Mapping[str, Any] | None = None,
    edges: list[tuple[str, str]] | None = None,
    telemetry: Mapping[str, float] | None = None,
) -> Twin:
    """A twin state with reported ``properties``, relationships ``(name, target)`` and latest
    ``telemetry``."""
    return Twin(
        twin_id,
        model,
        1,
        0.0,
        0.0,
        properties=MappingProxyType(
            {k: PropertyState(reported=v, has_reported=True) for k, v in (properties or {}).items()}
        ),
        relationships=MappingProxyType(
            {
                f"{twin_id}.{name}.{target}": RelationshipEdge(
                    f"{twin_id}.{name}.{target}", name, twin_id, target
                )
                for name, target in edges or []
            }
        ),
        telemetry=MappingProxyType(
            {k: TelemetryValue(v, 1.0) for k, v in (telemetry or {}).items()}
        ),
    )


def station_twins(n_pumps: int = 3) -> list[Twin]:
    """The demo station's twins, as its layout creates them."""
    layout = station_layout(n_pumps, replay_pump=False)
    return [
        twin(
            spec.id,
            spec.model,
            spec.properties,
            [(r.name, r.target) for r in layout.relationships if r.source == spec.id],
        )
        for spec in layout.twins
    ]

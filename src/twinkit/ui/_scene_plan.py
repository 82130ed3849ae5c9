"""The 3D scene as data: one :class:`Part` per twin, with what to draw and where.

:func:`plan_scene` joins the twins, their models, the data folder's scene file and geometry
files and the automatic layout into parts the page draws; it knows nothing of NiceGUI, so the
whole mapping is tested without a browser.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from twinkit.core import Twin
from twinkit.errors import ValidationError
from twinkit.model import ModelSet, PrimitiveSchema, Property, Telemetry
from twinkit.ui._geometry import (
    PartKind,
    Shape,
    classify,
    mesh_arrays,
    model_name,
    shape_of,
    tube_between,
)
from twinkit.ui._scene_config import (
    GEOMETRY_SUFFIXES,
    PartConfig,
    SceneConfig,
    parse_position,
)
from twinkit.ui._scene_layout import Layout, LayoutNode, auto_layout

__all__ = ["Draw", "Part", "ScenePlan", "colour_choices", "plan_scene"]

Point = tuple[float, float, float]


class Draw(StrEnum):
    FILE = "file"  # a glTF or STL file of the geometry folder
    SHAPE = "shape"  # a generated shape, served as GLB
    MESH = "mesh"  # a mesh sent with the page (pipes between their parts)
    FIELD = "field"  # the twin's surface field, coloured per vertex


@dataclass(frozen=True, slots=True)
class Part:
    """One twin in the scene. ``url`` for FILE and SHAPE; ``positions``/``indices`` for MESH;
    ``position`` the base centre (m), ``heading`` degrees about z, ``scale`` of a file."""

    twin_id: str
    model: str
    kind: PartKind
    draw: Draw
    position: Point
    heading: float = 0.0
    scale: float = 1.0
    url: str = ""
    file_format: str = ""  # "gltf" or "stl" for FILE
    positions: tuple[float, ...] = ()
    indices: tuple[int, ...] = ()
    top: float = 1.0


@dataclass(frozen=True, slots=True)
class ScenePlan:
    """The parts, and the extent of the scene (centre and radius) for the camera."""

    parts: tuple[Part, ...]
    centre: Point
    radius: float

    def part(self, twin_id: str) -> Part | None:
        for part in self.parts:
            if part.twin_id == twin_id:
                return part
        return None


def _twin_position(twin: Twin) -> Point | None:
    value = twin.reported("position")
    if value is None:
        return None
    try:
        return parse_position(value, f"{twin.id}/position")
    except ValidationError:
        return None  # the model's own meaning of "position": not ours to read


def _geometry_name(twin: Twin, config: SceneConfig) -> tuple[str | None, PartConfig]:
    """The geometry file of a twin and the scene file's entry that applies to it."""
    own = config.twins.get(twin.id, PartConfig())
    by_model = config.models.get(twin.model, PartConfig())
    value = twin.reported("geometry")
    candidates = [value if isinstance(value, str) else None, own.geometry, by_model.geometry]
    folder = config.geometry_dir
    if folder is not None:
        stem = model_name(twin.model).lower()
        candidates.extend(stem + suffix for suffix in GEOMETRY_SUFFIXES)
    for name in candidates:
        if name and folder is not None and (folder / Path(name).name).is_file():
            entry = own if own.geometry == name or not by_model.geometry else by_model
            return Path(name).name, entry
    return None, own


def plan_scene(
    twins: Sequence[Twin],
    models: ModelSet,
    config: SceneConfig,
    *,
    shape_url: Callable[[Shape], str],
    file_url: Callable[[str], str],
    fields: Collection[str] = (),
) -> ScenePlan:
    """The parts of ``twins`` (see the module docstring). ``fields``: twins drawn as their
    surface field; ``shape_url``/``file_url`` name what the browser loads."""
    kinds = {t.id: classify(t.model, models) for t in twins}
    shapes = {t.id: shape_of(t, kinds[t.id], models) for t in twins}
    nodes = []
    for twin in twins:
        entry = config.twins.get(twin.id)
        given = _twin_position(twin) or (entry.position if entry is not None else None)
        nodes.append(
            LayoutNode(
                twin.id,
                tuple((e.name, e.target) for e in twin.relationships.values()),
                footprint=1.5 if twin.id in fields else shapes[twin.id].footprint,
                connector=kinds[twin.id] is PartKind.PIPE,
                container=kinds[twin.id] is PartKind.STATION,
                position=given,
            )
        )
    layout = auto_layout(nodes)
    parts: list[Part] = []
    for twin in twins:
        part = _part(
            twin,
            kinds[twin.id],
            shapes=shapes,
            layout=layout,
            config=config,
            fields=fields,
            shape_url=shape_url,
            file_url=file_url,
        )
        if part is not None:
            parts.append(part)
    return ScenePlan(tuple(parts), *_extent(parts))


def _part(
    twin: Twin,
    kind: PartKind,
    *,
    shapes: Mapping[str, Shape],
    layout: Layout,
    config: SceneConfig,
    fields: Collection[str],
    shape_url: Callable[[Shape], str],
    file_url: Callable[[str], str],
) -> Part | None:
    """The part of one twin, or None when it has nowhere to go (a pipe with an end missing)."""
    shape = shapes[twin.id]
    name, entry = _geometry_name(twin, config)
    if twin.id in layout.connectors and name is None and twin.id not in fields:
        return _tube(twin, kind, layout.connectors[twin.id], layout.positions, shapes)
    position = layout.positions.get(twin.id)
    plate = layout.plates.get(twin.id)
    if plate is not None and name is None and twin.id not in fields:
        shape = Shape(PartKind.STATION, size=(round(plate.size_x, 1), round(plate.size_y, 1), 0.1))
        position = (plate.x, plate.y, -0.1)
    if position is None:
        return None
    if twin.id in fields:
        draw, url, fmt = Draw.FIELD, "", ""
    elif name is not None:
        draw, url = Draw.FILE, file_url(name)
        fmt = "stl" if name.lower().endswith(".stl") else "gltf"
    else:
        draw, url, fmt = Draw.SHAPE, shape_url(shape), ""
    return Part(
        twin.id,
        twin.model,
        kind,
        draw,
        position,
        heading=entry.heading,
        scale=entry.scale if draw is Draw.FILE else 1.0,
        url=url,
        file_format=fmt,
        top=shape.top,
    )


def _tube(
    twin: Twin,
    kind: PartKind,
    ends: tuple[str, str],
    positions: Mapping[str, Point],
    shapes: Mapping[str, Shape],
) -> Part | None:
    a, b = positions.get(ends[0]), positions.get(ends[1])
    if a is None or b is None:
        return None
    start = (a[0], a[1], a[2] + shapes[ends[0]].port)
    end = (b[0], b[1], b[2] + shapes[ends[1]].port)
    if math.dist(start, end) < 1e-6:
        return None
    vertices, indices = mesh_arrays(tube_between(start, end, shapes[twin.id].size[0] / 2.0))
    return Part(
        twin.id,
        twin.model,
        kind,
        Draw.MESH,
        start,
        positions=tuple(vertices),
        indices=tuple(indices),
        top=max(start[2], end[2]),
    )


def _extent(parts: Sequence[Part]) -> tuple[Point, float]:
    points = [p.position for p in parts]
    if not points:
        return (0.0, 0.0, 0.0), 5.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    centre = ((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, 0.0)
    radius = max(math.dist(centre[:2], p[:2]) for p in points) + 3.0
    return centre, radius


def colour_choices(models: ModelSet, model_ids: Collection[str]) -> dict[str, str]:
    """Numeric properties and telemetry of ``model_ids`` to colour the scene by: name → label
    (the name with its unit), sorted by name."""
    found: dict[str, str] = {}
    for model_id in model_ids:
        if model_id not in models:
            continue
        for name, content in models.contents(model_id).items():
            if not isinstance(content, Property | Telemetry):
                continue
            schema = content.schema
            if isinstance(schema, PrimitiveSchema) and schema.is_numeric and name not in found:
                found[name] = f"{name} ({content.unit})" if content.unit else name
    return dict(sorted(found.items()))

"""Shapes of the 3D scene: what kind of part a twin is, and its mesh, made with trimesh.

A twin without a geometry file is drawn as a shape generated from its model (see
docs/dashboard.md):

- the kind comes from the model's name (its own, then those it extends): a name with ``pump``
  is a pump, ``tank``/``vessel``/``reservoir`` a tank, ``pipe``/``duct``/``hose`` a pipe,
  ``valve`` a valve, ``station``/``site``/``plant``/``building`` a station; otherwise from its
  DTDL semantic hints: a ``level`` telemetry with an Area or Volume property is a tank, a Length
  ``diameter`` with a ``length`` a pipe, an AngularVelocity with a VolumeFlowRate a pump;
  anything else is a generic box;
- the size comes from the twin's properties, converted to metres by the model's units: a tank
  is a cylinder of its ``area`` (or ``capacity`` over ``height``) and ``height``, a pipe a tube
  of its ``diameter`` between the twins it connects, a pump grows with its ``ratedPower``, a
  generic part is a box of its ``length``/``width``/``height`` when it has them.

Shapes sit on the ground (z = 0 at their base, z up) centred on their position; a shape is
exported as binary glTF (:func:`shape_glb`) that the browser caches by its URL.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any, Final

import numpy as np
import trimesh

from twinkit.core import Twin
from twinkit.errors import ValidationError
from twinkit.model import ModelSet, Property, Telemetry

__all__ = [
    "PartKind",
    "Shape",
    "classify",
    "mesh_arrays",
    "model_name",
    "part_mesh",
    "shape_from_query",
    "shape_glb",
    "shape_of",
    "tube_between",
]


class PartKind(StrEnum):
    PUMP = "pump"
    TANK = "tank"
    PIPE = "pipe"
    VALVE = "valve"
    STATION = "station"
    GENERIC = "generic"


_NAME_WORDS: Final = (
    (PartKind.PUMP, ("pump",)),
    (PartKind.TANK, ("tank", "vessel", "reservoir", "silo")),
    (PartKind.PIPE, ("pipe", "duct", "hose", "conduit")),
    (PartKind.VALVE, ("valve", "damper")),
    (PartKind.STATION, ("station", "site", "plant", "building", "facility")),
)
_LENGTH_M: Final = {
    "metre": 1.0,
    "meter": 1.0,
    "millimetre": 1e-3,
    "centimetre": 1e-2,
    "kilometre": 1e3,
    "micrometre": 1e-6,
    "foot": 0.3048,
    "inch": 0.0254,
}
_AREA_M2: Final = {
    "squareMetre": 1.0,
    "squareCentimetre": 1e-4,
    "squareMillimetre": 1e-6,
    "squareFoot": 0.09290304,
    "squareInch": 0.00064516,
}
_VOLUME_M3: Final = {"cubicMetre": 1.0, "litre": 1e-3, "cubicFoot": 0.028316846592}
_POWER_KW: Final = {"kilowatt": 1.0, "watt": 1e-3, "megawatt": 1e3, "horsepower": 0.7457}
_SECTIONS: Final = 24

Point = tuple[float, float, float]


def model_name(model_id: str) -> str:
    """The last segment of a DTMI without its version: ``dtmi:acme:Pump;1`` → ``Pump``."""
    return model_id.split(";", 1)[0].rsplit(":", 1)[-1]


def _kind_by_name(text: str) -> PartKind | None:
    lowered = text.lower()
    for kind, words in _NAME_WORDS:
        if any(word in lowered for word in words):
            return kind
    return None


def classify(model_id: str, models: ModelSet) -> PartKind:
    """The kind of part a twin of ``model_id`` is drawn as (see the module docstring)."""
    chain = (model_id, *models.ancestors(model_id)) if model_id in models else (model_id,)
    for candidate in chain:
        names = [model_name(candidate)]
        if candidate in models:
            names.append(str(models[candidate].display_name))
        for name in names:
            kind = _kind_by_name(name)
            if kind is not None:
                return kind
    if model_id not in models:
        return PartKind.GENERIC
    return _kind_by_semantics(models.contents(model_id))


def _kind_by_semantics(contents: Mapping[str, Any]) -> PartKind:
    types = {
        name: content.semantic_type
        for name, content in contents.items()
        if isinstance(content, Property | Telemetry)
    }
    present = set(types.values())
    if "level" in contents and present & {"Area", "Volume"}:
        return PartKind.TANK
    if types.get("diameter") == "Length" and "length" in contents:
        return PartKind.PIPE
    if {"AngularVelocity", "VolumeFlowRate"} <= present:
        return PartKind.PUMP
    return PartKind.GENERIC


@dataclass(frozen=True, slots=True)
class Shape:
    """A generated shape: its kind and sizes in metres (rounded, so that twins of one size share
    one cached mesh). ``size`` is (x, y, z) extents for boxes and stations, ``radius`` and
    ``height`` for tanks, ``scale`` a pump's or valve's size factor."""

    kind: PartKind
    size: tuple[float, float, float] = (1.0, 1.0, 1.0)
    radius: float = 0.0
    height: float = 0.0
    scale: float = 1.0

    def query(self) -> dict[str, str]:
        """The shape as URL query parameters (see :func:`shape_from_query`)."""
        x, y, z = self.size
        return {
            "kind": self.kind.value,
            "size": f"{x:g},{y:g},{z:g}",
            "radius": f"{self.radius:g}",
            "height": f"{self.height:g}",
            "scale": f"{self.scale:g}",
        }

    def key(self) -> str:
        """A stable name of the shape, safe in a URL path."""
        if self.kind is PartKind.TANK:
            return f"tank-r{self.radius:g}-h{self.height:g}"
        if self.kind in (PartKind.PUMP, PartKind.VALVE):
            return f"{self.kind.value}-s{self.scale:g}"
        return f"{self.kind.value}-{self.size[0]:g}x{self.size[1]:g}x{self.size[2]:g}"

    @property
    def footprint(self) -> float:
        """The larger horizontal extent (m): how much room the layout leaves it."""
        if self.kind is PartKind.TANK:
            return 2.0 * self.radius
        if self.kind is PartKind.PUMP:
            return 1.6 * self.scale
        if self.kind is PartKind.VALVE:
            return 0.8 * self.scale
        return max(self.size[0], self.size[1])

    @property
    def top(self) -> float:
        """The height of the shape's top (m)."""
        if self.kind is PartKind.TANK:
            return self.height
        if self.kind in (PartKind.PUMP, PartKind.VALVE):
            return 0.9 * self.scale
        return self.size[2]

    @property
    def port(self) -> float:
        """Where a pipe meets the part (m above ground): near a tank's top, a pump's outlet."""
        if self.kind is PartKind.TANK:
            return 0.85 * self.height
        if self.kind is PartKind.PUMP:
            return 0.45 * self.scale
        if self.kind is PartKind.VALVE:
            return 0.3 * self.scale
        return 0.5 * self.top


def _number(twin: Twin, name: str, models: ModelSet, units: Mapping[str, float]) -> float | None:
    """A positive property (or telemetry) value in SI (or kW) by the model's unit; None if absent."""
    value = twin.reported(name)
    if value is None and name in twin.telemetry:
        value = twin.telemetry[name].value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    factor = 1.0
    content = models.contents(twin.model).get(name) if twin.model in models else None
    unit = getattr(content, "unit", None)
    if unit is not None:
        if unit not in units:
            return None  # not a unit of this quantity: do not guess
        factor = units[unit]
    scaled = float(value) * factor
    return scaled if scaled > 0 else None


def _r(value: float, digits: int = 2) -> float:
    return float(round(value, digits))


def shape_of(twin: Twin, kind: PartKind, models: ModelSet) -> Shape:
    """The shape of a twin of ``kind``, sized from its properties (defaults when absent)."""
    if kind is PartKind.TANK:
        height = _number(twin, "height", models, _LENGTH_M) or 3.0
        area = _number(twin, "area", models, _AREA_M2)
        if area is None:
            capacity = _number(twin, "capacity", models, _VOLUME_M3)
            area = capacity / height if capacity is not None else math.pi * 1.5**2
        radius = math.sqrt(area / math.pi)
        return Shape(kind, radius=_r(min(max(radius, 0.2), 50.0)), height=_r(min(height, 60.0)))
    if kind is PartKind.PUMP:
        power = _number(twin, "ratedPower", models, _POWER_KW) or 15.0
        return Shape(kind, scale=_r(min(max((power / 15.0) ** (1 / 3), 0.6), 3.0), 1))
    if kind is PartKind.VALVE:
        return Shape(kind, scale=1.0)
    if kind is PartKind.PIPE:
        diameter = _number(twin, "diameter", models, _LENGTH_M) or 0.15
        radius = _r(min(max(diameter / 2.0, 0.03), 1.0), 3)
        return Shape(kind, size=(2 * radius, 2 * radius, 2 * radius))
    sizes = [_number(twin, name, models, _LENGTH_M) for name in ("length", "width", "height")]
    if all(s is not None for s in sizes):
        x, y, z = (min(max(float(s or 0.0), 0.05), 100.0) for s in sizes)
        return Shape(kind, size=(_r(x), _r(y), _r(z)))
    return Shape(kind, size=(1.0, 1.0, 1.0) if kind is PartKind.GENERIC else (4.0, 4.0, 0.1))


def _mesh(made: object) -> trimesh.Trimesh:
    """``made`` as a Trimesh (trimesh's creation functions are typed loosely)."""
    if not isinstance(made, trimesh.Trimesh):
        raise TypeError(f"expected a trimesh.Trimesh, got {type(made).__name__}")
    return made


def _join(parts: list[trimesh.Trimesh]) -> trimesh.Trimesh:
    return _mesh(trimesh.util.concatenate(parts))


def _segment(a: Point, b: Point, radius: float, sections: int = _SECTIONS) -> trimesh.Trimesh:
    """A cylinder from ``a`` to ``b``."""
    return _mesh(trimesh.creation.cylinder(radius=radius, segment=[a, b], sections=sections))


def _cylinder_x(radius: float, length: float, x: float, z: float) -> trimesh.Trimesh:
    """A cylinder along x centred at (x, 0, z)."""
    return _segment((x - length / 2, 0.0, z), (x + length / 2, 0.0, z), radius)


def _box(
    extents: tuple[float, float, float], centre: tuple[float, float, float]
) -> trimesh.Trimesh:
    box = _mesh(trimesh.creation.box(extents=extents))
    box.apply_translation(centre)
    return box


def _pump(s: float) -> trimesh.Trimesh:
    """Base plate, motor (a cylinder along x) and volute (a disc with its outlet going up)."""
    parts = [
        _box((1.6 * s, 0.6 * s, 0.08 * s), (0.0, 0.0, 0.04 * s)),
        _cylinder_x(0.22 * s, 0.8 * s, -0.25 * s, 0.35 * s),
        _segment((0.35 * s, 0.0, 0.42 * s), (0.6 * s, 0.0, 0.42 * s), 0.33 * s),
        _segment((0.47 * s, 0.0, 0.6 * s), (0.47 * s, 0.0, 0.9 * s), 0.09 * s, _SECTIONS // 2),
    ]
    return _join(parts)


def _valve(s: float) -> trimesh.Trimesh:
    """Body along x, flanges, stem and hand wheel."""
    wheel = _mesh(
        trimesh.creation.torus(
            major_radius=0.18 * s,
            minor_radius=0.025 * s,
            major_sections=_SECTIONS,
            minor_sections=8,
        )
    )
    wheel.apply_translation((0.0, 0.0, 0.75 * s))
    parts = [
        _cylinder_x(0.12 * s, 0.7 * s, 0.0, 0.3 * s),
        _cylinder_x(0.2 * s, 0.05 * s, -0.33 * s, 0.3 * s),
        _cylinder_x(0.2 * s, 0.05 * s, 0.33 * s, 0.3 * s),
        _sphere((0.0, 0.0, 0.3 * s), 0.2 * s, 2),
        _segment((0.0, 0.0, 0.45 * s), (0.0, 0.0, 0.75 * s), 0.03 * s, 8),
        wheel,
    ]
    return _join(parts)


def _sphere(centre: Point, radius: float, subdivisions: int) -> trimesh.Trimesh:
    sphere = _mesh(trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius))
    sphere.apply_translation(centre)
    return sphere


def part_mesh(shape: Shape) -> trimesh.Trimesh:
    """The mesh of a shape, in metres, base on z = 0, centred on the origin (a pipe: a straight
    piece along x of length 1, stretched between its ends by the scene)."""
    if shape.kind is PartKind.TANK:
        mesh = _mesh(
            trimesh.creation.cylinder(radius=shape.radius, height=shape.height, sections=48)
        )
        mesh.apply_translation((0.0, 0.0, shape.height / 2.0))
        return mesh
    if shape.kind is PartKind.PUMP:
        return _pump(shape.scale)
    if shape.kind is PartKind.VALVE:
        return _valve(shape.scale)
    if shape.kind is PartKind.PIPE:
        return _cylinder_x(shape.size[0] / 2.0, 1.0, 0.0, 0.0)
    x, y, z = shape.size
    return _box((x, y, z), (0.0, 0.0, z / 2.0))


def tube_between(start: Point, end: Point, radius: float) -> trimesh.Trimesh:
    """A pipe from ``start`` to ``end``: up or down to the end's height at the start, then
    straight across, so that pipes run level between the parts they connect."""
    if radius <= 0:
        raise ValidationError(
            "a tube needs a positive radius", path="radius", expected="> 0", got=radius
        )
    corner = (start[0], start[1], end[2])
    pieces = [
        _segment(a, b, radius, 12)
        for a, b in ((start, corner), (corner, end))
        if math.dist(a, b) > 1e-6
    ]
    if len(pieces) == 2:  # an elbow
        pieces.append(_sphere(corner, radius, 1))
    if not pieces:
        raise ValidationError(
            "a tube needs two different ends", path="tube", expected="start != end", got=start
        )
    return _join(pieces)


def mesh_arrays(mesh: trimesh.Trimesh, digits: int = 4) -> tuple[list[float], list[int]]:
    """Flat vertex positions (x, y, z per vertex) and triangle indices of a mesh, for three.js."""
    positions = [
        float(v) for v in np.round(np.asarray(mesh.vertices, dtype=np.float64), digits).ravel()
    ]
    indices = [int(i) for i in np.asarray(mesh.faces, dtype=np.int64).ravel()]
    return positions, indices


@lru_cache(maxsize=256)
def shape_glb(shape: Shape) -> bytes:
    """The shape's mesh as binary glTF (z up, as the scene is: no axis conversion)."""
    mesh = part_mesh(shape)
    material = trimesh.visual.material.PBRMaterial(  # type: ignore[no-untyped-call]
        baseColorFactor=(235, 235, 235, 255), metallicFactor=0.0, roughnessFactor=0.7
    )  # not metallic: a metal under the scene's plain lights renders black
    mesh.visual = trimesh.visual.TextureVisuals(material=material)  # type: ignore[no-untyped-call]
    scene = trimesh.Scene(mesh)
    data: object = scene.export(file_type="glb", include_normals=True)  # type: ignore[no-untyped-call]
    if not isinstance(data, bytes):
        raise TypeError(f"trimesh exported {type(data).__name__}, expected GLB bytes")
    return data


_LIMITS: Final = {"size": 500.0, "radius": 50.0, "height": 60.0, "scale": 3.0}


def _bounded(raw: str | None, name: str, default: float) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 <= value <= _LIMITS[name]):
        raise ValidationError(
            "shape size out of range",
            path=name,
            expected=f"a number from 0 to {_LIMITS[name]:g} (m)",
            got=raw,
        )
    return value


def shape_from_query(query: Mapping[str, str]) -> Shape:
    """The shape that :meth:`Shape.query` wrote (a ValidationError for anything else)."""
    kind_name = query.get("kind", "")
    try:
        kind = PartKind(kind_name)
    except ValueError:
        raise ValidationError(
            "unknown shape kind",
            path="kind",
            expected=f"one of {[k.value for k in PartKind]}",
            got=kind_name,
        ) from None
    parts = (query.get("size") or "1,1,1").split(",")
    if len(parts) != 3:
        raise ValidationError("size needs three numbers", path="size", expected="x,y,z", got=parts)
    x, y, z = (_bounded(part, "size", 1.0) for part in parts)
    return Shape(
        kind,
        size=(x, y, z),
        radius=_bounded(query.get("radius"), "radius", 0.0),
        height=_bounded(query.get("height"), "height", 0.0),
        scale=_bounded(query.get("scale"), "scale", 1.0),
    )

"""What the data folder says about the 3D scene: geometry files and a scene file.

- ``<data dir>/geometry/`` holds glTF (``.glb``, ``.gltf``) and STL (``.stl``) files; the
  dashboard serves them to the browser. A twin uses one when its ``geometry`` property names
  it, when the scene file names one for it or its model, or when a file is named after its
  model (``pump.glb`` for ``dtmi:acme:Pump;1``).
- ``<data dir>/scene.json`` places twins and names their files::

      {"twins": {"pump-1": {"position": [0, 2, 0], "heading": 90, "geometry": "pump.glb"}},
       "models": {"dtmi:acme:Pump;1": {"geometry": "pump.glb", "scale": 0.001}}}

  ``position`` is the centre of the part's base in metres (``[x, y, z]`` or ``{"x":, "y":,
  "z":}``), ``heading`` a turn about the vertical in degrees, ``scale`` a factor for a file in
  other units than metres.

A twin's own ``position`` property (same forms) wins over the scene file.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from twinkit.errors import NotFoundError, ValidationError

__all__ = [
    "GEOMETRY_DIR",
    "GEOMETRY_SUFFIXES",
    "SCENE_FILE",
    "PartConfig",
    "SceneConfig",
    "geometry_file",
    "load_scene_config",
    "parse_position",
]

logger = logging.getLogger(__name__)

GEOMETRY_DIR: Final = "geometry"
SCENE_FILE: Final = "scene.json"
GEOMETRY_SUFFIXES: Final = (".glb", ".gltf", ".stl")
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


def parse_position(value: Any, where: str) -> tuple[float, float, float]:
    """``[x, y, z]`` or ``{"x":, "y":, "z":}`` (z optional) as a point, or a ValidationError."""
    if isinstance(value, Mapping):
        items: Any = [value.get("x"), value.get("y"), value.get("z", 0.0)]
    else:
        items = list(value) if isinstance(value, list | tuple) else None
        if items is not None and len(items) == 2:
            items.append(0.0)
    ok = (
        items is not None
        and len(items) == 3
        and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in items
        )
    )
    if not ok:
        raise ValidationError(
            "not a position",
            path=where,
            expected='[x, y, z] or {"x": ..., "y": ..., "z": ...} in metres',
            got=value,
        )
    return float(items[0]), float(items[1]), float(items[2])


@dataclass(frozen=True, slots=True)
class PartConfig:
    """What the scene file says about one twin or model; None where it says nothing."""

    position: tuple[float, float, float] | None = None
    heading: float = 0.0
    geometry: str | None = None
    scale: float = 1.0


@dataclass(frozen=True, slots=True)
class SceneConfig:
    """The scene file of a data folder, and its geometry folder."""

    twins: Mapping[str, PartConfig] = field(default_factory=dict)
    models: Mapping[str, PartConfig] = field(default_factory=dict)
    geometry_dir: Path | None = None


def _part(raw: Any, where: str) -> PartConfig:
    if not isinstance(raw, Mapping):
        raise ValidationError("not an object", path=where, expected="an object", got=raw)
    position = raw.get("position")
    heading = raw.get("heading", 0.0)
    scale = raw.get("scale", 1.0)
    geometry = raw.get("geometry")
    for name, value in (("heading", heading), ("scale", scale)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValidationError(
                "not a number", path=f"{where}/{name}", expected="a number", got=value
            )
    if not float(scale) > 0:
        raise ValidationError(
            "scale must be positive", path=f"{where}/scale", expected="> 0", got=scale
        )
    if geometry is not None and not isinstance(geometry, str):
        raise ValidationError(
            "not a file name", path=f"{where}/geometry", expected="a file name", got=geometry
        )
    return PartConfig(
        position=None if position is None else parse_position(position, f"{where}/position"),
        heading=float(heading),
        geometry=geometry,
        scale=float(scale),
    )


def load_scene_config(data_dir: Path) -> SceneConfig:
    """Read ``scene.json`` of a data folder (an absent file is an empty config; a broken one a
    ValidationError naming the file and the entry)."""
    folder = data_dir / GEOMETRY_DIR
    geometry_dir = folder if folder.is_dir() else None
    path = data_dir / SCENE_FILE
    if not path.is_file():
        return SceneConfig(geometry_dir=geometry_dir)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValidationError(
            f"cannot read the scene file: {error}",
            path=str(path),
            expected="a JSON object",
            got=None,
        ) from error
    if not isinstance(raw, Mapping):
        raise ValidationError("not a scene file", path=str(path), expected="a JSON object", got=raw)
    sections: dict[str, dict[str, PartConfig]] = {"twins": {}, "models": {}}
    for section, parts in sections.items():
        entries = raw.get(section, {})
        if not isinstance(entries, Mapping):
            raise ValidationError(
                "not an object", path=f"{path}:{section}", expected="an object", got=entries
            )
        for key, value in entries.items():
            parts[str(key)] = _part(value, f"{path}:{section}/{key}")
    return SceneConfig(sections["twins"], sections["models"], geometry_dir)


def geometry_file(
    folder: Path | None, name: str, *, served: tuple[str, ...] = GEOMETRY_SUFFIXES
) -> Path:
    """The file ``name`` of the geometry folder: a plain name (no folder) with one of the
    ``served`` suffixes that is there (a ValidationError for another name, a NotFoundError for
    a missing file). ``served`` may add what a ``.gltf`` refers to (``.bin``, textures)."""
    if not _NAME.match(name) or not name.lower().endswith(served) or ".." in name:
        raise ValidationError(
            "not a geometry file name",
            path="geometry",
            expected=f"a plain file name ending in {', '.join(served)}",
            got=name,
        )
    if folder is None or not (folder / name).is_file():
        raise NotFoundError(f"no geometry file {name!r} in {folder or 'the data folder'}")
    return folder / name

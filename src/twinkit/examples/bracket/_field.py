"""The bracket's stress and deflection field, out for display.

A :class:`BracketField` is the bar's outer surface (triangles) with, per vertex, the von Mises
stress and the displacement, for one load state. It comes from the reduced-order model: the
reduced coordinates of an evaluation times the stresses and displacements of the modes on the
surface nodes (``Rom.surface_field``), so a field costs about what an evaluation does and needs
no finite element model at hand. :func:`twin_field` makes it for a twin's latest measured loads.

Out: :func:`field_json` gives what a three.js viewer takes as it is (flat ``positions`` and
``indices`` for a ``BufferGeometry``, per-vertex scalars with their ranges for a colour map,
displacements to draw the deformed shape); :func:`write_field_vtu` a ``.vtu`` for ParaView.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from twinkit.core import Twin
from twinkit.errors import ValidationError
from twinkit.examples.bracket._spec import CRACK, LOADS, TIP
from twinkit.sim._binding import twin_value
from twinkit.sim._fem_elastic_problem import MAX_VON_MISES
from twinkit.sim._fem_export import Surface
from twinkit.sim._rom import Rom

__all__ = [
    "FIELD_FORMAT",
    "BracketField",
    "evaluate_field",
    "field_json",
    "twin_field",
    "write_field_vtu",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
FIELD_FORMAT: Final = "twinkit.field/1"
_EMPTY: Mapping[str, float] = MappingProxyType({})


@dataclass(frozen=True, slots=True, eq=False)
class BracketField:
    """The bar's surface with a von Mises stress (Pa) and a displacement (m) per vertex.

    ``points`` ``(n, 3)`` and ``triangles`` ``(m, 3)`` (outward, counter-clockwise seen from
    outside) in metres; ``loads`` the load cell's values the field is for; ``outputs`` the
    ROM's outputs for them (gauges in microstrain, ``tipDeflection`` in mm downward,
    ``maxVonMises`` in Pa); ``error_bound`` the ROM's relative error bound; ``time`` and
    ``twin_id`` where the loads came from (None when given directly).
    """

    points: FloatArray
    triangles: IntArray
    von_mises: FloatArray
    displacement: FloatArray
    loads: Mapping[str, float]
    outputs: Mapping[str, float]
    error_bound: float
    time: float | None = None
    twin_id: str | None = None
    parameters: Mapping[str, float] = field(default_factory=lambda: _EMPTY)

    @property
    def displacement_magnitude(self) -> FloatArray:
        return np.asarray(np.linalg.norm(self.displacement, axis=1), dtype=np.float64)

    def surface(self, quantity: str = "von_mises") -> Surface:
        """The field as a :class:`~twinkit.sim.Surface` coloured by one quantity."""
        values = {"von_mises": self.von_mises, "displacement": self.displacement_magnitude}
        if quantity not in values:
            raise ValidationError(
                "unknown field quantity",
                path="quantity",
                expected="'von_mises' or 'displacement'",
                got=quantity,
            )
        vertices = np.arange(len(self.points), dtype=np.int64)
        return Surface(vertices, self.points, self.triangles, values[quantity])


def evaluate_field(
    rom: Rom,
    loads: Mapping[str, float],
    *,
    crack_stiffness: float = 1.0,
    time: float | None = None,
    twin_id: str | None = None,
) -> BracketField:
    """The field of ``rom`` under ``loads`` (N, by the load cell's names; absent ones are 0)."""
    evaluation = rom.evaluate(loads, {CRACK: crack_stiffness})
    stress = rom.surface_field(evaluation, "von_mises")
    rows = (rom.dim * rom.surface_nodes[:, None] + np.arange(rom.dim)).ravel()
    moved = np.asarray(rom.basis[rows] @ evaluation.coefficients, dtype=np.float64)
    outputs = {k: v for k, v in evaluation.outputs.items() if k not in (TIP, MAX_VON_MISES)}
    outputs["tipDeflection"] = 0.0 - 1e3 * evaluation.outputs[TIP]
    outputs["maxVonMises"] = evaluation.outputs[MAX_VON_MISES]
    return BracketField(
        points=stress.points,
        triangles=stress.triangles,
        von_mises=np.asarray(stress.values, dtype=np.float64),
        displacement=moved.reshape(-1, rom.dim),
        loads=MappingProxyType({name: float(loads.get(name, 0.0)) for name in rom.load_names}),
        outputs=MappingProxyType(outputs),
        error_bound=evaluation.relative_error_bound,
        time=time,
        twin_id=twin_id,
        parameters=MappingProxyType({CRACK: crack_stiffness}),
    )


def twin_field(rom: Rom, twin: Twin, *, crack_stiffness: float = 1.0) -> BracketField:
    """The field of a bracket twin under its latest measured loads (missing ones are 0).

    ``time`` is that of the newest load reading; a twin with no load reading yet gets the
    unloaded field and ``time`` None.
    """
    loads: dict[str, float] = {}
    times = []
    for name in LOADS:
        value = twin_value(twin, name)
        if value is not None:
            loads[name] = value
            latest = twin.telemetry.get(name)
            if latest is not None:
                times.append(latest.time)
    return evaluate_field(
        rom,
        loads,
        crack_stiffness=crack_stiffness,
        time=max(times) if times else None,
        twin_id=twin.id,
    )


def _rounded(values: npt.ArrayLike, digits: int) -> list[float]:
    return [float(v) for v in np.round(np.asarray(values, dtype=np.float64), digits).ravel()]


def _scalar(values: FloatArray, unit: str, digits: int) -> dict[str, Any]:
    return {
        "unit": unit,
        "min": float(values.min()) if values.size else 0.0,
        "max": float(values.max()) if values.size else 0.0,
        "values": _rounded(values, digits),
    }


def field_json(field: BracketField) -> dict[str, Any]:
    """The field as JSON for a three.js viewer.

    ``positions`` (x, y, z per vertex, m) and ``indices`` (three per triangle) go straight into
    a ``BufferGeometry``; ``scalars`` holds, per quantity, a value per vertex with its unit and
    range (``vonMises`` in Pa, ``displacement`` magnitude in m) for a colour map;
    ``displacement`` (dx, dy, dz per vertex, m) draws the deformed shape at any scale.
    Positions are rounded to the micrometre, displacements to the nanometre, stresses to the
    pascal.
    """
    return {
        "format": FIELD_FORMAT,
        "twin": field.twin_id,
        "time": field.time,
        "units": {"positions": "m", "displacement": "m"},
        "positions": _rounded(field.points, 6),
        "indices": [int(i) for i in field.triangles.ravel()],
        "displacement": _rounded(field.displacement, 9),
        "scalars": {
            "vonMises": _scalar(field.von_mises, "Pa", 0),
            "displacement": _scalar(field.displacement_magnitude, "m", 9),
        },
        "loads": dict(field.loads),
        "parameters": dict(field.parameters),
        "outputs": {k: v for k, v in field.outputs.items() if math.isfinite(v)},
        "errorBound": field.error_bound,
    }


def write_field_vtu(path: str | Path, field: BracketField) -> Path:
    """Write the field's surface to a ``.vtu`` (ParaView): triangles with ``von_mises`` (Pa),
    ``displacement`` (m, a vector: *Warp By Vector* shows the deformed shape) per point."""
    from twinkit.sim._fem_mesh import require_extra

    require_extra("meshio", "meshio")
    import meshio

    target = Path(path)
    meshio.Mesh(
        field.points,
        [("triangle", field.triangles)],
        point_data={"von_mises": field.von_mises, "displacement": field.displacement},
    ).write(target, file_format="vtu")
    return target

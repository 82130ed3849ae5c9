"""Fields on a mesh out for display: ``.vtu`` files and coloured surface triangles.

:func:`write_vtu` writes per-vertex fields for ParaView; :func:`surface` gives the outward
boundary triangles of a mesh with a value per vertex, which is what a 3D view in the
dashboard (three.js) colours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from twinkit.errors import ValidationError
from twinkit.sim._fem_mesh import HEX_TO_VTK, MESHIO_CELL, FemMesh

__all__ = ["Surface", "surface", "write_vtu"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def write_vtu(
    path: str | Path,
    mesh: FemMesh,
    point_data: Mapping[str, npt.ArrayLike] | None = None,
) -> Path:
    """Write the mesh and per-vertex fields (one value or one row per vertex) to a .vtu file."""
    import meshio

    target = Path(path)
    fields = {
        name: _vertex_values(mesh, values, name) for name, values in (point_data or {}).items()
    }
    cells = mesh.cells
    if mesh.kind == "hex":
        cells = cells[:, HEX_TO_VTK]
    points = mesh.points
    if mesh.dim == 2:
        points = np.column_stack([points, np.zeros(len(points))])
    meshio.Mesh(points, [(MESHIO_CELL[mesh.kind], cells)], point_data=fields).write(
        target, file_format="vtu"
    )
    return target


def _vertex_values(mesh: FemMesh, values: npt.ArrayLike, name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    n = mesh.points.shape[0]
    if array.ndim not in (1, 2) or array.shape[0] != n:
        raise ValidationError(
            f"field {name!r} does not have one value (or row) per mesh vertex",
            path=f"point_data/{name}",
            expected=f"shape ({n},) or ({n}, k)",
            got=array.shape,
        )
    return array


@dataclass(frozen=True, slots=True, eq=False)
class Surface:
    """Outward-oriented triangles of a mesh's boundary with a value per vertex, for display.

    ``vertices`` are the mesh vertex ids used (so a field over all vertices indexes with
    them), ``points`` their coordinates (always 3D), ``triangles`` rows of indices into
    ``points``; ``values`` one per point (or empty when none were given).
    """

    vertices: IntArray
    points: FloatArray
    triangles: IntArray
    values: FloatArray

    def with_values(self, values: npt.ArrayLike) -> Surface:
        """The same surface coloured by a field over all mesh vertices."""
        array = np.asarray(values, dtype=np.float64)
        return replace(self, values=array[self.vertices])


def surface(mesh: FemMesh, values: npt.ArrayLike | None = None) -> Surface:
    """The boundary triangles of a 3D mesh (all triangles of a 2D one), outward, with values.

    ``values`` is a field over all mesh vertices (one value each); quadrilaterals are split in
    two triangles. 2D meshes get ``z = 0``.
    """
    m = mesh.mesh
    if mesh.dim == 3:
        facets = m.boundary_facets()
        corners = np.asarray(m.facets[:, facets].T, dtype=np.int64)
        owners = m.f2t[0, facets]
        inner = m.p[:, m.t[:, owners]].mean(axis=1).T
    else:
        corners = np.asarray(m.t.T, dtype=np.int64)
        inner = None
    triangles = corners[:, :3]
    if corners.shape[1] == 4:
        triangles = np.vstack([corners[:, [0, 1, 2]], corners[:, [0, 2, 3]]])
        if inner is not None:
            inner = np.vstack([inner, inner])
    points3 = (
        mesh.points if mesh.dim == 3 else np.column_stack([mesh.points, np.zeros(len(mesh.points))])
    )
    triangles = _orient(points3, triangles, inner)
    used, local = np.unique(triangles, return_inverse=True)
    field_values = np.zeros(0)
    if values is not None:
        field_values = _vertex_values(mesh, values, "values")[used]
    return Surface(
        vertices=used.astype(np.int64),
        points=points3[used],
        triangles=local.reshape(triangles.shape).astype(np.int64),
        values=field_values,
    )


def _orient(points: FloatArray, triangles: IntArray, inner: FloatArray | None) -> IntArray:
    a, b, c = (points[triangles[:, i]] for i in range(3))
    normal = np.cross(b - a, c - a)
    if inner is None:  # plane mesh: make every triangle face +z
        flip = normal[:, 2] < 0
    else:
        flip = np.einsum("ij,ij->i", normal, (a + b + c) / 3 - inner) < 0
    out = triangles.copy()
    out[flip] = out[flip][:, [0, 2, 1]]
    return out

"""Meshes for the finite element backend: generated boxes, files read with meshio, export.

A :class:`FemMesh` is a linear scikit-fem mesh (tetrahedra, hexahedra, triangles or
quadrilaterals) with named boundaries (facet sets) and named subdomains (element sets); the
element order of a problem (linear or quadratic) is chosen by the problem, not the mesh, so
one mesh serves both. Generated boxes and rectangles name their sides ``xmin``/``xmax``/
``ymin``/... and, for a cantilever, ``fixed`` (x = min) and ``tip`` (x = max).

Files are read with meshio (Gmsh ``.msh``, ``.vtu``, Abaqus/CalculiX ``.inp``, ...): second-order
cells keep their corners, Gmsh physical groups and cell/point sets become named boundaries and
subdomains. Fields go out to ``.vtu`` (ParaView) or as surface triangles with a value per vertex,
which is what a 3D view in the dashboard colours.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from twinkit.errors import SimulationError, ValidationError

__all__ = [
    "HEX_TO_VTK",
    "MESHIO_CELL",
    "FemMesh",
    "box_mesh",
    "from_meshio",
    "read_mesh",
    "rectangle_mesh",
]

logger = logging.getLogger(__name__)

Kind = Literal["hex", "tet", "quad", "tri"]
Predicate = Callable[[npt.NDArray[np.float64]], npt.NDArray[np.bool_]]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# meshio cell type -> (mesh kind, number of corner nodes); second-order cells keep their corners
_VOLUME_CELLS: dict[str, tuple[Kind, int]] = {
    "tetra": ("tet", 4),
    "tetra10": ("tet", 4),
    "hexahedron": ("hex", 8),
    "hexahedron20": ("hex", 8),
    "hexahedron27": ("hex", 8),
}
_PLANE_CELLS: dict[str, tuple[Kind, int]] = {
    "triangle": ("tri", 3),
    "triangle6": ("tri", 3),
    "quad": ("quad", 4),
    "quad8": ("quad", 4),
    "quad9": ("quad", 4),
}
_FACET_CELLS: dict[int, dict[str, int]] = {
    3: {"triangle": 3, "triangle6": 3, "quad": 4, "quad8": 4, "quad9": 4},
    2: {"line": 2, "line3": 2},
}
_UNSUPPORTED = {"wedge", "wedge15", "pyramid", "pyramid13", "polyhedron", "polygon"}
# skfem numbers a hexahedron's corners differently from VTK/meshio (see skfem.io.meshio)
HEX_TO_VTK = np.array([0, 3, 6, 2, 1, 5, 7, 4])
VTK_TO_HEX = np.argsort(HEX_TO_VTK)
MESHIO_CELL: dict[Kind, str] = {
    "hex": "hexahedron",
    "tet": "tetra",
    "quad": "quad",
    "tri": "triangle",
}


@dataclass(frozen=True, slots=True, eq=False)
class FemMesh:
    """A linear scikit-fem mesh with named boundaries (facets) and subdomains (elements)."""

    mesh: Any
    boundaries: Mapping[str, IntArray] = field(default_factory=dict)
    subdomains: Mapping[str, IntArray] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.mesh.dim())

    @property
    def kind(self) -> Kind:
        return _kind_of(self.mesh)

    @property
    def points(self) -> FloatArray:
        """Vertex coordinates, one row per vertex."""
        return np.ascontiguousarray(self.mesh.p.T, dtype=np.float64)

    @property
    def cells(self) -> IntArray:
        """Corner vertices of every element, one row per element (scikit-fem's order)."""
        return np.ascontiguousarray(self.mesh.t.T, dtype=np.int64)

    @property
    def n_elements(self) -> int:
        return int(self.mesh.t.shape[1])

    def boundary(self, name: str) -> IntArray:
        """The facets of the boundary ``name``; a :class:`ValidationError` names the known ones."""
        if name not in self.boundaries:
            raise ValidationError(
                f"the mesh has no boundary {name!r}",
                path=f"boundaries/{name}",
                expected=f"one of {sorted(self.boundaries)}",
                got=name,
            )
        return self.boundaries[name]

    def subdomain(self, name: str) -> IntArray:
        """The elements of the subdomain ``name``."""
        if name not in self.subdomains:
            raise ValidationError(
                f"the mesh has no subdomain {name!r}",
                path=f"subdomains/{name}",
                expected=f"one of {sorted(self.subdomains)}",
                got=name,
            )
        return self.subdomains[name]

    def boundary_area(self, name: str) -> float:
        """Area (in 2D: length) of a named boundary."""
        from skfem import FacetBasis

        basis = FacetBasis(self.mesh, _p0_element(self.kind), facets=self.boundary(name))
        return float(basis.dx.sum())

    def with_boundaries(self, **predicates: Predicate) -> FemMesh:
        """Add boundaries: each the boundary facets whose midpoint satisfies its predicate.

        A predicate takes the midpoints as an array of shape ``(dim, n)`` and returns a boolean
        array, e.g. ``tip=lambda x: np.isclose(x[0], 1.0)``.
        """
        found = {name: _boundary_where(self.mesh, rule, name) for name, rule in predicates.items()}
        return replace(self, boundaries=MappingProxyType({**self.boundaries, **found}))

    def with_subdomains(self, **predicates: Predicate) -> FemMesh:
        """Add subdomains: each the elements whose centroid satisfies its predicate."""
        centroids = self.mesh.p[:, self.mesh.t].mean(axis=1)
        found: dict[str, IntArray] = {}
        for name, rule in predicates.items():
            elements = np.flatnonzero(np.asarray(rule(centroids), dtype=bool)).astype(np.int64)
            if elements.size == 0:
                raise ValidationError(
                    f"subdomain {name!r} selects no element",
                    path=f"subdomains/{name}",
                    expected="a predicate true for at least one element centroid",
                    got="no element",
                )
            found[name] = elements
        return replace(self, subdomains=MappingProxyType({**self.subdomains, **found}))


def _kind_of(mesh: Any) -> Kind:
    from skfem import MeshHex1, MeshQuad1, MeshTet1, MeshTri1

    for cls, kind in ((MeshHex1, "hex"), (MeshTet1, "tet"), (MeshQuad1, "quad"), (MeshTri1, "tri")):
        if isinstance(mesh, cls):
            return kind  # type: ignore[return-value]
    raise ValidationError(
        f"unsupported scikit-fem mesh {type(mesh).__name__}",
        path="mesh",
        expected="MeshHex1, MeshTet1, MeshQuad1 or MeshTri1",
        got=type(mesh).__name__,
    )


def _p0_element(kind: Kind) -> Any:
    from skfem import ElementHex0, ElementQuad0, ElementTetP0, ElementTriP0

    return {"hex": ElementHex0, "tet": ElementTetP0, "quad": ElementQuad0, "tri": ElementTriP0}[
        kind
    ]()


def _boundary_where(mesh: Any, rule: Predicate, name: str) -> IntArray:
    facets = mesh.boundary_facets()
    midpoints = mesh.p[:, mesh.facets[:, facets]].mean(axis=1)
    chosen = facets[np.asarray(rule(midpoints), dtype=bool)].astype(np.int64)
    if chosen.size == 0:
        raise ValidationError(
            f"boundary {name!r} selects no boundary facet",
            path=f"boundaries/{name}",
            expected="a predicate true for at least one boundary facet midpoint",
            got="no facet",
        )
    return np.asarray(chosen, dtype=np.int64)


def require_extra(module: str, package: str) -> None:
    """Fail with the install command when an optional package of the ``sim`` extra is missing."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError as error:
        raise SimulationError(
            f"finite element models need {package}: pip install 'twinkit[sim]'", where="fem"
        ) from error


# --- generated meshes ---------------------------------------------------------------------


def _divisions(
    size: Sequence[float], divisions: Sequence[int] | None, element_size: float | None
) -> list[int]:
    for axis, length in enumerate(size):
        if not (math.isfinite(length) and length > 0):
            raise ValidationError(
                "mesh dimensions must be positive",
                path=f"size/{axis}",
                expected="a finite length > 0",
                got=length,
            )
    if divisions is not None:
        counts = [int(n) for n in divisions]
        if len(counts) != len(size) or min(counts) < 1:
            raise ValidationError(
                "divisions must give a count >= 1 per axis",
                path="divisions",
                expected=f"{len(size)} integers >= 1",
                got=list(divisions),
            )
        return counts
    step = element_size if element_size is not None else min(size) / 2
    if not (math.isfinite(step) and step > 0):
        raise ValidationError(
            "element size must be positive",
            path="element_size",
            expected="a finite length > 0",
            got=element_size,
        )
    return [max(1, math.ceil(length / step - 1e-9)) for length in size]


def _named_sides(mesh: Any, lower: Sequence[float], upper: Sequence[float]) -> FemMesh:
    facets = mesh.boundary_facets()
    midpoints = mesh.p[:, mesh.facets[:, facets]].mean(axis=1)
    boundaries: dict[str, IntArray] = {}
    for axis, label in enumerate("xyz"[: len(lower)]):
        tolerance = 1e-9 * max(1.0, abs(upper[axis] - lower[axis]))
        for side, value in (("min", lower[axis]), ("max", upper[axis])):
            on_side = np.abs(midpoints[axis] - value) <= tolerance
            boundaries[f"{label}{side}"] = facets[on_side].astype(np.int64)
    boundaries["fixed"] = boundaries["xmin"]
    boundaries["tip"] = boundaries["xmax"]
    return FemMesh(mesh, MappingProxyType(boundaries), MappingProxyType({}))


def box_mesh(
    size: Sequence[float] = (1.0, 0.1, 0.1),
    *,
    divisions: Sequence[int] | None = None,
    element_size: float | None = None,
    kind: Literal["hex", "tet"] = "hex",
    origin: Sequence[float] = (0.0, 0.0, 0.0),
) -> FemMesh:
    """A structured box of hexahedra (or tetrahedra, six per hexahedron).

    Refinement by ``divisions`` (elements per axis) or ``element_size`` (the longest edge
    wanted; each axis gets ``ceil(length / element_size)`` elements); by default half the
    shortest side. Boundaries: ``xmin`` ... ``zmax``, ``fixed`` (= xmin) and ``tip`` (= xmax).
    """
    require_extra("skfem", "scikit-fem")
    from skfem import MeshHex1, MeshTet1

    if len(size) != 3 or len(origin) != 3:
        raise ValidationError(
            "a box needs three lengths and a 3D origin",
            path="size",
            expected="(length x, length y, length z)",
            got={"size": list(size), "origin": list(origin)},
        )
    if kind not in ("hex", "tet"):
        raise ValidationError(
            "unknown box element kind", path="kind", expected="'hex' or 'tet'", got=kind
        )
    counts = _divisions(size, divisions, element_size)
    axes = [np.linspace(o, o + s, n + 1) for o, s, n in zip(origin, size, counts, strict=True)]
    mesh = (MeshHex1 if kind == "hex" else MeshTet1).init_tensor(*axes)
    upper = [o + s for o, s in zip(origin, size, strict=True)]
    return _named_sides(mesh, list(origin), upper)


def rectangle_mesh(
    size: Sequence[float] = (1.0, 0.1),
    *,
    divisions: Sequence[int] | None = None,
    element_size: float | None = None,
    kind: Literal["quad", "tri"] = "quad",
    origin: Sequence[float] = (0.0, 0.0),
) -> FemMesh:
    """A structured rectangle of quadrilaterals (or triangles); sides named as :func:`box_mesh`."""
    require_extra("skfem", "scikit-fem")
    from skfem import MeshQuad1, MeshTri1

    if len(size) != 2 or len(origin) != 2:
        raise ValidationError(
            "a rectangle needs two lengths and a 2D origin",
            path="size",
            expected="(length x, length y)",
            got={"size": list(size), "origin": list(origin)},
        )
    if kind not in ("quad", "tri"):
        raise ValidationError(
            "unknown rectangle element kind", path="kind", expected="'quad' or 'tri'", got=kind
        )
    counts = _divisions(size, divisions, element_size)
    axes = [np.linspace(o, o + s, n + 1) for o, s, n in zip(origin, size, counts, strict=True)]
    mesh = (MeshQuad1 if kind == "quad" else MeshTri1).init_tensor(*axes)
    upper = [o + s for o, s in zip(origin, size, strict=True)]
    return _named_sides(mesh, list(origin), upper)


# --- reading files ------------------------------------------------------------------------


def read_mesh(path: str | Path, **boundaries: Predicate) -> FemMesh:
    """Read a mesh file with meshio; named sets become boundaries and subdomains.

    Gmsh physical groups and meshio cell sets on facets (triangles/quads in 3D, lines in 2D)
    become boundaries, on elements subdomains; node sets (Abaqus ``*NSET``) become boundaries
    made of the boundary facets whose corners are all in the set. ``boundaries`` adds more by
    predicate, as :meth:`FemMesh.with_boundaries`.
    """
    require_extra("skfem", "scikit-fem")
    require_extra("meshio", "meshio")
    where = str(path)
    if not Path(path).is_file():
        raise ValidationError(
            "mesh file not found", path=where, expected="an existing mesh file", got=where
        )
    raw = _read_meshio(Path(path), where)
    mesh = from_meshio(raw, where=where)
    return mesh.with_boundaries(**boundaries) if boundaries else mesh


def _read_meshio(path: Path, where: str) -> Any:
    """Read with meshio's reader for the file's extension.

    ``meshio.read`` prints and calls ``sys.exit`` when a file does not parse, which would
    take a server down; its readers are called directly instead.
    """
    from meshio._helpers import (  # type: ignore[import-untyped, unused-ignore]
        extension_to_filetypes,
        reader_map,
    )

    formats = extension_to_filetypes.get(path.suffix.lower(), [])
    if not formats:
        raise ValidationError(
            "unsupported mesh file type",
            path=where,
            expected="a mesh file meshio reads (.msh, .vtu, .vtk, .inp, .xdmf, .med, ...)",
            got=path.suffix or "no suffix",
        )
    problems = []
    for file_format in formats:
        try:
            return reader_map[file_format](str(path))
        except Exception as error:  # meshio raises ReadError, KeyError, ValueError, ...
            problems.append(f"{file_format}: {type(error).__name__} {error}".strip())
    raise ValidationError(
        f"could not read the mesh file ({'; '.join(problems)})",
        path=where,
        expected=f"a valid {' or '.join(formats)} file",
        got=path.suffix,
    )


def from_meshio(raw: Any, *, where: str = "mesh") -> FemMesh:
    """Convert a ``meshio.Mesh`` (see :func:`read_mesh`)."""
    from skfem import MeshHex1, MeshQuad1, MeshTet1, MeshTri1

    types = [block.type for block in raw.cells]
    unsupported = sorted(set(types) & _UNSUPPORTED)
    table = _VOLUME_CELLS if any(t in _VOLUME_CELLS for t in types) else _PLANE_CELLS
    kinds = {table[t][0] for t in types if t in table}
    if unsupported or len(kinds) != 1:
        raise ValidationError(
            "unsupported cells in the mesh file",
            path=where,
            expected="only tetrahedra, only hexahedra, only triangles or only quadrilaterals "
            "(first or second order), with facet cells for named boundaries",
            got=sorted(set(types)),
        )
    kind = kinds.pop()
    dim = 3 if table is _VOLUME_CELLS else 2
    blocks = [i for i, t in enumerate(types) if t in table]
    corners = np.vstack([raw.cells[i].data[:, : table[types[i]][1]] for i in blocks])
    used, inverse = np.unique(corners, return_inverse=True)
    renumber = np.full(len(raw.points), -1, dtype=np.int64)
    renumber[used] = np.arange(len(used))
    points = np.asarray(raw.points, dtype=np.float64)[used]
    if dim == 2 and points.shape[1] > 2 and not np.allclose(points[:, 2:], 0.0):
        raise ValidationError(
            "a mesh of plane cells must lie in the z = 0 plane",
            path=where,
            expected="z = 0 for every point",
            got=f"z up to {float(np.abs(points[:, 2:]).max()):g}",
        )
    cells = inverse.reshape(corners.shape).T
    if kind == "hex":
        cells = cells[VTK_TO_HEX]
    cls = {"hex": MeshHex1, "tet": MeshTet1, "quad": MeshQuad1, "tri": MeshTri1}[kind]
    mesh = cls(np.ascontiguousarray(points[:, :dim].T), np.ascontiguousarray(cells))
    offsets = dict(
        zip(blocks, np.cumsum([0] + [len(raw.cells[i].data) for i in blocks]), strict=False)
    )
    boundaries, subdomains = _named_sets(raw, mesh, renumber, offsets=offsets, dim=dim, where=where)
    logger.debug("read %s: %d %s elements, boundaries %s", where, mesh.nelements, kind, boundaries)
    return FemMesh(mesh, MappingProxyType(boundaries), MappingProxyType(subdomains))


def _named_sets(
    raw: Any,
    mesh: Any,
    renumber: IntArray,
    *,
    offsets: Mapping[int, int],
    dim: int,
    where: str,
) -> tuple[dict[str, IntArray], dict[str, IntArray]]:
    facet_types = _FACET_CELLS[dim]
    lookup = _FacetLookup(mesh)
    facet_parts: dict[str, list[IntArray]] = {}
    element_parts: dict[str, list[IntArray]] = {}
    for name, per_block in _cell_sets(raw).items():
        for block, indices in per_block.items():
            cell_type = raw.cells[block].type
            if block in offsets:
                element_parts.setdefault(name, []).append(indices + offsets[block])
            elif cell_type in facet_types:
                facet_corners = raw.cells[block].data[indices, : facet_types[cell_type]]
                facet_parts.setdefault(name, []).append(
                    lookup.find(renumber[facet_corners], f"{where}: set {name!r}")
                )
    for name, nodes in (raw.point_sets or {}).items():
        if name not in facet_parts:
            chosen = lookup.boundary_within(renumber[np.asarray(nodes, dtype=np.int64)])
            if chosen.size:
                facet_parts[name] = [chosen]
    boundaries = {k: np.unique(np.concatenate(v)).astype(np.int64) for k, v in facet_parts.items()}
    subdomains = {
        k: np.unique(np.concatenate(v)).astype(np.int64) for k, v in element_parts.items()
    }
    return boundaries, subdomains


def _cell_sets(raw: Any) -> dict[str, dict[int, IntArray]]:
    """name -> {block index: cell indices in that block}, from cell sets and Gmsh groups."""
    found: dict[str, dict[int, IntArray]] = {}
    for name, per_block in (raw.cell_sets or {}).items():
        if name.startswith("gmsh:"):
            continue
        for block, indices in enumerate(per_block):
            if indices is not None and len(indices):
                found.setdefault(name, {})[block] = np.asarray(indices, dtype=np.int64)
    tags = (raw.cell_data or {}).get("gmsh:physical")
    if tags is not None:
        for name, (tag, _group_dim) in (raw.field_data or {}).items():
            for block, values in enumerate(tags):
                indices = np.flatnonzero(np.asarray(values) == tag)
                if indices.size:
                    found.setdefault(name, {})[block] = indices.astype(np.int64)
    return found


class _FacetLookup:
    """Find mesh facets by their corner vertices (in any order)."""

    def __init__(self, mesh: Any) -> None:
        self._mesh = mesh
        self._n = int(mesh.p.shape[1])
        keys = self._keys(np.asarray(mesh.facets, dtype=np.int64).T)
        self._order = np.argsort(keys)
        self._sorted = keys[self._order]

    def _keys(self, corners: IntArray) -> npt.NDArray[np.void]:
        ordered = np.ascontiguousarray(np.sort(corners, axis=1))
        return ordered.view(np.dtype((np.void, ordered.dtype.itemsize * ordered.shape[1]))).ravel()

    def find(self, corners: IntArray, where: str) -> IntArray:
        if corners.size == 0:
            return np.zeros(0, dtype=np.int64)
        keys = self._keys(corners)
        at = np.clip(np.searchsorted(self._sorted, keys), 0, len(self._sorted) - 1)
        missing = self._sorted[at] != keys
        if np.any(missing) or np.any(corners < 0):
            raise ValidationError(
                "facet cells of a named set are not facets of the mesh",
                path=where,
                expected="boundary cells whose corners are corners of the volume elements",
                got=f"{int(np.count_nonzero(missing))} facets not found",
            )
        return self._order[at].astype(np.int64)

    def boundary_within(self, nodes: IntArray) -> IntArray:
        inside = np.zeros(self._n, dtype=bool)
        inside[nodes[nodes >= 0]] = True
        facets = self._mesh.boundary_facets()
        chosen = facets[np.all(inside[self._mesh.facets[:, facets]], axis=0)]
        return np.asarray(chosen, dtype=np.int64)

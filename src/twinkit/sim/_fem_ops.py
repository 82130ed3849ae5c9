"""Numerics shared by the finite element problems: bases, fast assembly, point evaluation.

scikit-fem's form assembly loops in Python over every pair of basis functions, which for a
20-node hexahedron with three displacement components is 3,600 pairs: seconds for a mesh a
direct solver factorizes in a fraction of that. Here element matrices are built at once from
the scalar basis gradients with ``einsum`` and scattered into one sparse matrix, so assembly
costs about what the factorization does. Degrees of freedom are numbered node by node:
``dof = dim * node + component``, where ``node`` is a scalar basis node (a vertex, or for
quadratic elements also an edge midpoint).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from twinkit.errors import ValidationError
from twinkit.sim._fem_mesh import FemMesh, Kind

__all__ = [
    "ScalarSpace",
    "assemble_blocks",
    "element",
    "scalar_space",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
AXES = {"x": 0, "y": 1, "z": 2}


def element(kind: Kind, order: int) -> Any:
    """The scalar Lagrange element of a mesh kind: linear, or quadratic (serendipity on hexes).

    The 20-node hexahedron and 10-node tetrahedron are CalculiX's C3D20 and C3D10.
    """
    from skfem import (
        ElementHex1,
        ElementHexS2,
        ElementQuad1,
        ElementQuadS2,
        ElementTetP1,
        ElementTetP2,
        ElementTriP1,
        ElementTriP2,
    )

    if order not in (1, 2):
        raise ValidationError(
            "unsupported element order", path="order", expected="1 or 2", got=order
        )
    table = {
        ("hex", 1): ElementHex1,
        ("hex", 2): ElementHexS2,
        ("tet", 1): ElementTetP1,
        ("tet", 2): ElementTetP2,
        ("quad", 1): ElementQuad1,
        ("quad", 2): ElementQuadS2,
        ("tri", 1): ElementTriP1,
        ("tri", 2): ElementTriP2,
    }
    return table[(kind, order)]()


@dataclass(frozen=True, slots=True, eq=False)
class ScalarSpace:
    """A scalar finite element space on a mesh, with what the problems need from it.

    ``gradients[a, i, e, q]`` is the derivative along axis ``i`` of local basis function ``a``
    of element ``e`` at quadrature point ``q``; ``weights[e, q]`` the quadrature weight times
    the Jacobian. ``element_nodes[e, a]`` the global node of local function ``a``.
    """

    mesh: FemMesh
    order: int
    basis: Any
    values: FloatArray
    gradients: FloatArray
    weights: FloatArray
    element_nodes: IntArray
    node_points: FloatArray
    vertex_nodes: IntArray

    @property
    def n_nodes(self) -> int:
        return int(self.node_points.shape[0])

    @property
    def dim(self) -> int:
        return self.mesh.dim

    def integrals(self) -> FloatArray:
        """``∫ φ_a dx`` for every node: the consistent load of a unit volume density."""
        per_element = np.einsum("aeq,eq->ea", self.values, self.weights)
        return np.bincount(
            self.element_nodes.ravel(), per_element.ravel(), minlength=self.n_nodes
        ).astype(np.float64)

    def facet_integrals(self, facets: IntArray) -> FloatArray:
        """``∫ φ_a ds`` over the given facets for every node (consistent load of unit traction)."""
        from skfem import FacetBasis, LinearForm, asm

        basis = FacetBasis(self.mesh.mesh, self.basis.elem, facets=facets, intorder=2 * self.order)
        return np.asarray(asm(LinearForm(lambda v, w: v), basis), dtype=np.float64)

    def facet_mass(self, facets: IntArray) -> Any:
        """``∫ φ_a φ_b ds`` over the given facets (the matrix of a convective boundary)."""
        from skfem import BilinearForm, FacetBasis, asm

        basis = FacetBasis(self.mesh.mesh, self.basis.elem, facets=facets, intorder=2 * self.order)
        return asm(BilinearForm(lambda u, v, w: u * v), basis).tocsr()

    def nearest_node(self, point: Sequence[float], where: str) -> int:
        """The node nearest to a point (for point loads)."""
        p = _point(point, self.dim, where)
        return int(np.argmin(np.sum((self.node_points - p) ** 2, axis=1)))

    def at_point(
        self, point: Sequence[float], where: str
    ) -> tuple[IntArray, FloatArray, FloatArray]:
        """Nodes of the element holding ``point``, the basis values and gradients there.

        Returns ``(nodes (n,), values (n,), gradients (n, dim))``. A point on a shared face
        takes the first element that holds it. Outside the mesh: :class:`ValidationError`.
        """
        p = _point(point, self.dim, where)
        cell, local = _locate(self.mesh, p, where)
        fields = [
            self.basis.elem.gbasis(
                self.basis.mapping, local[:, None, None], a, tind=np.array([cell])
            )[0]
            for a in range(self.element_nodes.shape[1])
        ]
        values = np.array([np.asarray(f)[0, 0] for f in fields], dtype=np.float64)
        grads = np.array([f.grad[:, 0, 0] for f in fields], dtype=np.float64)
        return self.element_nodes[cell], values, grads

    def node_gradients(self) -> FloatArray:
        """Basis gradients at each element's own nodes: ``[a, i, e, k]`` (for stress recovery)."""
        from skfem import Basis

        elem = self.basis.elem
        local = np.asarray(elem.doflocs, dtype=np.float64).T
        basis = Basis(self.mesh.mesh, elem, quadrature=(local, np.ones(local.shape[1])))
        return np.stack([basis.basis[a][0].grad for a in range(basis.Nbfun)])


def scalar_space(mesh: FemMesh, order: int) -> ScalarSpace:
    """Build the scalar space of a mesh (integration exact for affine elements' stiffness)."""
    from skfem import Basis

    basis = Basis(mesh.mesh, element(mesh.kind, order), intorder=2 * order)
    values = np.stack([np.asarray(basis.basis[a][0]) for a in range(basis.Nbfun)])
    gradients = np.stack([basis.basis[a][0].grad for a in range(basis.Nbfun)])
    return ScalarSpace(
        mesh=mesh,
        order=order,
        basis=basis,
        values=values,
        gradients=gradients,
        weights=np.asarray(basis.dx, dtype=np.float64),
        element_nodes=np.ascontiguousarray(basis.element_dofs.T, dtype=np.int64),
        node_points=np.ascontiguousarray(basis.doflocs.T, dtype=np.float64),
        vertex_nodes=np.asarray(basis.nodal_dofs[0], dtype=np.int64),
    )


def assemble_blocks(blocks: FloatArray, dofs: IntArray, size: int) -> Any:
    """Scatter element matrices ``blocks[e]`` on ``dofs[e]`` into one CSR matrix."""
    import scipy.sparse as sp  # type: ignore[import-untyped, unused-ignore]

    n = dofs.shape[1]
    rows = np.repeat(dofs, n, axis=1).ravel()
    cols = np.tile(dofs, (1, n)).ravel()
    matrix = sp.csr_matrix((blocks.ravel(), (rows, cols)), shape=(size, size))
    matrix.sum_duplicates()
    return matrix


def vector_dofs(nodes: IntArray, dim: int) -> IntArray:
    """Degrees of freedom of nodes ``[..., a]`` as ``[..., a * dim + i]`` (node by node)."""
    return (dim * nodes[..., None] + np.arange(dim)).reshape(*nodes.shape[:-1], -1)


def _point(point: Sequence[float], dim: int, where: str) -> FloatArray:
    p = np.asarray(point, dtype=np.float64)
    if p.shape != (dim,) or not np.all(np.isfinite(p)):
        raise ValidationError(
            "a point needs one finite coordinate per mesh dimension",
            path=where,
            expected=f"{dim} finite numbers",
            got=list(np.atleast_1d(point)),
        )
    return p


def _locate(mesh: FemMesh, p: FloatArray, where: str) -> tuple[int, FloatArray]:
    """The element holding ``p`` and its reference coordinates there.

    Candidates are the elements whose bounding box holds the point; each is inverted alone,
    since scikit-fem's Newton inversion of a hexahedron fails for points outside it.
    """
    m = mesh.mesh
    corners = m.p[:, m.t]
    low, high = corners.min(axis=1), corners.max(axis=1)
    tolerance = 1e-9 * float(np.max(high - low))
    near = np.all((low - tolerance <= p[:, None]) & (p[:, None] <= high + tolerance), axis=0)
    mapping = m._mapping()
    for cell in np.flatnonzero(near).tolist():
        local = _local_coordinates(mapping, mesh.kind, p, cell, tolerance)
        if local is not None:
            return cell, local
    raise ValidationError(
        "point is outside the mesh",
        path=where,
        expected="a point inside or on the mesh",
        got=p.tolist(),
    )


def _local_coordinates(
    mapping: Any, kind: Kind, p: FloatArray, cell: int, tolerance: float
) -> FloatArray | None:
    try:
        local = mapping.invF(p[:, None, None], tind=np.array([cell]))[:, 0, 0]
    except Exception:  # Newton did not converge: the point is not in this element
        return None
    if kind in ("tet", "tri"):
        inside = bool(np.all(local >= -1e-9) and local.sum() <= 1 + 1e-9)
    else:
        inside = bool(np.all((local >= -1e-9) & (local <= 1 + 1e-9)))
    back = mapping.F(local[:, None, None], tind=np.array([cell]))[:, 0, 0]
    if not inside or np.linalg.norm(back - p) > tolerance:
        return None
    return np.asarray(np.clip(local, 0.0, 1.0), dtype=np.float64)

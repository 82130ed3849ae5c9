"""Linear elasticity with scikit-fem: 3D solids and 2D plane stress or plane strain.

An :class:`ElasticProblem` says what is modelled: a mesh, a material, supports (named
boundaries and the displacement components held at zero there), named loads, named outputs and
stiffness zones. :class:`ElasticSystem` assembles it into operators that are
affine in what changes while a twin runs:

- every named load is a unit load case, scaled by a number (its input): the load vector is
  ``f = Σ μ_i f_i``;
- every stiffness zone (a named subdomain) scales Young's modulus there by a parameter ``θ_z``
  (1 = as built, 0.7 = 30 % stiffness lost to damage): ``K = K_0 + Σ θ_z K_z``.

So a new load is one back-substitution with the factorization kept for the current
parameters, and a reduced-order model (:mod:`twinkit.sim._rom`) projects each term once.
Outputs are linear functionals of the displacement (tip deflection, displacement at a point,
strain-gauge readings in microstrain) plus the largest von Mises stress at the nodes (element
stresses averaged at the nodes).

Quadratic elements are the default: linear hexahedra lock in bending (a 20 x 2 x 2 cantilever
of them deflects 30 % too little, 40 x 4 x 4 still 10 %) while 20-node ones on the 20 x 2 x 2
mesh are within 0.6 % of beam theory.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from twinkit.errors import SimulationError, ValidationError
from twinkit.sim._fem_elastic_problem import (
    MAX_VON_MISES,
    ElasticProblem,
    Output,
    check_axis,
    load_vector,
    output_functional,
)
from twinkit.sim._fem_ops import ScalarSpace, assemble_blocks, scalar_space, vector_dofs

__all__ = ["ElasticSolution", "ElasticSystem", "von_mises"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BASE = "base"  # the stiffness term of the elements outside every zone
_CHUNK_BYTES = 64 * 2**20  # element matrices built per chunk, to bound memory


class ElasticSystem:
    """The assembled operators of an :class:`ElasticProblem`, affine in loads and zones.

    ``solve`` returns the displacement (``dof = dim * node + component``); factorizations are
    kept for the last two parameter sets, so stepping through loads costs one
    back-substitution each.
    """

    def __init__(self, problem: ElasticProblem) -> None:
        self.problem = problem
        self.space: ScalarSpace = scalar_space(problem.mesh, problem.order)
        self.dim = problem.mesh.dim
        self.ndof = self.dim * self.space.n_nodes
        plane = problem.plane if self.dim == 2 else None
        self._lame = problem.material.lame(plane)
        self._lame_3d = problem.material.lame(None)
        self.element_term = self._zone_of_elements()
        self.terms: tuple[str, ...] = (BASE, *problem.zones)
        self.stiffness_terms: tuple[Any, ...] = self._assemble_terms()
        self.fixed, self.free = self._support_dofs()
        self.loads: dict[str, FloatArray] = {
            name: load_vector(problem, self.space, load, f"loads/{name}")
            for name, load in problem.loads.items()
        }
        self.functionals: dict[str, FloatArray] = {
            name: output_functional(problem, self.space, out, f"outputs/{name}")
            for name, out in problem.outputs.items()
        }
        self._node_gradients: FloatArray | None = None
        self._factors: OrderedDict[tuple[float, ...], Any] = OrderedDict()
        logger.debug("assembled %d dofs, terms %s", self.ndof, self.terms)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(self.problem.zones)

    @property
    def load_names(self) -> tuple[str, ...]:
        return tuple(self.problem.loads)

    @property
    def output_names(self) -> tuple[str, ...]:
        return (*self.problem.outputs, MAX_VON_MISES)

    # --- assembly ------------------------------------------------------------------------

    def _zone_of_elements(self) -> IntArray:
        term = np.zeros(self.problem.mesh.n_elements, dtype=np.int64)
        for index, (name, subdomain) in enumerate(self.problem.zones.items(), start=1):
            elements = self.problem.mesh.subdomain(subdomain)
            if np.any(term[elements] != 0):
                raise ValidationError(
                    "stiffness zones overlap",
                    path=f"zones/{name}",
                    expected="subdomains with no element in common",
                    got=subdomain,
                )
            term[elements] = index
        return term

    def _assemble_terms(self) -> tuple[Any, ...]:
        lam, mu = self._lame
        scale = self.problem.thickness if self.dim == 2 else 1.0
        nodes = self.space.element_nodes
        width = nodes.shape[1] * self.dim
        chunk = max(1, _CHUNK_BYTES // (8 * width * width * 2))
        terms = []
        for index in range(len(self.problem.zones) + 1):
            elements = np.flatnonzero(self.element_term == index)
            matrix = assemble_blocks(
                np.zeros((0, width, width)), np.zeros((0, width), np.int64), self.ndof
            )
            for start in range(0, len(elements), chunk):
                part = elements[start : start + chunk]
                blocks = self._element_stiffness(part, lam * scale, mu * scale)
                matrix = matrix + assemble_blocks(
                    blocks, vector_dofs(nodes[part], self.dim), self.ndof
                )
            terms.append(matrix.tocsr())
        return tuple(terms)

    def _element_stiffness(self, elements: IntArray, lam: float, mu: float) -> FloatArray:
        g = self.space.gradients[:, :, elements, :]
        p = np.einsum(
            "aieq,bjeq->eijab", g * self.space.weights[None, None, elements], g, optimize=True
        )
        n, d = g.shape[0], self.dim
        trace = np.einsum("ekkab->eab", p)
        blocks = np.empty((len(elements), n, d, n, d))
        for i in range(d):
            for j in range(d):
                blocks[:, :, i, :, j] = lam * p[:, i, j] + mu * p[:, j, i]
            blocks[:, :, i, :, i] += mu * trace
        return blocks.reshape(len(elements), n * d, n * d)

    def _support_dofs(self) -> tuple[IntArray, IntArray]:
        held: list[IntArray] = []
        for boundary, components in self.problem.supports.items():
            facets = self.problem.mesh.boundary(boundary)
            axes = [check_axis(c, self.dim, f"supports/{boundary}") for c in components]
            if not axes:
                raise ValidationError(
                    "a support must hold at least one component",
                    path=f"supports/{boundary}",
                    expected="a string of axes such as 'xyz'",
                    got=components,
                )
            nodes = self.space.basis.get_dofs(facets=facets).flatten()
            held.append((self.dim * nodes[:, None] + np.asarray(axes)).ravel())
        fixed = np.unique(np.concatenate(held)).astype(np.int64)
        self._check_rigid_motion(fixed)
        free = np.setdiff1d(np.arange(self.ndof), fixed).astype(np.int64)
        return fixed, free

    def _check_rigid_motion(self, fixed: IntArray) -> None:
        """The supports must stop every rigid motion, or the stiffness is singular."""
        points = self.space.node_points - self.space.node_points.mean(axis=0)
        points /= max(float(np.abs(points).max()), 1e-300)
        x, y = points[:, 0], points[:, 1]
        zero, one = np.zeros_like(x), np.ones_like(x)
        modes: list[tuple[FloatArray, ...]]
        if self.dim == 2:
            modes = [(one, zero), (zero, one), (-y, x)]
            names = ["x translation", "y translation", "rotation about z"]
        else:
            z = points[:, 2]
            modes = [(one, zero, zero), (zero, one, zero), (zero, zero, one)]
            modes += [(zero, -z, y), (z, zero, -x), (-y, x, zero)]
            names = ["x translation", "y translation", "z translation"]
            names += ["rotation about x", "rotation about y", "rotation about z"]
        rigid = np.column_stack([np.column_stack(m).ravel() for m in modes])[fixed]
        stacked = np.vstack([rigid, np.zeros((len(modes), len(modes)))])  # at least square
        _, singular, vt = np.linalg.svd(stacked, full_matrices=False)
        if singular[-1] < 1e-9 * max(float(singular[0]), 1e-300):
            free_mode = names[int(np.argmax(np.abs(vt[-1])))]
            raise ValidationError(
                f"the supports leave the body free to move ({free_mode}): the stiffness "
                "matrix would be singular",
                path="supports",
                expected="supports that hold every translation and rotation",
                got=dict(self.problem.supports),
            )

    # --- solving ---------------------------------------------------------------------------

    def parameter_values(self, parameters: Mapping[str, float] | None) -> FloatArray:
        """The factor of every stiffness term (the base term is 1), checked."""
        given = dict(parameters or {})
        unknown = sorted(set(given) - set(self.problem.zones))
        if unknown:
            raise ValidationError(
                "unknown stiffness parameter",
                path=f"parameters/{unknown[0]}",
                expected=f"one of {sorted(self.problem.zones)}",
                got=unknown,
            )
        values = [1.0] + [float(given.get(name, 1.0)) for name in self.problem.zones]
        if not all(math.isfinite(v) and v > 0 for v in values):
            raise ValidationError(
                "stiffness factors must be positive",
                path="parameters",
                expected="finite numbers > 0",
                got=given,
            )
        return np.asarray(values)

    def load_values(self, loads: Mapping[str, float]) -> FloatArray:
        unknown = sorted(set(loads) - set(self.loads))
        if unknown:
            raise ValidationError(
                "unknown load",
                path=f"loads/{unknown[0]}",
                expected=f"one of {sorted(self.loads)}",
                got=unknown,
            )
        return np.asarray([float(loads.get(name, 0.0)) for name in self.loads])

    def stiffness(self, parameters: Mapping[str, float] | None = None) -> Any:
        """``K = Σ θ_t K_t`` for the given zone factors."""
        factors = self.parameter_values(parameters)
        matrix = self.stiffness_terms[0] * factors[0]
        for factor, term in zip(factors[1:], self.stiffness_terms[1:], strict=True):
            matrix = matrix + factor * term
        return matrix.tocsr()

    def factorization(self, parameters: Mapping[str, float] | None = None) -> Any:
        """A sparse LU of the stiffness on the free dofs, kept for the last two parameter sets."""
        import scipy.sparse.linalg as spla  # type: ignore[import-untyped, unused-ignore]

        key = tuple(self.parameter_values(parameters).tolist())
        if key in self._factors:
            self._factors.move_to_end(key)
            return self._factors[key]
        matrix = self.stiffness(parameters)[self.free][:, self.free].tocsc()
        try:
            factor = spla.splu(matrix)  # COLAMD: the least fill on these meshes, measured
        except RuntimeError as error:
            raise SimulationError(
                f"the stiffness matrix is singular ({error}): the supports do not hold the "
                f"body against every rigid motion (supports: {dict(self.problem.supports)})",
                where="supports",
            ) from error
        self._factors[key] = factor
        while len(self._factors) > 2:
            self._factors.popitem(last=False)
        return factor

    def release(self) -> None:
        """Drop the kept factorizations (they are rebuilt on the next solve)."""
        self._factors.clear()

    def solve_vector(
        self, load: FloatArray, parameters: Mapping[str, float] | None = None
    ) -> FloatArray:
        """Displacement under a load vector (held dofs are zero)."""
        u = np.zeros(self.ndof)
        u[self.free] = self.factorization(parameters).solve(load[self.free])
        if not np.all(np.isfinite(u)):
            raise SimulationError("the elastic solve gave non-finite displacements", where="solve")
        return u

    def load_vector(self, loads: Mapping[str, float]) -> FloatArray:
        """``f = Σ μ_i f_i`` for the named load factors (absent ones are 0)."""
        factors = self.load_values(loads)
        f = np.zeros(self.ndof)
        for factor, vector in zip(factors, self.loads.values(), strict=True):
            if factor:
                f += factor * vector
        return f

    def solve(
        self, loads: Mapping[str, float], parameters: Mapping[str, float] | None = None
    ) -> ElasticSolution:
        """Solve for the named load factors and zone parameters."""
        u = self.solve_vector(self.load_vector(loads), parameters)
        return ElasticSolution(self, u, self.parameter_values(parameters))

    # --- stresses and outputs ------------------------------------------------------------------

    def stress_terms(self, u: FloatArray, nodes: IntArray | None = None) -> FloatArray:
        """Nodal stresses of each stiffness term at unit factor: ``[term, node, voigt]``.

        Voigt order ``xx, yy, zz, yz, xz, xy``. Element stresses at each element's own nodes
        are averaged over the elements sharing a node; the stress at factors ``θ`` is
        ``Σ θ_t terms[t]``. ``u`` may hold several fields as columns ``(ndof, m)``, giving
        ``[term, node, voigt, m]``; ``nodes`` restricts the result (and the work) to them.
        """
        import scipy.sparse as sp  # type: ignore[import-untyped, unused-ignore]

        fields = u.reshape(self.ndof, -1)
        element_nodes = self.space.element_nodes
        elements = np.arange(element_nodes.shape[0])
        if nodes is not None:
            elements = np.flatnonzero(np.isin(element_nodes, nodes).any(axis=1))
        counts = np.bincount(element_nodes.ravel(), minlength=self.space.n_nodes)
        flat_nodes = element_nodes[elements].ravel()
        term_of = np.repeat(self.element_term[elements], element_nodes.shape[1])
        averages = [
            sp.csr_matrix(
                ((term_of == t) / counts[flat_nodes], (flat_nodes, np.arange(len(flat_nodes)))),
                shape=(self.space.n_nodes, len(flat_nodes)),
            )
            for t in range(len(self.terms))
        ]
        rows = np.arange(self.space.n_nodes) if nodes is None else np.asarray(nodes)
        out = np.empty((len(self.terms), len(rows), 6, fields.shape[1]))
        chunk = 8
        for start in range(0, fields.shape[1], chunk):
            part = fields[:, start : start + chunk]
            stress = self._element_node_stress(part, elements)  # (m, e, k, 6)
            flat = np.moveaxis(stress, 0, -1).reshape(len(flat_nodes), -1)
            for t, average in enumerate(averages):
                out[t, :, :, start : start + chunk] = (average @ flat)[rows].reshape(
                    len(rows), 6, -1
                )
        return out[..., 0] if u.ndim == 1 else out

    def _element_node_stress(self, fields: FloatArray, elements: IntArray) -> FloatArray:
        """Stress (Voigt) of each field at each element's nodes: ``[field, element, node, 6]``."""
        if self._node_gradients is None:
            self._node_gradients = self.space.node_gradients()
        g = self._node_gradients[:, :, elements, :]
        ue = fields.reshape(self.space.n_nodes, self.dim, -1)[self.space.element_nodes[elements]]
        grad = np.einsum("aiek,eajm->mekij", g, ue, optimize=True)
        strain = 0.5 * (grad + np.swapaxes(grad, -1, -2))
        lam, mu = self._lame
        volumetric = np.trace(strain, axis1=-2, axis2=-1)
        sigma = 2 * mu * strain + lam * volumetric[..., None, None] * np.eye(self.dim)
        voigt = np.zeros((*strain.shape[:-2], 6))
        if self.dim == 3:
            voigt[..., :3] = sigma[..., [0, 1, 2], [0, 1, 2]]
            voigt[..., 3], voigt[..., 4], voigt[..., 5] = (
                sigma[..., 1, 2],
                sigma[..., 0, 2],
                sigma[..., 0, 1],
            )
        else:
            voigt[..., 0], voigt[..., 1], voigt[..., 5] = (
                sigma[..., 0, 0],
                sigma[..., 1, 1],
                sigma[..., 0, 1],
            )
            if self.problem.plane == "strain":
                voigt[..., 2] = self._lame_3d[0] * volumetric
        return voigt

    def outputs(self, u: FloatArray, factors: FloatArray) -> dict[str, float]:
        """Every output of a displacement field at the given term factors."""
        values = {name: float(vector @ u) for name, vector in self.functionals.items()}
        stress = np.einsum("t,tnc->nc", factors, self.stress_terms(u))
        values[MAX_VON_MISES] = float(von_mises(stress).max())
        return values


def von_mises(stress: FloatArray) -> FloatArray:
    """Von Mises equivalent stress of Voigt rows ``xx, yy, zz, yz, xz, xy``."""
    s = np.asarray(stress, dtype=np.float64)
    normal = (
        (s[..., 0] - s[..., 1]) ** 2 + (s[..., 1] - s[..., 2]) ** 2 + (s[..., 2] - s[..., 0]) ** 2
    )
    shear = s[..., 3] ** 2 + s[..., 4] ** 2 + s[..., 5] ** 2
    return np.sqrt(0.5 * normal + 3.0 * shear)


@dataclass(frozen=True, slots=True, eq=False)
class ElasticSolution:
    """A displacement field with what is read from it: outputs, stresses, fields for display."""

    system: ElasticSystem
    displacement: FloatArray
    factors: FloatArray

    @property
    def nodal_displacement(self) -> FloatArray:
        """Displacement per node, ``(n_nodes, dim)``."""
        return self.displacement.reshape(-1, self.system.dim)

    @property
    def vertex_displacement(self) -> FloatArray:
        """Displacement per mesh vertex, ``(n_vertices, dim)`` (for display and .vtu)."""
        return self.nodal_displacement[self.system.space.vertex_nodes]

    def stress(self) -> FloatArray:
        """Nodal stress, Voigt ``(n_nodes, 6)``."""
        stress = np.einsum("t,tnc->nc", self.factors, self.system.stress_terms(self.displacement))
        return np.asarray(stress, dtype=np.float64)

    def von_mises(self) -> FloatArray:
        """Nodal von Mises stress (Pa)."""
        return von_mises(self.stress())

    def outputs(self) -> dict[str, float]:
        return self.system.outputs(self.displacement, self.factors)

    def output(self, output: Output) -> float:
        """One more output, not declared in the problem (e.g. a gauge placed afterwards)."""
        functional = output_functional(self.system.problem, self.system.space, output, "output")
        return float(functional @ self.displacement)

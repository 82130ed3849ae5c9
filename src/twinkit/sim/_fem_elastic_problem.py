"""What a linear elastic problem is made of: material, loads, outputs, supports, zones.

These are plain definitions; :class:`~twinkit.sim._fem_elastic.ElasticSystem` assembles them.
Loads are unit load cases scaled by a factor at solve time (a 1 N :class:`SurfaceForce` scaled
by a load cell's reading); outputs are linear functionals of the displacement: the mean
deflection of a boundary, a displacement at a point, a strain gauge's reading in microstrain.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from twinkit.errors import ValidationError
from twinkit.sim._fem_mesh import FemMesh
from twinkit.sim._fem_ops import AXES, ScalarSpace

__all__ = [
    "MAX_VON_MISES",
    "STEEL",
    "BodyForce",
    "Deflection",
    "ElasticProblem",
    "Gravity",
    "Load",
    "Material",
    "Output",
    "PointDisplacement",
    "PointForce",
    "StrainGauge",
    "SurfaceForce",
    "Traction",
    "check_axis",
    "check_vector",
    "load_vector",
    "output_functional",
]

FloatArray = npt.NDArray[np.float64]
MAX_VON_MISES = "max_von_mises"


@dataclass(frozen=True, slots=True)
class Material:
    """An isotropic linear elastic material: Young's modulus (Pa), Poisson's ratio, density."""

    youngs_modulus: float
    poisson_ratio: float
    density: float = 0.0

    def __post_init__(self) -> None:
        checks = (
            ("youngs_modulus", self.youngs_modulus, self.youngs_modulus > 0, "> 0 (Pa)"),
            ("poisson_ratio", self.poisson_ratio, -1 < self.poisson_ratio < 0.5, "in (-1, 0.5)"),
            ("density", self.density, self.density >= 0, ">= 0 (kg/m³)"),
        )
        for name, value, ok, expected in checks:
            if not (isinstance(value, (int, float)) and math.isfinite(value) and ok):
                raise ValidationError(
                    f"invalid material {name}",
                    path=f"material/{name}",
                    expected=f"a finite number {expected}",
                    got=value,
                )

    def lame(self, plane: str | None = None) -> tuple[float, float]:
        """Lamé's λ and μ; with ``plane="stress"`` the λ of plane stress."""
        e, nu = self.youngs_modulus, self.poisson_ratio
        lam, mu = e * nu / ((1 + nu) * (1 - 2 * nu)), e / (2 * (1 + nu))
        return (2 * lam * mu / (lam + 2 * mu), mu) if plane == "stress" else (lam, mu)


STEEL = Material(youngs_modulus=210e9, poisson_ratio=0.3, density=7850.0)


@dataclass(frozen=True, slots=True)
class Traction:
    """A surface traction (Pa, one component per axis) on a named boundary."""

    boundary: str
    traction: Sequence[float]


@dataclass(frozen=True, slots=True)
class SurfaceForce:
    """A total force (N) spread evenly over a named boundary: a patch load."""

    boundary: str
    force: Sequence[float]


@dataclass(frozen=True, slots=True)
class BodyForce:
    """A force per volume (N/m³) over the whole body."""

    force_density: Sequence[float]


@dataclass(frozen=True, slots=True)
class Gravity:
    """The material's weight under an acceleration (m/s²)."""

    acceleration: Sequence[float] = (0.0, 0.0, -9.81)


@dataclass(frozen=True, slots=True)
class PointForce:
    """A force (N) on the mesh node nearest to a point."""

    point: Sequence[float]
    force: Sequence[float]


Load: TypeAlias = Traction | SurfaceForce | BodyForce | Gravity | PointForce


@dataclass(frozen=True, slots=True)
class Deflection:
    """Displacement along an axis (m), averaged over a named boundary (e.g. a beam's tip)."""

    boundary: str
    axis: str = "z"


@dataclass(frozen=True, slots=True)
class PointDisplacement:
    """Displacement along an axis (m) at a point."""

    point: Sequence[float]
    axis: str = "z"


@dataclass(frozen=True, slots=True)
class StrainGauge:
    """Normal strain along ``direction`` at a point, in microstrain (as a gauge reads it)."""

    point: Sequence[float]
    direction: Sequence[float] = (1.0, 0.0, 0.0)


Output: TypeAlias = Deflection | PointDisplacement | StrainGauge


@dataclass(frozen=True, slots=True)
class ElasticProblem:
    """A linear elastic problem; see the module docstring.

    ``supports`` maps a boundary to the components held at zero there (``"xyz"`` clamps it,
    ``"x"`` is a symmetry plane normal to x). ``zones`` maps a parameter name to a subdomain
    whose stiffness it scales. ``thickness`` (2D only) scales stiffness and distributed loads.
    """

    mesh: FemMesh
    material: Material
    supports: Mapping[str, str]
    loads: Mapping[str, Load]
    outputs: Mapping[str, Output] = field(default_factory=dict)
    zones: Mapping[str, str] = field(default_factory=dict)
    order: int = 2
    plane: Literal["stress", "strain"] = "stress"
    thickness: float = 1.0

    def __post_init__(self) -> None:
        if not self.supports:
            raise ValidationError(
                "an elastic problem needs supports, or the body is free to move",
                path="supports",
                expected="at least one boundary with held components, e.g. {'fixed': 'xyz'}",
                got={},
            )
        if self.plane not in ("stress", "strain"):
            raise ValidationError(
                "unknown plane assumption",
                path="plane",
                expected="'stress' or 'strain'",
                got=self.plane,
            )
        if not (math.isfinite(self.thickness) and self.thickness > 0):
            raise ValidationError(
                "thickness must be positive",
                path="thickness",
                expected="> 0 (m)",
                got=self.thickness,
            )
        clash = sorted((set(self.outputs) & {MAX_VON_MISES}) | (set(self.loads) & set(self.zones)))
        if clash:
            raise ValidationError(
                "names used twice among loads, zones and outputs",
                path="outputs",
                expected=f"distinct names, none of them {MAX_VON_MISES!r}",
                got=clash,
            )


def check_vector(values: Sequence[float], dim: int, where: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (dim,) or not np.all(np.isfinite(array)):
        raise ValidationError(
            "a vector needs one finite component per mesh dimension",
            path=where,
            expected=f"{dim} finite numbers",
            got=list(np.atleast_1d(values)),
        )
    return array


def check_axis(axis: str, dim: int, where: str) -> int:
    if axis not in AXES or AXES[axis] >= dim:
        raise ValidationError(
            "unknown axis", path=where, expected=f"one of {list('xyz'[:dim])}", got=axis
        )
    return AXES[axis]


def load_vector(problem: ElasticProblem, space: ScalarSpace, load: Load, where: str) -> FloatArray:
    """The consistent nodal forces of one unit load case (``dof = dim * node + component``)."""
    d, mesh = space.dim, problem.mesh
    scale = problem.thickness if d == 2 else 1.0
    per_node: FloatArray
    if isinstance(load, Traction):
        vector = check_vector(load.traction, d, f"{where}/traction")
        per_node = np.outer(space.facet_integrals(mesh.boundary(load.boundary)), vector * scale)
    elif isinstance(load, SurfaceForce):
        vector = check_vector(load.force, d, f"{where}/force")
        weights = space.facet_integrals(mesh.boundary(load.boundary))
        per_node = np.outer(weights / weights.sum(), vector)
    elif isinstance(load, (BodyForce, Gravity)):
        if isinstance(load, BodyForce):
            vector = check_vector(load.force_density, d, f"{where}/force_density")
        else:
            vector = problem.material.density * check_vector(
                load.acceleration, d, f"{where}/acceleration"
            )
        per_node = np.outer(space.integrals(), vector * scale)
    elif isinstance(load, PointForce):
        per_node = np.zeros((space.n_nodes, d))
        per_node[space.nearest_node(load.point, f"{where}/point")] = check_vector(
            load.force, d, f"{where}/force"
        )
    else:
        raise ValidationError(
            "unknown load type",
            path=where,
            expected="Traction, SurfaceForce, BodyForce, Gravity or PointForce",
            got=type(load).__name__,
        )
    return np.ascontiguousarray(per_node.ravel())


def output_functional(
    problem: ElasticProblem, space: ScalarSpace, output: Output, where: str
) -> FloatArray:
    """The vector ``l`` of a linear output: its value for a displacement ``u`` is ``l @ u``."""
    d = space.dim
    vector = np.zeros((space.n_nodes, d))
    if isinstance(output, Deflection):
        axis = check_axis(output.axis, d, f"{where}/axis")
        weights = space.facet_integrals(problem.mesh.boundary(output.boundary))
        vector[:, axis] = weights / weights.sum()
    elif isinstance(output, PointDisplacement):
        axis = check_axis(output.axis, d, f"{where}/axis")
        nodes, values, _ = space.at_point(output.point, f"{where}/point")
        vector[nodes, axis] = values
    elif isinstance(output, StrainGauge):
        direction = check_vector(output.direction, d, f"{where}/direction")
        length = float(np.linalg.norm(direction))
        if length == 0:
            raise ValidationError(
                "a strain gauge needs a direction",
                path=f"{where}/direction",
                expected="a non-zero vector",
                got=list(direction),
            )
        direction = direction / length
        nodes, _, grads = space.at_point(output.point, f"{where}/point")
        vector[nodes] = 1e6 * np.outer(grads @ direction, direction)
    else:
        raise ValidationError(
            "unknown output type",
            path=where,
            expected="Deflection, PointDisplacement or StrainGauge",
            got=type(output).__name__,
        )
    return np.ascontiguousarray(vector.ravel())

"""Heat conduction with scikit-fem: steady and transient, 2D and 3D.

A :class:`HeatProblem` is a mesh, a conductivity, a volumetric source and boundary conditions
on named boundaries: fixed temperatures (Dirichlet), convection to an ambient temperature
(Robin: ``-k ∂T/∂n = h (T - T_amb)``) and heat fluxes into the body (Neumann). Every value
that may change while a twin runs is an input of the :class:`HeatSystem`, and the right-hand
side is affine in them:

- ``source`` (W/m³), ``<boundary>.temperature``, ``<boundary>.ambient`` and
  ``<boundary>.flux`` (W/m²), each defaulting to the problem's value.

Transient runs solve ``M dT/dt + K T = F`` with the θ-method: implicit Euler (θ = 1, the
default: no oscillation after a sudden change) or Crank-Nicolson (θ = ½, second order); the
factorization of ``M + θ Δt K`` is kept while the step stays the same.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from twinkit.errors import SimulationError, ValidationError
from twinkit.sim._fem_mesh import FemMesh
from twinkit.sim._fem_ops import ScalarSpace, assemble_blocks, scalar_space

__all__ = ["Convection", "HeatProblem", "HeatSystem", "Scheme"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Scheme = Literal["euler", "crank-nicolson"]
MAX_TEMPERATURE = "max_temperature"
MEAN_TEMPERATURE = "mean_temperature"


@dataclass(frozen=True, slots=True)
class Convection:
    """Convection to an ambient temperature with a film coefficient ``h`` (W/m²K)."""

    coefficient: float
    ambient: float


def _positive(value: float, where: str, unit: str, *, allow_zero: bool = False) -> None:
    ok = math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise ValidationError(
            f"{where} must be {'non-negative' if allow_zero else 'positive'}",
            path=where,
            expected=f"a finite number {'>=' if allow_zero else '>'} 0 ({unit})",
            got=value,
        )


@dataclass(frozen=True, slots=True)
class HeatProblem:
    """Heat conduction on a mesh; see the module docstring.

    ``density`` times ``specific_heat`` is the heat capacity a transient run needs. ``probes``
    names points whose temperature is an output. In 2D every quantity is per unit depth.
    """

    mesh: FemMesh
    conductivity: float
    source: float = 0.0
    fixed: Mapping[str, float] = field(default_factory=dict)
    convection: Mapping[str, Convection] = field(default_factory=dict)
    flux: Mapping[str, float] = field(default_factory=dict)
    density: float = 0.0
    specific_heat: float = 0.0
    probes: Mapping[str, Sequence[float]] = field(default_factory=dict)
    order: int = 1

    def __post_init__(self) -> None:
        _positive(self.conductivity, "conductivity", "W/(m K)")
        _positive(self.density, "density", "kg/m³", allow_zero=True)
        _positive(self.specific_heat, "specific_heat", "J/(kg K)", allow_zero=True)
        for name, conv in self.convection.items():
            _positive(conv.coefficient, f"convection/{name}/coefficient", "W/(m² K)")
        values = {"source": self.source, **self.fixed, **self.flux}
        values.update({f"{k}.ambient": c.ambient for k, c in self.convection.items()})
        for name, value in values.items():
            if not math.isfinite(value):
                raise ValidationError(
                    "heat problem values must be finite",
                    path=name,
                    expected="a finite number",
                    got=value,
                )
        if not self.fixed and not self.convection:
            raise ValidationError(
                "a heat problem needs a fixed temperature or convection somewhere, "
                "or its steady state is not unique",
                path="fixed",
                expected="at least one boundary in fixed or convection",
                got={},
            )


class HeatSystem:
    """The assembled heat problem: conductance ``K`` (with convection), capacity ``M``, loads."""

    def __init__(self, problem: HeatProblem) -> None:
        self.problem = problem
        self.space: ScalarSpace = scalar_space(problem.mesh, problem.order)
        n = self.space.n_nodes
        mesh = problem.mesh
        self.conductance = self._laplacian(problem.conductivity)
        self.capacity = self._mass(problem.density * problem.specific_heat)
        self.rhs_terms: dict[str, FloatArray] = {"source": self.space.integrals()}
        self.defaults: dict[str, float] = {"source": problem.source}
        for name, conv in problem.convection.items():
            facets = mesh.boundary(name)
            self.conductance = self.conductance + conv.coefficient * self.space.facet_mass(facets)
            self.rhs_terms[f"{name}.ambient"] = conv.coefficient * self.space.facet_integrals(
                facets
            )
            self.defaults[f"{name}.ambient"] = conv.ambient
        for name, value in problem.flux.items():
            self.rhs_terms[f"{name}.flux"] = self.space.facet_integrals(mesh.boundary(name))
            self.defaults[f"{name}.flux"] = value
        self.fixed_nodes: dict[str, IntArray] = {}
        for name, value in problem.fixed.items():
            self.fixed_nodes[name] = np.asarray(
                self.space.basis.get_dofs(facets=mesh.boundary(name)).flatten(), dtype=np.int64
            )
            self.defaults[f"{name}.temperature"] = value
        self.fixed = np.unique(np.concatenate([np.zeros(0, np.int64), *self.fixed_nodes.values()]))
        self.free = np.setdiff1d(np.arange(n), self.fixed).astype(np.int64)
        self.probes: dict[str, FloatArray] = {}
        for name, point in problem.probes.items():
            nodes, values, _ = self.space.at_point(point, f"probes/{name}")
            vector = np.zeros(n)
            vector[nodes] = values
            self.probes[name] = vector
        volume = self.space.integrals()
        self._mean = volume / volume.sum()
        self._factors: dict[tuple[float, float], tuple[Any, Any]] = {}

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(self.defaults)

    @property
    def output_names(self) -> tuple[str, ...]:
        return (*self.probes, MAX_TEMPERATURE, MEAN_TEMPERATURE)

    def _laplacian(self, k: float) -> Any:
        g, w = self.space.gradients, self.space.weights
        blocks = k * np.einsum("aieq,bieq->eab", g * w[None, None], g, optimize=True)
        return assemble_blocks(blocks, self.space.element_nodes, self.space.n_nodes)

    def _mass(self, c: float) -> Any:
        v, w = self.space.values, self.space.weights
        blocks = c * np.einsum("aeq,beq->eab", v * w[None], v, optimize=True)
        return assemble_blocks(blocks, self.space.element_nodes, self.space.n_nodes)

    def inputs(self, given: Mapping[str, float] | None = None) -> dict[str, float]:
        """Every input: the given ones (checked names), the problem's values for the rest."""
        values = dict(self.defaults)
        for name, value in (given or {}).items():
            if name not in values:
                raise ValidationError(
                    "unknown heat input",
                    path=f"inputs/{name}",
                    expected=f"one of {sorted(values)}",
                    got=name,
                )
            values[name] = float(value)
        return values

    def rhs(self, inputs: Mapping[str, float]) -> FloatArray:
        """The load vector ``F`` (sources, convection, fluxes) for the given inputs."""
        f = np.zeros(self.space.n_nodes)
        for name, vector in self.rhs_terms.items():
            f += inputs[name] * vector
        return f

    def boundary_temperatures(self, inputs: Mapping[str, float]) -> FloatArray:
        """Temperature on the fixed nodes (in the order of ``self.fixed``)."""
        values = np.zeros(self.space.n_nodes)
        for name, nodes in self.fixed_nodes.items():
            values[nodes] = inputs[f"{name}.temperature"]
        return np.asarray(values[self.fixed], dtype=np.float64)

    def steady(self, inputs: Mapping[str, float] | None = None) -> FloatArray:
        """The steady temperature field (``K T = F``)."""
        values = self.inputs(inputs)
        return self._solve(0.0, 1.0, self.rhs(values), self.boundary_temperatures(values))

    def step(
        self,
        temperature: FloatArray,
        dt: float,
        inputs: Mapping[str, float],
        scheme: Scheme = "euler",
    ) -> FloatArray:
        """One θ-method step of length ``dt`` from ``temperature``, inputs held over it."""
        if self.problem.density * self.problem.specific_heat <= 0:
            raise ValidationError(
                "a transient heat run needs a heat capacity",
                path="density",
                expected="density > 0 and specific_heat > 0",
                got={"density": self.problem.density, "specific_heat": self.problem.specific_heat},
            )
        if scheme not in ("euler", "crank-nicolson"):
            raise ValidationError(
                "unknown time scheme",
                path="scheme",
                expected="'euler' or 'crank-nicolson'",
                got=scheme,
            )
        if not (math.isfinite(dt) and dt > 0):
            raise ValidationError(
                "a time step must be positive", path="dt", expected="> 0 (s)", got=dt
            )
        theta = 1.0 if scheme == "euler" else 0.5
        values = self.inputs(inputs)
        explicit = self.capacity @ temperature
        if theta < 1:
            explicit -= ((1 - theta) * dt) * (self.conductance @ temperature)
        return self._solve(
            dt, theta, explicit + dt * self.rhs(values), self.boundary_temperatures(values)
        )

    def _solve(
        self, dt: float, theta: float, f: FloatArray, fixed_values: FloatArray
    ) -> FloatArray:
        """Solve ``(M/… + θ dt K) T = f`` with the fixed values; ``dt = 0`` is the steady ``K``."""
        factor, coupling = self._operator(dt, theta)
        t = np.zeros(self.space.n_nodes)
        t[self.fixed] = fixed_values
        t[self.free] = factor.solve(f[self.free] - coupling @ fixed_values)
        if not np.all(np.isfinite(t)):
            raise SimulationError("the heat solve gave non-finite temperatures", where="heat")
        return t

    def _operator(self, dt: float, theta: float) -> tuple[Any, Any]:
        import scipy.sparse.linalg as spla  # type: ignore[import-untyped, unused-ignore]

        key = (dt, theta)
        if key not in self._factors:
            matrix = (
                self.conductance if dt == 0 else self.capacity + (theta * dt) * self.conductance
            )
            matrix = matrix.tocsr()
            rows = matrix[self.free]
            factor = spla.splu(rows[:, self.free].tocsc())
            if len(self._factors) >= 2:  # keep the steady operator and the current step's
                self._factors.pop(next(k for k in self._factors if k[0] != 0))
            self._factors[key] = (factor, rows[:, self.fixed].tocsr())
        return self._factors[key]

    def release(self) -> None:
        """Drop the kept factorizations (they are rebuilt on the next solve)."""
        self._factors.clear()

    def outputs(self, temperature: FloatArray) -> dict[str, float]:
        """Probe temperatures, the largest nodal temperature and the volume mean."""
        values = {name: float(vector @ temperature) for name, vector in self.probes.items()}
        values[MAX_TEMPERATURE] = float(temperature.max())
        values[MEAN_TEMPERATURE] = float(self._mean @ temperature)
        return values

    def vertex_values(self, temperature: FloatArray) -> FloatArray:
        """The field at the mesh vertices (for display and .vtu)."""
        return temperature[self.space.vertex_nodes]

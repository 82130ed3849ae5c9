"""POD reduced-order models of a linear elastic structure, evaluated in microseconds.

A :class:`Rom` is a Galerkin projection of an :class:`~twinkit.sim._fem_elastic.ElasticSystem`
onto ``r`` POD modes ``V`` (trained by :func:`twinkit.sim._rom_train.train_rom`). Because the
full operators are affine in the loads and the zone stiffness factors, every term is projected
once, offline: ``K_r(θ) = Σ θ_t Vᵀ K_t V``, ``f_r(μ) = Σ μ_i Vᵀ f_i``, outputs ``Vᵀ l`` and the
stresses of each mode at the hot-spot nodes where the largest von Mises stress is found. An
evaluation never touches an array of the full size: ``r`` is a few tens.

Error estimate: the residual ``res = f - K(θ) V a`` measured in the dual norm of a reference
stiffness ``X = K(θ_low)`` (all factors at the low end of their training range) bounds the
energy-norm error, ``‖u - V a‖_K(θ) ≤ ‖res‖_X⁻¹``, because ``K(θ) ⪰ X`` for every θ in range. Its
square is a quadratic form in ``(μ, θ ⊗ a)`` whose Gram matrix is computed offline, so the
bound too costs microseconds; its effectivity lies between 1 and ``sqrt(max θ/θ_low)``. Each
linear output gets ``|l(e)| ≤ ‖l‖_X⁻¹ · bound``. Training validates both against full solves
on held-out cases (:class:`RomValidation`).

For a fixed θ (a twin between recalibrations) everything collapses to operators on the load
factors, cached: an evaluation is then a few tiny matrix-vector products.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from twinkit.errors import SimulationError, ValidationError
from twinkit.sim._fem import StaticState, check_states, check_time
from twinkit.sim._fem_elastic import von_mises
from twinkit.sim._fem_elastic_problem import MAX_VON_MISES
from twinkit.sim._fem_export import Surface
from twinkit.sim._protocol import Causality, Variable, check_inputs, check_parameters

__all__ = ["ROM_ERROR_BOUND", "Rom", "RomEvaluation", "RomSimulator", "RomValidation"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ROM_ERROR_BOUND = "rom_error_bound"
_FORMAT = 1
# von Mises² of Voigt stresses (xx, yy, zz, yz, xz, xy) as a quadratic form sᵀ P s
_VON_MISES = np.diag([1.0, 1.0, 1.0, 3.0, 3.0, 3.0])
_VON_MISES[:3, :3] -= 0.5 * (1 - np.eye(3))


@dataclass(frozen=True, slots=True)
class RomValidation:
    """How a ROM did against full solves on held-out cases (relative errors, worst case).

    ``effectivity`` is bound / true energy-norm error (at least 1 where the bound holds);
    ``field_per_bound`` the largest ratio of the true relative field error to the relative
    bound, a calibration of the bound for the displacement field.
    """

    cases: int
    max_field_error: float
    max_energy_error: float
    max_output_error: Mapping[str, float]
    min_effectivity: float
    max_effectivity: float
    field_per_bound: float


@dataclass(frozen=True, slots=True, eq=False)
class RomEvaluation:
    """One evaluation: reduced coordinates, outputs and the a-posteriori error bounds.

    ``error_bound`` bounds the energy-norm error of the displacement; ``relative_error_bound``
    is it over the energy norm of the reduced solution; ``output_bounds`` bound each linear
    output's error (in its unit).
    """

    coefficients: FloatArray
    factors: FloatArray
    outputs: Mapping[str, float]
    error_bound: float
    relative_error_bound: float
    output_bounds: Mapping[str, float]


@dataclass(slots=True, eq=False)
class _Online:
    """Operators on the load factors for one θ: everything an evaluation needs."""

    factors: FloatArray
    solution: FloatArray  # a = solution @ μ
    outputs: FloatArray
    von_mises: FloatArray  # (hot spots * loads, loads): von Mises² at each spot = μᵀ Q_h μ
    residual: FloatArray  # ‖res‖² = μᵀ residual μ
    energy: FloatArray  # ‖V a‖²_K = μᵀ energy μ


@dataclass(frozen=True, slots=True, eq=False)
class Rom:
    """A trained reduced-order model; see the module docstring. Save with :meth:`save`."""

    basis: FloatArray  # (ndof, r)
    stiffness: FloatArray  # (terms, r, r)
    loads: FloatArray  # (loads, r)
    functionals: FloatArray  # (outputs, r)
    hot_nodes: IntArray  # (h,)
    hot_stress: FloatArray  # (terms, h, 6, r)
    gram: FloatArray  # (loads + terms * r, same)
    output_duals: FloatArray  # (outputs,)
    ranges: FloatArray  # (parameters, 2)
    vertex_nodes: IntArray  # (vertices,)
    surface_points: FloatArray
    surface_triangles: IntArray
    surface_nodes: IntArray
    surface_stress: FloatArray  # (terms, surface points, 6, r)
    singular_values: FloatArray
    meta: dict[str, Any] = field(default_factory=dict)
    validation: RomValidation | None = None
    _cache: dict[str, _Online] = field(default_factory=dict, compare=False, repr=False)

    @property
    def rank(self) -> int:
        return int(self.basis.shape[1])

    @property
    def dim(self) -> int:
        return int(self.meta["dim"])

    @property
    def load_names(self) -> tuple[str, ...]:
        return tuple(self.meta["loads"])

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(self.meta["parameters"])

    @property
    def output_names(self) -> tuple[str, ...]:
        return (*self.meta["outputs"], MAX_VON_MISES)

    # --- evaluation ------------------------------------------------------------------------

    def factors(self, parameters: Mapping[str, float] | None = None) -> FloatArray:
        """The stiffness-term factors ``(1, θ...)``, checked against the training ranges."""
        given = dict(parameters or {})
        names = self.parameter_names
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise ValidationError(
                "unknown ROM parameter",
                path=f"parameters/{unknown[0]}",
                expected=f"one of {list(names)}",
                got=unknown,
            )
        values = np.array([1.0] + [float(given.get(n, 1.0)) for n in names])
        for name, value, (low, high) in zip(names, values[1:], self.ranges, strict=True):
            if not low - 1e-12 <= value <= high + 1e-12:
                raise ValidationError(
                    f"parameter {name!r} is outside the range the ROM was trained on",
                    path=f"parameters/{name}",
                    expected=f"{low:g} <= value <= {high:g}",
                    got=value,
                )
        return values

    def load_factors(self, loads: Mapping[str, float]) -> FloatArray:
        names = self.load_names
        unknown = sorted(set(loads) - set(names))
        if unknown:
            raise ValidationError(
                "unknown ROM load",
                path=f"loads/{unknown[0]}",
                expected=f"one of {list(names)}",
                got=unknown,
            )
        return np.array([float(loads.get(n, 0.0)) for n in names])

    def evaluate(
        self, loads: Mapping[str, float], parameters: Mapping[str, float] | None = None
    ) -> RomEvaluation:
        """Reduced solution, outputs and error bounds for named load factors and parameters."""
        return self.evaluate_factors(self.load_factors(loads), self.factors(parameters))

    def evaluate_factors(self, mu: FloatArray, factors: FloatArray) -> RomEvaluation:
        """:meth:`evaluate` on arrays: load factors ``μ`` and term factors ``(1, θ...)``."""
        online = self._online_for(factors)
        a = online.solution @ mu
        values = online.outputs @ mu
        bound = math.sqrt(max(float(mu @ online.residual @ mu), 0.0))
        energy = math.sqrt(max(float(mu @ online.energy @ mu), 0.0))
        names = self.meta["outputs"]
        outputs = dict(zip(names, values.tolist(), strict=True))
        squared = (online.von_mises @ mu).reshape(-1, len(mu)) @ mu
        outputs[MAX_VON_MISES] = math.sqrt(max(float(squared.max()), 0.0)) if len(squared) else 0.0
        return RomEvaluation(
            coefficients=a,
            factors=factors,
            outputs=outputs,
            error_bound=bound,
            relative_error_bound=bound / energy if energy > 0 else 0.0,
            output_bounds=dict(zip(names, (self.output_duals * bound).tolist(), strict=True)),
        )

    def _online_for(self, factors: FloatArray) -> _Online:
        online = self._cache.get("online")
        if online is not None and np.array_equal(online.factors, factors):
            return online
        stiffness = np.tensordot(factors, self.stiffness, axes=1)
        solution = np.asarray(np.linalg.solve(stiffness, self.loads.T), dtype=np.float64)
        n_loads = self.loads.shape[0]
        # residual coefficients c = [μ; -θ_t a] = R μ, and ‖res‖² = cᵀ G c
        lift = np.vstack([np.eye(n_loads), *(-f * solution for f in factors)])
        stress = np.tensordot(factors, self.hot_stress, axes=1) @ solution  # (h, 6, loads)
        forms = np.swapaxes(stress, 1, 2) @ (_VON_MISES @ stress)  # (h, loads, loads)
        online = _Online(
            factors=factors.copy(),
            solution=solution,
            outputs=self.functionals @ solution,
            von_mises=forms.reshape(-1, n_loads),
            residual=lift.T @ self.gram @ lift,
            energy=solution.T @ stiffness @ solution,
        )
        self._cache["online"] = online
        return online

    # --- fields ------------------------------------------------------------------------------

    def reconstruct(self, evaluation: RomEvaluation | FloatArray) -> FloatArray:
        """The full displacement vector (``dof = dim * node + component``), for display."""
        a = evaluation.coefficients if isinstance(evaluation, RomEvaluation) else evaluation
        return self.basis @ a

    def vertex_displacement(self, evaluation: RomEvaluation) -> FloatArray:
        """Displacement at every mesh vertex, ``(n_vertices, dim)``."""
        rows = (self.dim * self.vertex_nodes[:, None] + np.arange(self.dim)).ravel()
        moved = self.basis[rows] @ evaluation.coefficients
        return np.asarray(moved, dtype=np.float64).reshape(-1, self.dim)

    def surface_field(self, evaluation: RomEvaluation, quantity: str = "von_mises") -> Surface:
        """The mesh surface coloured by ``von_mises`` (Pa) or ``displacement`` magnitude (m)."""
        nodes = self.surface_nodes
        if quantity == "von_mises":
            stress = (
                np.tensordot(evaluation.factors, self.surface_stress, axes=1)
                @ evaluation.coefficients
            )
            values = von_mises(stress)
        elif quantity == "displacement":
            rows = (self.dim * nodes[:, None] + np.arange(self.dim)).ravel()
            moved = (self.basis[rows] @ evaluation.coefficients).reshape(-1, self.dim)
            values = np.linalg.norm(moved, axis=1)
        else:
            raise ValidationError(
                "unknown surface quantity",
                path="quantity",
                expected="'von_mises' or 'displacement'",
                got=quantity,
            )
        return Surface(nodes, self.surface_points, self.surface_triangles, values)

    # --- storage -------------------------------------------------------------------------------

    _ARRAYS = (
        "basis", "stiffness", "loads", "functionals", "hot_nodes", "hot_stress", "gram",
        "output_duals", "ranges", "vertex_nodes", "surface_points", "surface_triangles",
        "surface_nodes", "surface_stress", "singular_values",
    )  # fmt: skip

    def save(self, path: str | Path) -> Path:
        """Write the ROM to a compressed ``.npz`` (no pickles) that :meth:`load` reads."""
        target = Path(path)
        header = {
            "format": _FORMAT,
            "meta": self.meta,
            "validation": None if self.validation is None else asdict(self.validation),
        }
        arrays = {name: getattr(self, name) for name in self._ARRAYS}
        with target.open("wb") as handle:
            np.savez_compressed(handle, header=np.array(json.dumps(header)), **arrays)
        return target

    @classmethod
    def load(cls, path: str | Path) -> Rom:
        """Read a ROM written by :meth:`save`."""
        where = str(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                arrays: dict[str, Any] = {name: np.array(data[name]) for name in cls._ARRAYS}
        except (OSError, KeyError, ValueError) as error:
            raise ValidationError(
                f"not a twinkit ROM file: {error}",
                path=where,
                expected="a .npz written by Rom.save",
                got=where,
            ) from error
        if header.get("format") != _FORMAT:
            raise ValidationError(
                "unsupported ROM file format",
                path=where,
                expected=f"format {_FORMAT}",
                got=header.get("format"),
            )
        validation = header["validation"]
        return cls(
            **arrays,
            meta=header["meta"],
            validation=None if validation is None else RomValidation(**validation),
        )


class RomSimulator:
    """A :class:`Rom` as a Simulator: the same variables as the full model, plus the bound.

    Outputs are the model's outputs, ``max_von_mises`` (over the hot spots) and
    ``rom_error_bound`` (the relative energy-norm error bound of the step). Parameters must
    stay in the training ranges.
    """

    def __init__(self, rom: Rom) -> None:
        self.rom = rom
        self._variables = (
            *(
                Variable(n, Causality.PARAMETER, 1.0, "1", "stiffness factor of a zone")
                for n in rom.parameter_names
            ),
            *(
                Variable(n, Causality.INPUT, 0.0, "1", "factor of a unit load")
                for n in rom.load_names
            ),
            *(Variable(n, Causality.OUTPUT) for n in (*rom.output_names, ROM_ERROR_BOUND)),
        )
        self._t: float | None = None
        self._factors = np.ones(1 + len(rom.parameter_names))
        self._loads = np.zeros(len(rom.load_names))
        self._last: RomEvaluation | None = None

    @property
    def variables(self) -> Sequence[Variable]:
        return self._variables

    @property
    def evaluation(self) -> RomEvaluation | None:
        """The last evaluation (reconstruct a field from it for display)."""
        return self._last

    def initialize(
        self,
        t0: float,
        parameters: Mapping[str, float] | None = None,
        state: Mapping[str, float] | None = None,
    ) -> Mapping[str, float]:
        where = type(self).__name__
        check_states(state, (), where)
        self._factors = self.rom.factors(check_parameters(self._variables, parameters, where))
        self._t = float(t0)
        return self._evaluate(check_inputs(self._variables, {}, where))

    def step(self, t: float, dt: float, inputs: Mapping[str, float]) -> Mapping[str, float]:
        where = type(self).__name__
        check_time(self._t, t, dt, where)
        outputs = self._evaluate(check_inputs(self._variables, inputs, f"{where}/inputs"))
        self._t = t + dt
        return outputs

    def _evaluate(self, loads: Mapping[str, float]) -> dict[str, float]:
        self._loads = self.rom.load_factors(loads)
        self._last = self.rom.evaluate_factors(self._loads, self._factors)
        return {**self._last.outputs, ROM_ERROR_BOUND: self._last.relative_error_bound}

    def get_state(self) -> StaticState:
        if self._t is None:
            raise SimulationError("get_state called before initialize", where=type(self).__name__)
        return StaticState(
            self._t,
            tuple(zip(self.rom.parameter_names, self._factors[1:].tolist(), strict=True)),
            tuple(zip(self.rom.load_names, self._loads.tolist(), strict=True)),
        )

    def set_state(self, state: object) -> None:
        names = set(self.rom.parameter_names)
        if not isinstance(state, StaticState) or {k for k, _ in state.parameters} != names:
            raise ValidationError(
                "not a state of this ROM simulator",
                path=f"{type(self).__name__}/state",
                expected=f"a StaticState with parameters {sorted(names)}",
                got=type(state).__name__,
            )
        self._t = state.t
        self._factors = self.rom.factors(dict(state.parameters))
        self._loads = self.rom.load_factors(dict(state.loads))
        self._last = self.rom.evaluate_factors(self._loads, self._factors)

    def close(self) -> None:
        self._last = None

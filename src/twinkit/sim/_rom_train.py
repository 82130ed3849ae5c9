"""Training and validation of POD reduced-order models (:mod:`twinkit.sim._rom`).

Snapshots come from full solves: for each sampled set of zone stiffness factors θ (the two
corners of the ranges and a Latin hypercube inside), one factorization and one
back-substitution per unit load, which spans every load combination at that θ exactly (the
loads enter linearly). The snapshots, each scaled to unit norm so every load case counts, are
compressed by an SVD; the basis keeps the modes whose discarded energy is below
``tolerance²``. Held-out cases (random loads and parameters) are then solved both ways to
measure the errors and calibrate the bound.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from twinkit.errors import ValidationError
from twinkit.sim._fem_elastic import ElasticSystem, von_mises
from twinkit.sim._fem_export import surface
from twinkit.sim._rom import Rom, RomValidation

__all__ = ["RomCase", "sample_cases", "train_rom", "validate_rom"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Progress = Callable[[float], None]
Ranges = Mapping[str, tuple[float, float]]


@dataclass(frozen=True, slots=True)
class RomCase:
    """One load case: load factors and zone parameters."""

    loads: Mapping[str, float]
    parameters: Mapping[str, float] = field(default_factory=dict)


def _check_ranges(
    ranges: Ranges, known: Sequence[str], what: str, *, positive: bool
) -> dict[str, tuple[float, float]]:
    checked: dict[str, tuple[float, float]] = {}
    for name, pair in ranges.items():
        if name not in known:
            raise ValidationError(
                f"unknown {what} in ranges",
                path=f"ranges/{name}",
                expected=f"one of {list(known)}",
                got=name,
            )
        low, high = (float(v) for v in pair)
        if not (
            math.isfinite(low) and math.isfinite(high) and low <= high and (low > 0 or not positive)
        ):
            raise ValidationError(
                f"invalid range of {what} {name!r}",
                path=f"ranges/{name}",
                expected="(low, high) with low <= high" + (", low > 0" if positive else ""),
                got=pair,
            )
        checked[name] = (low, high)
    return checked


def sample_cases(
    load_ranges: Ranges,
    parameter_ranges: Ranges | None = None,
    *,
    count: int,
    seed: int = 0,
) -> list[RomCase]:
    """``count`` cases on a Latin hypercube over the load and parameter ranges."""
    from scipy.stats import qmc  # type: ignore[import-untyped, unused-ignore]

    names = [*load_ranges, *(parameter_ranges or {})]
    bounds = np.array([*load_ranges.values(), *(parameter_ranges or {}).values()], dtype=np.float64)
    if count < 1 or not names:
        raise ValidationError(
            "sampling needs ranges and a count",
            path="count",
            expected="count >= 1 and some ranges",
            got=count,
        )
    unit = qmc.LatinHypercube(d=len(names), seed=np.random.default_rng(seed)).random(count)
    points = bounds[:, 0] + unit * (bounds[:, 1] - bounds[:, 0])
    n_loads = len(load_ranges)
    return [
        RomCase(
            loads=dict(zip(names[:n_loads], row[:n_loads].tolist(), strict=True)),
            parameters=dict(zip(names[n_loads:], row[n_loads:].tolist(), strict=True)),
        )
        for row in points
    ]


def _parameter_samples(
    system: ElasticSystem, ranges: Mapping[str, tuple[float, float]], samples: int, seed: int
) -> list[dict[str, float]]:
    names = system.parameter_names
    full = {n: ranges.get(n, (1.0, 1.0)) for n in names}
    varying = {n: r for n, r in full.items() if r[1] > r[0]}
    if not varying:
        return [{n: r[0] for n, r in full.items()}]
    corners = [{n: r[i] for n, r in full.items()} for i in (0, 1)]
    inner = sample_cases(varying, count=max(samples - 2, 1), seed=seed) if samples > 2 else []
    fixed = {n: r[0] for n, r in full.items() if n not in varying}
    return corners + [{**fixed, **case.loads} for case in inner]


@dataclass(frozen=True, slots=True)
class _Snapshots:
    """Full solutions: one column per (parameter sample, unit load)."""

    matrix: FloatArray
    thetas: list[dict[str, float]]

    def columns_of(self, sample: int, n_loads: int) -> slice:
        return slice(sample * n_loads, (sample + 1) * n_loads)


def train_rom(
    system: ElasticSystem,
    *,
    ranges: Ranges | None = None,
    samples: int = 6,
    tolerance: float = 1e-4,
    hot_spots: int = 16,
    validation: Sequence[RomCase] = (),
    seed: int = 0,
    progress: Progress | None = None,
) -> Rom:
    """Train a POD ROM of ``system`` over zone parameter ``ranges`` (absent ones stay at 1).

    ``samples`` parameter sets are solved for every unit load; ``tolerance`` is the relative
    POD projection error kept; ``hot_spots`` nodes of largest von Mises stress per snapshot
    become the stress sample points; ``validation`` cases are solved both ways afterwards.
    ``progress`` gets the fraction done.
    """
    if not (0 < tolerance < 1) or samples < 1 or hot_spots < 1:
        raise ValidationError(
            "invalid ROM training settings",
            path="train_rom",
            expected="0 < tolerance < 1, samples >= 1, hot_spots >= 1",
            got={"tolerance": tolerance, "samples": samples, "hot_spots": hot_spots},
        )
    checked = _check_ranges(ranges or {}, system.parameter_names, "parameter", positive=True)
    report = progress or (lambda fraction: None)
    started = time.perf_counter()
    thetas = _parameter_samples(system, checked, samples, seed)
    total = len(thetas) + 2 + len(validation)
    snapshots = _solve_snapshots(system, thetas, lambda i: report(i / total))
    basis, singular = _pod(snapshots.matrix, tolerance)
    low = {n: checked.get(n, (1.0, 1.0))[0] for n in system.parameter_names}
    gram, duals = _residual_gram(system, basis, low)
    report((len(thetas) + 1) / total)
    mode_stress = system.stress_terms(basis)  # (terms, nodes, 6, r)
    hot = _hot_nodes(system, basis, mode_stress, snapshots, hot_spots)
    rom = _assemble(system, basis, singular, mode_stress, hot=hot, gram=gram, duals=duals)
    rom = replace(rom, ranges=_range_array(system, checked))
    rom.meta.update(
        tolerance=tolerance,
        training_solves=int(snapshots.matrix.shape[1]),
        training_factorizations=len(thetas),
        training_seconds=time.perf_counter() - started,
    )
    report((len(thetas) + 2) / total)
    logger.info("trained a ROM of rank %d from %d snapshots", rom.rank, snapshots.matrix.shape[1])
    if not validation:
        return rom
    done = len(thetas) + 2
    result = validate_rom(
        rom, system, validation, progress=lambda f: report((done + f * len(validation)) / total)
    )
    return replace(rom, validation=result)


def _solve_snapshots(
    system: ElasticSystem, thetas: list[dict[str, float]], report: Callable[[int], None]
) -> _Snapshots:
    loads = np.asfortranarray(np.column_stack(list(system.loads.values()))[system.free])
    parts = []
    for index, theta in enumerate(thetas):
        solved = np.zeros((system.ndof, loads.shape[1]))
        solved[system.free] = system.factorization(theta).solve(loads)
        parts.append(solved)
        report(index + 1)
    return _Snapshots(np.hstack(parts), thetas)


def _pod(matrix: FloatArray, tolerance: float) -> tuple[FloatArray, FloatArray]:
    """The POD basis of the snapshots (each scaled to unit norm) and the singular values."""
    norms = np.linalg.norm(matrix, axis=0)
    modes, singular, _ = np.linalg.svd(
        matrix / np.where(norms > 0, norms, 1.0), full_matrices=False
    )
    # tail[i]: the share of snapshot energy left out when keeping i modes
    tail = np.append(np.cumsum((singular**2)[::-1])[::-1], 0.0) / np.sum(singular**2)
    rank = max(int(np.argmax(tail <= tolerance**2)), 1)
    return np.ascontiguousarray(modes[:, :rank]), np.asarray(singular, dtype=np.float64)


def _residual_gram(
    system: ElasticSystem, basis: FloatArray, low: Mapping[str, float]
) -> tuple[FloatArray, FloatArray]:
    """Gram matrix of the residual's parts in the ``X⁻¹`` norm, and the outputs' dual norms."""
    free = system.free
    parts = [np.column_stack(list(system.loads.values()))[free]]
    parts += [(term @ basis)[free] for term in system.stiffness_terms]
    columns = np.hstack(parts)
    factor = system.factorization(low)
    riesz = factor.solve(np.asfortranarray(columns))
    gram = columns.T @ riesz
    functionals = np.column_stack([*system.functionals.values(), np.zeros(system.ndof)])[free]
    duals = np.sqrt(
        np.maximum(
            np.einsum("ij,ij->j", functionals, factor.solve(np.asfortranarray(functionals))), 0.0
        )
    )
    return 0.5 * (gram + gram.T), duals[:-1]


def _assemble(
    system: ElasticSystem,
    basis: FloatArray,
    singular: FloatArray,
    mode_stress: FloatArray,
    *,
    hot: IntArray,
    gram: FloatArray,
    duals: FloatArray,
) -> Rom:
    """The ROM's reduced operators; ``mode_stress`` the nodal stresses of each mode."""
    skin = surface(system.problem.mesh)
    skin_nodes = system.space.vertex_nodes[skin.vertices]
    r = basis.shape[1]
    return Rom(
        basis=basis,
        stiffness=np.array([basis.T @ (term @ basis) for term in system.stiffness_terms]),
        loads=np.array([v @ basis for v in system.loads.values()]),
        functionals=np.array([v @ basis for v in system.functionals.values()]).reshape(-1, r),
        hot_nodes=hot,
        hot_stress=np.ascontiguousarray(mode_stress[:, hot]),
        gram=gram,
        output_duals=duals,
        ranges=_range_array(system, {}),
        vertex_nodes=system.space.vertex_nodes,
        surface_points=skin.points,
        surface_triangles=skin.triangles,
        surface_nodes=skin_nodes,
        surface_stress=np.ascontiguousarray(mode_stress[:, skin_nodes]),
        singular_values=singular,
        meta={
            "dim": system.dim,
            "loads": list(system.load_names),
            "parameters": list(system.parameter_names),
            "outputs": list(system.functionals),
            "ndof": system.ndof,
        },
    )


def _range_array(system: ElasticSystem, ranges: Mapping[str, tuple[float, float]]) -> FloatArray:
    pairs = [ranges.get(n, (1.0, 1.0)) for n in system.parameter_names]
    return np.array(pairs, dtype=np.float64).reshape(-1, 2)


def _hot_nodes(
    system: ElasticSystem,
    basis: FloatArray,
    mode_stress: FloatArray,
    snapshots: _Snapshots,
    count: int,
) -> IntArray:
    """Nodes of largest von Mises stress in every snapshot and in random load combinations.

    The stresses come from the modes' stresses and each snapshot's projection on the modes,
    not from one stress recovery over the mesh per snapshot.
    """
    coefficients = basis.T @ snapshots.matrix
    rng = np.random.default_rng(0)
    n_loads = len(system.loads)
    chosen: set[int] = set()
    for sample, theta in enumerate(snapshots.thetas):
        stress_modes = np.tensordot(system.parameter_values(theta), mode_stress, axes=1)
        columns = coefficients[:, snapshots.columns_of(sample, n_loads)]
        mixes = np.hstack([np.eye(n_loads), rng.normal(size=(n_loads, 4))])
        for mix in mixes.T:
            stress = stress_modes @ (columns @ mix)
            chosen.update(np.argsort(von_mises(stress))[-count:].tolist())
    return np.array(sorted(chosen), dtype=np.int64)


def validate_rom(
    rom: Rom,
    system: ElasticSystem,
    cases: Sequence[RomCase],
    *,
    progress: Progress | None = None,
) -> RomValidation:
    """Solve ``cases`` with the full model and the ROM; the worst relative errors.

    Output errors are relative to the full value, or to 0.1 % of the output's largest value
    over the cases where the full value is smaller (a gauge near its neutral axis).
    """
    field_errors, energy_errors, effectivities, calibration = [], [], [], []
    full_outputs: list[dict[str, float]] = []
    rom_outputs: list[Mapping[str, float]] = []
    for index, case in enumerate(cases):
        solution = system.solve(case.loads, case.parameters)
        evaluation = rom.evaluate(case.loads, case.parameters)
        error = rom.reconstruct(evaluation) - solution.displacement
        stiffness = system.stiffness(case.parameters)
        energy_error = math.sqrt(max(float(error @ (stiffness @ error)), 0.0))
        energy = math.sqrt(
            max(float(solution.displacement @ (stiffness @ solution.displacement)), 0.0)
        )
        field_error = float(
            np.linalg.norm(error) / max(float(np.linalg.norm(solution.displacement)), 1e-300)
        )
        field_errors.append(field_error)
        energy_errors.append(energy_error / max(energy, 1e-300))
        effectivities.append(evaluation.error_bound / max(energy_error, 1e-300))
        calibration.append(field_error / max(evaluation.relative_error_bound, 1e-300))
        full_outputs.append(solution.outputs())
        rom_outputs.append(evaluation.outputs)
        if progress is not None:
            progress((index + 1) / len(cases))
    output_errors = {}
    for name in rom.output_names:
        full = np.array([o[name] for o in full_outputs])
        reduced = np.array([o[name] for o in rom_outputs])
        floor = 1e-3 * float(np.abs(full).max()) if len(full) else 0.0
        output_errors[name] = float(
            (np.abs(reduced - full) / np.maximum(np.abs(full), max(floor, 1e-300))).max()
        )
    return RomValidation(
        cases=len(cases),
        max_field_error=max(field_errors, default=0.0),
        max_energy_error=max(energy_errors, default=0.0),
        max_output_error=output_errors,
        min_effectivity=min(effectivities, default=0.0),
        max_effectivity=max(effectivities, default=0.0),
        field_per_bound=max(calibration, default=0.0),
    )

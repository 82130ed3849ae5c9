"""FEA of a 3D cantilever against beam theory and CalculiX; a POD ROM against full solves.

The structure is a steel cantilever, L = 1 m with a 0.05 x 0.05 m section, clamped at x = 0,
meshed with 20-node hexahedra (100 x 6 x 6 elements: 55k degrees of freedom; ``--quick``
40 x 2 x 2). At L/h = 20 shear adds only 0.19 % to the Euler-Bernoulli deflection, so beam
theory is a fair reference; Timoshenko's (Cowper's shear factor) is printed next to it. The
same mesh is the bracket of the structural reference twin: a root zone (x < 0.2 m) whose
stiffness factor (0.5 to 1, damage) is a parameter, and four loads (tip forces along z, y, x
and the weight).

Figures, in the same run:

- tip deflection (mean over the tip face) under 1 kN down vs Euler-Bernoulli and Timoshenko,
  and vs CalculiX on the same mesh (C3D20, full integration, the same consistent nodal loads);
  wall time of each (scikit-fem: assembly, factorization, solve; CalculiX: its process, one
  thread like SuperLU);
- the ROM trained on ``--samples`` stiffness samples x 4 unit loads, tested on ``--heldout``
  cases drawn by Latin hypercube over loads and stiffness (none of them used in training):
  the largest relative error of the tip deflection, of every output and of the displacement
  field, and the effectivity of the error bound;
- the time of one ROM evaluation (outputs, max von Mises at the hot spots and the error bound),
  median over many, with the stiffness held and with it changing every call; of a full solve
  when only the loads change (one back-substitution with the kept factorization, outputs not
  included) and when the stiffness changes (assembly, factorization, solve); the speed-ups.

``fem_figures(quick)`` is what ``bench/sim.py`` calls; run alone this prints the same lines and,
last, a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from _machine import describe
from twinkit.sim._calculix import run_calculix
from twinkit.sim._fem_elastic import ElasticSystem
from twinkit.sim._fem_elastic_problem import (
    STEEL,
    Deflection,
    ElasticProblem,
    Gravity,
    StrainGauge,
    SurfaceForce,
)
from twinkit.sim._fem_mesh import box_mesh
from twinkit.sim._rom import Rom
from twinkit.sim._rom_train import sample_cases, train_rom

LENGTH, SIDE, FORCE = 1.0, 0.05, 1000.0
RANGES = {"root_stiffness": (0.5, 1.0)}
LOAD_RANGES = {
    "Fz": (-2000.0, 2000.0),
    "Fy": (-1000.0, 1000.0),
    "Fx": (-5e4, 5e4),
    "weight": (0.0, 1.0),
}


def bracket(divisions: tuple[int, int, int]) -> ElasticProblem:
    mesh = box_mesh((LENGTH, SIDE, SIDE), divisions=divisions)
    mesh = mesh.with_subdomains(root=lambda x: x[0] < 0.2)
    return ElasticProblem(
        mesh=mesh,
        material=STEEL,
        supports={"fixed": "xyz"},
        loads={
            "Fz": SurfaceForce("tip", (0.0, 0.0, 1.0)),
            "Fy": SurfaceForce("tip", (0.0, 1.0, 0.0)),
            "Fx": SurfaceForce("tip", (1.0, 0.0, 0.0)),
            "weight": Gravity(),
        },
        outputs={
            "tip_z": Deflection("tip", "z"),
            "tip_y": Deflection("tip", "y"),
            "gauge_top": StrainGauge((0.5, SIDE / 2, SIDE), (1.0, 0.0, 0.0)),
            "gauge_root": StrainGauge((0.1, SIDE / 2, SIDE), (1.0, 0.0, 0.0)),
            "gauge_side": StrainGauge((0.1, 0.0, SIDE / 2), (1.0, 1.0, 0.0)),
        },
        zones={"root_stiffness": "root"},
    )


def beam_theory() -> tuple[float, float]:
    """Tip deflection under FORCE by Euler-Bernoulli, and by Timoshenko (Cowper's factor)."""
    e, nu = STEEL.youngs_modulus, STEEL.poisson_ratio
    area, inertia = SIDE**2, SIDE**4 / 12
    bending = FORCE * LENGTH**3 / (3 * e * inertia)
    kappa = 10 * (1 + nu) / (12 + 11 * nu)
    shear = FORCE * LENGTH / (kappa * e / (2 * (1 + nu)) * area)
    return bending, bending + shear


def median_time(call: Callable[[], object], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        timings.append(time.perf_counter() - began)
    return statistics.median(timings)


def per_call(calls: list[Callable[[], object]], batches: int = 5) -> float:
    """Median over ``batches`` of the mean time per call of a batch of calls."""
    size = max(len(calls) // batches, 1)
    means = []
    for start in range(0, size * batches, size):
        batch = calls[start : start + size]
        began = time.perf_counter()
        for call in batch:
            call()
        means.append((time.perf_counter() - began) / len(batch))
    return statistics.median(means)


def cantilever(divisions: tuple[int, int, int]) -> tuple[ElasticSystem, dict[str, Any]]:
    began = time.perf_counter()
    system = ElasticSystem(bracket(divisions))
    assembled = time.perf_counter()
    ours = system.solve({"Fz": -FORCE})
    solved = time.perf_counter()
    theirs = run_calculix(system, {"Fz": -FORCE}, timeout=900.0, threads=1)
    tip = -ours.outputs()["tip_z"]
    ccx_tip = -theirs.solution.outputs()["tip_z"]
    bending, timoshenko = beam_theory()
    field = np.abs(theirs.solution.displacement - ours.displacement).max()
    figures = {
        "fem_elements": "x".join(map(str, divisions)) + " hex20",
        "fem_dofs": system.ndof,
        "fem_tip_m": float(f"{tip:.6e}"),
        "euler_bernoulli_tip_m": float(f"{bending:.6e}"),
        "timoshenko_tip_m": float(f"{timoshenko:.6e}"),
        "fem_vs_euler_bernoulli_rel": float(f"{tip / bending - 1:.3e}"),
        "fem_vs_timoshenko_rel": float(f"{tip / timoshenko - 1:.3e}"),
        "ccx_tip_m": float(f"{ccx_tip:.6e}"),
        "fem_vs_ccx_rel": float(f"{tip / ccx_tip - 1:.3e}"),
        "fem_vs_ccx_field_rel": float(f"{field / np.abs(ours.displacement).max():.3e}"),
        "fem_assembly_s": round(assembled - began, 2),
        "fem_solve_s": round(solved - assembled, 2),
        "fem_total_s": round(solved - began, 2),
        "ccx_s": round(theirs.seconds, 2),
    }
    print(
        f"cantilever L={LENGTH:g} m, {SIDE:g}x{SIDE:g} m section, {FORCE:g} N at the tip: "
        f"{figures['fem_elements']}, {system.ndof:,} dof"
    )
    print(
        f"  scikit-fem tip {tip * 1e3:.5f} mm; Euler-Bernoulli {bending * 1e3:.5f} mm "
        f"({100 * (tip / bending - 1):+.3f} %), Timoshenko {timoshenko * 1e3:.5f} mm "
        f"({100 * (tip / timoshenko - 1):+.3f} %) (target: within 1 %)"
    )
    print(
        f"  CalculiX (C3D20, same mesh and nodal loads) tip {ccx_tip * 1e3:.5f} mm "
        f"({100 * (tip / ccx_tip - 1):+.2e} %; largest field difference "
        f"{figures['fem_vs_ccx_field_rel']:.1e} of the largest displacement) (target: within 1 %)"
    )
    print(
        f"  time: scikit-fem {figures['fem_total_s']:.2f} s (assembly {figures['fem_assembly_s']:.2f} s, "
        f"factorization and solve {figures['fem_solve_s']:.2f} s), CalculiX {figures['ccx_s']:.2f} s"
    )
    return system, figures


def rom_figures(
    system: ElasticSystem, *, samples: int, heldout: int, evaluations: int
) -> dict[str, Any]:
    cases = sample_cases(LOAD_RANGES, RANGES, count=heldout, seed=11)
    began = time.perf_counter()
    rom = train_rom(system, ranges=RANGES, samples=samples, validation=cases)
    validation = rom.validation
    assert validation is not None
    trained = rom.meta["training_seconds"]
    timing = _timings(system, rom, evaluations)
    figures = {
        "rom_dofs": system.ndof,
        "rom_rank": rom.rank,
        "rom_training_solves": rom.meta["training_solves"],
        "rom_training_factorizations": rom.meta["training_factorizations"],
        "rom_training_s": round(trained, 1),
        "rom_train_and_validate_s": round(time.perf_counter() - began, 1),
        "rom_heldout_cases": validation.cases,
        "rom_tip_max_rel_err": float(f"{validation.max_output_error['tip_z']:.3e}"),
        "rom_field_max_rel_err": float(f"{validation.max_field_error:.3e}"),
        "rom_outputs_max_rel_err": float(f"{max(validation.max_output_error.values()):.3e}"),
        "rom_von_mises_max_rel_err": float(f"{validation.max_output_error['max_von_mises']:.3e}"),
        "rom_bound_effectivity_min": round(validation.min_effectivity, 3),
        "rom_bound_effectivity_max": round(validation.max_effectivity, 3),
        **timing,
    }
    print(
        f"ROM: {system.ndof:,} dof -> rank {rom.rank}, trained on {samples} stiffness samples x "
        f"{len(system.loads)} unit loads ({figures['rom_training_solves']} solves, "
        f"{figures['rom_training_factorizations']} factorizations) in {trained:.1f} s"
    )
    print(
        f"  {validation.cases} held-out cases (loads and root stiffness 0.5-1 by Latin hypercube): "
        f"max relative error tip {figures['rom_tip_max_rel_err']:.2e}, field "
        f"{figures['rom_field_max_rel_err']:.2e}, any output {figures['rom_outputs_max_rel_err']:.2e} "
        f"(max von Mises {figures['rom_von_mises_max_rel_err']:.2e}) (target < 1 %); error bound "
        f"effectivity {validation.min_effectivity:.2f}-{validation.max_effectivity:.2f} (>= 1: it bounds)"
    )
    print(
        f"  one evaluation {figures['rom_eval_us']:.1f} us (stiffness held), "
        f"{figures['rom_eval_new_stiffness_us']:.1f} us (stiffness changed); full solve "
        f"{figures['full_backsolve_ms']:.1f} ms (back-substitution, loads changed), "
        f"{figures['full_new_stiffness_s']:.2f} s (new factorization) -> speed-up "
        f"{figures['rom_speedup_vs_backsolve']:,.0f}x and {figures['rom_speedup_vs_full_solve']:,.0f}x "
        f"(target >= 1000x)"
    )
    return figures


def _timings(system: ElasticSystem, rom: Rom, evaluations: int) -> dict[str, Any]:
    rng = np.random.default_rng(5)
    loads = [
        {name: float(rng.uniform(*LOAD_RANGES[name])) for name in LOAD_RANGES}
        for _ in range(evaluations)
    ]
    thetas = [
        {"root_stiffness": float(rng.uniform(*RANGES["root_stiffness"]))}
        for _ in range(evaluations)
    ]
    held = {"root_stiffness": 0.8}
    rom.evaluate(loads[0], held)
    eval_s = per_call([lambda load=load: rom.evaluate(load, held) for load in loads])
    changing = evaluations // 10
    new_theta_s = per_call([lambda i=i: rom.evaluate(loads[i], thetas[i]) for i in range(changing)])
    system.factorization(held)
    vectors = [system.load_vector(load) for load in loads[:20]]
    backsolve_s = statistics.median(
        [median_time(lambda v=v: system.solve_vector(v, held), 1) for v in vectors]
    )
    full_s = median_time(lambda: system.solve_vector(vectors[0], thetas.pop()), 2)
    return {
        "rom_eval_us": round(eval_s * 1e6, 2),
        "rom_eval_new_stiffness_us": round(new_theta_s * 1e6, 2),
        "full_backsolve_ms": round(backsolve_s * 1e3, 2),
        "full_new_stiffness_s": round(full_s, 3),
        "rom_speedup_vs_backsolve": round(backsolve_s / eval_s),
        "rom_speedup_vs_full_solve": round(full_s / new_theta_s),
    }


def fem_figures(
    quick: bool,
    *,
    divisions: tuple[int, int, int] | None = None,
    samples: int | None = None,
    heldout: int | None = None,
) -> dict[str, Any]:
    """Run the cantilever and ROM figures, print what was measured, return the figures."""
    divisions = divisions or ((40, 2, 2) if quick else (100, 6, 6))
    system, figures = cantilever(divisions)
    figures.update(
        rom_figures(
            system,
            samples=samples or (4 if quick else 6),
            heldout=heldout or (6 if quick else 8),
            evaluations=5_000 if quick else 20_000,
        )
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40x2x2 elements, fewer cases")
    parser.add_argument("--divisions", type=int, nargs=3, help="elements along x, y, z (100 6 6)")
    parser.add_argument("--samples", type=int, help="stiffness samples the ROM is trained on (6)")
    parser.add_argument("--heldout", type=int, help="held-out test cases (8)")
    args = parser.parse_args()
    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    print(f"machine: {describe()}")
    divisions = tuple(args.divisions) if args.divisions else None
    figures = fem_figures(
        args.quick,
        divisions=divisions,
        samples=args.samples,
        heldout=args.heldout,  # type: ignore[arg-type]
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

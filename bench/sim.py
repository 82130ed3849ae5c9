"""Simulation accuracy and speed (issue 5): FEA, reduced-order model, ensembles, FMUs.

One run prints, each with its target:

- FEA (``sim_fem``): tip deflection of a 3D cantilever with scikit-fem against Euler-Bernoulli
  theory and against CalculiX (``ccx``, Debian package calculix-ccx) on the same mesh, with the
  time of both; a POD reduced-order model of a ~50k+ degree-of-freedom model against its full
  solve on load cases not used in training: speed-up (target >= 1000x) and relative error
  (target < 1%);
- ensembles (``sim_ensemble``): 10,000 members of a lumped ODE model (target < 5 s) and the
  speed-up over a plain loop of ``solve_ivp``, measured in the same run;
- FMUs (``sim_fmu``): co-simulation through twinkit's engine against FMPy's own
  ``simulate_fmu`` on the same FMUs (target <= 1.1x FMPy's time).

``--quick`` runs small versions of each; ``--only fem,ensemble,fmu`` picks parts. The last line
printed is a JSON object of all the figures. Record medians in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from _machine import describe
from sim_ensemble import ensemble_figures
from sim_fem import fem_figures
from sim_fmu import fmu_figures

PARTS: dict[str, Callable[[bool], dict[str, Any]]] = {
    "fem": fem_figures,
    "ensemble": ensemble_figures,
    "fmu": fmu_figures,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small versions, for a smoke run")
    parser.add_argument(
        "--only", default=",".join(PARTS), help=f"comma-separated parts of {sorted(PARTS)}"
    )
    args = parser.parse_args()
    chosen = [part.strip() for part in args.only.split(",") if part.strip()]
    unknown = sorted(set(chosen) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {unknown}; expected some of {sorted(PARTS)}")
    print(describe(), flush=True)
    figures: dict[str, Any] = {"quick": args.quick}
    for part in chosen:
        began = time.perf_counter()
        print(f"--- {part}", flush=True)
        figures[part] = PARTS[part](args.quick)
        print(f"({part} took {time.perf_counter() - began:.0f} s)", flush=True)
        sys.stdout.flush()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

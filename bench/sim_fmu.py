"""FMUs through twinkit against FMPy's own ``simulate_fmu``: same FMUs, step and horizon.

The FMUs are the test suite's, built here the same way (tests/sim/fmus/builders.py): the
pythonfmu oscillator (FMI 2.0 co-simulation, Python inside the FMU) and the C bouncing ball
(FMI 2.0 and 3.0 co-simulation; FMI 2.0 model exchange with CVode). Each side gets the FMU
read and extracted beforehand (FMPy: the extracted folder and its model description;
twinkit: an ``FmuModel``), so both times are instantiate + initialize + every step + free.

For each FMU: the median over runs (interleaved, so both sides see the same machine load) of
the CPU time per step of FMPy and of ``simulate(FmuSimulator(...))``, their ratio (the target is
<= 1.1), the time per step of a bare loop of ``FmuSimulator.step`` calls (the engine's share is
the difference), and the largest difference between the two results (0: the same numbers).

``fmu_figures(quick)`` is what ``bench/sim.py`` calls; run alone, the last line printed is a
JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "sim"))

from fmus.builders import build_ball, build_oscillator

from _machine import cpu_model
from twinkit.sim._engine import simulate
from twinkit.sim._fmu import FmuModel

HORIZON = 10.0


@dataclass(frozen=True)
class Case:
    name: str
    fmu: Path
    interface: str
    outputs: tuple[str, ...]


def _time(run: Callable[[], Any]) -> tuple[float, Any]:
    # CPU time of this process (the FMU runs in it): steadier than wall time on a busy machine.
    started = time.process_time()
    result = run()
    return time.process_time() - started, result


def _bare_loop(model: FmuModel, steps: int, dt: float) -> None:
    simulator = model.simulator(max_step=HORIZON / 50)
    simulator.initialize(0.0)
    inputs = {v.name: v.start for v in model.variables if v.causality.value == "input"}
    t = 0.0
    for index in range(1, steps + 1):
        end = index * dt
        simulator.step(t, end - t, inputs)
        t = end
    simulator.close()


def measure(case: Case, steps: int, runs: int) -> dict[str, float]:
    """Per-step times (µs) of FMPy, twinkit and the bare step loop; their ratio; max diff."""
    import fmpy

    folder = fmpy.extract(str(case.fmu))
    description = fmpy.read_model_description(folder)
    model = FmuModel(case.fmu, interface=case.interface)  # type: ignore[arg-type]
    dt = HORIZON / steps
    # FMPy records what twinkit returns: every output and state.
    recorded = [v.name for v in model.variables if v.causality.value in ("output", "state")]

    def ours() -> Any:
        with model.simulator(max_step=HORIZON / 50) as simulator:  # FMPy's CVode max step
            return simulate(simulator, stop=HORIZON, dt=dt)

    def theirs() -> Any:
        return fmpy.simulate_fmu(
            folder,
            model_description=description,
            fmi_type=case.interface,
            stop_time=HORIZON,
            output_interval=dt,
            step_size=dt,
            record_events=False,
            output=recorded,
            set_stop_time=False,
        )

    times: dict[str, list[float]] = {"fmpy": [], "twinkit": [], "bare": []}
    ours_result = theirs_result = None
    for _ in range(runs):
        elapsed, theirs_result = _time(theirs)
        times["fmpy"].append(elapsed)
        elapsed, ours_result = _time(ours)
        times["twinkit"].append(elapsed)
        times["bare"].append(_time(lambda: _bare_loop(model, steps, dt))[0])
    assert ours_result is not None and theirs_result is not None
    difference = max(
        float(np.max(np.abs(ours_result.outputs[name] - theirs_result[name])))
        for name in case.outputs
    )
    per_step = {k: statistics.median(v) / steps * 1e6 for k, v in times.items()}
    return {
        "fmpy_us": per_step["fmpy"],
        "twinkit_us": per_step["twinkit"],
        "bare_step_us": per_step["bare"],
        "engine_us": per_step["twinkit"] - per_step["bare"],
        "ratio": per_step["twinkit"] / per_step["fmpy"],
        "max_abs_diff": difference,
    }


def fmu_figures(quick: bool) -> dict[str, float]:
    """Run every case; print one line per case; return the figures (``fmu_<case>_<figure>``)."""
    steps, runs = (2_000, 3) if quick else (20_000, 7)
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="twinkit-bench-fmu-") as folder:
        dest = Path(folder)
        ball2, ball3 = build_ball(2, dest), build_ball(3, dest)
        cases = [
            Case("cs_pythonfmu_fmi2", build_oscillator(dest), "CoSimulation", ("x", "v")),
            Case("cs_c_fmi2", ball2, "CoSimulation", ("h", "v")),
            Case("cs_c_fmi3", ball3, "CoSimulation", ("h", "v")),
            Case("me_cvode_c_fmi2", ball2, "ModelExchange", ("h", "v")),
        ]
        print(f"FMU runs: {steps:,} steps over {HORIZON:g} s, median of {runs} runs each")
        for case in cases:
            result = measure(case, steps, runs)
            print(
                f"  {case.name:18s} FMPy {result['fmpy_us']:6.1f} µs/step, twinkit "
                f"{result['twinkit_us']:6.1f} µs/step: {result['ratio']:.2f}x FMPy (target "
                f"<= 1.1); bare FmuSimulator.step loop {result['bare_step_us']:.1f} µs, "
                f"engine {result['engine_us']:+.1f} µs; max |difference| "
                f"{result['max_abs_diff']:.1e}"
            )
            figures.update({f"fmu_{case.name}_{k}": v for k, v in result.items()})
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and runs")
    args = parser.parse_args()
    print(f"machine: {cpu_model()}, Python {platform.python_version()}")
    print(f"command: python bench/sim_fmu.py{' --quick' if args.quick else ''}")
    figures = fmu_figures(args.quick)
    print(json.dumps({k: round(v, 4) for k, v in figures.items()}))


if __name__ == "__main__":
    main()

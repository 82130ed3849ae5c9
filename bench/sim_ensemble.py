"""Ensemble of a lumped ODE model: 10,000 members vectorized in numpy, next to a solve_ivp loop.

The model is a pump station in four states: the pump's relative speed (a first-order motor
following its setpoint), the flow in a long discharge pipe (the water column's inertia against
pump head, static lift, tank level and friction), the level of the receiving tank (drained
through a valve) and the motor's temperature. The speed setpoint drops from 1.0 to 0.8 half
way through an hour. Five parameters are uncertain (pipe friction, valve coefficient, pump
shut-off head, tank area, motor cooling), sampled by Latin hypercube.

Figures, in the same run:

- the wall time of :func:`run_ensemble` for ``--members`` members (sampling included), RK4
  with ``--dt`` over one simulated hour, median of ``--repeats`` runs;
- the time per member of a plain Python loop of ``scipy.integrate.solve_ivp`` (RK45,
  rtol 1e-6) over the same model function, measured on the first ``--loop`` members and
  extrapolated to all of them (it is not run for all: that would take minutes), and the
  speed-up of the ensemble over it;
- the accuracy of RK4 against those solve_ivp runs: the largest relative difference of the
  p50 band of each output over the loop members, and of any single member's value.

``ensemble_figures(quick)`` is what ``bench/sim.py`` calls; run alone this prints the same
lines and, last, a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Mapping
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
from scipy.integrate import solve_ivp

from _machine import describe
from twinkit.sim import Causality, Variable
from twinkit.sim._ensemble import EnsembleResult
from twinkit.sim._integrate import run_ensemble
from twinkit.sim._ode import OdeModel
from twinkit.sim._uncertain import LogNormal, Normal, Triangular, Uniform

Values = Mapping[str, Any]
G = 9.81
RHO = 1000.0
HOUR = 3600.0
SETPOINT_CHANGE = 1800.0
STATES = ("speed", "flow", "level", "temperature")
LOOP = {"method": "RK45", "rtol": 1e-6, "atol": 1e-9}  # the plain loop: scipy's default method
REFERENCE = {"method": "DOP853", "rtol": 1e-11, "atol": 1e-12}  # for accuracy only
UNCERTAIN = {
    "friction": LogNormal(median=300.0, sigma=0.15),  # pipe loss K in h = K Q|Q|, s2/m5
    "cv": LogNormal(median=0.1, sigma=0.1),  # valve: outflow = cv sqrt(level), m2.5/s
    "shutoff_head": Normal(40.0, 1.5),  # pump head at zero flow and full speed, m
    "tank_area": Uniform(40.0, 60.0),  # m2
    "cooling": Triangular(1500.0, 2000.0, 2600.0),  # motor heat loss per kelvin, W/K
}


def rhs(t: float, x: Values, p: Values, u: Values) -> dict[str, Any]:
    """Derivatives of the four states; elementwise numpy so it runs on whole member columns."""
    speed, flow, level = x["speed"], x["flow"], x["level"]
    flow_squared = flow * np.abs(flow)
    pump_head = p["shutoff_head"] * speed**2 - p["pump_loss"] * flow_squared
    outflow = p["cv"] * np.sqrt(np.maximum(level, 0.0))
    inertia = p["pipe_length"] / (G * p["pipe_area"])
    heating = (1.0 - p["efficiency"]) * (RHO * G / p["efficiency"]) * flow * pump_head
    cooling = p["cooling"] * (x["temperature"] - 20.0)
    return {
        "speed": (u["setpoint"] - speed) / p["motor_tau"],
        "flow": (pump_head - p["static_head"] - level - p["friction"] * flow_squared) / inertia,
        "level": (flow - outflow) / p["tank_area"],
        "temperature": (heating - cooling) / p["heat_capacity"],
    }


def output(t: float, x: Values, p: Values, u: Values) -> dict[str, Any]:
    speed, flow = x["speed"], x["flow"]
    head = p["shutoff_head"] * speed**2 - p["pump_loss"] * flow * np.abs(flow)
    return {
        "head": head,
        "power": (RHO * G / 1000.0 / p["efficiency"]) * flow * head,
        "outflow": p["cv"] * np.sqrt(np.maximum(x["level"], 0.0)),
    }


def pump_station() -> OdeModel:
    """The pump station model: four states, ten parameters, the speed setpoint as input."""
    S, P = Causality.STATE, Causality.PARAMETER
    return OdeModel(
        "pump_station",
        [
            Variable("speed", S, start=1.0, description="relative pump speed"),
            Variable("flow", S, start=0.2, unit="m3/s"),
            Variable("level", S, start=3.0, unit="m"),
            Variable("temperature", S, start=30.0, unit="degC"),
            Variable("friction", P, start=300.0, unit="s2/m5"),
            Variable("cv", P, start=0.1, unit="m2.5/s"),
            Variable("shutoff_head", P, start=40.0, unit="m"),
            Variable("tank_area", P, start=50.0, unit="m2"),
            Variable("cooling", P, start=2000.0, unit="W/K"),
            Variable("pump_loss", P, start=150.0, unit="s2/m5"),
            Variable("static_head", P, start=10.0, unit="m"),
            Variable("pipe_length", P, start=2000.0, unit="m"),
            Variable("pipe_area", P, start=0.2, unit="m2"),
            Variable("motor_tau", P, start=5.0, unit="s"),
            Variable("efficiency", P, start=0.75),
            Variable("heat_capacity", P, start=2.0e6, unit="J/K"),
            Variable("setpoint", Causality.INPUT, start=1.0),
            Variable("head", Causality.OUTPUT, unit="m"),
            Variable("power", Causality.OUTPUT, unit="kW"),
            Variable("outflow", Causality.OUTPUT, unit="m3/s"),
        ],
        rhs,
        output,
    )


def setpoint(t: float) -> dict[str, float]:
    return {"setpoint": 1.0 if t < SETPOINT_CHANGE else 0.8}


def solve_member(
    model: OdeModel,
    parameters: Mapping[str, float],
    times: npt.NDArray[np.float64],
    **tolerances: Any,
) -> dict[str, npt.NDArray[np.float64]]:
    """One member the plain way: solve_ivp over the hour on the same model functions."""
    names = model.states
    p = dict(parameters)
    y0 = [float(model.start(name) or 0.0) for name in names]

    def fun(t: float, y: npt.NDArray[np.float64]) -> list[Any]:
        x = dict(zip(names, y, strict=True))
        d = rhs(t, x, p, setpoint(t))
        return [d[name] for name in names]

    solution = solve_ivp(fun, (0.0, times[-1]), y0, t_eval=times, **(LOOP | tolerances))
    if not solution.success:
        raise RuntimeError(f"solve_ivp failed: {solution.message}")
    x = dict(zip(names, solution.y, strict=True))
    values = {name: solution.y[i] for i, name in enumerate(names)}
    values.update(output(0.0, x, p, {}))
    return values


def run(members: int, dt: float, record_every: int, seed: int) -> EnsembleResult:
    return run_ensemble(
        pump_station(),
        members,
        UNCERTAIN,
        stop=HOUR,
        dt=dt,
        inputs=setpoint,
        record_every=record_every,
        seed=seed,
    )


Members: TypeAlias = list[dict[str, npt.NDArray[np.float64]]]


def differences(ours: Members | EnsembleResult, reference: Members) -> tuple[float, float]:
    """Largest difference of the p50 band and of any member value, relative to each output's
    largest magnitude, over the members of ``reference`` (the first ones of ``ours``)."""
    worst_band = worst_member = 0.0
    n = len(reference)
    for name in reference[0]:
        expected = np.stack([member[name] for member in reference])
        if isinstance(ours, EnsembleResult):
            got = ours.outputs[name][:n]
        else:
            got = np.stack([member[name] for member in ours[:n]])
        scale = np.max(np.abs(expected))
        band = np.abs(np.median(got, axis=0) - np.median(expected, axis=0))
        worst_band = max(worst_band, float(np.max(band)) / scale)
        worst_member = max(worst_member, float(np.max(np.abs(got - expected))) / scale)
    return worst_band, worst_member


def time_ensemble(members: int, dt: float, repeats: int, seed: int) -> tuple[float, EnsembleResult]:
    """Median wall time of ``repeats`` runs of the whole ensemble (sampling included)."""
    record_every = max(round(60.0 / dt), 1)  # a value a minute
    run(100, dt, record_every, seed)  # warm-up: imports, first allocations
    timings, result = [], None
    for _ in range(repeats):
        began = time.perf_counter()
        result = run(members, dt, record_every, seed)
        timings.append(time.perf_counter() - began)
    assert result is not None
    return statistics.median(timings), result


def solve_loop(result: EnsembleResult, count: int, **tolerances: Any) -> tuple[float, Members]:
    """Seconds per member of a solve_ivp loop over the first ``count`` members, and results."""
    model, starts = pump_station(), _starts()
    began = time.perf_counter()
    solved = [
        solve_member(model, starts | result.samples.iloc[i].to_dict(), result.times, **tolerances)
        for i in range(count)
    ]
    return (time.perf_counter() - began) / count, solved


def ensemble_figures(
    quick: bool,
    *,
    members: int = 10_000,
    loop_members: int | None = None,
    dt: float = 2.0,
    repeats: int | None = None,
    seed: int = 2024,
) -> dict[str, Any]:
    """Run the ensemble and the solve_ivp loop, print what was measured, return the figures."""
    loop_members = min(loop_members or (20 if quick else 200), members)
    repeats = repeats or (1 if quick else 5)
    ensemble_s, result = time_ensemble(members, dt, repeats, seed)
    per_member, loop = solve_loop(result, loop_members)
    _, reference = solve_loop(result, min(loop_members, 20), **REFERENCE)
    vs_loop = differences(result, loop)
    rk4_error, loop_error = differences(result, reference)[1], differences(loop, reference)[1]
    steps = int(np.ceil(HOUR / dt))
    figures = {
        "ensemble_members": members,
        "ensemble_steps": steps,
        "ensemble_s": round(ensemble_s, 3),
        "ensemble_failed": result.n_failed,
        "solve_ivp_loop_members": loop_members,
        "solve_ivp_ms_per_member": round(1000 * per_member, 2),
        "solve_ivp_loop_s_extrapolated": round(per_member * members, 1),
        "ensemble_speedup": round(per_member * members / ensemble_s, 1),
        "rk4_vs_solve_ivp_p50_max_rel_diff": float(f"{vs_loop[0]:.3g}"),
        "rk4_max_rel_error": float(f"{rk4_error:.3g}"),
        "solve_ivp_max_rel_error": float(f"{loop_error:.3g}"),
    }
    print(
        f"ensemble: {members:,} members x {len(STATES)} states, RK4 dt={dt:g} s over {HOUR:g} s "
        f"({steps:,} steps, {result.n_failed} failed): {ensemble_s:.2f} s "
        f"(median of {repeats}; sampling included; target < 5 s)"
    )
    print(
        f"solve_ivp loop (RK45, rtol 1e-6): {1000 * per_member:.1f} ms per member, measured on "
        f"the first {loop_members} members and extrapolated to {members:,}: "
        f"{per_member * members:.0f} s -> ensemble speed-up {figures['ensemble_speedup']:g}x"
    )
    print(
        f"RK4 vs that loop (relative to each output's largest magnitude): p50 band "
        f"{vs_loop[0]:.2e}, any member value {vs_loop[1]:.2e}; against a DOP853 rtol 1e-11 "
        f"reference on {len(reference)} members: RK4 {rk4_error:.2e}, the loop {loop_error:.2e}"
    )
    return figures


def _starts() -> dict[str, float]:
    model = pump_station()
    return {name: float(model.start(name) or 0.0) for name in model.parameters}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat, 20 members in the loop")
    parser.add_argument("--members", type=int, default=10_000, help="ensemble members")
    parser.add_argument("--loop", type=int, help="members solved by the solve_ivp loop (200)")
    parser.add_argument("--dt", type=float, default=2.0, help="RK4 step, seconds")
    parser.add_argument("--repeats", type=int, help="ensemble runs, median reported (3)")
    args = parser.parse_args()
    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    print(f"machine: {describe()}")
    figures = ensemble_figures(
        args.quick, members=args.members, loop_members=args.loop, dt=args.dt, repeats=args.repeats
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

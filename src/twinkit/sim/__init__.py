"""Simulation (L3): simulators bound to twins, run in shadow mode or ahead of reality.

Three levels, as in FMPy:

- one call: :func:`simulate` runs any :class:`Simulator` over a horizon on a simulated or a
  realtime clock; :func:`run_ensemble` runs a lumped :class:`OdeModel` for thousands of sampled
  parameter sets at once; :func:`simulate_twin` starts a run from a twin's current or past state;
- reusable pieces: the backends (:class:`OdeSimulator`, :class:`FmuModel` /
  :class:`FmuSimulator`, :class:`DesSimulator`, FEA and reduced-order models), bindings of
  simulators to twin models (:class:`SimulationBinding`), the :class:`ShadowRunner` that runs
  them in step with live data, and what-if :class:`Scenarios`;
- the protocol itself (:class:`Simulator`: initialize, step, get/set state), after FMI
  co-simulation.

Backends load their libraries (SciPy, FMPy, SimPy, scikit-fem, Dask) only when used, so
``import twinkit.sim`` needs none of them.
"""

from __future__ import annotations

from twinkit.sim._binding import Bindings, Related, SimulationBinding, twin_value
from twinkit.sim._calculix import CalculixResult, calculix_input, run_calculix
from twinkit.sim._clock import Clock, RealtimeClock, SimulatedClock
from twinkit.sim._dask import run_ensemble_dask, run_members
from twinkit.sim._des import DesModel, DesObserver, DesSimulator, DesState
from twinkit.sim._engine import Inputs, SimulationResult, simulate
from twinkit.sim._ensemble import EnsembleResult
from twinkit.sim._fem import FemSimulator, HeatSimulator, HeatState, StaticState
from twinkit.sim._fem_elastic import ElasticSolution, ElasticSystem, von_mises
from twinkit.sim._fem_elastic_problem import (
    BodyForce,
    Deflection,
    ElasticProblem,
    Gravity,
    Material,
    PointDisplacement,
    PointForce,
    StrainGauge,
    SurfaceForce,
    Traction,
)
from twinkit.sim._fem_export import Surface, surface, write_vtu
from twinkit.sim._fem_heat import Convection, HeatProblem, HeatSystem
from twinkit.sim._fem_mesh import FemMesh, box_mesh, read_mesh, rectangle_mesh
from twinkit.sim._fmu import FmuModel, FmuSimulator, FmuState
from twinkit.sim._integrate import integrate, run_ensemble
from twinkit.sim._ode import OdeModel, OdeSimulator, OdeState
from twinkit.sim._protocol import Causality, Simulator, Variable
from twinkit.sim._rom import Rom, RomEvaluation, RomSimulator, RomValidation
from twinkit.sim._rom_train import RomCase, sample_cases, train_rom, validate_rom
from twinkit.sim._scenario import Scenarios, fork
from twinkit.sim._scenario_master import ScenarioResult, simulate_scenario
from twinkit.sim._scenario_results import compare_scenario, plot_scenario, scenario_series
from twinkit.sim._scenario_spec import Fault, ScenarioSpec
from twinkit.sim._shadow import ShadowRunner, ShadowState, ShadowStatus
from twinkit.sim._shadow_plugins import load_bindings
from twinkit.sim._shadow_start import (
    GraphView,
    InitialConditions,
    TwinView,
    initial_conditions,
    run_binding,
    simulate_twin,
)
from twinkit.sim._uncertain import (
    Distribution,
    LogNormal,
    Normal,
    Triangular,
    TruncatedNormal,
    Uniform,
    sample,
)

__all__ = [
    "Bindings",
    "BodyForce",
    "CalculixResult",
    "Causality",
    "Clock",
    "Convection",
    "Deflection",
    "DesModel",
    "DesObserver",
    "DesSimulator",
    "DesState",
    "Distribution",
    "ElasticProblem",
    "ElasticSolution",
    "ElasticSystem",
    "EnsembleResult",
    "Fault",
    "FemMesh",
    "FemSimulator",
    "FmuModel",
    "FmuSimulator",
    "FmuState",
    "GraphView",
    "Gravity",
    "HeatProblem",
    "HeatSimulator",
    "HeatState",
    "HeatSystem",
    "InitialConditions",
    "Inputs",
    "LogNormal",
    "Material",
    "Normal",
    "OdeModel",
    "OdeSimulator",
    "OdeState",
    "PointDisplacement",
    "PointForce",
    "RealtimeClock",
    "Related",
    "Rom",
    "RomCase",
    "RomEvaluation",
    "RomSimulator",
    "RomValidation",
    "ScenarioResult",
    "ScenarioSpec",
    "Scenarios",
    "ShadowRunner",
    "ShadowState",
    "ShadowStatus",
    "SimulatedClock",
    "SimulationBinding",
    "SimulationResult",
    "Simulator",
    "StaticState",
    "StrainGauge",
    "Surface",
    "SurfaceForce",
    "Traction",
    "Triangular",
    "TruncatedNormal",
    "TwinView",
    "Uniform",
    "Variable",
    "box_mesh",
    "calculix_input",
    "compare_scenario",
    "fork",
    "initial_conditions",
    "integrate",
    "load_bindings",
    "plot_scenario",
    "read_mesh",
    "rectangle_mesh",
    "run_binding",
    "run_calculix",
    "run_ensemble",
    "run_ensemble_dask",
    "run_members",
    "sample",
    "sample_cases",
    "scenario_series",
    "simulate",
    "simulate_scenario",
    "simulate_twin",
    "surface",
    "train_rom",
    "twin_value",
    "validate_rom",
    "von_mises",
    "write_vtu",
]

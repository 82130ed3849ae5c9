"""FEA as Simulators: the structure stepped with loads, the heated part stepped in time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fem_models import bracket, euler_bernoulli

from twinkit.errors import SimulationError, ValidationError
from twinkit.sim._engine import simulate
from twinkit.sim._fem import FemSimulator, HeatSimulator, HeatState, StaticState
from twinkit.sim._fem_heat import Convection, HeatProblem
from twinkit.sim._fem_mesh import rectangle_mesh
from twinkit.sim._protocol import Causality, Simulator


def heated_plate() -> HeatProblem:
    return HeatProblem(
        rectangle_mesh((0.2, 0.05), divisions=(8, 2)),
        conductivity=50.0,
        source=0.0,
        fixed={"xmin": 80.0},
        convection={"xmax": Convection(25.0, 20.0)},
        density=7800.0,
        specific_heat=460.0,
        probes={"middle": (0.1, 0.025)},
    )


def test_structure_declares_loads_zones_and_outputs() -> None:
    sim = FemSimulator(bracket((10, 1, 1)))
    assert isinstance(sim, Simulator)
    by_kind = {c: {v.name for v in sim.variables if v.causality is c} for c in Causality}
    assert by_kind[Causality.INPUT] == {"Fz", "Fy", "Fx", "weight"}
    assert by_kind[Causality.PARAMETER] == {"root_stiffness"}
    assert by_kind[Causality.OUTPUT] == {
        "tip_z",
        "tip_y",
        "gauge_top",
        "gauge_side",
        "max_von_mises",
    }
    assert by_kind[Causality.STATE] == set()


def test_structure_follows_a_load_history() -> None:
    sim = FemSimulator(bracket((20, 2, 2)))
    history = pd.DataFrame({"Fz": [0.0, -1000.0, -2000.0]}, index=[0.0, 1.0, 2.0])
    result = simulate(sim, stop=3.0, dt=1.0, inputs=history)
    expected = -euler_bernoulli(1000.0) * np.array([0.0, 0.0, 1.0, 2.0])
    np.testing.assert_allclose(result.outputs["tip_z"], expected, rtol=0.01, atol=1e-12)
    assert result.outputs["gauge_top"][3] == pytest.approx(2 * result.outputs["gauge_top"][2])
    assert isinstance(result.final_state, StaticState)
    assert sim.solution is not None and sim.solution.displacement.shape == (sim.system.ndof,)


def test_structure_parameters_state_and_bad_steps() -> None:
    sim = FemSimulator(bracket((10, 1, 1)))
    sim.initialize(0.0, {"root_stiffness": 0.5})
    damaged = sim.step(0.0, 1.0, {"Fz": -1000.0})["tip_z"]
    saved = sim.get_state()
    sim.initialize(0.0)
    intact = sim.step(0.0, 1.0, {"Fz": -1000.0})["tip_z"]
    assert damaged < 1.05 * intact < 0  # softer root, larger (more negative) deflection
    sim.set_state(saved)
    assert sim.step(1.0, 1.0, {"Fz": -1000.0})["tip_z"] == pytest.approx(damaged)
    with pytest.raises(SimulationError, match="model is at t=2"):
        sim.step(5.0, 1.0, {})
    with pytest.raises(ValidationError, match="unknown input"):
        sim.step(2.0, 1.0, {"Fq": 1.0})
    with pytest.raises(ValidationError, match="unknown state"):
        sim.initialize(0.0, state={"temperature": 1.0})
    with pytest.raises(ValidationError, match="not a state"):
        sim.set_state((0.0, 1.0))
    sim.close()
    fresh = FemSimulator(sim.system)
    with pytest.raises(SimulationError, match="before initialize"):
        fresh.step(0.0, 1.0, {})


def test_heat_simulator_reaches_the_steady_state() -> None:
    sim = HeatSimulator(heated_plate(), initial_temperature=20.0, max_step=60.0)
    assert isinstance(sim, Simulator)
    inputs = {v.name for v in sim.variables if v.causality is Causality.INPUT}
    assert inputs == {"source", "xmax.ambient", "xmin.temperature"}
    result = simulate(sim, stop=4 * 3600.0, dt=600.0)
    steady = sim.system.outputs(sim.system.steady())
    middle = result.outputs["middle"]
    assert np.all(np.diff(middle) > -1e-9)  # heats up monotonically from 20
    assert middle[-1] == pytest.approx(steady["middle"], rel=1e-3)
    assert middle[0] == pytest.approx(20.0)


def test_heat_state_rewinds_exactly() -> None:
    sim = HeatSimulator(heated_plate(), scheme="crank-nicolson")
    sim.initialize(0.0, state={"temperature": 30.0})
    sim.step(0.0, 100.0, {"source": 1e4})
    saved = sim.get_state()
    assert isinstance(saved, HeatState)
    first = sim.step(100.0, 100.0, {"xmax.ambient": 0.0})
    sim.set_state(saved)
    again = sim.step(100.0, 100.0, {"xmax.ambient": 0.0})
    assert again == first
    with pytest.raises(ValidationError, match="not a state"):
        sim.set_state(HeatState(0.0, np.zeros(3)))
    with pytest.raises(ValidationError, match="unknown state"):
        sim.initialize(0.0, state={"pressure": 1.0})
    with pytest.raises(ValidationError, match="scheme"):
        HeatSimulator(heated_plate(), scheme="rk4")  # type: ignore[arg-type]

"""FMUs through FMPy: the same numbers as FMPy's own simulate_fmu, state, errors.

The FMUs are built at test time (see fmus/builders.py): pythonfmu's FMI 2.0 co-simulation
oscillator, and a C bouncing ball with model exchange and co-simulation for FMI 2.0 and 3.0.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import fmpy
import numpy as np
import pandas as pd
import pytest

from twinkit.errors import SimulationError, ValidationError
from twinkit.sim._engine import simulate
from twinkit.sim._fmu import FmuModel, FmuSimulator, FmuState
from twinkit.sim._protocol import Causality, Simulator

STOP, DT = 3.0, 0.01
# The ball bounces, then an input pushes it up (an input event), then it falls again.
PUSH = [(0.0, 0.0), (1.5, 25.0), (1.8, 0.0)]


def fmpy_run(
    fmu: Path,
    names: list[str],
    *,
    fmi_type: str = "CoSimulation",
    solver: str = "CVode",
    stop: float = STOP,
    start_values: dict[str, float] | None = None,
    steps: list[tuple[float, float]] | None = None,
    input_name: str = "a",
) -> np.ndarray:
    """FMPy's simulate_fmu on the same grid; ``steps`` is a piecewise-constant input."""
    signal = None
    if steps:
        rows = [(0.0, steps[0][1])]
        for t, value in steps[1:]:
            rows += [(t, rows[-1][1]), (t, value)]
        rows.append((stop, rows[-1][1]))
        signal = np.array(rows, dtype=[("time", np.float64), (input_name, np.float64)])
    return fmpy.simulate_fmu(
        str(fmu),
        fmi_type=fmi_type,
        solver=solver,
        stop_time=stop,
        output_interval=DT,
        step_size=DT,
        record_events=False,
        start_values=start_values or {},
        input=signal,
        output=names,
        set_stop_time=False,
    )


def held(steps: list[tuple[float, float]], name: str = "a") -> pd.DataFrame:
    return pd.DataFrame({name: [v for _, v in steps]}, index=[t for t, _ in steps])


def test_pythonfmu_cosimulation_equals_simulate_fmu(oscillator_fmu: Path) -> None:
    steps = [(0.0, 0.0), (2.0, 3.0), (5.0, -1.0)]
    ours = simulate(
        FmuSimulator(oscillator_fmu),
        stop=8.0,
        dt=DT,
        inputs=held(steps, "F"),
        parameters={"k": 9.0, "c": 0.3},
    )
    ref = fmpy_run(
        oscillator_fmu,
        ["x", "v"],
        stop=8.0,
        steps=steps,
        input_name="F",
        start_values={"k": 9.0, "c": 0.3},
    )
    np.testing.assert_array_equal(ours.times, ref["time"])
    for name in ("x", "v"):
        np.testing.assert_allclose(ours.outputs[name], ref[name], rtol=1e-9, atol=1e-12)
    assert ours.inputs["F"][-1] == -1.0
    assert np.ptp(ours.outputs["x"][-100:]) > 0.1  # it does oscillate


@pytest.mark.parametrize(
    ("fmi_type", "solver", "steps"),
    [
        ("CoSimulation", "CVode", PUSH),
        ("ModelExchange", "CVode", [(0.0, 2.0)]),
        ("ModelExchange", "Euler", PUSH),
    ],
    ids=["cs", "me-cvode", "me-euler"],
)
def test_ball_equals_simulate_fmu(
    ball_fmu: Path, fmi_type: str, solver: str, steps: list[tuple[float, float]]
) -> None:
    model = FmuModel(ball_fmu, interface="ModelExchange" if "Model" in fmi_type else None)
    simulator = model.simulator(solver=solver, max_step=STOP / 50)  # FMPy's CVode max step
    ours = simulate(simulator, stop=STOP, dt=DT, inputs=held(steps), parameters={"e": 0.8})
    ref = fmpy_run(
        ball_fmu,
        ["h", "v"],
        fmi_type=fmi_type,
        solver=solver,
        steps=steps,
        start_values={"e": 0.8},
    )
    np.testing.assert_array_equal(ours.times, ref["time"])
    # The first row is before any input: FMPy applies input(t0) during initialization.
    for name in ("h", "v"):
        np.testing.assert_allclose(ours.outputs[name][1:], ref[name][1:], rtol=1e-9, atol=1e-12)
    h = ours.outputs["h"]
    assert h.min() >= -1e-6 and h[0] == 1.0
    bounces = np.sum(np.diff(np.sign(ours.outputs["v"])) > 0)
    assert bounces >= 2  # the state events happened
    simulator.close()


def test_input_events_with_cvode_agree_with_simulate_fmu(ball_fmu: Path) -> None:
    # Not bit for bit: FMPy's CVode root function re-applies the interpolated input at the
    # times CVode probes, which lie past the end of the step, so the pushed value leaks into
    # the last step before the event. twinkit holds the input until the step ends.
    model = FmuModel(ball_fmu, interface="ModelExchange")
    ours = simulate(model.simulator(max_step=STOP / 50), stop=STOP, dt=DT, inputs=held(PUSH))
    ref = fmpy_run(ball_fmu, ["h"], fmi_type="ModelExchange", steps=PUSH)
    np.testing.assert_allclose(ours.outputs["h"], ref["h"], rtol=0, atol=2e-3)
    assert ours.outputs["h"][180] - ours.outputs["h"][150] > 0.5  # the push lifted it


def test_variables_come_from_the_model_description(ball_fmu: Path) -> None:
    model = FmuModel(ball_fmu, interface="ModelExchange")
    by_name = {v.name: v for v in model.variables}
    assert set(by_name) == {"h", "v", "g", "e", "a"}  # not time, not the derivatives
    assert by_name["h"].causality is Causality.OUTPUT
    assert by_name["v"].causality is Causality.STATE  # a continuous state, not an output
    assert by_name["g"].causality is Causality.PARAMETER
    assert by_name["a"].causality is Causality.INPUT
    assert (by_name["h"].unit, by_name["v"].unit, by_name["g"].unit) == ("m", "m/s", "m/s2")
    assert by_name["g"].start == pytest.approx(9.81)
    assert by_name["h"].description == "height"
    simulator = model.simulator()
    assert isinstance(simulator, Simulator)
    first = simulator.initialize(0.0)
    assert first == {"h": 1.0, "v": 0.0}  # outputs and states
    simulator.close()


def test_state_seeds_start_values_and_parameters_apply(ball_fmu: Path) -> None:
    with FmuSimulator(ball_fmu, interface="ModelExchange") as simulator:
        first = simulator.initialize(0.0, parameters={"g": 1.0}, state={"h": 2.0, "v": 1.0})
        assert first == {"h": 2.0, "v": 1.0}
        out = simulator.step(0.0, 0.5, {})
        assert out["h"] == pytest.approx(2.0 + 0.5 - 0.5 * 0.25, rel=1e-4)  # g = 1
        with pytest.raises(ValidationError, match="not a continuous state") as caught:
            simulator.initialize(0.0, state={"g": 3.0})
        assert caught.value.expected == "one of ['h', 'v']"
        with pytest.raises(ValidationError, match="unknown parameter"):
            simulator.initialize(0.0, parameters={"gravity": 3.0})


def test_integer_and_boolean_variables_are_numbers(oscillator_fmu: Path) -> None:
    model = FmuModel(oscillator_fmu)
    by_name = {v.name: v for v in model.variables}
    assert (by_name["order"].start, by_name["hold"].start, by_name["substeps"].start) == (4, 0, 0)
    with model.simulator() as simulator:
        simulator.initialize(0.0, parameters={"order": 1.0, "max_step": 0.1})
        moved = simulator.step(0.0, 0.5, {"F": 0.0, "hold": 0.0})
        assert moved["substeps"] == 5.0 and moved["x"] < 1.0
        held_out = simulator.step(0.5, 0.5, {"F": 0.0, "hold": 1.0})
        assert held_out["x"] == moved["x"] and held_out["substeps"] == 10.0
        # Euler is not RK4: the order reached the FMU as an Integer.
        rk4 = simulate(model.simulator(), stop=0.5, dt=0.5, parameters={"max_step": 0.1})
        assert rk4.outputs["x"][-1] != moved["x"]
        with pytest.raises(ValidationError, match="FMI Integer") as caught:
            simulator.initialize(0.0, parameters={"order": 1.5})
        assert caught.value.expected == "a whole number"


def test_get_and_set_state_rewind_cosimulation(oscillator_fmu: Path) -> None:
    model = FmuModel(oscillator_fmu)
    first = model.simulator()
    first.initialize(0.0, parameters={"k": 2.0})
    t = 0.0
    for _ in range(50):
        first.step(t, 0.02, {"F": 1.0, "hold": 0.0})
        t += 0.02
    saved = first.get_state()
    assert isinstance(saved, FmuState) and saved.data is not None
    later = [first.step(t + i * 0.02, 0.02, {"F": 1.0, "hold": 0.0}) for i in range(25)]
    # A fresh instance of the same FMU takes the (serialized, picklable) state and goes on
    # to the same numbers; so does the first one, rewound.
    for simulator in (model.simulator(), first):
        simulator.set_state(pickle.loads(pickle.dumps(saved)))
        again = [simulator.step(t + i * 0.02, 0.02, {"F": 1.0, "hold": 0.0}) for i in range(25)]
        assert again == later
        simulator.close()


@pytest.mark.parametrize("solver", ["Euler", "CVode"])
def test_get_and_set_state_rewind_model_exchange(ball_fmu: Path, solver: str) -> None:
    simulator = FmuSimulator(ball_fmu, interface="ModelExchange", solver=solver)
    simulator.initialize(0.0)
    for i in range(40):
        simulator.step(i * DT, DT, {})
    saved = simulator.get_state()
    later = [simulator.step((40 + i) * DT, DT, {})["h"] for i in range(60)]  # over a bounce
    simulator.set_state(saved)
    again = [simulator.step((40 + i) * DT, DT, {})["h"] for i in range(60)]
    # Euler has no history: bit for bit. CVode restarts at the saved point: within tolerance.
    np.testing.assert_allclose(again, later, rtol=0 if solver == "Euler" else 1e-3, atol=1e-4)
    simulator.close()


def test_a_state_that_cannot_be_got_is_a_clear_error(stateless_ball_fmu: Path) -> None:
    with FmuSimulator(stateless_ball_fmu) as simulator:
        simulator.initialize(0.0)
        with pytest.raises(SimulationError, match="canGetAndSetFMUstate is false"):
            simulator.get_state()


def test_a_state_that_cannot_be_serialized_stays_with_its_instance(
    unserializable_ball_fmu: Path,
) -> None:
    model = FmuModel(unserializable_ball_fmu)
    with model.simulator() as simulator, model.simulator() as other:
        simulator.initialize(0.0)
        simulator.step(0.0, 0.2, {})
        saved = simulator.get_state()
        assert saved.data is None and saved.handle is not None
        ahead = simulator.step(0.2, 0.3, {})
        simulator.set_state(saved)
        assert simulator.step(0.2, 0.3, {}) == ahead
        other.initialize(0.0)
        with pytest.raises(SimulationError, match="valid only on the instance that got it"):
            other.set_state(saved)
        simulator.initialize(0.0)  # a new instance: the old handle is gone with the old one
        with pytest.raises(SimulationError, match="valid only on the instance that got it"):
            simulator.set_state(saved)


def test_many_instances_of_one_model_run_side_by_side(ball2_fmu: Path) -> None:
    model = FmuModel(ball2_fmu, interface="ModelExchange")
    restitutions = [0.5, 0.7, 0.9]
    alone = [
        simulate(model.simulator(), stop=2.0, dt=0.05, parameters={"e": e}).outputs["h"]
        for e in restitutions
    ]
    members = [model.simulator() for _ in restitutions]
    for member, e in zip(members, restitutions, strict=True):
        member.initialize(0.0, parameters={"e": e})
    interleaved: list[list[float]] = [[1.0] for _ in members]
    for i in range(40):
        for member, column in zip(members, interleaved, strict=True):
            column.append(member.step(i * 0.05, 0.05, {})["h"])
    for member, column, expected in zip(members, interleaved, alone, strict=True):
        np.testing.assert_allclose(column, expected, rtol=1e-12, atol=1e-15)
        member.close()
    assert not np.array_equal(alone[0], alone[2])
    factory = pickle.loads(pickle.dumps(model.simulator))  # what a Dask worker gets
    with factory() as copy:
        assert copy.initialize(0.0) == {"h": 1.0, "v": 0.0}


def test_close_is_idempotent_and_stepping_after_it_fails(ball2_fmu: Path) -> None:
    simulator = FmuSimulator(ball2_fmu)
    simulator.close()  # before initialize: nothing to free
    simulator.initialize(0.0)
    simulator.close()
    simulator.close()
    with pytest.raises(SimulationError, match="before initialize"):
        simulator.step(0.0, 0.1, {})


def test_missing_file_and_non_fmu_are_validation_errors(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no FMU at") as caught:
        FmuModel(tmp_path / "nothing.fmu")
    assert caught.value.path == str(tmp_path / "nothing.fmu")
    bogus = tmp_path / "bogus.fmu"
    bogus.write_text("not a zip", encoding="utf-8")
    with pytest.raises(ValidationError, match="not a valid FMU"):
        FmuModel(bogus)
    with zipfile.ZipFile(tmp_path / "empty.fmu", "w") as archive:
        archive.writestr("readme.txt", "no model description")
    with pytest.raises(ValidationError, match="not a valid FMU"):
        FmuModel(tmp_path / "empty.fmu")


def test_no_binary_for_this_platform_is_a_simulation_error(ball2_fmu: Path, tmp_path: Path) -> None:
    other = tmp_path / "windows-only.fmu"
    with zipfile.ZipFile(ball2_fmu) as source, zipfile.ZipFile(other, "w") as target:
        target.writestr("modelDescription.xml", source.read("modelDescription.xml"))
        target.writestr("binaries/win64/ball.dll", b"MZ")
    with pytest.raises(SimulationError, match=r"no binary for this platform .*win64"):
        FmuModel(other)


def test_interface_the_fmu_lacks_is_rejected(oscillator_fmu: Path) -> None:
    with pytest.raises(ValidationError, match="has no ModelExchange interface"):
        FmuModel(oscillator_fmu, interface="ModelExchange")


def test_fmi_status_error_names_the_variable_and_what_the_fmu_said(ball_fmu: Path) -> None:
    with FmuSimulator(ball_fmu) as simulator:
        with pytest.raises(SimulationError, match=r"setting e = 2\.0.*e must be in \[0, 1\]") as e:
            simulator.initialize(0.0, parameters={"e": 2.0})
        assert e.value.where is not None and e.value.where.endswith("/e")


def test_failing_step_names_the_time(ball_fmu: Path, oscillator_fmu: Path) -> None:
    # Co-simulation: a huge push makes the ball leave the box.
    ball = FmuSimulator(ball_fmu)
    with ball, pytest.raises(SimulationError, match=r"doStep .* at t=0\.3 s.*left the box"):
        simulate(ball, stop=1.0, dt=0.1, inputs=lambda t: {"a": 1e5 if t >= 0.2 else 0})
    # pythonfmu: do_step returned False.
    oscillator = FmuSimulator(oscillator_fmu)
    with oscillator, pytest.raises(SimulationError, match=r"doStep .* failed at t=0\.\d+ s"):
        simulate(oscillator, stop=5.0, dt=0.1, inputs={"F": 20.0}, parameters={"x_max": 1.5})


def test_steps_must_follow_each_other(ball2_fmu: Path) -> None:
    with FmuSimulator(ball2_fmu) as simulator:
        simulator.initialize(0.0)
        simulator.step(0.0, 0.1, {})
        with pytest.raises(SimulationError, match=r"step from t=0\.5 s but the FMU is at t=0\.1"):
            simulator.step(0.5, 0.1, {})
        with pytest.raises(ValidationError, match="unknown input"):
            simulator.step(0.1, 0.1, {"wind": 1.0})
        with pytest.raises(ValidationError, match="not a state of this FMU"):
            simulator.set_state({"h": 1.0})


def test_bad_options_are_validation_errors(ball2_fmu: Path) -> None:
    with pytest.raises(ValidationError, match="unknown solver"):
        FmuSimulator(ball2_fmu, solver="RK45")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="relative tolerance"):
        FmuSimulator(ball2_fmu, relative_tolerance=-1.0)

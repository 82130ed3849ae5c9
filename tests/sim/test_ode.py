"""ODE models: checked when made, solved adaptively to analytic accuracy, failing loudly."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
from ode_models import blow_up, decay, oscillator, tank

import twinkit.sim._ode as ode_module
from twinkit.errors import SimulationError, ValidationError
from twinkit.sim import Causality, Simulator, Variable, simulate
from twinkit.sim._ode import METHODS, OdeModel, OdeSimulator, OdeState

C = Causality


def _rhs(t: float, x: Mapping[str, Any], p: Mapping[str, Any], u: Mapping[str, Any]) -> Any:
    return {"x": -x["x"]}


def test_an_ode_simulator_is_a_simulator() -> None:
    assert isinstance(OdeSimulator(decay()), Simulator)


@pytest.mark.parametrize("method", METHODS)
def test_exponential_decay_matches_the_analytic_solution(method: str) -> None:
    result = simulate(
        OdeSimulator(decay(), method=method, rtol=1e-9, atol=1e-12),
        stop=10.0,
        dt=0.5,
        parameters={"k": 0.7},
        state={"x": 2.0},
    )
    np.testing.assert_allclose(result.outputs["x"], 2.0 * np.exp(-0.7 * result.times), rtol=1e-6)


def test_harmonic_oscillator_keeps_phase_and_energy() -> None:
    result = simulate(
        OdeSimulator(oscillator(), method="DOP853", rtol=1e-10, atol=1e-12),
        stop=20.0,
        dt=0.25,
        parameters={"omega": 3.0},
    )
    t = result.times
    np.testing.assert_allclose(result.outputs["x"], np.cos(3.0 * t), atol=1e-7)
    np.testing.assert_allclose(result.outputs["v"], -3.0 * np.sin(3.0 * t), atol=2e-7)
    np.testing.assert_allclose(result.outputs["energy"], 4.5, rtol=1e-7)


def test_states_are_outputs_and_inputs_are_held_over_each_step() -> None:
    simulator = OdeSimulator(tank(), rtol=1e-10, atol=1e-12)
    first = simulator.initialize(0.0, {"cv": 0.5}, {"level": 0.25})
    assert first == {"level": 0.25, "outflow": pytest.approx(0.25)}
    level = 0.25
    for _ in range(40):  # inflow equals outflow at level 0.25: the tank stays put
        out = simulator.step(simulator.get_state().t, 5.0, {"inflow": 0.25})
        level = out["level"]
    assert level == pytest.approx(0.25, abs=1e-8)
    out = simulator.step(200.0, 2000.0, {"inflow": 0.5})
    assert out["level"] == pytest.approx(1.0, rel=1e-4)  # steady (q/cv)^2
    assert out["outflow"] == pytest.approx(0.5, rel=1e-4)


def test_module_docstring_example_runs() -> None:
    doc = ode_module.__doc__ or ""
    example = re.search(r"\(Torricelli\)::\n\n(.*?)\n\n(?=\S)", doc, re.DOTALL)
    assert example is not None, "the worked example left the module docstring"
    namespace: dict[str, Any] = {}
    exec(compile(_dedent(example.group(1)), "twinkit/sim/_ode.py", "exec"), namespace)
    frame = namespace["result"].frame()
    assert frame["level"].iloc[-1] == pytest.approx((0.25 / 0.3) ** 2, rel=1e-3)
    assert frame["outflow"].iloc[-1] == pytest.approx(0.25, rel=1e-3)


def _dedent(text: str) -> str:
    return "\n".join(line[4:] for line in text.splitlines())


def test_get_and_set_state_fork_and_rewind_a_run() -> None:
    simulator = OdeSimulator(tank())
    simulator.initialize(0.0, {"area": 3.0})
    for t in range(0, 50, 10):
        simulator.step(float(t), 10.0, {"inflow": 0.4})
    snapshot = simulator.get_state()
    assert snapshot == OdeState(t=50.0, states=snapshot.states, parameters=snapshot.parameters)
    assert snapshot.parameters["area"] == 3.0
    ahead = [simulator.step(50.0 + t, 10.0, {"inflow": 0.1}) for t in range(0, 30, 10)]
    simulator.set_state(snapshot)  # rewind
    again = [simulator.step(50.0 + t, 10.0, {"inflow": 0.1}) for t in range(0, 30, 10)]
    fork = OdeSimulator(tank())  # a fresh simulator from the same factory, never initialized
    fork.set_state(snapshot)
    forked = [fork.step(50.0 + t, 10.0, {"inflow": 0.1}) for t in range(0, 30, 10)]
    assert ahead == again == forked
    assert ahead[0]["level"] != snapshot.states["level"]


def test_steps_must_follow_each_other() -> None:
    simulator = OdeSimulator(decay())
    with pytest.raises(SimulationError, match="before initialize"):
        simulator.step(0.0, 1.0, {})
    with pytest.raises(SimulationError, match="before initialize"):
        simulator.get_state()
    simulator.initialize(0.0)
    simulator.step(0.0, 1.0, {})
    with pytest.raises(SimulationError, match=r"expected t=1 s, got t=2 s"):
        simulator.step(2.0, 1.0, {})
    with pytest.raises(SimulationError, match="step size"):
        simulator.step(1.0, -1.0, {})


@pytest.mark.parametrize("method", METHODS)
def test_a_finite_time_blow_up_is_a_simulation_error_naming_the_time(method: str) -> None:
    with pytest.raises(SimulationError) as caught:
        simulate(OdeSimulator(blow_up(), method=method), stop=2.0, dt=0.3, parameters={"k": 1.0})
    message = str(caught.value)
    assert "blow_up" in message
    # the singularity is at t = 1; LSODA would retry one time forever if it were not stopped
    assert re.search(r"between t=0\.9 s and t=1\.2 s|stalled at t=0\.99\d* s", message), message


@pytest.mark.parametrize("method", ["LSODA", "BDF"])
def test_nan_derivatives_are_a_simulation_error(method: str) -> None:
    def rhs(t: float, x: Mapping[str, Any], p: Mapping[str, Any], u: Mapping[str, Any]) -> Any:
        return {"x": np.where(t > 3.0, np.nan, -x["x"])}

    model = OdeModel("poisoned", [Variable("x", C.STATE, start=1.0)], rhs)
    with pytest.raises(SimulationError, match=r"between t=3 s and t=4 s"):
        simulate(OdeSimulator(model, method=method), stop=10.0, dt=1.0)


def test_an_exception_in_the_model_is_a_simulation_error_with_its_cause() -> None:
    def rhs(t: float, x: Mapping[str, Any], p: Mapping[str, Any], u: Mapping[str, Any]) -> Any:
        if t > 2.5:
            raise ZeroDivisionError("valve closed")
        return {"x": -x["x"]}

    model = OdeModel("fragile", [Variable("x", C.STATE, start=1.0)], rhs)
    with pytest.raises(
        SimulationError, match=r"failed at t=2\.5\d* s: ZeroDivisionError"
    ) as caught:
        simulate(OdeSimulator(model, method="RK45"), stop=5.0, dt=0.5)
    assert isinstance(caught.value.__cause__, ZeroDivisionError)


def _bad_models() -> dict[str, Callable[[], OdeModel]]:
    state = Variable("x", C.STATE, start=1.0)

    def wrong_key(t: float, x: Any, p: Any, u: Any) -> Any:
        return {"y": -x["x"]}

    def extra_key(t: float, x: Any, p: Any, u: Any) -> Any:
        return {"x": -x["x"], "z": 1.0}

    def wrong_shape(t: float, x: Any, p: Any, u: Any) -> Any:
        return {"x": np.zeros(7)}

    def not_a_mapping(t: float, x: Any, p: Any, u: Any) -> Any:
        return [-x["x"]]

    def uses_math(t: float, x: Any, p: Any, u: Any) -> Any:
        return {"x": -math.sqrt(x["x"])}  # math on an array of members fails

    return {
        "duplicate name": lambda: OdeModel(
            "m", [state, Variable("x", C.PARAMETER, start=1.0)], _rhs
        ),
        "causality not a Causality": lambda: OdeModel(
            "m",
            [Variable("x", "state", start=1.0)],
            _rhs,  # type: ignore[arg-type]
        ),
        "not a variable": lambda: OdeModel("m", [state, ("k", "parameter")], _rhs),  # type: ignore[list-item]
        "state without start": lambda: OdeModel("m", [Variable("x", C.STATE)], _rhs),
        "input without start": lambda: OdeModel("m", [state, Variable("u", C.INPUT)], _rhs),
        "start not finite": lambda: OdeModel("m", [Variable("x", C.STATE, start=math.nan)], _rhs),
        "no state": lambda: OdeModel("m", [Variable("k", C.PARAMETER, start=1.0)], _rhs),
        "name not an identifier": lambda: OdeModel(
            "m", [state, Variable("flow rate", C.PARAMETER, start=1.0)], _rhs
        ),
        "outputs without output function": lambda: OdeModel(
            "m", [state, Variable("y", C.OUTPUT)], _rhs
        ),
        "output function without outputs": lambda: OdeModel("m", [state], _rhs, _rhs),
        "rhs not callable": lambda: OdeModel("m", [state], "x' = -x"),  # type: ignore[arg-type]
        "rhs returns another state": lambda: OdeModel("m", [state], wrong_key),
        "rhs returns an extra name": lambda: OdeModel("m", [state], extra_key),
        "rhs returns the wrong shape": lambda: OdeModel("m", [state], wrong_shape),
        "rhs returns a list": lambda: OdeModel("m", [state], not_a_mapping),
        "rhs fails on arrays": lambda: OdeModel("m", [state], uses_math),
        "no name": lambda: OdeModel("", [state], _rhs),
    }


@pytest.mark.parametrize("case", sorted(_bad_models()))
def test_bad_models_are_validation_errors(case: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _bad_models()[case]()
    error = caught.value
    assert error.path is not None and error.expected is not None, case


def test_a_wrong_rhs_with_required_parameters_is_caught_at_the_first_step() -> None:
    def rhs(t: float, x: Any, p: Any, u: Any) -> Any:
        return {"level": -p["k"] * x["x"]}

    model = OdeModel(  # k has no start: the functions cannot be probed when the model is made
        "late", [Variable("x", C.STATE, start=1.0), Variable("k", C.PARAMETER)], rhs
    )
    with pytest.raises(ValidationError, match="parameter 'k' has no start value"):
        OdeSimulator(model).initialize(0.0)
    with pytest.raises(ValidationError, match="derivative of state 'x' missing") as caught:
        simulate(OdeSimulator(model), stop=1.0, dt=0.5, parameters={"k": 1.0})
    assert caught.value.got == ["level"]


def test_unknown_names_and_settings_are_validation_errors() -> None:
    simulator = OdeSimulator(tank())
    with pytest.raises(ValidationError, match="unknown state 'volume'"):
        simulator.initialize(0.0, state={"volume": 1.0})
    with pytest.raises(ValidationError, match="unknown parameter 'diameter'"):
        simulator.initialize(0.0, parameters={"diameter": 1.0})
    simulator.initialize(0.0)
    with pytest.raises(ValidationError, match="unknown input 'outflow'"):
        simulator.step(0.0, 1.0, {"outflow": 1.0})
    with pytest.raises(ValidationError, match="unknown solver method"):
        OdeSimulator(tank(), method="rk4")
    with pytest.raises(ValidationError, match="rtol must be positive"):
        OdeSimulator(tank(), rtol=0.0)
    with pytest.raises(ValidationError, match="not a state of an OdeSimulator"):
        simulator.set_state((0.0, 1.0))
    partial = OdeState(t=0.0, states={}, parameters={})
    with pytest.raises(ValidationError, match="every state"):
        simulator.set_state(partial)

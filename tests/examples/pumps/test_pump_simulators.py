"""The station's simulators against the device physics they are built on (``_physics``)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from twinkit.errors import SimulationError, ValidationError
from twinkit.examples.pumps import (
    PipeSimulator,
    PumpSimulator,
    StationModel,
    StationSimulator,
    TankSimulator,
    ValveSimulator,
    station_layout,
)
from twinkit.examples.pumps._physics import (
    GRAVITY,
    RHO,
    PipeSpec,
    PumpSpec,
    PumpState,
    ValveSpec,
    ValveState,
    step_pump,
    step_valve,
    valve_flow,
)
from twinkit.sim import Simulator, simulate

NAMEPLATE = {"ratedSpeed": 1480.0, "ratedFlow": 30.0, "ratedHead": 32.0, "ratedPower": 15.0}
PIPE = {"length": 800.0, "diameter": 150.0, "roughness": 0.1, "minorLossCoefficient": 5.0}
TANK = {"area": 12.0, "height": 4.0}
VALVE = {"dischargeCoefficient": 0.106, "travelRate": 2.0}


def started(simulator: StationSimulator, parameters: dict[str, float], **state: float) -> Any:
    simulator.initialize(0.0, parameters, state)
    return simulator


@pytest.mark.parametrize("wear", [0.0, 0.3])
def test_the_pump_is_the_devices_pump_at_the_same_speed_and_flow(wear: float) -> None:
    spec, pipe = PumpSpec(), PipeSpec()
    device = PumpState(speed=1480.0, running=True, wear=wear, bearing_temperature=30.0)
    pump = started(
        PumpSimulator(),
        {**NAMEPLATE, "wear": wear},
        bearingTemperature=30.0,
        motorTemperature=20.0,
    )
    for second in range(600):  # from cold: the temperatures' lags, 5 time constants
        for _ in range(10):
            device = step_pump(replace(spec, wear_rate=0.0), device, 17.0, pipe, 0.1)
        inputs = {"speed": device.speed, "flow": device.flow * 1000.0, "voltage": 400.0}
        out = pump.step(float(second), 1.0, inputs)
        assert out["bearingTemperature"] == pytest.approx(device.bearing_temperature, abs=0.02)
        assert out["motorTemperature"] == pytest.approx(device.motor_temperature, abs=0.02)
    power = spec.electrical_power(spec.shaft_power(device.flow, device.speed, wear), device.speed)
    head = spec.head(device.flow, device.speed)
    assert out["head"] == pytest.approx(head) and 30.0 < head < 34.0
    assert out["dischargePressure"] == pytest.approx(RHO * GRAVITY * head / 1e5)
    assert out["efficiency"] == pytest.approx(spec.efficiency(device.flow, device.speed))
    assert out["motorPower"] == pytest.approx(power / 1000.0) and 12.0 < out["motorPower"] < 16.0
    assert out["motorCurrent"] == pytest.approx(spec.current(power, 400.0))
    vibration = spec.vibration_rms(device.speed, wear)
    assert out["vibration1"] == pytest.approx(vibration)
    assert out["vibration2"] == pytest.approx(1.3 * vibration)


def test_the_pipe_finds_the_operating_point_the_devices_run_at() -> None:
    layout = station_layout(3, replay_pump=False)
    station = StationModel(layout, wear_rate=0.0)
    pipe = started(PipeSimulator(), PIPE)
    for second in range(120):
        if second == 60:
            assert station.set_desired("pump-1", "speedSetpoint", 1250.0).ok
        level = station.tank_state.level
        for _ in range(10):
            station.step(0.1)
        state = station.pump_states["pump-1"]
        inputs = {**NAMEPLATE, "speed": state.speed, "level": level, "elevation": 15.0}
        del inputs["ratedPower"]
        out = pipe.step(float(second), 1.0, inputs)
        # the device's last 0.1 s step saw a level within a millimetre of ``level``
        assert out["flow"] == pytest.approx(state.flow * 1000.0, abs=0.01)
    spec = PipeSpec()
    assert out["velocity"] == pytest.approx(spec.velocity(out["flow"] / 1000.0))
    assert out["headLoss"] == pytest.approx(spec.head_loss(out["flow"] / 1000.0))
    assert 18.0 < out["flow"] < 26.0  # slower pump, less flow
    stopped = pipe.step(120.0, 1.0, {**inputs, "speed": 0.0})
    assert stopped == {"flow": 0.0, "velocity": 0.0, "headLoss": 0.0}


def test_the_tank_follows_the_devices_mass_balance() -> None:
    station = StationModel(station_layout(3, replay_pump=False), wear_rate=0.0)
    for _ in range(50):  # under way: the devices start with no flow yet
        station.step(0.1)
    tank = started(TankSimulator(), TANK, level=station.tank_state.level)
    for second in range(300):
        if second == 100:
            assert station.set_desired("valve-1", "openingSetpoint", 30.0).ok
        inflow = sum(s.flow for s in station.pump_states.values()) * 1000.0
        opening = station.valve_state.opening
        for _ in range(10):
            station.step(0.1)
        inputs = {"inflow": inflow, "opening": opening, "dischargeCoefficient": 0.106}
        out = tank.step(float(second), 1.0, inputs)
        # inputs held over each second, the device's change within it: millimetres apart
        assert out["level"] == pytest.approx(station.tank_state.level, abs=0.005)
    assert station.tank_state.level > 2.5  # the half-closed valve filled it
    assert out["volume"] == pytest.approx(12.0 * out["level"])
    assert out["outflow"] == pytest.approx(
        valve_flow(ValveSpec(0.106), 30.0, out["level"]) * 1000.0, rel=1e-3
    )


def test_the_tank_stops_at_full_and_at_empty_like_the_devices() -> None:
    tank = started(TankSimulator(), TANK, level=3.9)
    full = tank.step(0.0, 10.0, {"inflow": 500.0})  # no valve: nothing leaves
    assert full["level"] == 4.0 and full["outflow"] == 0.0
    tank.initialize(0.0, TANK, {"level": 0.05})
    empty = tank.step(0.0, 60.0, {"inflow": 0.0, "opening": 100.0, "dischargeCoefficient": 0.2})
    assert empty["level"] == 0.0 and empty["outflow"] == pytest.approx(0.0, abs=1e-9)


def test_the_valve_moves_like_its_actuator_and_passes_what_its_cv_says() -> None:
    valve = started(ValveSimulator(), VALVE, opening=60.0)
    device, spec = ValveState(60.0, 20.0), ValveSpec(0.106, 2.0)
    for second in range(30):
        device = step_valve(spec, device, 1.0)
        out = valve.step(float(second), 1.0, {"openingSetpoint": 20.0, "level": 2.0})
        assert out["opening"] == pytest.approx(device.opening)
        assert out["flow"] == pytest.approx(valve_flow(spec, device.opening, 2.0) * 1000.0)
    assert out["opening"] == 20.0


def test_time_scale_runs_the_plant_faster_than_the_twins_clock() -> None:
    inputs = {"speed": 1480.0, "flow": 30.0, "voltage": 400.0}
    slow = started(PumpSimulator(), NAMEPLATE, bearingTemperature=20.0)
    fast = started(PumpSimulator(time_scale=10.0), NAMEPLATE, bearingTemperature=20.0)
    for second in range(10):
        expected = slow.step(float(second), 1.0, inputs)
    for tenth in range(10):
        got = fast.step(tenth / 10.0, 0.1, inputs)
    assert got == pytest.approx(expected)
    with pytest.raises(ValidationError, match="time_scale"):
        TankSimulator(time_scale=-1.0)


def test_every_output_can_be_seeded_and_a_fork_runs_the_same() -> None:
    pump = PumpSimulator()
    assert isinstance(pump, Simulator)
    first = pump.initialize(5.0, NAMEPLATE, {"motorPower": 13.8, "bearingTemperature": 45.0})
    assert first["motorPower"] == 13.8 and first["bearingTemperature"] == 45.0
    assert first["head"] == 0.0 and first["motorTemperature"] == 20.0  # unseeded: 0 or start
    inputs = {"speed": 1480.0, "flow": 29.0, "voltage": 398.0}
    pump.step(5.0, 1.0, inputs)
    snapshot = pump.get_state()
    ahead = [pump.step(6.0 + i, 1.0, inputs) for i in range(3)]
    fork = PumpSimulator()  # a fresh one from the same factory, never initialized
    fork.set_state(snapshot)
    assert [fork.step(6.0 + i, 1.0, inputs) for i in range(3)] == ahead
    pump.set_parameters({"wear": 0.5})  # a scenario's fault: the bearing wears, state kept
    worn = pump.step(9.0, 1.0, inputs)
    assert worn["vibration1"] > 1.5 * ahead[-1]["vibration1"]
    assert worn["bearingTemperature"] > ahead[-1]["bearingTemperature"]


def test_bad_uses_are_refused_naming_what_and_where() -> None:
    pump = PumpSimulator()
    with pytest.raises(SimulationError, match="before initialize"):
        pump.step(0.0, 1.0, {})
    with pytest.raises(ValidationError, match="'ratedSpeed' has no default") as missing:
        pump.initialize(0.0, {"ratedFlow": 30.0})
    assert missing.value.where is not None and "ratedSpeed" in missing.value.where
    with pytest.raises(ValidationError, match="ratedPower must be positive"):
        pump.initialize(0.0, {**NAMEPLATE, "ratedPower": 0.0})
    with pytest.raises(ValidationError, match="wear cannot be negative"):
        pump.initialize(0.0, {**NAMEPLATE, "wear": -0.1})
    with pytest.raises(ValidationError, match="unknown state 'speed'"):
        pump.initialize(0.0, NAMEPLATE, {"speed": 1480.0})
    with pytest.raises(ValidationError, match="not a finite number"):
        pump.initialize(0.0, NAMEPLATE, {"head": math.nan})
    pump.initialize(0.0, NAMEPLATE)
    with pytest.raises(SimulationError, match=r"expected t=0 s, got t=3 s"):
        pump.step(3.0, 1.0, {})
    with pytest.raises(ValidationError, match="unknown input 'rpm'"):
        pump.step(0.0, 1.0, {"rpm": 1480.0})
    with pytest.raises(ValidationError, match="not a state of a PumpSimulator"):
        pump.set_state(TankSimulator().initialize(0.0, TANK))
    pipe = started(PipeSimulator(), PIPE)
    no_pump = {"speed": 1480.0, "ratedSpeed": 1480.0, "ratedFlow": 0.0, "ratedHead": 32.0}
    with pytest.raises(ValidationError, match="ratedFlow must be positive") as rated:
        pipe.step(0.0, 1.0, {**no_pump, "level": 2.0, "elevation": 15.0})
    assert rated.value.where is not None and "t=0" in rated.value.where
    with pytest.raises(ValidationError, match="'level' has no default"):  # no tank downstream
        pipe.step(0.0, 1.0, {**no_pump, "ratedFlow": 30.0, "elevation": 15.0})


def test_the_engine_runs_them_like_any_simulator() -> None:
    result = simulate(
        TankSimulator(),
        stop=600.0,
        dt=1.0,
        parameters=TANK,
        state={"level": 1.0},
        inputs={"inflow": 90.0, "opening": 60.0, "dischargeCoefficient": 0.106},
    )
    levels = result.frame()["level"]
    assert levels.iloc[0] == 1.0 and levels.is_monotonic_increasing
    balance = (90.0 / 1000.0 / (0.106 * 0.6)) ** 2  # where outflow meets inflow
    assert 1.0 < levels.iloc[-1] < balance

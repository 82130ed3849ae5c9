"""The station's physics: pump curve, affinity laws, pipe losses, tank mass balance, valve, wear."""

from __future__ import annotations

import math

import pytest

from twinkit.examples.pumps._physics import (
    GRAVITY,
    RHO,
    Alarm,
    PipeSpec,
    PumpSpec,
    PumpState,
    TankSpec,
    TankState,
    ValveSpec,
    ValveState,
    alarm_persists,
    operating_flow,
    step_pump,
    step_tank,
    step_valve,
    valve_flow,
)

PUMP = PumpSpec()
PIPE = PipeSpec()


def test_pump_curve_passes_through_rated_and_shutoff_points() -> None:
    assert PUMP.head(PUMP.rated_flow, PUMP.rated_speed) == pytest.approx(PUMP.rated_head)
    assert PUMP.head(0.0, PUMP.rated_speed) == pytest.approx(1.25 * PUMP.rated_head)
    assert PUMP.efficiency(PUMP.rated_flow, PUMP.rated_speed) == pytest.approx(PUMP.best_efficiency)
    assert PUMP.efficiency(0.5 * PUMP.rated_flow, PUMP.rated_speed) < PUMP.best_efficiency


@pytest.mark.parametrize("ratio", [0.5, 0.8, 1.1])
def test_affinity_laws(ratio: float) -> None:
    """Q scales with n, H with n²: the curve at speed s·n0 is the rated curve scaled."""
    for flow in (0.0, 0.01, 0.02, 0.03):
        scaled = PUMP.head(flow * ratio, PUMP.rated_speed * ratio)
        assert scaled == pytest.approx(ratio**2 * PUMP.head(flow, PUMP.rated_speed))
    best = PUMP.efficiency(PUMP.rated_flow * ratio, PUMP.rated_speed * ratio)
    assert best == pytest.approx(PUMP.best_efficiency)


def test_hydraulic_power_is_rho_g_q_h_over_eta() -> None:
    flow, speed = 0.025, 1400.0
    friction = 0.02 * PUMP.rated_power * speed / PUMP.rated_speed
    expected = RHO * GRAVITY * flow * PUMP.head(flow, speed) / PUMP.efficiency(flow, speed)
    assert PUMP.shaft_power(flow, speed) == pytest.approx(expected + friction)
    current = PUMP.current(10_000.0, 400.0)
    assert current == pytest.approx(10_000.0 / (math.sqrt(3) * 400.0 * PUMP.power_factor))


def test_pipe_loss_grows_with_flow_and_matches_darcy_weisbach() -> None:
    flow = 0.03
    velocity = flow / (math.pi * 0.15**2 / 4)
    f = PIPE.friction_factor(flow)
    assert 0.012 < f < 0.03  # turbulent flow in a smooth-ish pipe
    expected = (f * 800.0 / 0.15 + 5.0) * velocity**2 / (2 * GRAVITY)
    assert PIPE.head_loss(flow) == pytest.approx(expected)
    assert PIPE.head_loss(0.02) < PIPE.head_loss(0.03)
    assert PIPE.friction_factor(1e-6) == pytest.approx(
        64.0 / (abs(PIPE.velocity(1e-6)) * 0.15 / 1e-6)
    )


@pytest.mark.parametrize(("speed", "static"), [(1480.0, 17.0), (1200.0, 15.0), (1600.0, 19.0)])
def test_operating_point_is_where_pump_and_system_curves_meet(speed: float, static: float) -> None:
    flow = operating_flow(PUMP, PIPE, speed, static)
    assert flow > 0
    assert PUMP.head(flow, speed) == pytest.approx(static + PIPE.head_loss(flow), abs=1e-3)


def test_pump_cannot_lift_more_than_its_shutoff_head() -> None:
    assert operating_flow(PUMP, PIPE, 1000.0, 25.0) == 0.0  # H0·(1000/1480)² ≈ 18.3 m < 25 m


def test_higher_speed_and_lower_level_give_more_flow() -> None:
    assert operating_flow(PUMP, PIPE, 1480, 17) > operating_flow(PUMP, PIPE, 1200, 17)
    assert operating_flow(PUMP, PIPE, 1480, 16) > operating_flow(PUMP, PIPE, 1480, 18)


def test_tank_mass_balance_over_an_interval() -> None:
    tank, state = TankSpec(area=12.0, height=4.0), TankState(level=1.0)
    for _ in range(600):  # 60 s at 0.1 s
        state = step_tank(tank, state, inflow=0.09, outflow=0.06, dt=0.1)
    assert state.level == pytest.approx(1.0 + 0.03 * 60 / 12.0)


def test_tank_level_is_bounded_and_spills_when_full() -> None:
    tank = TankSpec(area=10.0, height=2.0)
    full = step_tank(tank, TankState(level=1.999), inflow=0.1, outflow=0.0, dt=1.0)
    assert full.level == 2.0
    assert full.overflow == pytest.approx(0.1 - 0.001 * 10.0)
    empty = step_tank(tank, TankState(level=0.001), inflow=0.0, outflow=0.1, dt=1.0)
    assert empty.level == 0.0
    assert empty.outflow == pytest.approx(0.01)  # only what was there could leave


def test_valve_opening_is_rate_limited_and_does_not_overshoot() -> None:
    valve, state = ValveSpec(travel_rate=2.0), ValveState(opening=20.0, setpoint=80.0)
    openings = []
    for _ in range(400):
        state = step_valve(valve, state, 0.1)
        openings.append(state.opening)
    assert openings[9] == pytest.approx(22.0)  # 2 %/s for 1 s
    assert openings[149] == pytest.approx(50.0)
    assert max(openings) == pytest.approx(80.0)
    assert valve_flow(valve, 50.0, 4.0) == pytest.approx(valve.cv * 0.5 * 2.0)
    assert valve_flow(valve, 50.0, -0.1) == 0.0


def _run(spec: PumpSpec, state: PumpState, seconds: float) -> PumpState:
    for _ in range(int(seconds / 0.5)):
        state = step_pump(spec, state, 17.0, PIPE, 0.5)
    return state


def test_speed_ramps_at_the_drive_acceleration_and_flow_follows() -> None:
    state = PumpState(speed=0.0, speed_setpoint=1480.0, running=True)
    state = step_pump(PUMP, state, 17.0, PIPE, 1.0)
    assert state.speed == pytest.approx(PUMP.acceleration)
    state = _run(PUMP, state, 10.0)
    assert state.speed == pytest.approx(1480.0)
    assert state.flow == pytest.approx(operating_flow(PUMP, PIPE, 1480.0, 17.0), rel=1e-6)


def test_wear_raises_vibration_and_bearing_temperature_until_the_pump_trips() -> None:
    spec = PumpSpec(wear_rate=1.0 / 1800.0)
    state = PumpState(speed=1480.0, speed_setpoint=1480.0, running=True, bearing_temperature=45.0)
    vibration = [spec.vibration_rms(state.speed, state.wear)]
    temperatures = [state.bearing_temperature]
    for _ in range(5):
        state = _run(spec, state, 120.0)
        vibration.append(spec.vibration_rms(state.speed, state.wear))
        temperatures.append(state.bearing_temperature)
    assert vibration == sorted(vibration) and vibration[-1] > 1.5 * vibration[0]
    assert temperatures == sorted(temperatures)
    assert state.alarm is Alarm.NONE
    for _ in range(3600):  # at most 30 more minutes
        state = step_pump(spec, state, 17.0, PIPE, 0.5)
        if state.alarm is not Alarm.NONE:
            break
    assert state.alarm is Alarm.HIGH_BEARING_TEMPERATURE
    assert state.bearing_temperature >= spec.trip_temperature
    assert not state.running
    assert alarm_persists(spec, state)  # still hot right after the trip
    state = _run(spec, state, 1200.0)  # stopped: the speed falls and the bearing cools
    assert state.speed == 0.0
    assert not alarm_persists(spec, state)


def test_a_stopped_pump_does_not_wear() -> None:
    state = _run(PUMP, PumpState(speed=0.0, running=False), 60.0)
    assert state.wear == 0.0 and state.flow == 0.0 and state.running_seconds == 0.0

"""Lumped physics of a pump station, in SI units (m, s, m³/s, Pa, W, rpm for speeds).

Each pump lifts water through its own pipe into one open tank, which a valve drains:

- pump curve H(Q, n) = H0·(n/n0)² - k·Q² (affinity laws), H0 = ``shutoff_ratio`` x rated head
  and k from the rated point; efficiency a parabola peaking at the best-efficiency flow, which
  scales with n/n0;
- system curve H = elevation + level + (f·L/D + K)·v²/2g, f by Swamee-Jain (64/Re when laminar);
- tank A·dL/dt = ΣQ_pumps - Q_valve, Q_valve = Cv·opening·sqrt(level);
- the valve opening and the pump speeds move toward their setpoints at finite rates;
- a bearing wears while the pump turns, raising vibration, friction and bearing temperature.

States are frozen dataclasses: ``step_*`` functions return the next state after ``dt`` seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final

__all__ = [
    "GRAVITY",
    "RHO",
    "Alarm",
    "PipeSpec",
    "PumpSpec",
    "PumpState",
    "TankSpec",
    "TankState",
    "ValveSpec",
    "ValveState",
    "alarm_persists",
    "operating_flow",
    "step_pump",
    "step_tank",
    "step_valve",
    "valve_flow",
]

GRAVITY: Final = 9.81
RHO: Final = 998.0
"""Density of water, kg/m³."""
KINEMATIC_VISCOSITY: Final = 1.0e-6
"""Of water at 20 °C, m²/s."""
_MIN_EFFICIENCY: Final = 0.05


class Alarm(StrEnum):
    """Why a pump tripped (the Pump model's ``PumpAlarm`` enum)."""

    NONE = "none"
    HIGH_BEARING_TEMPERATURE = "highBearingTemperature"
    HIGH_VIBRATION = "highVibration"


@dataclass(frozen=True, slots=True)
class PumpSpec:
    """A centrifugal pump and its motor, described by its rated (best-efficiency) point."""

    rated_speed: float = 1480.0
    rated_flow: float = 0.030
    rated_head: float = 32.0
    rated_power: float = 15_000.0
    """Motor rating, W: the no-load loss and the current scale with it."""
    shutoff_ratio: float = 1.25
    best_efficiency: float = 0.78
    motor_efficiency: float = 0.92
    power_factor: float = 0.85
    voltage: float = 400.0
    acceleration: float = 300.0
    """How fast the drive ramps the speed, rpm/s."""
    wear_rate: float = 1.0 / 1800.0
    """Wear index gained per second at rated speed (1.0 doubles friction, quadruples vibration)."""
    ambient: float = 20.0
    bearing_rise: float = 25.0
    """Bearing temperature above ambient at rated speed with a new bearing, K."""
    thermal_time: float = 120.0
    """Time constant of bearing and motor temperatures, s."""
    vibration: float = 0.03
    """RMS vibration at rated speed with a new bearing, g."""
    trip_temperature: float = 90.0
    trip_vibration: float = 0.5
    reset_margin: float = 5.0
    """How far below the trip temperature the bearing must cool before an alarm can be reset, K."""

    @property
    def shutoff_head(self) -> float:
        return self.rated_head * self.shutoff_ratio

    @property
    def curve_k(self) -> float:
        """k of H = H0·s² - k·Q², through the rated point."""
        return (self.shutoff_head - self.rated_head) / self.rated_flow**2

    def head(self, flow: float, speed: float) -> float:
        """Head (m) delivered at ``flow`` (m³/s) and ``speed`` (rpm); negative past run-out."""
        ratio = speed / self.rated_speed
        return self.shutoff_head * ratio * ratio - self.curve_k * flow * flow

    def efficiency(self, flow: float, speed: float) -> float:
        """Hydraulic efficiency: a parabola with its top at the best-efficiency flow Q0·n/n0."""
        if speed <= 0.0:
            return 0.0
        x = flow / (self.rated_flow * speed / self.rated_speed)
        return max(0.0, self.best_efficiency * (1.0 - (x - 1.0) ** 2))

    def shaft_power(self, flow: float, speed: float, wear: float = 0.0) -> float:
        """Shaft power, W: rho·g·Q·H/eta plus bearing friction, which grows with wear and speed."""
        if speed <= 0.0:
            return 0.0
        ratio = speed / self.rated_speed
        hydraulic = RHO * GRAVITY * flow * max(self.head(flow, speed), 0.0)
        friction = 0.02 * self.rated_power * ratio * (1.0 + wear)
        return hydraulic / max(self.efficiency(flow, speed), _MIN_EFFICIENCY) + friction

    def electrical_power(self, shaft_power: float, speed: float) -> float:
        """Power drawn from the grid, W: shaft power over the motor efficiency plus no-load loss."""
        if speed <= 0.0:
            return 0.0
        no_load = 0.03 * self.rated_power * speed / self.rated_speed
        return shaft_power / self.motor_efficiency + no_load

    def current(self, electrical_power: float, voltage: float) -> float:
        """Line current of a three-phase motor, A: P / (√3·U·cos φ)."""
        return electrical_power / (math.sqrt(3.0) * voltage * self.power_factor)

    def vibration_rms(self, speed: float, wear: float) -> float:
        """RMS vibration, g: grows with the square of speed and of (1 + wear)."""
        ratio = speed / self.rated_speed
        return self.vibration * (0.1 + ratio * ratio * (1.0 + wear) ** 2)


@dataclass(frozen=True, slots=True)
class PipeSpec:
    """A pipe, SI units: length and diameter in m, roughness in m."""

    length: float = 800.0
    diameter: float = 0.150
    roughness: float = 0.0001
    minor_loss: float = 5.0

    @property
    def area(self) -> float:
        return math.pi * self.diameter**2 / 4.0

    def velocity(self, flow: float) -> float:
        return flow / self.area

    def friction_factor(self, flow: float) -> float:
        """Darcy friction factor: 64/Re below Re 2000, Swamee-Jain above."""
        reynolds = abs(self.velocity(flow)) * self.diameter / KINEMATIC_VISCOSITY
        if reynolds < 1e-9:
            return 0.0
        if reynolds < 2000.0:
            return 64.0 / reynolds
        log_term = math.log10(self.roughness / (3.7 * self.diameter) + 5.74 / reynolds**0.9)
        return 0.25 / log_term**2

    def head_loss(self, flow: float) -> float:
        """Friction and fittings loss at ``flow``, m."""
        velocity = self.velocity(flow)
        resistance = self.friction_factor(flow) * self.length / self.diameter + self.minor_loss
        return resistance * velocity * velocity / (2.0 * GRAVITY)


def operating_flow(
    pump: PumpSpec, pipe: PipeSpec, speed: float, static_head: float, guess: float = 0.0
) -> float:
    """The flow (m³/s) where the pump curve meets the system curve static + pipe losses.

    Zero when the pump cannot lift the static head (a check valve stops backflow). The pipe
    resistance depends weakly on the flow through the friction factor, so a few fixed-point
    rounds of the closed form Q = sqrt((H0·s² - Hs)/(k + R(Q))) converge to well under 1 mm.
    """
    available = pump.head(0.0, speed) - static_head
    if available <= 0.0:
        return 0.0
    flow = guess if guess > 0.0 else pump.rated_flow
    for _ in range(6):
        resistance = pipe.head_loss(flow) / (flow * flow)
        flow = math.sqrt(available / (pump.curve_k + resistance))
    return flow


@dataclass(frozen=True, slots=True)
class PumpState:
    """What changes in a pump: the drive, the operator's switches, wear and temperatures."""

    speed: float = 0.0
    speed_setpoint: float = 1480.0
    enabled: bool = True
    running: bool = False
    alarm: Alarm = Alarm.NONE
    wear: float = 0.0
    bearing_temperature: float = 20.0
    motor_temperature: float = 20.0
    running_seconds: float = 0.0
    flow: float = 0.0


def step_pump(
    spec: PumpSpec, state: PumpState, static_head: float, pipe: PipeSpec, dt: float
) -> PumpState:
    """Advance one pump by ``dt`` s against a system with ``static_head`` m; trips on alarms."""
    target = state.speed_setpoint if state.running and state.enabled else 0.0
    change = max(-spec.acceleration * dt, min(spec.acceleration * dt, target - state.speed))
    speed = max(0.0, state.speed + change)
    ratio = speed / spec.rated_speed
    flow = operating_flow(spec, pipe, speed, static_head, state.flow) if speed > 0.0 else 0.0
    wear = state.wear + spec.wear_rate * ratio * dt
    blend = min(1.0, dt / spec.thermal_time)
    bearing_target = spec.ambient + spec.bearing_rise * ratio * (1.0 + wear) ** 2
    load = spec.electrical_power(spec.shaft_power(flow, speed, wear), speed) / spec.rated_power
    motor_target = spec.ambient + 40.0 * load * load
    bearing = state.bearing_temperature + (bearing_target - state.bearing_temperature) * blend
    motor = state.motor_temperature + (motor_target - state.motor_temperature) * blend
    alarm, running = state.alarm, state.running
    if alarm is Alarm.NONE:
        if bearing >= spec.trip_temperature:
            alarm, running = Alarm.HIGH_BEARING_TEMPERATURE, False
        elif spec.vibration_rms(speed, wear) >= spec.trip_vibration:
            alarm, running = Alarm.HIGH_VIBRATION, False
    return replace(
        state,
        speed=speed,
        running=running,
        alarm=alarm,
        wear=wear,
        bearing_temperature=bearing,
        motor_temperature=motor,
        running_seconds=state.running_seconds + (dt if speed > 0.0 else 0.0),
        flow=flow,
    )


def alarm_persists(spec: PumpSpec, state: PumpState) -> bool:
    """Whether the cause of the pump's alarm is still there (then it cannot be reset)."""
    if state.alarm is Alarm.HIGH_BEARING_TEMPERATURE:
        return state.bearing_temperature > spec.trip_temperature - spec.reset_margin
    if state.alarm is Alarm.HIGH_VIBRATION:
        # Vibration is only measured while turning; judge it at the speed it would restart at.
        return spec.vibration_rms(state.speed_setpoint, state.wear) >= spec.trip_vibration
    return False


@dataclass(frozen=True, slots=True)
class TankSpec:
    """An open vertical tank: cross-section (m²), height (m) and bottom elevation (m)."""

    area: float = 12.0
    height: float = 4.0
    elevation: float = 15.0

    @property
    def capacity(self) -> float:
        return self.area * self.height


@dataclass(frozen=True, slots=True)
class TankState:
    level: float = 2.0
    inflow: float = 0.0
    outflow: float = 0.0
    overflow: float = 0.0
    """Inflow spilled over the top during the last step, m³/s."""


def step_tank(
    spec: TankSpec, state: TankState, inflow: float, outflow: float, dt: float
) -> TankState:
    """Integrate A·dL/dt = inflow - outflow over ``dt``; the level stays within [0, height].

    Outflow beyond what the tank holds is cut (the valve cannot drain an empty tank further);
    inflow into a full tank spills over and is reported as ``overflow``.
    """
    level = state.level + (inflow - outflow) * dt / spec.area
    overflow = 0.0
    if level < 0.0:
        outflow += level * spec.area / dt
        level = 0.0
    elif level > spec.height:
        overflow = (level - spec.height) * spec.area / dt
        level = spec.height
    return TankState(level=level, inflow=inflow, outflow=outflow, overflow=overflow)


@dataclass(frozen=True, slots=True)
class ValveSpec:
    """A valve draining a tank: ``cv`` in m^2.5/s at full opening, travel rate in %/s."""

    cv: float = 0.106
    travel_rate: float = 2.0


@dataclass(frozen=True, slots=True)
class ValveState:
    opening: float = 60.0
    setpoint: float = 60.0


def step_valve(spec: ValveSpec, state: ValveState, dt: float) -> ValveState:
    """Move the opening toward the setpoint by at most ``travel_rate``·dt percent."""
    limit = spec.travel_rate * dt
    change = max(-limit, min(limit, state.setpoint - state.opening))
    return replace(state, opening=state.opening + change)


def valve_flow(spec: ValveSpec, opening: float, level: float) -> float:
    """Q = Cv·(opening/100)·sqrt(level), m³/s."""
    return spec.cv * (opening / 100.0) * math.sqrt(max(level, 0.0))

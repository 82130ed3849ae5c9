"""The simulated station as devices see it: physics built from a layout, measured with noise.

:class:`StationModel` owns the physical state of every twin of a layout (pumps, pipes, tank,
valve, station) and answers, per twin, what a device would: its telemetry (with seeded
measurement noise), its reported properties, and the outcome of desired values and commands.
It is thread-safe: the simulation loop steps it while MQTT callbacks write setpoints.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from twinkit.errors import ValidationError
from twinkit.examples.pumps._layout import PIPE, PUMP, STATION, TANK, VALVE, StationLayout, TwinSpec
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
    step_pump,
    step_tank,
    step_valve,
    valve_flow,
)

__all__ = ["Reply", "StationModel"]


@dataclass(frozen=True, slots=True)
class Reply:
    """A device's answer: an HTTP-like ``code``, the resulting ``value`` (the property's current
    value, or a command's response payload) and a ``description`` saying why when refused."""

    code: int
    value: Any = None
    description: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300


def _number(value: Any, low: float, high: float, unit: str) -> float | str:
    """``value`` as a float within [low, high], or the reason it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return f"expected a number from {low:g} to {high:g} {unit}, got {value!r}"
    if not low <= value <= high:
        return f"out of range: expected {low:g} to {high:g} {unit}, got {value!r}"
    return float(value)


def _prop(spec: TwinSpec, name: str, default: float) -> float:
    value = spec.properties.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(
            f"property {name!r} of twin {spec.id!r} must be a number to build its physics",
            model=spec.model,
            path=f"{spec.id}/{name}",
            expected="a number",
            got=value,
        )
    return float(value)


@dataclass(frozen=True, slots=True)
class _Pump:
    spec: PumpSpec
    pipe: PipeSpec
    pipe_id: str


class StationModel:
    """The physics of a station layout, with the device-side view of each of its twins."""

    def __init__(
        self,
        layout: StationLayout,
        *,
        seed: int = 0,
        wear_rate: float = 1.0 / 1800.0,
        level: float | None = None,
    ) -> None:
        """Build the plant from ``layout``: its pumps each feed one pipe into the one tank, which
        the valve drains. The first pump's bearing wears at ``wear_rate`` (per second at rated
        speed), the others at a tenth of it, so the demo has one drifting pump among healthy ones.
        """
        self.layout = layout
        self._lock = threading.RLock()
        self._specs = {spec.id: spec for spec in layout.twins}
        self._tank_id, self._valve_id, self._station_id = self._singletons(layout)
        tank = self._specs[self._tank_id]
        self.tank = TankSpec(
            _prop(tank, "area", 12.0), _prop(tank, "height", 4.0), _prop(tank, "elevation", 15.0)
        )
        self.tank_state = TankState(level=self.tank.height / 2.0 if level is None else level)
        self.high_alarm = _prop(tank, "highLevelAlarm", 0.9 * self.tank.height)
        self.low_alarm = _prop(tank, "lowLevelAlarm", 0.1 * self.tank.height)
        valve = self._specs[self._valve_id]
        self.valve = ValveSpec(
            _prop(valve, "dischargeCoefficient", 0.106), _prop(valve, "travelRate", 2.0)
        )
        opening = _prop(valve, "openingSetpoint", 60.0)
        self.valve_state = ValveState(opening=opening, setpoint=opening)
        self.pumps: dict[str, _Pump] = {}
        self.pump_states: dict[str, PumpState] = {}
        for index, spec in enumerate(self._hydraulic_pumps(layout)):
            self._add_pump(spec, layout, wear_rate if index == 0 else wear_rate / 10.0)
        self.time = 0.0
        ids = [s.id for s in layout.twins if s.id in self._handled]
        self._rngs = {tid: np.random.default_rng([seed, i]) for i, tid in enumerate(ids)}

    # --- construction --------------------------------------------------------------------

    def _singletons(self, layout: StationLayout) -> tuple[str, str, str]:
        found = []
        for model in (TANK, VALVE, STATION):
            twins = layout.of_model(model)
            if len(twins) != 1:
                raise ValidationError(
                    f"the station simulator handles exactly one twin of {model}",
                    model=model,
                    path="layout.twins",
                    expected="exactly one",
                    got=[t.id for t in twins],
                )
            found.append(twins[0].id)
        drained = layout.targets(found[1], "drains")
        if drained != (found[0],):
            raise ValidationError(
                f"valve {found[1]!r} must drain the tank {found[0]!r}",
                model=VALVE,
                path=f"{found[1]}/drains",
                expected=found[0],
                got=list(drained),
            )
        return found[0], found[1], found[2]

    def _hydraulic_pumps(self, layout: StationLayout) -> list[TwinSpec]:
        return [spec for spec in layout.of_model(PUMP) if spec.id != layout.replay_twin]

    def _add_pump(self, spec: TwinSpec, layout: StationLayout, wear_rate: float) -> None:
        fed = layout.targets(spec.id, "feeds")
        pipe_id = fed[0] if len(fed) == 1 else ""
        if pipe_id not in self._specs or self._specs[pipe_id].model != PIPE:
            raise ValidationError(
                f"pump {spec.id!r} must feed exactly one pipe",
                model=PUMP,
                path=f"{spec.id}/feeds",
                expected="one Pipe twin of the layout",
                got=list(fed),
            )
        if layout.targets(pipe_id, "connectsTo") != (self._tank_id,):
            raise ValidationError(
                f"pipe {pipe_id!r} must connect to the tank {self._tank_id!r}",
                model=PIPE,
                path=f"{pipe_id}/connectsTo",
                expected=self._tank_id,
                got=list(layout.targets(pipe_id, "connectsTo")),
            )
        pipe = self._specs[pipe_id]
        pump = PumpSpec(
            rated_speed=_prop(spec, "ratedSpeed", 1480.0),
            rated_flow=_prop(spec, "ratedFlow", 30.0) / 1000.0,
            rated_head=_prop(spec, "ratedHead", 32.0),
            rated_power=_prop(spec, "ratedPower", 15.0) * 1000.0,
            wear_rate=wear_rate,
        )
        self.pumps[spec.id] = _Pump(
            pump,
            PipeSpec(
                _prop(pipe, "length", 800.0),
                _prop(pipe, "diameter", 150.0) / 1000.0,
                _prop(pipe, "roughness", 0.1) / 1000.0,
                _prop(pipe, "minorLossCoefficient", 5.0),
            ),
            pipe_id,
        )
        enabled = spec.properties.get("enabled", True) is True
        setpoint = _prop(spec, "speedSetpoint", pump.rated_speed)
        warm = pump.ambient + pump.bearing_rise * (setpoint / pump.rated_speed if enabled else 0.0)
        self.pump_states[spec.id] = PumpState(
            speed=setpoint if enabled else 0.0,
            speed_setpoint=setpoint,
            enabled=enabled,
            running=enabled,
            bearing_temperature=warm,
            motor_temperature=warm,
        )

    @property
    def _handled(self) -> set[str]:
        pipes = {p.pipe_id for p in self.pumps.values()}
        return {self._station_id, self._tank_id, self._valve_id, *self.pumps, *pipes}

    @property
    def twin_ids(self) -> tuple[str, ...]:
        """The twins this model answers for, in layout order."""
        handled = self._handled
        return tuple(s.id for s in self.layout.twins if s.id in handled)

    # --- simulation ----------------------------------------------------------------------

    def step(self, dt: float) -> None:
        """Advance the whole plant by ``dt`` seconds of simulated time."""
        with self._lock:
            static_head = self.tank.elevation + self.tank_state.level
            inflow = 0.0
            for twin_id, pump in self.pumps.items():
                state = step_pump(pump.spec, self.pump_states[twin_id], static_head, pump.pipe, dt)
                self.pump_states[twin_id] = state
                inflow += state.flow
            self.valve_state = step_valve(self.valve, self.valve_state, dt)
            outflow = valve_flow(self.valve, self.valve_state.opening, self.tank_state.level)
            self.tank_state = step_tank(self.tank, self.tank_state, inflow, outflow, dt)
            self.time += dt

    # --- what the devices measure --------------------------------------------------------

    def telemetry(self, twin_id: str) -> dict[str, Any]:
        """One telemetry message of ``twin_id``, in the model's units, with measurement noise."""
        with self._lock:
            rng = self._rngs[twin_id]

            def noisy(value: float, sigma: float) -> float:
                return round(value + float(rng.normal(0.0, sigma)), 4)

            model = self._specs[twin_id].model
            if model == PUMP:
                return self._pump_telemetry(twin_id, noisy)
            if model == PIPE:
                return self._pipe_telemetry(twin_id, noisy)
            if model == TANK:
                level = self.tank_state.level
                return {
                    "level": noisy(level, 0.002),
                    "volume": noisy(level * self.tank.area, 0.002 * self.tank.area),
                    "inflow": noisy(self.tank_state.inflow * 1000.0, 0.1),
                    "outflow": noisy(self.tank_state.outflow * 1000.0, 0.1),
                    "highLevel": level >= self.high_alarm,
                    "lowLevel": level <= self.low_alarm,
                }
            if model == VALVE:
                opening = self.valve_state.opening
                flow = valve_flow(self.valve, opening, self.tank_state.level)
                return {"opening": noisy(opening, 0.05), "flow": noisy(flow * 1000.0, 0.1)}
            return self._station_telemetry()

    def _pump_telemetry(
        self, twin_id: str, noisy: Callable[[float, float], float]
    ) -> dict[str, Any]:
        spec, state = self.pumps[twin_id].spec, self.pump_states[twin_id]
        head = max(spec.head(state.flow, state.speed), 0.0) if state.speed > 0.0 else 0.0
        voltage = spec.voltage + float(self._rngs[twin_id].normal(0.0, 2.0))
        power = spec.electrical_power(
            spec.shaft_power(state.flow, state.speed, state.wear), state.speed
        )
        vibration = spec.vibration_rms(state.speed, state.wear)
        return {
            "speed": noisy(state.speed, 1.0),
            "flow": noisy(state.flow * 1000.0, 0.1),
            "head": noisy(head, 0.05),
            "dischargePressure": noisy(RHO * GRAVITY * head / 1e5, 0.005),
            "efficiency": noisy(spec.efficiency(state.flow, state.speed), 0.002),
            "motorPower": noisy(power / 1000.0, 0.05),
            "motorCurrent": noisy(spec.current(power, voltage), 0.05),
            "voltage": round(voltage, 2),
            "bearingTemperature": noisy(state.bearing_temperature, 0.1),
            "motorTemperature": noisy(state.motor_temperature, 0.1),
            "fluidTemperature": noisy(15.0 + 0.02 * self.time / 3600.0, 0.05),
            "vibration1": noisy(vibration, 0.002),
            "vibration2": noisy(vibration * 1.3, 0.002),
        }

    def _pipe_telemetry(
        self, twin_id: str, noisy: Callable[[float, float], float]
    ) -> dict[str, Any]:
        pump_id = next(pid for pid, p in self.pumps.items() if p.pipe_id == twin_id)
        pipe, flow = self.pumps[pump_id].pipe, self.pump_states[pump_id].flow
        return {
            "flow": noisy(flow * 1000.0, 0.1),
            "velocity": noisy(pipe.velocity(flow), 0.005),
            "headLoss": noisy(pipe.head_loss(flow), 0.02),
        }

    def _station_telemetry(self) -> dict[str, Any]:
        flow = sum(state.flow for state in self.pump_states.values())
        power = 0.0
        for twin_id, pump in self.pumps.items():
            s = self.pump_states[twin_id]
            power += pump.spec.electrical_power(
                pump.spec.shaft_power(s.flow, s.speed, s.wear), s.speed
            )
        return {
            "totalFlow": round(flow * 1000.0, 3),
            "totalPower": round(power / 1000.0, 3),
            "specificEnergy": round(power / 1000.0 / (flow * 3600.0), 4) if flow > 0 else 0.0,
            "runningPumps": sum(1 for s in self.pump_states.values() if s.speed > 0.0),
        }

    def properties(self, twin_id: str) -> dict[str, Any]:
        """The properties the device of ``twin_id`` reports: its nameplate and its state."""
        with self._lock:
            values = dict(self._specs[twin_id].properties)
            model = self._specs[twin_id].model
            if model == PUMP:
                state = self.pump_states[twin_id]
                values.update(
                    speedSetpoint=state.speed_setpoint,
                    enabled=state.enabled,
                    running=state.running,
                    alarm=str(state.alarm),
                    runningHours=round(state.running_seconds / 3600.0, 2),
                )
            elif model == TANK:
                values.update(
                    capacity=self.tank.capacity,
                    highLevelAlarm=self.high_alarm,
                    lowLevelAlarm=self.low_alarm,
                )
            elif model == VALVE:
                values.update(openingSetpoint=self.valve_state.setpoint)
            return values

    # --- control -------------------------------------------------------------------------

    def set_desired(self, twin_id: str, name: str, value: Any) -> Reply:
        """Apply one desired value; the Reply's value is the property's value afterwards."""
        with self._lock:
            model = self._specs[twin_id].model
            if model == PUMP and name in ("speedSetpoint", "enabled"):
                return self._set_pump(twin_id, name, value)
            if model == TANK and name in ("highLevelAlarm", "lowLevelAlarm"):
                return self._set_alarm_level(name, value)
            if model == VALVE and name == "openingSetpoint":
                checked = _number(value, 0.0, 100.0, "%")
                if isinstance(checked, str):
                    return Reply(400, self.valve_state.setpoint, checked)
                self.valve_state = replace(self.valve_state, setpoint=checked)
                return Reply(200, checked, "applied")
            current = self.properties(twin_id).get(name)
            return Reply(400, current, f"{name!r} is not a writable property of {model}")

    def _set_pump(self, twin_id: str, name: str, value: Any) -> Reply:
        spec, state = self.pumps[twin_id].spec, self.pump_states[twin_id]
        if name == "enabled":
            if not isinstance(value, bool):
                return Reply(400, state.enabled, f"expected true or false, got {value!r}")
            running = state.running and value
            self.pump_states[twin_id] = replace(state, enabled=value, running=running)
            return Reply(200, value, "applied" if value else "applied: pump disabled and stopped")
        checked = _number(value, 0.3 * spec.rated_speed, 1.1 * spec.rated_speed, "rpm")
        if isinstance(checked, str):
            return Reply(400, state.speed_setpoint, checked)
        self.pump_states[twin_id] = replace(state, speed_setpoint=checked)
        return Reply(200, checked, "applied")

    def _set_alarm_level(self, name: str, value: Any) -> Reply:
        high = name == "highLevelAlarm"
        current = self.high_alarm if high else self.low_alarm
        low_bound = self.low_alarm if high else 0.0
        high_bound = self.tank.height if high else self.high_alarm
        checked = _number(value, low_bound, high_bound, "m")
        if isinstance(checked, str):
            return Reply(400, current, checked)
        if high:
            self.high_alarm = checked
        else:
            self.low_alarm = checked
        return Reply(200, checked, "applied")

    def command(self, twin_id: str, name: str, request: Any) -> Reply:
        """Run a command; the Reply's value is the response payload."""
        with self._lock:
            if self._specs[twin_id].model != PUMP or name not in ("start", "stop", "resetAlarm"):
                model = self._specs[twin_id].model
                return Reply(404, None, f"{model} has no command {name!r}")
            spec, state = self.pumps[twin_id].spec, self.pump_states[twin_id]
            if name == "start":
                return self._start(twin_id, spec, state, request)
            if request is not None:
                return Reply(400, None, f"command {name!r} takes no request, got {request!r}")
            if name == "stop":
                self.pump_states[twin_id] = replace(state, running=False)
                return Reply(200, {"running": False})
            if state.alarm is Alarm.NONE:
                return Reply(200, {"cleared": "none", "alarm": "none"})
            if alarm_persists(spec, state):
                return Reply(409, None, f"alarm {state.alarm} persists: its cause has not gone")
            self.pump_states[twin_id] = replace(state, alarm=Alarm.NONE)
            return Reply(200, {"cleared": str(state.alarm), "alarm": "none"})

    def _start(self, twin_id: str, spec: PumpSpec, state: PumpState, request: Any) -> Reply:
        setpoint = state.speed_setpoint
        if request is not None:
            checked = _number(request, 0.3 * spec.rated_speed, 1.1 * spec.rated_speed, "rpm")
            if isinstance(checked, str):
                return Reply(400, None, f"speed: {checked}")
            setpoint = checked
        if not state.enabled:
            return Reply(409, None, "the pump is disabled: set enabled to true first")
        if state.alarm is not Alarm.NONE:
            return Reply(409, None, f"the pump has tripped on {state.alarm}: reset the alarm first")
        self.pump_states[twin_id] = replace(state, running=True, speed_setpoint=setpoint)
        return Reply(200, {"running": True, "speedSetpoint": setpoint})

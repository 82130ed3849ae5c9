"""The station's physics as :class:`~twinkit.sim.Simulator` objects, for shadow mode and scenarios.

Four simulators, one per model, each built on the equations of ``_physics`` that the device
simulators run, with NOMINAL equipment (a new bearing: ``wear = 0``; a clean valve: the ``Cv``
on the valve's nameplate). Units at their edges are the models' (l/s, kW, %, mm); inside, SI:

- :class:`PumpSimulator`: the pump curve and motor at the measured speed and flow: head,
  discharge pressure, efficiency, electrical power and current, vibration, and the bearing and
  motor temperatures (first-order lags toward their targets, solved exactly per step);
- :class:`PipeSimulator`: where the pump curve meets the system curve (static head from the
  tank's level and elevation, Darcy-Weisbach losses): the pipe's flow, velocity and head loss;
- :class:`ValveSimulator`: the actuator moving toward its setpoint at its travel rate, and the
  flow Cv·opening·sqrt(level) it lets out of the tank;
- :class:`TankSimulator`: the mass balance A·dL/dt = inflow - Cv·opening·sqrt(L), integrated
  in sub-steps of at most 0.1 s like the devices, with the same clipping at empty and full.

Every output can be seeded (``initialize(state=...)``): outputs that are states (temperatures,
the valve's opening, the tank's level) start from the seed; the others are reported as seeded
until the first step, since the inputs they depend on are not known before it. Unseeded, an
algebraic output is 0 and a state its ``start`` until then.

``time_scale`` is plant seconds per second of the twins' clock: the demo's devices run
``speedup`` times faster than the timestamps they send, and their shadow must too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from twinkit.errors import SimulationError, ValidationError
from twinkit.examples.pumps._physics import (
    GRAVITY,
    RHO,
    PipeSpec,
    PumpSpec,
    TankSpec,
    TankState,
    ValveSpec,
    ValveState,
    operating_flow,
    step_tank,
    step_valve,
    valve_flow,
)
from twinkit.sim import Causality, Variable
from twinkit.sim._protocol import check_inputs, check_outputs, check_parameters

__all__ = [
    "TANK_SUBSTEP",
    "VIBRATION2_RATIO",
    "PipeSimulator",
    "PumpSimulator",
    "StationSimulator",
    "StationSimulatorState",
    "TankSimulator",
    "ValveSimulator",
    "bearing_target",
    "motor_target",
]

TANK_SUBSTEP: Final = 0.1
"""Longest sub-step of the tank's mass balance, plant seconds (the devices' step)."""
VIBRATION2_RATIO: Final = 1.3
"""The second accelerometer reads this much more than the first (as the devices report it)."""
_MOTOR_RISE: Final = 40.0
"""Motor temperature above ambient at rated electrical load, K (as in ``step_pump``)."""

_P, _U, _O = Causality.PARAMETER, Causality.INPUT, Causality.OUTPUT


def bearing_target(spec: PumpSpec, speed: float, wear: float) -> float:
    """Bearing temperature the pump settles at, °C (the target of ``step_pump``)."""
    return spec.ambient + spec.bearing_rise * (speed / spec.rated_speed) * (1.0 + wear) ** 2


def motor_target(spec: PumpSpec, electrical_power: float) -> float:
    """Motor temperature the pump settles at, °C, for an electrical power in W."""
    load = electrical_power / spec.rated_power
    return spec.ambient + _MOTOR_RISE * load * load


@dataclass(frozen=True, slots=True)
class StationSimulatorState:
    """A snapshot of a station simulator: time, states, parameters and its latest outputs."""

    t: float
    states: Mapping[str, float]
    parameters: Mapping[str, float]
    outputs: Mapping[str, float]


class StationSimulator:
    """What the station's simulators share: checks, time keeping, seeding, get/set state.

    A subclass declares ``VARIABLES`` and ``STATES`` (outputs that are integrated over time),
    builds its equipment from the parameters in ``_configure`` and computes one step of
    ``dt`` plant seconds in ``_advance`` (new states, every output) without changing ``self``.
    """

    VARIABLES: ClassVar[tuple[Variable, ...]] = ()
    STATES: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, time_scale: float = 1.0) -> None:
        where = type(self).__name__
        if (
            isinstance(time_scale, bool)
            or not isinstance(time_scale, int | float)
            or not (math.isfinite(time_scale) and time_scale > 0)
        ):
            raise ValidationError(
                "time_scale must be a positive number",
                path=f"{where}/time_scale",
                expected="plant seconds per second of the twins' clock, > 0",
                got=time_scale,
            )
        self.time_scale = float(time_scale)
        self._where = where
        self._t: float | None = None
        self._p: dict[str, float] = {}
        self._x: dict[str, float] = {}
        self._out: dict[str, float] = {}

    @property
    def variables(self) -> Sequence[Variable]:
        return self.VARIABLES

    def initialize(
        self,
        t0: float,
        parameters: Mapping[str, float] | None = None,
        state: Mapping[str, float] | None = None,
    ) -> Mapping[str, float]:
        """Start at ``t0``: parameters checked, states and outputs from ``state`` (see module)."""
        if isinstance(t0, bool) or not isinstance(t0, int | float) or not math.isfinite(t0):
            raise ValidationError(
                "start time must be finite", path=f"{self._where}/t0", expected="seconds", got=t0
            )
        values = check_parameters(self.VARIABLES, parameters, f"{self._where}/parameters")
        self._configure(values)
        seeds = self._seeds(state or {})
        starts = {v.name: v.start for v in self.VARIABLES}
        self._p = values
        self._x = {name: seeds.get(name, starts[name] or 0.0) for name in self.STATES}
        outputs = {v.name: 0.0 for v in self.VARIABLES if v.causality is _O}
        self._out = check_outputs({**outputs, **self._x, **seeds}, t0, self._where)
        self._t = float(t0)
        return dict(self._out)

    def step(self, t: float, dt: float, inputs: Mapping[str, float]) -> Mapping[str, float]:
        """Advance from ``t`` (where the last step ended) by ``dt`` with ``inputs`` held."""
        if self._t is None:
            raise SimulationError(f"{self._where}: step before initialize", where=self._where)
        if not math.isclose(t, self._t, rel_tol=1e-12, abs_tol=1e-9):
            raise SimulationError(
                f"{self._where}: a step must start where the last ended: expected "
                f"t={self._t:g} s, got t={t:g} s",
                where=self._where,
            )
        if not (math.isfinite(dt) and dt > 0):
            raise SimulationError(
                f"{self._where}: step size must be finite and positive, got dt={dt!r} at t={t:g} s",
                where=self._where,
            )
        where = f"{self._where}/inputs at t={t:g}"
        checked = check_inputs(self.VARIABLES, inputs, where)
        states, outputs = self._advance(checked, dt * self.time_scale, where)
        self._out = check_outputs(outputs, t + dt, self._where)
        self._x = states
        self._t = t + dt
        return dict(self._out)

    def set_parameters(self, values: Mapping[str, float]) -> None:
        """Change parameters mid-run (a scenario's fault: a worn bearing); the state is kept."""
        merged = check_parameters(
            self.VARIABLES, {**self._p, **values}, f"{self._where}/parameters"
        )
        self._configure(merged)
        self._p = merged

    def get_state(self) -> StationSimulatorState:
        if self._t is None:
            raise SimulationError(f"{self._where}: no state before initialize", where=self._where)
        return StationSimulatorState(self._t, dict(self._x), dict(self._p), dict(self._out))

    def set_state(self, state: Any) -> None:
        """Rewind or fork: take the time, states, parameters and outputs of a snapshot."""
        if not isinstance(state, StationSimulatorState) or set(state.states) != set(self.STATES):
            raise ValidationError(
                f"not a state of a {self._where}",
                path=f"{self._where}/state",
                expected=f"a StationSimulatorState with states {sorted(self.STATES)}",
                got=type(state).__name__,
            )
        parameters = check_parameters(self.VARIABLES, state.parameters, f"{self._where}/state")
        self._configure(parameters)
        self._p = parameters
        self._x = dict(state.states)
        self._out = dict(state.outputs)
        self._t = float(state.t)

    def close(self) -> None:
        return None

    def _seeds(self, state: Mapping[str, float]) -> dict[str, float]:
        outputs = {v.name for v in self.VARIABLES if v.causality is _O}
        seeds = {}
        for name, value in state.items():
            path = f"{self._where}/state/{name}"
            if name not in outputs:
                raise ValidationError(
                    f"unknown state {name!r}",
                    path=path,
                    expected=f"one of the outputs {sorted(outputs)}",
                    got=name,
                )
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise ValidationError(
                    f"state {name!r} is not a finite number",
                    path=path,
                    expected="a finite number",
                    got=value,
                )
            seeds[name] = float(value)
        return seeds

    def _configure(self, parameters: Mapping[str, float]) -> None:
        """Check the parameters make physical sense and build the equipment from them."""

    def _advance(
        self, inputs: Mapping[str, float], dt: float, where: str
    ) -> tuple[dict[str, float], dict[str, float]]:
        raise NotImplementedError


def _positive(values: Mapping[str, float], names: Sequence[str], where: str) -> None:
    for name in names:
        if not values[name] > 0:
            raise ValidationError(
                f"{name} must be positive", path=f"{where}/{name}", expected="> 0", got=values[name]
            )


def _relax(value: float, target: float, dt: float, time_constant: float) -> float:
    """A first-order lag toward a held target, solved exactly over ``dt``."""
    return target + (value - target) * math.exp(-dt / time_constant)


class PumpSimulator(StationSimulator):
    """A centrifugal pump and its motor at the measured speed and flow, with a new bearing.

    ``wear`` is the bearing's wear index (0: new, the nominal pump; a scenario may raise it).
    Flow is an input, not an output: it is set by the system the pump works into, which the
    :class:`PipeSimulator` of its pipe predicts.
    """

    VARIABLES = (
        Variable("ratedSpeed", _P, unit="rpm"),
        Variable("ratedFlow", _P, unit="l/s"),
        Variable("ratedHead", _P, unit="m"),
        Variable("ratedPower", _P, unit="kW"),
        Variable("wear", _P, start=0.0, description="bearing wear index; 0 is a new bearing"),
        Variable("speed", _U, start=0.0, unit="rpm"),
        Variable("flow", _U, start=0.0, unit="l/s"),
        Variable("voltage", _U, start=400.0, unit="V"),
        Variable("head", _O, unit="m"),
        Variable("dischargePressure", _O, unit="bar"),
        Variable("efficiency", _O),
        Variable("motorPower", _O, unit="kW"),
        Variable("motorCurrent", _O, unit="A"),
        Variable("bearingTemperature", _O, start=20.0, unit="degC"),
        Variable("motorTemperature", _O, start=20.0, unit="degC"),
        Variable("vibration1", _O, unit="g"),
        Variable("vibration2", _O, unit="g"),
    )
    STATES = ("bearingTemperature", "motorTemperature")

    def _configure(self, parameters: Mapping[str, float]) -> None:
        where = f"{self._where}/parameters"
        _positive(parameters, ("ratedSpeed", "ratedFlow", "ratedHead", "ratedPower"), where)
        if parameters["wear"] < 0:
            raise ValidationError(
                "wear cannot be negative",
                path=f"{where}/wear",
                expected=">= 0 (0 is a new bearing)",
                got=parameters["wear"],
            )
        self._spec = PumpSpec(
            rated_speed=parameters["ratedSpeed"],
            rated_flow=parameters["ratedFlow"] / 1000.0,
            rated_head=parameters["ratedHead"],
            rated_power=parameters["ratedPower"] * 1000.0,
        )

    def _advance(
        self, inputs: Mapping[str, float], dt: float, where: str
    ) -> tuple[dict[str, float], dict[str, float]]:
        spec, wear = self._spec, self._p["wear"]
        speed = max(inputs["speed"], 0.0)
        flow = max(inputs["flow"], 0.0) / 1000.0
        power = spec.electrical_power(spec.shaft_power(flow, speed, wear), speed)
        states = {
            "bearingTemperature": _relax(
                self._x["bearingTemperature"],
                bearing_target(spec, speed, wear),
                dt,
                spec.thermal_time,
            ),
            "motorTemperature": _relax(
                self._x["motorTemperature"], motor_target(spec, power), dt, spec.thermal_time
            ),
        }
        head = max(spec.head(flow, speed), 0.0) if speed > 0.0 else 0.0
        volts = inputs["voltage"] if inputs["voltage"] > 0 else spec.voltage
        vibration = spec.vibration_rms(speed, wear)
        return states, {
            "head": head,
            "dischargePressure": RHO * GRAVITY * head / 1e5,
            "efficiency": spec.efficiency(flow, speed),
            "motorPower": power / 1000.0,
            "motorCurrent": spec.current(power, volts),
            **states,
            "vibration1": vibration,
            "vibration2": vibration * VIBRATION2_RATIO,
        }


class PipeSimulator(StationSimulator):
    """A pump's discharge pipe into a tank: the operating point of pump curve and system curve.

    The pump's speed and rating come in as inputs (from the pump that feeds the pipe), as do
    the level and elevation of the tank it discharges into; the static head is their sum.
    """

    VARIABLES = (
        Variable("length", _P, unit="m"),
        Variable("diameter", _P, unit="mm"),
        Variable("roughness", _P, unit="mm"),
        Variable("minorLossCoefficient", _P),
        Variable("speed", _U, start=0.0, unit="rpm", description="of the pump that feeds it"),
        Variable("ratedSpeed", _U, unit="rpm"),
        Variable("ratedFlow", _U, unit="l/s"),
        Variable("ratedHead", _U, unit="m"),
        Variable("level", _U, unit="m", description="of the tank it discharges into"),
        Variable("elevation", _U, unit="m", description="of the tank's bottom above the pump"),
        Variable("flow", _O, unit="l/s"),
        Variable("velocity", _O, unit="m/s"),
        Variable("headLoss", _O, unit="m"),
    )

    def _configure(self, parameters: Mapping[str, float]) -> None:
        _positive(parameters, ("length", "diameter"), f"{self._where}/parameters")
        for name in ("roughness", "minorLossCoefficient"):
            if parameters[name] < 0:
                raise ValidationError(
                    f"{name} cannot be negative",
                    path=f"{self._where}/parameters/{name}",
                    expected=">= 0",
                    got=parameters[name],
                )
        self._pipe = PipeSpec(
            length=parameters["length"],
            diameter=parameters["diameter"] / 1000.0,
            roughness=parameters["roughness"] / 1000.0,
            minor_loss=parameters["minorLossCoefficient"],
        )

    def _advance(
        self, inputs: Mapping[str, float], dt: float, where: str
    ) -> tuple[dict[str, float], dict[str, float]]:
        _positive(inputs, ("ratedSpeed", "ratedFlow", "ratedHead"), where)
        pump = PumpSpec(
            rated_speed=inputs["ratedSpeed"],
            rated_flow=inputs["ratedFlow"] / 1000.0,
            rated_head=inputs["ratedHead"],
        )
        speed = max(inputs["speed"], 0.0)
        static = inputs["elevation"] + inputs["level"]
        guess = self._out.get("flow", 0.0) / 1000.0
        flow = operating_flow(pump, self._pipe, speed, static, guess) if speed > 0.0 else 0.0
        return {}, {
            "flow": flow * 1000.0,
            "velocity": self._pipe.velocity(flow),
            "headLoss": self._pipe.head_loss(flow),
        }


class ValveSimulator(StationSimulator):
    """The tank's outlet valve: its actuator follows the setpoint, its flow the tank's level."""

    VARIABLES = (
        Variable("dischargeCoefficient", _P, unit="m2.5/s", description="Cv at full opening"),
        Variable("travelRate", _P, unit="%/s"),
        Variable("openingSetpoint", _U, unit="%"),
        Variable("level", _U, unit="m", description="of the tank it drains"),
        Variable("opening", _O, start=0.0, unit="%"),
        Variable("flow", _O, unit="l/s"),
    )
    STATES = ("opening",)

    def _configure(self, parameters: Mapping[str, float]) -> None:
        _positive(parameters, ("dischargeCoefficient", "travelRate"), f"{self._where}/parameters")
        self._valve = ValveSpec(parameters["dischargeCoefficient"], parameters["travelRate"])

    def _advance(
        self, inputs: Mapping[str, float], dt: float, where: str
    ) -> tuple[dict[str, float], dict[str, float]]:
        setpoint = min(max(inputs["openingSetpoint"], 0.0), 100.0)
        moved = step_valve(self._valve, ValveState(self._x["opening"], setpoint), dt)
        flow = valve_flow(self._valve, moved.opening, inputs["level"])
        return {"opening": moved.opening}, {"opening": moved.opening, "flow": flow * 1000.0}


class TankSimulator(StationSimulator):
    """An open tank filled by its pipes and drained by its valve (no valve: a closed outlet)."""

    VARIABLES = (
        Variable("area", _P, unit="m2"),
        Variable("height", _P, unit="m"),
        Variable("inflow", _U, start=0.0, unit="l/s", description="sum of the pipes' flows"),
        Variable("opening", _U, start=0.0, unit="%", description="of the outlet valve"),
        Variable("dischargeCoefficient", _U, start=0.0, unit="m2.5/s", description="its Cv"),
        Variable("level", _O, start=0.0, unit="m"),
        Variable("volume", _O, unit="m3"),
        Variable("outflow", _O, unit="l/s"),
    )
    STATES = ("level",)

    def _configure(self, parameters: Mapping[str, float]) -> None:
        _positive(parameters, ("area", "height"), f"{self._where}/parameters")
        self._tank = TankSpec(area=parameters["area"], height=parameters["height"])

    def _advance(
        self, inputs: Mapping[str, float], dt: float, where: str
    ) -> tuple[dict[str, float], dict[str, float]]:
        valve = ValveSpec(cv=max(inputs["dischargeCoefficient"], 0.0))
        opening = min(max(inputs["opening"], 0.0), 100.0)
        inflow = inputs["inflow"] / 1000.0
        count = max(1, math.ceil(dt / TANK_SUBSTEP - 1e-9))
        state = TankState(level=min(max(self._x["level"], 0.0), self._tank.height))
        for _ in range(count):
            outflow = valve_flow(valve, opening, state.level)
            state = step_tank(self._tank, state, inflow, outflow, dt / count)
        return {"level": state.level}, {
            "level": state.level,
            "volume": state.level * self._tank.area,
            "outflow": state.outflow * 1000.0,
        }

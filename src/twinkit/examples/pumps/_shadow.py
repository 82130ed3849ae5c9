"""The pump station's physics in shadow mode: a worn bearing or a clogged valve as a residual.

:func:`shadow_bindings` binds one simulator (``_simulators``) to each equipment model. Why one
per model and not one for the station: a residual belongs on the twin whose sensor shows it
(pump-1's vibration, not the station's), and the relationships of the models reach, in one hop,
everything each simulator needs, so each twin's shadow reads its inputs off the live graph:

- **Pump** (``feeds`` → pipe): the pump curve and motor at the measured ``speed`` and
  ``voltage`` and at the flow its pipe measures (``Related("feeds", "flow")``), predicting
  head, discharge pressure, efficiency, motor power and current, bearing and motor
  temperatures and both vibrations. The pump cannot see the tank (two hops away: pump →
  ``feeds`` → pipe → ``connectsTo`` → tank), so its operating point is the pipe's job;
- **Pipe** (pump → ``feeds`` → pipe → ``connectsTo`` → tank): where the curve of the pump
  feeding it (its speed and rating, ``incoming=True``) meets the system curve of static head
  (the tank's level and elevation) plus friction: the pipe's flow, velocity and head loss;
- **Valve** (``drains`` → tank): the actuator following ``openingSetpoint`` at ``travelRate``,
  and Cv·opening·sqrt(level) with the Cv of its nameplate: opening and flow;
- **Tank** (pipes → ``connectsTo`` → tank ← ``drains`` ← valve): the mass balance with the
  inflow the pipes measure (their sum) and the outflow of its valve's measured opening and
  nameplate Cv: level, volume and outflow.

Parameters are the twins' nameplates (ratings, lengths, areas, Cv); nothing is fitted, and
the models are nominal (``wear = 0``, a clean valve), so a healthy station gives residuals
within its sensors' noise and a fault moves them away from zero: a worn bearing raises pump
vibration (at once), motor power and current, and bearing temperature (over its 2-minute
thermal lag); a valve passing less than its opening says shows at once in the valve's flow and
the tank's outflow, and as a tank level that climbs away from the simulated one.

Each binding seeds every output it predicts from the measured value (states from the
measurement, the others for the start only), so a shadow starts with zero residuals instead of
comparing the first measurement with outputs of inputs not yet known.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Final

from twinkit.errors import ValidationError
from twinkit.examples.pumps._layout import PIPE, PUMP, TANK, VALVE
from twinkit.examples.pumps._simulators import (
    PipeSimulator,
    PumpSimulator,
    StationSimulator,
    TankSimulator,
    ValveSimulator,
)
from twinkit.sim import Related, SimulationBinding

__all__ = ["BINDING_NAME", "PLANT_STEP", "shadow_bindings"]

BINDING_NAME: Final = "physics"
PLANT_STEP: Final = 1.0
"""Step of every shadow, in plant seconds (the devices publish once per plant second)."""


def _same(*names: str) -> dict[str, str]:
    return {name: name for name in names}


def _binding(
    model: str,
    simulator: type[StationSimulator],
    time_scale: float,
    *,
    parameters: Mapping[str, str],
    inputs: Mapping[str, str | Related],
    outputs: Mapping[str, str],
    feedthrough: bool = False,
) -> SimulationBinding:
    return SimulationBinding(
        model=model,
        factory=functools.partial(simulator, time_scale=time_scale),
        dt=PLANT_STEP / time_scale,
        parameters=parameters,
        inputs=inputs,
        states=outputs,  # every prediction starts from its measurement
        outputs=outputs,
        name=BINDING_NAME,
        feedthrough=feedthrough,
    )


def shadow_bindings(*, time_scale: float = 1.0) -> list[SimulationBinding]:
    """The station's simulators bound to the Pump, Pipe, Valve and Tank models.

    The plug-in of ``twinkit serve --simulators twinkit.examples.pumps:shadow_bindings``.
    ``time_scale``: plant seconds per second of the twins' clock (the demo's ``--speedup``);
    each shadow steps once per plant second.
    """
    if (
        isinstance(time_scale, bool)
        or not isinstance(time_scale, int | float)
        or not (math.isfinite(time_scale) and time_scale > 0)
    ):
        raise ValidationError(
            "time_scale must be a positive number",
            path="shadow_bindings/time_scale",
            expected="plant seconds per second of the twins' clock, > 0",
            got=time_scale,
        )
    feeding = functools.partial(Related, "feeds", aggregate="mean", incoming=True)
    return [
        _binding(
            PUMP,
            PumpSimulator,
            time_scale,
            parameters=_same("ratedSpeed", "ratedFlow", "ratedHead", "ratedPower"),
            inputs={"speed": "speed", "flow": Related("feeds", "flow"), "voltage": "voltage"},
            outputs=_same(
                "head",
                "dischargePressure",
                "efficiency",
                "motorPower",
                "motorCurrent",
                "bearingTemperature",
                "motorTemperature",
                "vibration1",
                "vibration2",
            ),
            # power, current and head follow the speed and flow of the same reading
            feedthrough=True,
        ),
        _binding(
            PIPE,
            PipeSimulator,
            time_scale,
            parameters=_same("length", "diameter", "roughness", "minorLossCoefficient"),
            inputs={
                **{
                    name: feeding(name)
                    for name in ("speed", "ratedSpeed", "ratedFlow", "ratedHead")
                },
                "level": Related("connectsTo", "level"),
                "elevation": Related("connectsTo", "elevation"),
            },
            outputs=_same("flow", "velocity", "headLoss"),
            feedthrough=True,  # the operating point of the same reading's speed and level
        ),
        _binding(
            VALVE,
            ValveSimulator,
            time_scale,
            parameters=_same("dischargeCoefficient", "travelRate"),
            inputs={"openingSetpoint": "openingSetpoint", "level": Related("drains", "level")},
            outputs=_same("opening", "flow"),
        ),
        _binding(
            TANK,
            TankSimulator,
            time_scale,
            parameters=_same("area", "height"),
            inputs={
                "inflow": Related("connectsTo", "flow", incoming=True),
                "opening": Related("drains", "opening", aggregate="mean", incoming=True),
                "dischargeCoefficient": Related("drains", "dischargeCoefficient", incoming=True),
            },
            outputs=_same("level", "volume", "outflow"),
        ),
    ]

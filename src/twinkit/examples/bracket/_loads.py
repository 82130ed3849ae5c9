"""What the bracket goes through: a hoist's duty cycle, and a crack that may grow in it.

:class:`HoistDutyCycle` is the load at the hook over time, cycle after cycle of one lift:

1. the hook hangs empty while a load is slung (``hook_weight`` only);
2. lift-off: the payload's weight comes on over ``ramp`` seconds (a smooth ramp), and the
   rope's stretch makes it bounce (``dynamic_factor`` of the payload at ``bounce_frequency``,
   damped): the dynamic factor of hoisting standards;
3. the load hangs and swings as a pendulum on its rope (period ``2π sqrt(rope_length / g)``,
   lightly damped) from an initial angle off the vertical, across the bar and along it: the
   rope's pull then has a sideways (``loadLateral``) and an along-the-bar (``loadAxial``)
   component;
4. set-down: the payload comes off over ``ramp`` seconds; the hook hangs empty again.

Each cycle draws its payload (a fraction of the rated load) and its swing from a generator
seeded by ``(seed, cycle)``, so the history is a pure function of time: a device and a test
that ask for the load at ``t`` get the same number.

:class:`Crack` is the fault: from ``start`` on, the stiffness of the crack zone falls linearly
by ``severity`` over ``growth`` seconds, in steps of ``resolution`` (each step is one more
factorization of the full model in the simulated device).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, NamedTuple

import numpy as np

from twinkit.errors import ValidationError

__all__ = ["GRAVITY", "Crack", "HoistDutyCycle", "HookLoad"]

GRAVITY: Final = 9.81


class HookLoad(NamedTuple):
    """The load at the hook, N, by the load cell's components (see the model)."""

    loadVertical: float  # the model's names
    loadLateral: float
    loadAxial: float


class _Lift(NamedTuple):
    payload: float  # N
    swing_lateral: float  # rad, initial angle across the bar
    swing_axial: float  # rad, initial angle along the bar
    phase: float  # rad, of the along-the-bar swing against the sideways one


def _check(name: str, value: float, low: float, high: float = math.inf) -> None:
    if isinstance(value, bool) or not (
        isinstance(value, int | float) and math.isfinite(value) and low <= value <= high
    ):
        raise ValidationError(
            f"invalid {name}",
            path=f"duty_cycle/{name}",
            expected=f"a number from {low:g} to {high:g}",
            got=value,
        )


def _smooth(x: float) -> float:
    """0 before 0, 1 after 1, a smooth (cosine) step in between."""
    clipped = min(max(x, 0.0), 1.0)
    return 0.5 - 0.5 * math.cos(math.pi * clipped)


@dataclass(frozen=True, slots=True)
class HoistDutyCycle:
    """A hoist's lifts at the bracket's tip, one every ``period`` s; see the module docstring.

    Times within a cycle: the payload comes on at ``lift_at`` and off at ``lower_at`` (each
    over ``ramp`` s). ``payload`` is the range of payload fractions of ``rated_load``;
    ``max_swing`` the largest initial swing angle, degrees.
    """

    rated_load: float = 10_000.0
    hook_weight: float = 250.0
    period: float = 60.0
    lift_at: float = 10.0
    lower_at: float = 40.0
    ramp: float = 3.0
    payload: tuple[float, float] = (0.2, 1.0)
    rope_length: float = 3.0
    max_swing: float = 3.0
    swing_damping: float = 0.01
    dynamic_factor: float = 0.15
    bounce_frequency: float = 1.2
    bounce_damping: float = 0.08
    seed: int = 0

    def __post_init__(self) -> None:
        _check("rated_load", self.rated_load, 1e-9)
        _check("hook_weight", self.hook_weight, 0.0)
        _check("period", self.period, 1e-9)
        _check("ramp", self.ramp, 1e-9)
        _check("lift_at", self.lift_at, 0.0, self.period)
        _check("lower_at", self.lower_at, self.lift_at + self.ramp, self.period - self.ramp)
        _check("payload low", self.payload[0], 0.0, self.payload[1])
        _check("payload high", self.payload[1], self.payload[0], 2.0)
        _check("rope_length", self.rope_length, 1e-3)
        _check("max_swing", self.max_swing, 0.0, 30.0)
        _check("swing_damping", self.swing_damping, 0.0, 1.0)
        _check("dynamic_factor", self.dynamic_factor, 0.0, 1.0)
        _check("bounce_frequency", self.bounce_frequency, 1e-3)
        _check("bounce_damping", self.bounce_damping, 0.0, 1.0)

    @property
    def swing_period(self) -> float:
        return 2 * math.pi * math.sqrt(self.rope_length / GRAVITY)

    def lift(self, cycle: int) -> _Lift:
        """What cycle ``cycle`` lifts: its payload and initial swing (seeded by the cycle)."""
        return _draw(self.seed, cycle, self.payload, self.rated_load, self.max_swing)

    def at(self, t: float) -> HookLoad:
        """The load at the hook at ``t`` seconds since the hoist started (``t >= 0``)."""
        cycle = max(math.floor(t / self.period), 0)
        tau = t - cycle * self.period
        lift = self.lift(cycle)
        on = _smooth((tau - self.lift_at) / self.ramp) - _smooth((tau - self.lower_at) / self.ramp)
        hanging = tau - self.lift_at  # since lift-off began
        vertical = self.hook_weight
        lateral = axial = 0.0
        if on > 0:
            omega = 2 * math.pi / self.swing_period
            swing = math.exp(-self.swing_damping * omega * hanging)
            across = lift.swing_lateral * swing * math.cos(omega * hanging)
            along = lift.swing_axial * swing * math.cos(omega * hanging + lift.phase)
            bounce_omega = 2 * math.pi * self.bounce_frequency
            bounce = (
                self.dynamic_factor
                * math.exp(-self.bounce_damping * bounce_omega * hanging)
                * math.sin(bounce_omega * hanging)
            )
            weight = lift.payload * on
            vertical += weight * (math.cos(across) * math.cos(along) + bounce)
            lateral = weight * math.sin(across)
            axial = weight * math.sin(along)
        return HookLoad(vertical, lateral, axial)


@lru_cache(maxsize=256)
def _draw(
    seed: int, cycle: int, payload: tuple[float, float], rated: float, max_swing: float
) -> _Lift:
    rng = np.random.default_rng([seed, cycle])
    fraction = float(rng.uniform(*payload))
    limit = math.radians(max_swing)
    return _Lift(
        payload=fraction * rated,
        swing_lateral=float(rng.uniform(-limit, limit)),
        swing_axial=float(rng.uniform(-limit, limit)) / 2,
        phase=float(rng.uniform(0.0, 2 * math.pi)),
    )


@dataclass(frozen=True, slots=True)
class Crack:
    """A crack in the crack zone: stiffness ``1 - severity`` there once grown; see the module
    docstring. Times in seconds since the device started."""

    start: float
    severity: float = 0.6
    growth: float = 120.0
    resolution: float = 0.05

    def __post_init__(self) -> None:
        for name, value, low, high in (
            ("start", self.start, 0.0, math.inf),
            ("severity", self.severity, 0.0, 0.95),
            ("growth", self.growth, 0.0, math.inf),
            ("resolution", self.resolution, 1e-3, 1.0),
        ):
            if isinstance(value, bool) or not (
                isinstance(value, int | float) and math.isfinite(value) and low <= value <= high
            ):
                raise ValidationError(
                    f"invalid crack {name}",
                    path=f"crack/{name}",
                    expected=f"a number from {low:g} to {high:g}",
                    got=value,
                )

    def stiffness(self, t: float) -> float:
        """The crack zone's stiffness factor at ``t`` (1 before the crack starts)."""
        if t < self.start:
            return 1.0
        grown = 1.0 if self.growth == 0 else (t - self.start) / self.growth
        if grown >= 1.0:
            return round(1.0 - self.severity, 9)
        lost = math.floor(self.severity * grown / self.resolution + 1e-9) * self.resolution
        return round(1.0 - min(lost, self.severity), 9)

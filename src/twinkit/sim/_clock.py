"""The engine's two clocks: simulated time as fast as possible, or wall-clock time with a factor.

As in SimPy (``Environment`` and ``RealtimeEnvironment``), the model does not know which clock
drives it: the engine asks the clock to wait until each step's simulated end time. A
:class:`SimulatedClock` never waits (what-if scenarios, ensembles); a :class:`RealtimeClock`
sleeps so that ``factor`` simulated seconds pass per wall-clock second (``factor=1`` runs in step
with the plant, ``factor=60`` plays an hour in a minute). ``strict`` realtime raises when the
simulator cannot keep up, as SimPy's does, instead of drifting silently.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

from twinkit.errors import SimulationError, ValidationError

__all__ = ["Clock", "RealtimeClock", "SimulatedClock"]


class Clock(Protocol):
    """When the engine may go on to simulated time ``t``."""

    def start(self, t0: float) -> None:
        """Anchor the clock: simulated ``t0`` is now."""
        ...

    def delay(self, t: float) -> float:
        """Seconds of wall-clock time to wait before simulated time ``t`` is reached (>= 0)."""
        ...


@dataclass(slots=True)
class SimulatedClock:
    """Simulated time only: the engine runs as fast as the simulator can go."""

    def start(self, t0: float) -> None:
        return None

    def delay(self, t: float) -> float:
        return 0.0


@dataclass(slots=True)
class RealtimeClock:
    """``factor`` simulated seconds per wall-clock second.

    With ``strict``, a step that ends more than ``tolerance`` wall seconds late raises
    :class:`SimulationError` (the simulator is too slow for this factor).
    """

    factor: float = 1.0
    strict: bool = False
    tolerance: float = 0.5
    _t0: float = field(default=0.0, init=False)
    _wall0: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        if not self.factor > 0:
            raise ValidationError(
                "realtime factor must be positive",
                path="clock/factor",
                expected="simulated seconds per wall-clock second, > 0",
                got=self.factor,
            )

    def start(self, t0: float) -> None:
        self._t0 = t0
        self._wall0 = time.monotonic()

    def delay(self, t: float) -> float:
        due = self._wall0 + (t - self._t0) / self.factor
        wait = due - time.monotonic()
        if self.strict and wait < -self.tolerance:
            raise SimulationError(
                f"simulation too slow for realtime factor {self.factor:g}: "
                f"t={t:g} s reached {-wait:.2f} s late (tolerance {self.tolerance:g} s)",
                where="clock",
            )
        return max(wait, 0.0)

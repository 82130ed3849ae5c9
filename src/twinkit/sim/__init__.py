"""Simulation (L3): simulators bound to twins, run in shadow mode or ahead of reality.

One protocol (:class:`Simulator`, after FMI co-simulation), one engine (:func:`simulate`) with
two clocks (:class:`SimulatedClock`, :class:`RealtimeClock`), and bindings that say how a twin
model's contents feed a simulator and what it predicts (:class:`SimulationBinding`).
"""

from __future__ import annotations

from twinkit.sim._binding import Bindings, Related, SimulationBinding, twin_value
from twinkit.sim._clock import Clock, RealtimeClock, SimulatedClock
from twinkit.sim._engine import Inputs, SimulationResult, simulate
from twinkit.sim._protocol import Causality, Simulator, Variable

__all__ = [
    "Bindings",
    "Causality",
    "Clock",
    "Inputs",
    "RealtimeClock",
    "Related",
    "SimulatedClock",
    "SimulationBinding",
    "SimulationResult",
    "Simulator",
    "Variable",
    "simulate",
    "twin_value",
]

"""The bracket's reduced-order model as a Simulator, timed in the live loop.

:class:`BracketSimulator` is what the twin runs in shadow mode: a
:class:`~twinkit.sim.RomSimulator` of the bracket with the model's names and units at its
edges. Inputs are the load cell's three components (N); outputs the gauges' strains
(microstrain), the downward tip deflection (mm), the largest von Mises stress (Pa), the
utilisation (that stress over the yield strength) and the ROM's relative error bound.
Parameters: the crack zone's stiffness factor (1 = as built, the default; a what-if or an
estimator may change it within the range the ROM was trained on) and the yield strength.

Every step is one ROM evaluation; :class:`RomTiming` keeps its wall time, so the figure that
says the model keeps up (microseconds against a publish interval of a fraction of a second) is
measured where it matters: in the shadow runner's worker, on live loads.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from twinkit.errors import SimulationError, ValidationError
from twinkit.examples.bracket._spec import CRACK, TIP
from twinkit.sim._fem import StaticState
from twinkit.sim._fem_elastic_problem import MAX_VON_MISES
from twinkit.sim._protocol import Causality, Variable, check_parameters
from twinkit.sim._rom import ROM_ERROR_BOUND, Rom, RomEvaluation, RomSimulator

__all__ = [
    "DERIVED",
    "YIELD",
    "BracketSimulator",
    "BracketState",
    "RomTiming",
    "TimingSummary",
]

logger = logging.getLogger(__name__)

YIELD = "yieldStrength"
DERIVED = ("tipDeflection", "maxVonMises", "utilisation")
"""Outputs that are derived quantities of the model (no sensor measures them here)."""
_BOUND = "romErrorBound"


@dataclass(frozen=True, slots=True)
class TimingSummary:
    """ROM evaluations timed in the live loop: how many, and their median, p99 and max (s)."""

    count: int
    median: float
    p99: float
    max: float

    def describe(self, interval: float | None = None) -> str:
        """One line for a person; with ``interval`` (s) also how far below it the median is."""
        if not self.count:
            return "ROM: no load update yet"
        line = (
            f"ROM: {self.count:,} load updates, {self.median * 1e6:.1f} µs median, "
            f"{self.p99 * 1e6:.1f} µs p99, {self.max * 1e6:.1f} µs max per update"
        )
        if interval is not None and self.median > 0:
            line += f" ({interval / self.median:,.0f}x below the {interval:g} s publish interval)"
        return line


class RomTiming:
    """Wall time of each evaluation, the last ``window`` kept; logged every ``log_every`` s.

    Thread-safe: the shadow runner's worker records, the demo and the API read.
    """

    def __init__(
        self,
        *,
        window: int = 10_000,
        log_every: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._times: deque[float] = deque(maxlen=window)
        self._count = 0
        self._lock = threading.Lock()
        self._log_every = log_every
        self._monotonic = monotonic
        self._next_log = monotonic() + log_every

    def record(self, seconds: float) -> None:
        with self._lock:
            self._times.append(seconds)
            self._count += 1
            due = self._monotonic() >= self._next_log
            if due:
                self._next_log = self._monotonic() + self._log_every
        if due:
            logger.info("bracket %s", self.summary().describe())

    def summary(self) -> TimingSummary:
        with self._lock:
            ordered = sorted(self._times)
            count = self._count
        if not ordered:
            return TimingSummary(count, 0.0, 0.0, 0.0)
        return TimingSummary(
            count=count,
            median=ordered[len(ordered) // 2],
            p99=ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)],
            max=ordered[-1],
        )


@dataclass(frozen=True, slots=True)
class BracketState:
    """Where a :class:`BracketSimulator` stands: the ROM simulator's state and the yield."""

    static: StaticState
    yield_strength: float


class BracketSimulator:
    """The bracket's ROM with the model's names and units; see the module docstring."""

    def __init__(self, rom: Rom, *, yield_strength: float, timing: RomTiming | None = None) -> None:
        if CRACK not in rom.parameter_names or TIP not in rom.meta["outputs"]:
            raise ValidationError(
                "not a ROM of a bracket",
                path="rom",
                expected=f"a ROM with parameter {CRACK!r} and output {TIP!r}",
                got={"parameters": list(rom.parameter_names), "outputs": rom.meta["outputs"]},
            )
        self._inner = RomSimulator(rom)
        self._timing = timing
        self.gauges: tuple[str, ...] = tuple(n for n in rom.meta["outputs"] if n != TIP)
        low, high = (float(v) for v in rom.ranges[rom.parameter_names.index(CRACK)])
        self._variables = (
            Variable(
                CRACK,
                Causality.PARAMETER,
                1.0,
                "1",
                f"stiffness factor of the crack zone, {low:g} to {high:g} (1 = as built)",
            ),
            Variable(YIELD, Causality.PARAMETER, yield_strength, "Pa", "yield strength"),
            *(Variable(n, Causality.INPUT, 0.0, "N", "load at the hook") for n in rom.load_names),
            *(Variable(n, Causality.OUTPUT, unit="microstrain") for n in self.gauges),
            Variable("tipDeflection", Causality.OUTPUT, unit="mm", description="downward"),
            Variable("maxVonMises", Causality.OUTPUT, unit="Pa"),
            Variable("utilisation", Causality.OUTPUT, unit="1", description="stress / yield"),
            Variable(_BOUND, Causality.OUTPUT, unit="1", description="relative error bound"),
        )
        self._yield = yield_strength

    @property
    def variables(self) -> Sequence[Variable]:
        return self._variables

    @property
    def rom(self) -> Rom:
        return self._inner.rom

    @property
    def evaluation(self) -> RomEvaluation | None:
        """The last evaluation (a field for display is reconstructed from it)."""
        return self._inner.evaluation

    def initialize(
        self,
        t0: float,
        parameters: Mapping[str, float] | None = None,
        state: Mapping[str, float] | None = None,
    ) -> Mapping[str, float]:
        where = type(self).__name__
        values = check_parameters(self._variables, parameters, where)
        self._yield = _check_yield(values[YIELD], where)
        raw = self._inner.initialize(t0, {CRACK: values[CRACK]}, state)
        return self._outputs(raw)

    def step(self, t: float, dt: float, inputs: Mapping[str, float]) -> Mapping[str, float]:
        started = time.perf_counter()
        raw = self._inner.step(t, dt, inputs)
        if self._timing is not None:
            self._timing.record(time.perf_counter() - started)
        return self._outputs(raw)

    def _outputs(self, raw: Mapping[str, float]) -> dict[str, float]:
        outputs = {name: raw[name] for name in self.gauges}
        outputs["tipDeflection"] = 0.0 - 1e3 * raw[TIP]  # down is positive (never -0.0)
        outputs["maxVonMises"] = raw[MAX_VON_MISES]
        outputs["utilisation"] = raw[MAX_VON_MISES] / self._yield
        outputs[_BOUND] = raw[ROM_ERROR_BOUND]
        return outputs

    def get_state(self) -> BracketState:
        return BracketState(self._inner.get_state(), self._yield)

    def set_state(self, state: object) -> None:
        if not isinstance(state, BracketState):
            raise ValidationError(
                "not a state of a bracket simulator",
                path=f"{type(self).__name__}/state",
                expected="a BracketState",
                got=type(state).__name__,
            )
        self._inner.set_state(state.static)
        self._yield = state.yield_strength

    def close(self) -> None:
        self._inner.close()


def _check_yield(value: float, where: str) -> float:
    if not (math.isfinite(value) and value > 0):
        raise SimulationError(f"yield strength must be > 0 Pa, got {value!r}", where=where)
    return value

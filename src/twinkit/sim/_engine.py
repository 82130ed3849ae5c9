"""The engine: drive any :class:`Simulator` over a horizon, on either clock.

``simulate`` is the one-call level (FMPy's ``simulate_fmu`` is the model): initialize, step
from ``start`` to ``stop`` every ``dt`` with inputs held over each step, collect every output
into a :class:`SimulationResult`. It is synchronous and CPU-bound; a server runs it in a worker
thread (``await asyncio.to_thread(simulate, ...)``) and watches it through ``progress`` and
``on_step``, and can stop it with ``cancel``.

Inputs come as a constant mapping, a function of time, or a time-indexed ``DataFrame`` (one
column per input; the value at a step's start is the last row at or before it: a zero-order
hold, as an FMI master does).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from twinkit.errors import SimulationError, ValidationError
from twinkit.sim._clock import Clock, SimulatedClock
from twinkit.sim._protocol import Simulator, check_inputs, check_outputs

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["Inputs", "SimulationResult", "input_function", "simulate", "step_ends"]

Inputs: TypeAlias = (
    Mapping[str, float] | Callable[[float], Mapping[str, float]] | pd.DataFrame | None
)
logger = logging.getLogger(__name__)

MAX_STEPS = 10_000_000
_PROGRESS_EVERY = 0.2  # seconds of wall-clock time between progress reports


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """Outputs (and the inputs used) at every step end, from ``times[0]`` (the initial state)."""

    times: npt.NDArray[np.float64]
    outputs: Mapping[str, npt.NDArray[np.float64]]
    inputs: Mapping[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    final_state: Any = None
    cancelled: bool = False

    def frame(self) -> pd.DataFrame:
        """Outputs, then inputs, as columns of a frame indexed by simulated time (seconds)."""
        columns = {**self.outputs, **{f"input:{k}": v for k, v in self.inputs.items()}}
        return pd.DataFrame(columns, index=pd.Index(self.times, name="time"))

    def plot(self, *names: str, ax: Axes | None = None) -> Axes:
        """Plot the named outputs (all by default) against time; needs matplotlib."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(9, 4))
        for name in names or tuple(self.outputs):
            if name not in self.outputs:
                raise ValidationError(
                    f"no output {name!r} to plot",
                    path=name,
                    expected=f"one of {sorted(self.outputs)}",
                    got=name,
                )
            ax.plot(self.times, self.outputs[name], label=name)
        ax.set_xlabel("time (s)")
        ax.legend()
        return ax


def input_function(inputs: Inputs) -> Callable[[float], Mapping[str, float]]:
    """The inputs as a function of simulated time (a frame is held from row to row)."""
    if inputs is None:
        return lambda t: {}
    if isinstance(inputs, pd.DataFrame):
        return _held(inputs)
    if callable(inputs):
        return inputs
    constant = dict(inputs)
    return lambda t: constant


def _held(frame: pd.DataFrame) -> Callable[[float], Mapping[str, float]]:
    index = np.asarray(frame.index, dtype=np.float64)
    if len(index) == 0 or np.any(np.diff(index) < 0):
        raise ValidationError(
            "input frame must have rows, indexed by increasing simulated time",
            path="inputs",
            expected="a non-empty DataFrame with a sorted float index (seconds)",
            got=f"{len(index)} rows",
        )
    names = [str(c) for c in frame.columns]
    values = frame.to_numpy(dtype=np.float64)

    def at(t: float) -> Mapping[str, float]:
        row = max(int(np.searchsorted(index, t, side="right")) - 1, 0)
        return dict(zip(names, values[row].tolist(), strict=True))

    return at


def step_ends(start: float, stop: float, dt: float) -> npt.NDArray[np.float64]:
    """The end time of every step from ``start`` to ``stop`` (the last one shortened to fit)."""
    for name, value in (("start", start), ("stop", stop), ("dt", dt)):
        if not math.isfinite(value):
            raise ValidationError(
                f"{name} is not finite", path=name, expected="a finite number", got=value
            )
    if not dt > 0 or not stop > start:
        raise ValidationError(
            "a simulation needs stop > start and dt > 0",
            path="horizon",
            expected="start < stop, dt > 0",
            got={"start": start, "stop": stop, "dt": dt},
        )
    count = math.ceil((stop - start) / dt - 1e-9)
    if count > MAX_STEPS:
        raise ValidationError(
            f"{count:,} steps is more than one run may take ({MAX_STEPS:,})",
            path="dt",
            expected=f"(stop - start) / dt <= {MAX_STEPS:,}",
            got=dt,
        )
    ends = start + dt * np.arange(1, count + 1, dtype=np.float64)
    ends[-1] = stop
    return ends


def simulate(
    simulator: Simulator,
    *,
    stop: float,
    dt: float,
    start: float = 0.0,
    inputs: Inputs = None,
    parameters: Mapping[str, float] | None = None,
    state: Mapping[str, float] | None = None,
    clock: Clock | None = None,
    progress: Callable[[float], None] | None = None,
    on_step: Callable[[float, Mapping[str, float]], None] | None = None,
    cancel: threading.Event | None = None,
) -> SimulationResult:
    """Initialize ``simulator`` at ``start`` and step it to ``stop``; return every output.

    ``progress`` gets the fraction done (at most five times a second, and 1.0 at the end);
    ``on_step`` gets each step's end time and outputs; setting ``cancel`` ends the run after the
    current step with ``cancelled=True``. A diverging or failing simulator raises
    :class:`SimulationError` naming the time it failed at.
    """
    ends = step_ends(start, stop, dt).tolist()
    where = type(simulator).__name__
    input_at = _checked_inputs(inputs, simulator, start, where)
    first = check_outputs(dict(simulator.initialize(start, parameters, state)), start, where)
    names = list(first)
    rows: list[list[float]] = [list(first.values())]
    applied: list[Mapping[str, float]] = []
    paced = clock is not None and not isinstance(clock, SimulatedClock)
    if clock is not None and paced:
        clock.start(start)
    t, reported = start, time.monotonic()
    for end in ends:
        if cancel is not None and cancel.is_set():
            break
        u = input_at(t)
        rows.append(_step(simulator, t, end, u, names=names, where=where))
        applied.append(u)
        if on_step is not None:
            on_step(end, dict(zip(names, rows[-1], strict=True)))
        if clock is not None and paced and (wait := clock.delay(end)) > 0:
            time.sleep(wait)
        t = end
        if progress is not None and time.monotonic() - reported >= _PROGRESS_EVERY:
            progress(len(applied) / len(ends))
            reported = time.monotonic()
    done = len(applied)
    if progress is not None and done == len(ends):
        progress(1.0)
    table = np.array(rows, dtype=np.float64).reshape(done + 1, len(names))
    return SimulationResult(
        times=np.array([start, *ends[:done]], dtype=np.float64),
        outputs={name: table[:, i].copy() for i, name in enumerate(names)},
        inputs=_input_columns(applied),
        final_state=_final_state(simulator),
        cancelled=done < len(ends),
    )


def _checked_inputs(
    inputs: Inputs, simulator: Simulator, start: float, where: str
) -> Callable[[float], Mapping[str, float]]:
    """The inputs as a function of time, each value checked (constant ones once, up front)."""
    variables = simulator.variables
    base = f"{where}/inputs"
    if inputs is None or (isinstance(inputs, Mapping) and not callable(inputs)):
        fixed = check_inputs(variables, inputs or {}, f"{base} at t={start:g}")
        return lambda t: fixed
    if isinstance(inputs, pd.DataFrame):
        index = np.asarray(inputs.index, dtype=np.float64)
        held = _held(inputs)
        checked = [check_inputs(variables, held(at), f"{base} at t={at:g}") for at in index]

        def row(t: float) -> Mapping[str, float]:
            return checked[max(int(np.searchsorted(index, t, side="right")) - 1, 0)]

        return row
    function = inputs

    def at(t: float) -> Mapping[str, float]:
        given = function(t)
        try:
            return check_inputs(variables, given, base)
        except ValidationError:  # again, to name the time in the error (only when failing)
            return check_inputs(variables, given, f"{base} at t={t:g}")

    return at


def _step(
    simulator: Simulator,
    t: float,
    end: float,
    u: Mapping[str, float],
    *,
    names: list[str],
    where: str,
) -> list[float]:
    """One step's outputs in ``names`` order; raise SimulationError if it failed or diverged."""
    try:
        out = simulator.step(t, end - t, u)
    except (SimulationError, ValidationError):
        raise
    except Exception as error:  # a backend's own failure: say where it happened
        raise SimulationError(
            f"{where} failed stepping from t={t:g} s by {end - t:g} s: {error}", where=where
        ) from error
    try:
        row = [out[name] for name in names]
        if all(map(math.isfinite, row)):
            return row
    except KeyError as missing:
        raise SimulationError(
            f"output {missing} missing after the step to t={end:g} s (it was there at the start)",
            where=where,
        ) from None
    except TypeError:
        raise SimulationError(
            f"an output is not a number after the step to t={end:g} s: {dict(out)}", where=where
        ) from None
    check_outputs(dict(out), end, where)  # raises, naming what is not finite
    return row


def _input_columns(applied: list[Mapping[str, float]]) -> dict[str, npt.NDArray[np.float64]]:
    """Each input per row: the value held over the step that starts there (the last repeats)."""
    if not applied:
        return {}
    columns = {name: [u[name] for u in applied] for name in applied[0]}
    return {name: np.array([*v, v[-1]], dtype=np.float64) for name, v in columns.items()}


def _final_state(simulator: Simulator) -> Any:
    """The simulator's state at the end, or None when it cannot give one (some FMUs)."""
    try:
        return simulator.get_state()
    except SimulationError as error:
        logger.debug("no final state from %s: %s", type(simulator).__name__, error)
        return None

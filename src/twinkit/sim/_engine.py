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

__all__ = ["Inputs", "SimulationResult", "input_function", "simulate"]

Inputs: TypeAlias = (
    Mapping[str, float] | Callable[[float], Mapping[str, float]] | pd.DataFrame | None
)
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


def _step_ends(start: float, stop: float, dt: float) -> npt.NDArray[np.float64]:
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
    ends = _step_ends(start, stop, dt)
    clock = clock or SimulatedClock()
    where = type(simulator).__name__
    input_at = input_function(inputs)
    first = check_outputs(dict(simulator.initialize(start, parameters, state)), start, where)
    outputs = {name: np.empty(len(ends) + 1) for name in first}
    used: dict[str, npt.NDArray[np.float64]] = {}
    for name, value in first.items():
        outputs[name][0] = value
    clock.start(start)
    t, done, reported = start, 0, time.monotonic()
    for index, end in enumerate(ends.tolist(), start=1):
        if cancel is not None and cancel.is_set():
            break
        u = check_inputs(simulator.variables, input_at(t), f"{where}/inputs at t={t:g}")
        out = _step(simulator, t, end - t, u, where)
        _record(outputs, used, index, out, u, size=len(ends) + 1)
        if on_step is not None:
            on_step(end, out)
        wait = clock.delay(end)
        if wait > 0:
            time.sleep(wait)
        t, done = end, index
        if progress is not None and time.monotonic() - reported >= _PROGRESS_EVERY:
            progress(done / len(ends))
            reported = time.monotonic()
    if progress is not None and done == len(ends):
        progress(1.0)
    times = np.concatenate([[start], ends[:done]])
    return SimulationResult(
        times=times,
        outputs={name: column[: done + 1] for name, column in outputs.items()},
        inputs={name: column[: done + 1] for name, column in used.items()},
        final_state=simulator.get_state(),
        cancelled=done < len(ends),
    )


def _step(
    simulator: Simulator, t: float, h: float, u: Mapping[str, float], where: str
) -> dict[str, float]:
    try:
        out = simulator.step(t, h, u)
    except (SimulationError, ValidationError):
        raise
    except Exception as error:  # a backend's own failure: say where it happened
        raise SimulationError(
            f"{where} failed stepping from t={t:g} s by {h:g} s: {error}", where=where
        ) from error
    return check_outputs(dict(out), t + h, where)


def _record(
    outputs: dict[str, npt.NDArray[np.float64]],
    used: dict[str, npt.NDArray[np.float64]],
    index: int,
    out: Mapping[str, float],
    u: Mapping[str, float],
    *,
    size: int,
) -> None:
    for name, column in outputs.items():
        if name not in out:
            raise SimulationError(
                f"output {name!r} missing after step {index} (it was there at the start)",
                where="outputs",
            )
        column[index] = out[name]
    for name, value in u.items():
        if name not in used:
            used[name] = np.full(size, np.nan)
        used[name][index - 1] = value
        used[name][index] = value

"""Shadow mode: simulators running in step with live data, publishing what they expect.

A :class:`ShadowRunner` keeps one *shadow* per bound twin and binding. When data of the twin
arrives (``TelemetryReceived``, ``PropertyReported``), the shadow advances its simulator from
its own time to the data's time in steps of the binding's ``dt``, then publishes the outputs
as derived values ``simulated:<content>`` (``simulated:<output>`` for outputs that predict no
content) and, per predicted content measured at that time, ``residual:<content>`` = measured -
simulated. A worn bearing or a clogged valve shows up as a residual that leaves zero.

How it runs:

- The event loop only collects work (twin values, inputs, measured values) and writes
  results; the simulators run on one worker thread.
- Bursts coalesce: a thousand readings of one twin that arrive while the worker is busy make
  one advance to the newest time, through every step of simulated time in between. Inputs
  are held over an advance at what the twin had at its start (zero-order hold, as an FMI
  master does); readings at or before the shadow's time are ignored and counted.
- A shadow starts at its twin's first data time from the twin's measured state, and starts
  again from it (a *re-seed*) after a gap longer than ``max_gap`` (simulating a gap blindly
  would only accumulate error) or when a mapped parameter changes.
- A simulator that raises (a SimulationError, a divergence, a bug) fails its shadow only: the
  reason is logged once, an ``AlertRaised`` event (cause ``simulator:<binding>``) goes on the
  twin, and the shadow re-seeds from measured state on data after a back-off that doubles
  with each failure in a row. The runner and the server go on. When the simulator runs again
  (and no other shadow of the twin is failing) the alert is cleared (``AlertCleared``); an
  alert left open by a runner before a restart is cleared by the first run after it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from twinkit.core import RESIDUAL, SIMULATED, Derived, Event, EventType, Runtime, Twin
from twinkit.core._derived import is_name
from twinkit.errors import NotFoundError, SimulationError, TwinkitError, ValidationError
from twinkit.sim._binding import Bindings, SimulationBinding
from twinkit.sim._protocol import Simulator, check_inputs, check_outputs
from twinkit.sim._shadow_start import (
    InitialConditions,
    initial_conditions,
    make_simulator,
    related_values,
)

__all__ = ["ShadowRunner", "ShadowState", "ShadowStatus"]

logger = logging.getLogger(__name__)

_FAILED_ALERT = "simulatorFailed"
_TRIGGERS = (EventType.TELEMETRY_RECEIVED, EventType.PROPERTY_REPORTED, EventType.TWIN_DELETED)
_EMPTY: dict[str, float] = {}


class ShadowState(StrEnum):
    WAITING = "waiting"  # bound, no data since the runner started
    RUNNING = "running"
    FAILED = "failed"  # its simulator raised; retried after a back-off


@dataclass(frozen=True, slots=True)
class ShadowStatus:
    """Where one shadow stands: its simulated ``time``, counters and latest values."""

    twin_id: str
    binding: str
    model: str
    state: ShadowState
    time: float | None
    steps: int
    updates: int
    ignored: int
    reseeds: int
    failures: int
    simulated: Mapping[str, float]
    residuals: Mapping[str, float]
    error: str | None
    retry_in: float | None


@dataclass(slots=True, eq=False)
class _Shadow:
    """One twin under one binding. Mutated on the loop; ``simulator`` used on the worker only."""

    twin_id: str
    binding: SimulationBinding
    simulator: Simulator | None = None
    time: float | None = None
    target: float | None = None  # newest data time not simulated yet
    inputs: dict[str, float] = field(default_factory=dict)  # held over the next advance
    parameters: dict[str, float] | None = None
    state: ShadowState = ShadowState.WAITING
    steps: int = 0
    updates: int = 0
    ignored: int = 0
    reseeds: int = 0
    failures: int = 0
    streak: int = 0  # failures in a row
    retry_at: float = 0.0
    error: str | None = None
    simulated: dict[str, float] = field(default_factory=dict)
    residuals: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Work:
    """One advance of one shadow to ``target``, with everything read off the twin for it."""

    shadow: _Shadow
    target: float
    seed: InitialConditions | None  # set: (re)start at ``target`` from the measured state
    inputs: dict[str, float]  # held from the shadow's time to ``target``
    next_inputs: dict[str, float]
    measured: dict[str, float]  # predicted contents measured at ``target``
    reason: str


@dataclass(frozen=True, slots=True)
class _Outcome:
    work: _Work
    simulator: Simulator | None
    outputs: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    error: BaseException | None = None


class ShadowRunner:
    """Runs the simulators of ``bindings`` in step with the live twins of ``runtime``.

    ``max_gap``: the longest stretch of simulated time an advance may cover (default
    ``max_gap_steps`` steps of the binding); a longer gap re-seeds from measured state.
    ``retry_after``: seconds before a failed shadow is retried, doubled with every failure in a
    row up to ``max_backoff``.
    """

    def __init__(
        self,
        runtime: Runtime,
        bindings: Bindings,
        *,
        max_gap: float | None = None,
        max_gap_steps: int = 10_000,
        retry_after: float = 10.0,
        max_backoff: float = 600.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._runtime = runtime
        self._bindings = bindings
        self._max_gap = max_gap
        self._max_gap_steps = max_gap_steps
        self._retry_after = retry_after
        self._max_backoff = max_backoff
        self._monotonic = monotonic
        self._shadows: dict[str, dict[str, _Shadow]] = {}  # twin id -> binding name -> shadow
        self._dirty: dict[tuple[str, str], None] = {}  # shadows with new data, in order
        self._by_model: dict[str, list[SimulationBinding]] = {}
        self._skipped_names: set[tuple[str, str]] = set()
        self._executor: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe to the bound twins' data and start the worker; idempotent."""
        if self._task is not None:
            return
        self._stopping = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="twinkit-shadow")
        models = {binding.model for binding in self._bindings}
        self._unsubscribe = self._runtime.subscribe(self._on_event, models=models, types=_TRIGGERS)
        self._task = asyncio.create_task(self._drain(), name="twinkit-shadow")
        logger.info(
            "shadow mode on for %d binding(s) of %d model(s)", len(self._bindings), len(models)
        )

    async def stop(self, timeout: float = 30.0) -> None:
        """Finish the advance under way (at most ``timeout`` s), close every simulator."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            self._wake.set()
            try:
                await asyncio.wait_for(task, timeout)
            except TimeoutError:
                logger.warning(
                    "shadow runner: an advance took over %g s to finish; dropped", timeout
                )
        executor, self._executor = self._executor, None
        if executor is not None:
            every = [shadow for shadows in self._shadows.values() for shadow in shadows.values()]
            simulators = [s.simulator for s in every if s.simulator is not None]
            for shadow in every:
                shadow.simulator = None
            await asyncio.get_running_loop().run_in_executor(executor, _close_all, simulators)
            await asyncio.to_thread(executor.shutdown, True)
        self._idle.set()

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait until every reading received so far has been simulated and published."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    # --- status --------------------------------------------------------------------------

    def bindings_of(self, model: str) -> list[SimulationBinding]:
        """The bindings that apply to twins of ``model`` (its own, then its bases')."""
        found = self._by_model.get(model)
        if found is None:
            found = self._by_model[model] = self._bindings.for_model(model, self._runtime.models)
        return found

    def status(self, twin_id: str) -> list[ShadowStatus]:
        """One status per binding of the twin (NotFoundError for an unknown twin)."""
        twin = self._runtime.get(twin_id)
        return [self._status(twin_id, binding) for binding in self.bindings_of(twin.model)]

    def statuses(self) -> list[ShadowStatus]:
        """Every shadow that has seen data, by twin and binding."""
        return [
            self._status(twin_id, shadow.binding)
            for twin_id in sorted(self._shadows)
            for shadow in self._shadows[twin_id].values()
        ]

    def _status(self, twin_id: str, binding: SimulationBinding) -> ShadowStatus:
        shadow = self._shadow(twin_id, binding.name) or _Shadow(twin_id, binding)
        retry = shadow.retry_at - self._monotonic() if shadow.state is ShadowState.FAILED else None
        return ShadowStatus(
            twin_id=twin_id,
            binding=binding.name,
            model=binding.model,
            state=shadow.state,
            time=shadow.time,
            steps=shadow.steps,
            updates=shadow.updates,
            ignored=shadow.ignored,
            reseeds=shadow.reseeds,
            failures=shadow.failures,
            simulated=MappingProxyType(dict(shadow.simulated)),
            residuals=MappingProxyType(dict(shadow.residuals)),
            error=shadow.error,
            retry_in=None if retry is None else max(retry, 0.0),
        )

    # --- the loop side -------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        """Note the newest data time per shadow (on the loop, without waiting)."""
        if event.type is EventType.TWIN_DELETED:
            self._forget(event.twin_id)
            return
        twin = self._runtime.find(event.twin_id)
        if twin is None:
            return
        shadows = self._shadows.setdefault(twin.id, {})
        for binding in self.bindings_of(twin.model):
            key = (twin.id, binding.name)
            shadow = shadows.get(binding.name)
            if shadow is None:
                shadow = shadows[binding.name] = _Shadow(twin.id, binding)
            if shadow.time is not None and event.time <= shadow.time:
                shadow.ignored += 1
            elif shadow.target is None or event.time > shadow.target:
                shadow.target = event.time
                self._dirty[key] = None
                self._idle.clear()
                self._wake.set()

    def _shadow(self, twin_id: str, binding: str) -> _Shadow | None:
        return self._shadows.get(twin_id, {}).get(binding)

    def _forget(self, twin_id: str) -> None:
        gone = self._shadows.pop(twin_id, {})
        simulators = [s.simulator for s in gone.values() if s.simulator is not None]
        if simulators and self._executor is not None:
            self._executor.submit(_close_all, simulators)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                break
            try:
                works = self._collect()
                if not works:
                    self._idle.set()
                    continue
                assert self._executor is not None
                outcomes = await loop.run_in_executor(self._executor, _advance_all, works)
                await self._publish(outcomes)
            except Exception:  # never let one bad round end shadow mode
                logger.exception("shadow runner: a round of work failed")
            self._wake.set()  # look again: data may have come in meanwhile

    def _collect(self) -> list[_Work]:
        """Read, per shadow with new data, what its advance needs from the live twins."""
        works = []
        related = related_values(self._runtime)
        now = self._monotonic()
        dirty, self._dirty = self._dirty, {}
        for key in dirty:
            shadow = self._shadow(*key)
            if shadow is None:
                continue
            target, shadow.target = shadow.target, None
            if target is None:
                continue
            if shadow.time is not None and target <= shadow.time:
                # data at a time an advance in flight already reached when it was marked
                shadow.ignored += 1
                continue
            twin = self._runtime.find(shadow.twin_id)
            if twin is None:
                continue
            if shadow.state is ShadowState.FAILED and now < shadow.retry_at:
                shadow.ignored += 1
                continue
            works.append(self._work(shadow, twin, target, related))
        return works

    def _work(self, shadow: _Shadow, twin: Twin, target: float, related: Any) -> _Work:
        binding = shadow.binding
        conditions = initial_conditions(binding, twin, related)
        reason = ""
        if shadow.simulator is None or shadow.time is None:
            reason = "start" if shadow.updates == 0 else "retry"
        elif target - shadow.time > self._gap(binding):
            reason = f"gap of {target - shadow.time:g} s"
        elif conditions.parameters != shadow.parameters:
            reason = "parameters changed"
        return _Work(
            shadow=shadow,
            target=target,
            seed=conditions if reason else None,
            # A feedthrough model (static: loads in, strains out) is compared at the reading's
            # own inputs; a dynamic one integrates the inputs held since the previous reading.
            inputs=conditions.inputs if reason or binding.feedthrough else shadow.inputs,
            next_inputs=conditions.inputs,
            measured=_measured(binding, twin, target),
            reason=reason,
        )

    def _gap(self, binding: SimulationBinding) -> float:
        return self._max_gap if self._max_gap is not None else binding.dt * self._max_gap_steps

    async def _publish(self, outcomes: Sequence[_Outcome]) -> None:
        """Settle each outcome on its shadow, then write values and alerts."""
        by_binding: dict[str, list[Derived]] = {}
        alerts: list[tuple[_Shadow, str]] = []
        running: dict[str, _Shadow] = {}  # twin id -> a shadow that ran in this round
        for outcome in outcomes:
            shadow = outcome.work.shadow
            if self._shadow(shadow.twin_id, shadow.binding.name) is not shadow:
                if outcome.simulator is not None and self._executor is not None:  # deleted twin
                    self._executor.submit(_close_all, [outcome.simulator])
                continue
            if outcome.error is not None:
                if self._failed(shadow, outcome):
                    alerts.append((shadow, shadow.error or ""))
                continue
            items = self._succeeded(shadow, outcome)
            by_binding.setdefault(shadow.binding.name, []).extend(items)
            running[shadow.twin_id] = shadow
        for name, items in by_binding.items():
            live = [item for item in items if self._runtime.find(item.twin_id) is not None]
            try:
                await self._runtime.record_derived(live, cause=f"simulator:{name}")
            except TwinkitError as error:
                logger.warning("shadow values of binding %r not recorded: %s", name, error)
        for shadow, reason in alerts:
            await self._alert(shadow, reason)
        for shadow in running.values():
            await self._recovered(shadow)

    def _succeeded(self, shadow: _Shadow, outcome: _Outcome) -> list[Derived]:
        work = outcome.work
        if work.seed is not None:
            shadow.parameters = work.seed.parameters
            if work.reason != "start":
                shadow.reseeds += 1
                logger.info(
                    "shadow %s/%s re-seeded: %s", shadow.twin_id, shadow.binding.name, work.reason
                )
        shadow.simulator = outcome.simulator
        shadow.time = work.target
        shadow.inputs = work.next_inputs
        shadow.state = ShadowState.RUNNING
        shadow.error, shadow.streak = None, 0
        shadow.steps += outcome.steps
        shadow.updates += 1
        shadow.simulated = self._named(shadow.binding, outcome.outputs)
        shadow.residuals = {
            content: work.measured[content] - outcome.outputs[output]
            for output, content in shadow.binding.outputs.items()
            if content in work.measured and output in outcome.outputs
        }
        items = [Derived(shadow.twin_id, work.target, SIMULATED, shadow.simulated)]
        if shadow.residuals:
            items.append(Derived(shadow.twin_id, work.target, RESIDUAL, shadow.residuals))
        return items

    def _named(self, binding: SimulationBinding, outputs: dict[str, float]) -> dict[str, float]:
        """Outputs by the content they predict, or by their own name when that is a DTDL
        name; others (``der(h)``, ``body.x``) are left out, with one warning."""
        named = {}
        for output, value in outputs.items():
            name = binding.outputs.get(output, output)
            if is_name(name):
                named[name] = value
            elif (binding.name, output) not in self._skipped_names:
                self._skipped_names.add((binding.name, output))
                logger.warning(
                    "binding %r: output %r is not a DTDL name and is not published; map it to "
                    "a content in the binding's outputs to publish it",
                    binding.name,
                    output,
                )
        return named

    def _failed(self, shadow: _Shadow, outcome: _Outcome) -> bool:
        """Mark the shadow failed; True when this starts a failure (alert once)."""
        error = outcome.error
        assert error is not None
        first = shadow.state is not ShadowState.FAILED
        shadow.simulator = None
        shadow.state = ShadowState.FAILED
        shadow.failures += 1
        shadow.streak += 1
        shadow.time = outcome.work.target
        backoff = min(self._retry_after * 2 ** (shadow.streak - 1), self._max_backoff)
        shadow.retry_at = self._monotonic() + backoff
        shadow.error = _reason(error)
        name = f"{shadow.twin_id}/{shadow.binding.name}"
        if first:
            trace = None if isinstance(error, TwinkitError) else error
            logger.warning(
                "shadow %s failed (retry in %g s): %s", name, backoff, shadow.error, exc_info=trace
            )
        else:
            logger.debug("shadow %s failed again (retry in %g s): %s", name, backoff, shadow.error)
        return first

    async def _alert(self, shadow: _Shadow, reason: str) -> None:
        message = f"simulator of binding {shadow.binding.name!r} failed: {reason}"
        try:
            await self._runtime.raise_alert(
                shadow.twin_id,
                _FAILED_ALERT,
                message,
                cause=f"simulator:{shadow.binding.name}",
            )
        except NotFoundError:
            return  # deleted meanwhile

    async def _recovered(self, shadow: _Shadow) -> None:
        """Clear the twin's ``simulatorFailed`` alert once none of its shadows is failing."""
        twin = self._runtime.find(shadow.twin_id)
        if twin is None or _FAILED_ALERT not in twin.alerts:
            return
        others = self._shadows.get(shadow.twin_id, {}).values()
        if any(other.state is ShadowState.FAILED for other in others):
            return
        message = f"simulator of binding {shadow.binding.name!r} runs again"
        try:
            await self._runtime.clear_alert(
                shadow.twin_id,
                _FAILED_ALERT,
                cause=f"simulator:{shadow.binding.name}",
                message=message,
            )
        except (NotFoundError, ValidationError):
            return  # deleted, or cleared by somebody else, meanwhile


def _measured(binding: SimulationBinding, twin: Twin, at: float) -> dict[str, float]:
    """Values of the predicted contents measured at ``at`` (older ones make no residual)."""
    measured = {}
    for content in set(binding.outputs.values()):
        state = twin.properties.get(content)
        value: object = None
        when: float | None = None
        if state is not None and state.has_reported:
            value, when = state.reported, state.reported_time
        elif (latest := twin.telemetry.get(content)) is not None:
            value, when = latest.value, latest.time
        if (
            not isinstance(value, bool)
            and isinstance(value, int | float)
            and math.isfinite(value)
            and when is not None
            and when >= at
        ):
            measured[content] = float(value)
    return measured


def _reason(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if isinstance(error, TwinkitError) else f"{type(error).__name__}: {text}"


# --- the worker side ---------------------------------------------------------------------------


def _advance_all(works: Sequence[_Work]) -> list[_Outcome]:
    return [_advance(work) for work in works]


def _advance(work: _Work) -> _Outcome:
    """(Re)start the shadow's simulator if asked, then step it to the work's target."""
    shadow, binding = work.shadow, work.shadow.binding
    where = f"twin {shadow.twin_id} binding {binding.name}"
    simulator = shadow.simulator
    try:
        if work.seed is not None:
            _close_all([simulator] if simulator is not None else [])
            simulator = None
            simulator = make_simulator(binding, where)
            if binding.feedthrough:  # one step to the target, so the outputs see its inputs
                start = work.target - binding.dt
                simulator.initialize(start, work.seed.parameters, work.seed.state)
                inputs = check_inputs(simulator.variables, work.inputs, f"{where}/inputs")
                outputs, steps = _steps(
                    simulator, start, work.target, dt=binding.dt, inputs=inputs, where=where
                )
                return _Outcome(work, simulator, outputs, steps)
            start = work.target
            first = simulator.initialize(start, work.seed.parameters, work.seed.state)
            outputs = check_outputs(dict(first), start, where)
            return _Outcome(work, simulator, outputs)
        assert simulator is not None and shadow.time is not None
        inputs = check_inputs(simulator.variables, work.inputs, f"{where}/inputs")
        outputs, steps = _steps(
            simulator, shadow.time, work.target, dt=binding.dt, inputs=inputs, where=where
        )
        return _Outcome(work, simulator, outputs, steps)
    except Exception as error:
        if simulator is not None:
            _close_all([simulator])
        return _Outcome(work, None, error=error)


def _steps(
    simulator: Simulator,
    start: float,
    stop: float,
    *,
    dt: float,
    inputs: dict[str, float],
    where: str,
) -> tuple[dict[str, float], int]:
    """Step from ``start`` to exactly ``stop`` in steps of ``dt`` (the last one shorter)."""
    count = max(math.ceil((stop - start) / dt - 1e-9), 1)
    t, outputs = start, _EMPTY
    for index in range(1, count + 1):
        end = stop if index == count else start + index * dt
        if end <= t:
            # at epoch times (~1.8e9 s, a float step of ~2e-7 s) start + k·dt can round onto
            # stop, which would leave a last step of zero
            continue
        try:
            out = simulator.step(t, end - t, inputs)
        except TwinkitError:
            raise
        except Exception as error:
            raise SimulationError(
                f"stepping from t={t:g} s by {end - t:g} s failed: {type(error).__name__}: {error}",
                where=where,
            ) from error
        outputs = check_outputs(dict(out), end, where)
        t = end
    if outputs is _EMPTY:
        raise SimulationError(f"nothing to step: from t={start!r} s to t={stop!r} s", where=where)
    return outputs, count


def _close_all(simulators: Iterable[Simulator]) -> None:
    for simulator in simulators:
        try:
            simulator.close()
        except Exception:
            logger.exception("closing simulator %r failed", simulator)

"""What-if scenarios: fork part of the twin graph at a time T, change it, run it ahead.

Three levels, as for single simulations:

- one call: :meth:`Scenarios.run` (or :meth:`Scenarios.submit` to run in the background, as
  the API does) checks a :class:`ScenarioSpec`, forks the twins, runs every simulator in
  lockstep faster than real time in a worker thread and keeps the result as a named scenario
  whose series are stored apart from reality; :func:`scenario_series` and
  :func:`compare_scenario` read them back, :func:`plot_scenario` draws the comparison;
- reusable: :func:`fork` gives a :class:`Plan` (every simulator made, every override
  resolved) and :func:`simulate_scenario` runs it and returns the series, no store involved;
- low level: :class:`Master` steps a plan chunk by chunk.

A scenario is ``queued`` until a worker slot is free (``workers`` run at once), ``running``
with its progress (fraction of the horizon) kept in the store after every chunk, then
``done``, ``failed`` (its error kept: a diverging simulator, an input out of range) or
``cancelled``. Nothing a simulator does can take the server down: errors end the scenario,
CPU-bound steps run on worker threads. Scenarios left ``queued`` or ``running`` by a server
that stopped are marked failed the next time the service is used.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Protocol

from twinkit.core import RelationshipEdge, Runtime, Twin, detached
from twinkit.errors import ConflictError, NotFoundError, TwinkitError, ValidationError
from twinkit.model import ModelSet
from twinkit.query._timetravel import GraphState, HistoryStore, graph_as_of
from twinkit.sim._binding import Bindings
from twinkit.sim._scenario_master import Master
from twinkit.sim._scenario_plan import Plan, fork_twins, make_plan
from twinkit.sim._scenario_results import ScenarioReader
from twinkit.sim._scenario_spec import ScenarioSpec
from twinkit.store import ScenarioPoints, ScenarioRecord, ScenarioStatus

__all__ = ["CHUNK_POINTS", "ScenarioStore", "Scenarios", "fork"]

logger = logging.getLogger(__name__)

CHUNK_POINTS: Final = 20_000
"""Simulated points written to the store per transaction (about)."""
FUTURE_SLACK: Final = 1.0
"""Seconds a fork time may lie ahead of the clock (clock skew between client and server)."""
INTERRUPTED: Final = "interrupted: the server stopped before the scenario finished"

BindingsSource = Bindings | Callable[[], Bindings | None] | None


class ScenarioStore(ScenarioReader, HistoryStore, Protocol):
    """What the scenario service needs of a store (``SQLiteStore`` has it all)."""

    async def add_scenario(self, record: ScenarioRecord) -> None: ...

    async def update_scenario(
        self,
        name: str,
        *,
        status: ScenarioStatus | None = None,
        progress: float | None = None,
        error: str | None = None,
        started: float | None = None,
        finished: float | None = None,
    ) -> ScenarioRecord: ...

    async def scenarios(self) -> list[ScenarioRecord]: ...

    async def delete_scenario(self, name: str) -> None: ...

    async def add_scenario_points(self, name: str, chunk: Sequence[ScenarioPoints]) -> int: ...


class _LiveGraph:
    """The runtime's graph now; its twins detached (their latest telemetry copied: the plan
    reads them on a worker thread while the runtime updates the live ones)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def find(self, twin_id: str) -> Twin | None:
        twin = self._runtime.find(twin_id)
        return None if twin is None or twin.deleted else detached(twin)

    def incoming(self, twin_id: str) -> Sequence[RelationshipEdge]:
        return self._runtime.incoming(twin_id)


class _PastGraph:
    """The graph as of a past time (time travel), with an index of incoming edges."""

    def __init__(self, state: GraphState) -> None:
        self._twins = state.twins
        self._incoming: dict[str, list[RelationshipEdge]] = {}
        for edge in state.relationships():
            self._incoming.setdefault(edge.target, []).append(edge)

    def find(self, twin_id: str) -> Twin | None:
        return self._twins.get(twin_id)

    def incoming(self, twin_id: str) -> Sequence[RelationshipEdge]:
        return self._incoming.get(twin_id, [])


def _bindings_of(source: BindingsSource) -> Bindings:
    bindings = source() if callable(source) else source
    if bindings is None or not len(bindings):
        raise ValidationError(
            "no simulation bindings are loaded, so there is nothing to simulate",
            path="roots",
            expected="models with a simulator bound (twinkit serve --simulators <module>, or "
            "Bindings.add in Python)",
            got=0,
        )
    return bindings


async def fork(
    spec: ScenarioSpec,
    *,
    runtime: Runtime,
    store: HistoryStore,
    bindings: Bindings,
    clock: Callable[[], float] = time.time,
) -> Plan:
    """The plan of ``spec``: its twins as of ``spec.at`` (the live graph when None, time
    travel otherwise), each simulated one with its simulator and resolved overrides. Checks
    everything (ValidationError, or SimulationError when a simulator cannot be made)."""
    now = clock()
    at = now if spec.at is None else spec.at
    if at > now + FUTURE_SLACK:
        raise ValidationError(
            "a scenario forks from the present or the past",
            path="at",
            expected=f"a time at or before now ({now:.3f}), or null for now",
            got=at,
        )
    models: ModelSet = runtime.models
    if spec.at is None:
        forked = fork_twins(spec, _LiveGraph(runtime), at)
    else:
        state = await graph_as_of(store, at, models=models)
        forked = await asyncio.to_thread(fork_twins, spec, _PastGraph(state), at)
    return await asyncio.to_thread(make_plan, spec, forked, bindings, models)


@dataclass(slots=True, eq=False)
class _Job:
    task: asyncio.Task[None]
    cancel: threading.Event
    reason: str | None = None  # why it was cancelled, when not by a user


class Scenarios:
    """The scenarios of one deployment: submit, watch, cancel, delete (the API's service)."""

    def __init__(
        self,
        store: ScenarioStore,
        runtime: Runtime,
        *,
        bindings: BindingsSource = None,
        clock: Callable[[], float] = time.time,
        workers: int = 2,
        chunk_points: int = CHUNK_POINTS,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self._bindings = bindings
        self._clock = clock
        self._slots = asyncio.Semaphore(workers)
        self._chunk_points = chunk_points
        self._jobs: dict[str, _Job] = {}
        self._recovered = False
        self._closed = False

    async def _ready(self) -> None:
        """Once: mark scenarios a stopped server left unfinished as failed."""
        if self._recovered:
            return
        self._recovered = True
        for record in await self.store.scenarios():
            if not record.status.final and record.name not in self._jobs:
                await self.store.update_scenario(
                    record.name, status=ScenarioStatus.FAILED, error=INTERRUPTED
                )
                logger.warning("scenario %s: %s", record.name, INTERRUPTED)

    async def submit(self, spec: ScenarioSpec | Mapping[str, Any], *, cause: str) -> ScenarioRecord:
        """Check and fork ``spec``, keep it as ``queued`` and start running it in the
        background; returns the record. Errors (ValidationError, ConflictError for a taken
        name, SimulationError) come before anything is kept."""
        if self._closed:
            raise ConflictError("the scenario service is closed", where="scenarios")
        await self._ready()
        spec = spec if isinstance(spec, ScenarioSpec) else ScenarioSpec.from_json(spec)
        if spec.name in self._jobs or await self._exists(spec.name):
            raise self._taken(spec.name)
        plan = await fork(
            spec,
            runtime=self.runtime,
            store=self.store,
            bindings=_bindings_of(self._bindings),
            clock=self._clock,
        )
        resolved = replace(spec, at=plan.at, dt=plan.dt)
        record = ScenarioRecord(
            name=spec.name,
            spec=resolved.to_json(),
            status=ScenarioStatus.QUEUED,
            created=self._clock(),
            cause=cause,
        )
        try:
            await self.store.add_scenario(record)
        except BaseException:
            await asyncio.to_thread(plan.close)
            raise
        cancel = threading.Event()
        task = asyncio.create_task(self._run(spec.name, plan, cancel), name=f"scenario {spec.name}")
        self._jobs[spec.name] = _Job(task, cancel)
        logger.info(
            "scenario %s: %d twins simulated of %d, %d steps of %g s, from %s",
            spec.name,
            len(plan.members),
            len(plan.subgraph),
            plan.steps,
            plan.dt,
            plan.at,
        )
        return record

    async def _exists(self, name: str) -> bool:
        try:
            await self.store.scenario(name)
        except NotFoundError:
            return False
        return True

    def _taken(self, name: str) -> ConflictError:
        return ConflictError(
            f"a scenario named {name!r} exists; expected a new name (or delete it first)",
            where=f"scenario {name}",
        )

    async def run(self, spec: ScenarioSpec | Mapping[str, Any], *, cause: str) -> ScenarioRecord:
        """:meth:`submit`, then wait until it ends; returns the final record."""
        record = await self.submit(spec, cause=cause)
        return await self.wait(record.name)

    async def wait(self, name: str, timeout: float | None = None) -> ScenarioRecord:
        """The record once the scenario has ended (or after ``timeout`` seconds)."""
        job = self._jobs.get(name)
        if job is not None:
            await asyncio.wait({job.task}, timeout=timeout)  # never cancels the run
        return await self.store.scenario(name)

    async def get(self, name: str) -> ScenarioRecord:
        await self._ready()
        return await self.store.scenario(name)

    async def records(self) -> list[ScenarioRecord]:
        """Every scenario, oldest first."""
        await self._ready()
        return await self.store.scenarios()

    async def cancel(self, name: str) -> ScenarioRecord:
        """Stop a queued or running scenario (its points so far are kept); ConflictError
        when it has already ended."""
        await self._ready()
        record = await self.store.scenario(name)
        if record.status.final:
            raise ConflictError(
                f"scenario {name!r} is {record.status.value}; expected a queued or running one",
                where=f"scenario {name}",
            )
        job = self._jobs.get(name)
        if job is None:  # left unfinished by a server that stopped
            return await self.store.update_scenario(
                name, status=ScenarioStatus.CANCELLED, finished=self._clock()
            )
        job.cancel.set()
        await asyncio.wait({job.task})
        return await self.store.scenario(name)

    async def delete(self, name: str) -> None:
        """Cancel the scenario if it runs, then forget it and its points."""
        await self._ready()
        job = self._jobs.get(name)
        if job is not None:
            job.cancel.set()
            await asyncio.wait({job.task})
        await self.store.delete_scenario(name)

    def running(self) -> list[str]:
        """Names of the scenarios queued or running here."""
        return sorted(self._jobs)

    async def close(self) -> None:
        """Stop every run (marked cancelled, as the server stopped) and wait for them."""
        self._closed = True
        jobs = list(self._jobs.values())
        for job in jobs:
            job.reason = "cancelled: the server stopped"
            job.cancel.set()
        if jobs:
            await asyncio.wait({job.task for job in jobs})

    # -- a run -----------------------------------------------------------------------------

    async def _run(self, name: str, plan: Plan, cancel: threading.Event) -> None:
        status, error, progress = ScenarioStatus.FAILED, None, None
        stopped: asyncio.CancelledError | None = None
        try:
            async with self._slots:
                if not cancel.is_set():
                    await self.store.update_scenario(
                        name, status=ScenarioStatus.RUNNING, started=self._clock()
                    )
                    status, progress = await self._simulate(name, Master(plan), cancel)
                else:
                    status = ScenarioStatus.CANCELLED
        except TwinkitError as failure:
            error = str(failure)
            logger.info("scenario %s failed: %s", name, error)
        except asyncio.CancelledError as cancelled:  # the loop is going away
            status, stopped = ScenarioStatus.CANCELLED, cancelled
        except Exception as failure:  # a bug or a backend's surprise: keep the server going
            error = f"{type(failure).__name__}: {failure}"
            logger.exception("scenario %s failed", name)
        finally:
            await asyncio.to_thread(plan.close)
        job = self._jobs.get(name)
        if status is ScenarioStatus.CANCELLED:
            error = job.reason if job is not None and stopped is None else error
            error = "cancelled: the server stopped" if stopped is not None else error
        try:
            await self.store.update_scenario(
                name, status=status, error=error, progress=progress, finished=self._clock()
            )
        except Exception:
            logger.exception("scenario %s: could not record that it ended %s", name, status)
        finally:
            self._jobs.pop(name, None)
        if stopped is not None:
            raise stopped

    async def _simulate(
        self, name: str, master: Master, cancel: threading.Event
    ) -> tuple[ScenarioStatus, float]:
        series = sum(len(m.series) for m in master.plan.members)
        advance = functools.partial(
            master.advance, cancel, max_steps=max(1, self._chunk_points // max(series, 1))
        )
        while True:
            running = asyncio.ensure_future(asyncio.to_thread(advance))
            try:
                chunk = await asyncio.shield(running)
            except asyncio.CancelledError:  # let the step in flight end before closing
                cancel.set()
                await asyncio.wait({running})
                raise
            if chunk.size:
                await self.store.add_scenario_points(name, chunk.points)
            await self.store.update_scenario(name, progress=master.progress)
            if master.failure is not None:
                raise master.failure
            if master.done:
                return ScenarioStatus.DONE, 1.0
            if cancel.is_set():
                return ScenarioStatus.CANCELLED, master.progress

"""Ensembles of any simulator, one engine run per member, in process or on Dask.

For models that cannot be vectorized (an FMU, an FE solve, a discrete-event line), each member
is a full :func:`twinkit.sim.simulate` run of a fresh simulator from ``factory`` with one row
of ``samples`` (columns name parameters or states of the simulator). :func:`run_members` runs
them one after another here; :func:`run_ensemble_dask` runs them on a Dask cluster: a
``distributed.LocalCluster`` of worker processes on 127.0.0.1 when no scheduler address is
given, or the cluster behind ``scheduler`` (``"tcp://host:8786"``) to use many machines.

Both return the :class:`EnsembleResult` of the vectorized path. A member that fails (its
simulation diverges, its model raises, its worker dies) is marked failed with its error, and the
others go on; only when every member fails does the run raise :class:`SimulationError`.
``factory``, ``inputs`` and the simulators' errors travel to and from the workers by pickle
(cloudpickle for functions), so a factory is best a module-level function or a
``functools.partial`` of one.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from twinkit.errors import SimulationError, ValidationError
from twinkit.sim._engine import Inputs, simulate, step_ends
from twinkit.sim._ensemble import EnsembleResult
from twinkit.sim._protocol import Causality, Simulator

__all__ = ["run_ensemble_dask", "run_members"]

logger = logging.getLogger(__name__)

Array: TypeAlias = npt.NDArray[np.float64]
Factory: TypeAlias = Callable[[], Simulator]
_REASONS_SHOWN = 3


@dataclass(frozen=True, slots=True)
class _Job:
    """One member to run: its position and its parameters and initial states."""

    index: int
    parameters: dict[str, float]
    state: dict[str, float]


@dataclass(frozen=True, slots=True)
class _Run:
    """What came back for one member: its recorded outputs, or why it failed."""

    index: int
    times: Array | None = None
    outputs: dict[str, Array] | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _Horizon:
    """What every member simulates: checked here, before any member runs."""

    start: float
    stop: float
    dt: float
    inputs: Inputs

    def __post_init__(self) -> None:
        step_ends(self.start, self.stop, self.dt)


def run_members(
    factory: Factory,
    samples: pd.DataFrame,
    *,
    stop: float,
    dt: float,
    start: float = 0.0,
    inputs: Inputs = None,
    progress: Callable[[float], None] | None = None,
) -> EnsembleResult:
    """Simulate one member per row of ``samples`` here, one after another."""
    jobs = _jobs(factory, samples)
    horizon = _Horizon(start, stop, dt, inputs)
    runs = []
    for done, job in enumerate(jobs, start=1):
        runs.extend(_run_batch(factory, [job], horizon))
        if progress is not None:
            progress(done / len(jobs))
    return _assemble(samples, runs, where="members")


def run_ensemble_dask(
    factory: Factory,
    samples: pd.DataFrame,
    *,
    stop: float,
    dt: float,
    start: float = 0.0,
    inputs: Inputs = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    batch_size: int = 1,
    timeout: float = 10.0,
    progress: Callable[[float], None] | None = None,
) -> EnsembleResult:
    """Simulate one member per row of ``samples`` on Dask; results come back as they finish.

    Without ``scheduler`` a ``LocalCluster`` of ``n_workers`` single-threaded worker processes
    (one per core by default) is started on 127.0.0.1 for this call and closed after it. Each
    task runs ``batch_size`` members (raise it for cheap members, to spread the per-task
    overhead of about a millisecond). ``timeout`` bounds the wait, in seconds, for a
    connection to ``scheduler``. ``progress`` gets the fraction of members done.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError(
            "batch_size must be a positive int", path="batch_size", expected=">= 1", got=batch_size
        )
    jobs = _jobs(factory, samples)
    horizon = _Horizon(start, stop, dt, inputs)
    batches = [jobs[i : i + batch_size] for i in range(0, len(jobs), batch_size)]
    with _Connection(scheduler, n_workers, timeout) as client:
        runs = list(
            _gather(
                client,
                factory=factory,
                batches=batches,
                horizon=horizon,
                progress=progress,
                total=len(jobs),
            )
        )
    return _assemble(samples, runs, where=scheduler or "LocalCluster")


def _distributed() -> Any:
    """The ``distributed`` package (the ``scale`` extra), imported when first needed."""
    try:
        return importlib.import_module("distributed")
    except ImportError as error:
        raise SimulationError(
            "Dask ensembles need the 'distributed' package: pip install 'twinkit[scale]'",
            where="dask",
        ) from error


class _Connection:
    """A Dask client on ``scheduler``, or on a LocalCluster started (and closed) for it."""

    def __init__(self, scheduler: str | None, n_workers: int | None, timeout: float) -> None:
        self._scheduler, self._n_workers, self._timeout = scheduler, n_workers, timeout
        self._cluster: Any = None
        self._client: Any = None

    def __enter__(self) -> Any:
        distributed = _distributed()

        if self._scheduler is None:
            workers = self._n_workers or os.cpu_count() or 1
            if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
                raise ValidationError(
                    "n_workers must be a positive int",
                    path="n_workers",
                    expected=">= 1",
                    got=self._n_workers,
                )
            self._cluster = distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                scheduler_port=0,
                dashboard_address=None,
                # no dashboard; its bare HTTP server (health, metrics) on a free loopback port
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                silence_logs=logging.WARNING,
            )
            try:
                self._client = distributed.Client(self._cluster, set_as_default=False)
            except BaseException:
                self._cluster.close()
                raise
            logger.info(
                "started a LocalCluster of %d workers at %s",
                workers,
                self._cluster.scheduler_address,
            )
            return self._client
        try:
            self._client = distributed.Client(
                self._scheduler, timeout=self._timeout, set_as_default=False
            )
        except (OSError, TimeoutError) as error:
            raise SimulationError(
                f"cannot reach the Dask scheduler at {self._scheduler}: {error}",
                where=self._scheduler,
            ) from error
        return self._client

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def _gather(
    client: Any,
    *,
    factory: Factory,
    batches: Sequence[Sequence[_Job]],
    horizon: _Horizon,
    progress: Callable[[float], None] | None,
    total: int,
) -> Iterator[_Run]:
    try:
        futures = {
            client.submit(_run_batch, factory, batch, horizon, pure=False): batch
            for batch in batches
        }
    except (TypeError, AttributeError, ValueError) as error:  # pickling failed
        raise ValidationError(
            "the factory or the inputs cannot be sent to the Dask workers",
            path="factory",
            expected="picklable objects: a module-level function or a functools.partial of one",
            got=f"{type(error).__name__}: {error}",
        ) from error
    done = 0
    try:
        for future in _distributed().as_completed(futures, loop=client.loop):
            batch = futures[future]
            try:
                runs: list[_Run] = future.result()
            except (
                Exception
            ) as error:  # the task itself failed: a dead worker, an unpicklable factory
                logger.warning("an ensemble task of %d members failed: %r", len(batch), error)
                runs = [_Run(job.index, error=f"task failed: {error!r}") for job in batch]
            finally:
                future.release()
            yield from runs
            done += len(batch)
            if progress is not None:
                progress(done / total)
    finally:
        client.cancel(list(futures))


def _run_batch(factory: Factory, jobs: Sequence[_Job], horizon: _Horizon) -> list[_Run]:
    """Run each job on a fresh simulator (on a worker); a failure is returned, not raised."""
    runs = []
    for job in jobs:
        try:
            simulator = factory()
        except Exception as error:
            runs.append(_Run(job.index, error=f"factory failed: {type(error).__name__}: {error}"))
            continue
        try:
            result = simulate(
                simulator,
                start=horizon.start,
                stop=horizon.stop,
                dt=horizon.dt,
                inputs=horizon.inputs,
                parameters=job.parameters,
                state=job.state,
            )
        except Exception as error:
            runs.append(_Run(job.index, error=f"{type(error).__name__}: {error}"))
        else:
            runs.append(_Run(job.index, result.times, dict(result.outputs)))
        finally:
            simulator.close()
    return runs


def _jobs(factory: Factory, samples: pd.DataFrame) -> list[_Job]:
    """One job per row, its columns split into parameters and states of the simulator."""
    if not isinstance(samples, pd.DataFrame) or len(samples) == 0:
        raise ValidationError(
            "samples must be a frame with one row per member",
            path="samples",
            expected="a non-empty DataFrame, one column per parameter or state",
            got=type(samples).__name__ if not isinstance(samples, pd.DataFrame) else "0 rows",
        )
    simulator = factory()
    try:
        causality = {v.name: v.causality for v in simulator.variables}
    finally:
        simulator.close()
    columns = [str(c) for c in samples.columns]
    for name in columns:
        if causality.get(name) not in (Causality.PARAMETER, Causality.STATE):
            raise ValidationError(
                f"sample column {name!r} is not a parameter or state of the simulator",
                path=f"samples/{name}",
                expected=f"some of {sorted(k for k, c in causality.items() if c in (Causality.PARAMETER, Causality.STATE))}",
                got=name,
            )
    values = _finite_values(samples)
    states = [i for i, name in enumerate(columns) if causality[name] is Causality.STATE]
    jobs = []
    for index, row in enumerate(values.tolist()):
        parameters = {
            n: v for i, (n, v) in enumerate(zip(columns, row, strict=True)) if i not in states
        }
        state = {columns[i]: row[i] for i in states}
        jobs.append(_Job(index, parameters, state))
    return jobs


def _finite_values(samples: pd.DataFrame) -> Array:
    try:
        values = samples.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValidationError(
            "samples must be numbers",
            path="samples",
            expected="numeric columns",
            got=dict(samples.dtypes.astype(str)),
        ) from error
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        row, column = bad[0]
        raise ValidationError(
            "samples must be finite",
            path=f"samples/{int(row)}/{samples.columns[column]}",
            expected="a finite number",
            got=float(values[row, column]),
        )
    return values


def _assemble(samples: pd.DataFrame, runs: Iterable[_Run], where: str) -> EnsembleResult:
    """The members' runs (in any order) as one result; failed members NaN with their reason."""
    n = len(samples)
    ordered = sorted(runs, key=lambda run: run.index)
    reasons = {run.index: run.error for run in ordered if run.error is not None}
    good = [run for run in ordered if run.error is None]
    if not good:
        shown = "; ".join(f"member {i}: {r}" for i, r in list(reasons.items())[:_REASONS_SHOWN])
        raise SimulationError(f"every one of {n} members failed; first: {shown}", where=where)
    times = good[0].times
    assert times is not None and good[0].outputs is not None
    outputs = {name: np.full((n, len(times)), np.nan) for name in good[0].outputs}
    for run in good:
        assert run.times is not None and run.outputs is not None
        if len(run.times) != len(times) or set(run.outputs) != set(outputs):
            reasons[run.index] = "returned other times or outputs than the other members"
            continue
        for name, column in run.outputs.items():
            outputs[name][run.index] = column
    failed = np.zeros(n, dtype=np.bool_)
    failed[list(reasons)] = True
    if reasons:
        logger.warning(
            "%d of %d ensemble members failed; first: %s",
            len(reasons),
            n,
            "; ".join(f"member {i}: {r}" for i, r in sorted(reasons.items())[:_REASONS_SHOWN]),
        )
    frame = samples.reset_index(drop=True)
    frame.index = pd.RangeIndex(n, name="member")
    return EnsembleResult(times, outputs, frame, failed, dict(sorted(reasons.items())))

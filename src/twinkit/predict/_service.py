"""The prediction service a server runs: registry, online inference and training jobs as one.

:class:`Predictions` is what the API and the CLI talk to. It owns the
:class:`~twinkit.predict.PredictorRegistry`, the
:class:`~twinkit.predict.PredictionRunner` (started by :meth:`Predictions.start`) and the
:class:`~twinkit.predict.Factories` that training by name draws on. A training job
(:meth:`Predictions.submit`) makes a model with a factory, reads the history, fits on a worker
thread and registers the result; jobs run one at a time (fitting is CPU-bound and the server
shares its cores with ingest), are kept in memory with their progress and error, and a server
that stops cancels the ones under way (the registry only ever holds finished versions): a fit
under way stops at its next progress report, where the callback raises ``CancelledError``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from twinkit.core import Runtime
from twinkit.errors import NotFoundError, TwinkitError, ValidationError
from twinkit.predict._factories import Factories
from twinkit.predict._online import PredictionRunner
from twinkit.predict._registry import PredictorRegistry, RegistryStore
from twinkit.predict._registry_entry import Limit, check_name, limits_from_json
from twinkit.predict._training import train
from twinkit.query._series import SeriesStore

__all__ = ["JobStatus", "PredictionStore", "Predictions", "TrainRequest", "TrainingJob"]

logger = logging.getLogger(__name__)

JOBS_KEPT = 100
"""Finished jobs remembered (per server), newest kept."""


class PredictionStore(RegistryStore, SeriesStore, Protocol):
    """What the prediction service needs of a store (``SQLiteStore`` has it all)."""


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class TrainRequest:
    """What to train: a model of ``factory`` with ``params``, on the twins of ``model``
    (or ``twins``) over ``[start, end)`` (default: all history up to now)."""

    factory: str
    model: str
    params: Mapping[str, Any] = field(default_factory=dict)
    start: float | None = None
    end: float | None = None
    twins: tuple[str, ...] | None = None
    resample: float | None = None
    activate: bool = False
    limits: Mapping[str, Limit] = field(default_factory=dict)
    prefix: str | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> TrainRequest:
        """Checked from a request body (``where`` names the field of any error)."""
        unknown = sorted(set(body) - set(_FIELDS))
        if unknown:
            raise ValidationError(
                "unknown fields of a training request",
                path="/".join(unknown),
                expected=f"some of {list(_FIELDS)}",
                got=unknown,
            )
        prefix = body.get("prefix")
        if prefix is not None and not isinstance(prefix, str):
            raise ValidationError("bad prefix", path="prefix", expected="a name", got=prefix)
        for key in ("factory", "model"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise ValidationError(
                    f"a training request needs {key}",
                    path=key,
                    expected="a name",
                    got=body.get(key),
                )
        params = body.get("params") or {}
        if not isinstance(params, Mapping):
            raise ValidationError("bad params", path="params", expected="an object", got=params)
        twins = body.get("twins")
        if twins is not None and (
            not isinstance(twins, Sequence) or isinstance(twins, str) or not twins
        ):
            raise ValidationError("bad twins", path="twins", expected="twin ids", got=twins)
        return cls(
            factory=body["factory"],
            model=body["model"],
            params=dict(params),
            start=_seconds(body.get("start"), "start"),
            end=_seconds(body.get("end"), "end"),
            twins=None if twins is None else tuple(str(t) for t in twins),
            resample=_seconds(body.get("resample"), "resample"),
            activate=bool(body.get("activate", False)),
            limits=limits_from_json(body.get("limits")),
            prefix=prefix,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "factory": self.factory,
            "model": self.model,
            "params": dict(self.params),
            "start": self.start,
            "end": self.end,
            "twins": None if self.twins is None else list(self.twins),
            "resample": self.resample,
            "activate": self.activate,
            "limits": {name: limit.to_json() for name, limit in self.limits.items()},
            "prefix": self.prefix,
        }


_FIELDS = (
    "factory",
    "model",
    "params",
    "start",
    "end",
    "twins",
    "resample",
    "activate",
    "limits",
    "prefix",
)


def _seconds(value: object, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"bad {what}", path=what, expected="seconds, or null", got=value)
    return float(value)


@dataclass(frozen=True, slots=True)
class TrainingJob:
    """One training run: where it stands and, once done, the version it registered."""

    id: str
    name: str
    request: TrainRequest
    status: JobStatus
    created: float
    cause: str
    progress: float = 0.0
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    version: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status.value,
            "progress": self.progress,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "error": self.error,
            "version": self.version,
            "cause": self.cause,
            "request": self.request.to_json(),
        }


class Predictions:
    """The registry, the runner and training jobs of one server."""

    def __init__(
        self,
        store: PredictionStore,
        runtime: Runtime,
        *,
        factories: Factories | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._runtime = runtime
        self._clock = clock
        self.registry = PredictorRegistry(store, clock=clock)
        self.factories = Factories.installed() if factories is None else factories
        self.runner = PredictionRunner(runtime, self.registry, history=store)
        self._jobs: dict[str, TrainingJob] = {}
        self._progress: dict[str, float] = {}  # written by fitting threads
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cancel = threading.Event()  # set: fits under way stop at their next report
        self._ids = itertools.count(1)
        self._one_at_a_time = asyncio.Semaphore(1)
        self._started = False

    async def start(self) -> None:
        """Serve the active models (idempotent)."""
        if not self._started:
            await self.runner.start()
            self._started = True

    async def close(self) -> None:
        """Cancel the training under way, stop serving."""
        self._cancel.set()
        for task in list(self._tasks.values()):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        if self._started:
            await self.runner.stop()
            self._started = False

    # --- training jobs -------------------------------------------------------------------

    def submit(self, name: str, request: TrainRequest, *, cause: str) -> TrainingJob:
        """Queue a training of ``name``; checks the name, the factory and the model now."""
        check_name(name)
        self.factories.get(request.factory)
        if request.model not in self._runtime.models:
            raise NotFoundError(
                f"model {request.model} not found; expected the DTMI of an uploaded model",
                where="model",
            )
        job_id = f"{name}-{next(self._ids)}"
        job = TrainingJob(job_id, name, request, JobStatus.QUEUED, self._clock(), cause)
        self._jobs[job_id] = job
        self._forget_old()
        self._tasks[job_id] = asyncio.get_running_loop().create_task(
            self._run(job_id), name=f"twinkit-train-{job_id}"
        )
        logger.info("training %s queued (%s on %s)", job_id, request.factory, request.model)
        return job

    def job(self, name: str, job_id: str) -> TrainingJob:
        job = self._jobs.get(job_id)
        if job is None or job.name != name:
            raise NotFoundError(
                f"no training job {job_id!r} of predictor {name!r} (jobs are kept in memory "
                "until the server stops)",
                where=f"predictor {name}/jobs/{job_id}",
            )
        return self._current(job)

    def jobs(self, name: str | None = None) -> list[TrainingJob]:
        """Jobs (of ``name``), oldest first."""
        return [self._current(j) for j in self._jobs.values() if name is None or j.name == name]

    def _current(self, job: TrainingJob) -> TrainingJob:
        progress = self._progress.get(job.id)
        return job if progress is None else replace(job, progress=progress)

    def _forget_old(self) -> None:
        done = [j.id for j in self._jobs.values() if j.status not in _LIVE]
        for job_id in done[: max(len(done) - JOBS_KEPT, 0)]:
            self._jobs.pop(job_id, None)

    def _set(self, job_id: str, **changes: Any) -> None:
        self._jobs[job_id] = replace(self._jobs[job_id], **changes)

    async def _run(self, job_id: str) -> None:
        try:
            async with self._one_at_a_time:
                self._set(job_id, status=JobStatus.RUNNING, started=self._clock())
                version = await self._train(self._jobs[job_id])
            self._set(
                job_id,
                status=JobStatus.DONE,
                progress=1.0,
                version=version,
                finished=self._clock(),
            )
        except asyncio.CancelledError:
            self._set(job_id, status=JobStatus.CANCELLED, finished=self._clock())
            raise
        except Exception as error:
            reason = str(error) if isinstance(error, TwinkitError) else repr(error)
            trace = None if isinstance(error, TwinkitError) else error
            logger.warning("training %s failed: %s", job_id, reason, exc_info=trace)
            self._set(job_id, status=JobStatus.FAILED, error=reason, finished=self._clock())
        finally:
            self._tasks.pop(job_id, None)
            progress = self._progress.pop(job_id, None)
            if progress is not None and self._jobs[job_id].status is not JobStatus.DONE:
                self._set(job_id, progress=progress)

    async def _train(self, job: TrainingJob) -> int:
        request = job.request
        trained = self.factories.create(request.factory, request.params)
        self._progress[job.id] = 0.0

        def progress(fraction: float) -> None:
            if self._cancel.is_set():
                raise asyncio.CancelledError(f"training {job.id} cancelled: the server stops")
            self._progress[job.id] = fraction

        entry = await train(
            trained,
            store=self._store,
            runtime=self._runtime,
            registry=self.registry,
            name=job.name,
            model=request.model,
            start=0.0 if request.start is None else request.start,
            end=self._clock() if request.end is None else request.end,
            twins=request.twins,
            resample=request.resample,
            cause=job.cause,
            activate=request.activate,
            limits=request.limits,
            factory=request.factory,
            params=request.params,
            prefix=request.prefix,
            progress=progress,
        )
        return entry.version


_LIVE = (JobStatus.QUEUED, JobStatus.RUNNING)

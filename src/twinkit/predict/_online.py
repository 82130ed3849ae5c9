"""Online inference: the active models of the registry, fed live by their twins' data.

A :class:`PredictionRunner` serves the active version of every registered name. For each twin
of a served model's twin model (or of a model extending it) it keeps a
:class:`~twinkit.predict._online_buffer.RowBuffer` of the newest ``window`` rows of the model's
inputs, updated on the event loop from ``TelemetryReceived``, ``PropertyReported`` and (for
derived inputs such as ``residual:flow``) ``ValuesDerived`` events. When a twin has a full
window with a new row, the runner calls ``predict`` or ``score`` on one worker thread:

- Bursts coalesce: rows that arrive while the worker is busy make one call on the newest
  window per twin. A model with ``predict_many(windows)`` / ``score_many(windows)`` (same
  answers as one call per window, in order) is called once per round for all its twins.
- Results go onto the twin as derived values of kind ``predicted`` (series
  ``predicted:<name>``, ``predicted:<name>_lower`` and ``_upper`` for a prediction's interval;
  ``predicted:anomaly_score`` and ``predicted:anomaly_threshold`` for a detector), one
  transaction per model and round, published as ``ValuesDerived`` events: the live stream of
  every prediction. A prediction name that is not a DTDL name (``level@3600``) is written
  with ``_`` for the characters a name cannot hold (``level_3600``).
- ``PredictionMade`` events go into the twin's log only when something happens that an
  operator would look for later: a model version starts serving the twin, a detector turns
  anomalous or normal again, a predicted value leaves or re-enters its :class:`Limit`. One
  logged event per update would grow the log and every twin's version by the telemetry rate
  and bury those moments; the per-update history is the ``predicted:*`` series already.
  They are written through the runtime's ``record_event`` (:class:`EventRecorder`) where it
  has one.
- An alert (``AlertRaised``) goes on the twin once per episode: when a detector turns
  anomalous (``anomalyDetected``, naming the inputs that contributed most), when a predicted
  value leaves its limit (``predictionLimit``, e.g. a remaining useful life below 30 cycles),
  and when a model starts failing on the twin (``predictorFailed``). An episode ends after
  ``clear_after`` updates back within bounds in a row (a failing model: its next success),
  so a score hovering at its threshold does not alert on every row; its alert is then
  cleared (``AlertCleared``) unless another episode on the twin still holds that name.
- A model that raises fails that update only: logged (with its traceback once per streak),
  counted, alerted once per streak and twin; the runner goes on.
- Paced: one twin is inferred on by one model at most every ``min_interval`` seconds (default
  1 s; per name with ``intervals``; never more than a resampled model's own cadence); rows in
  between still fill the buffers and are coalesced into the next inference, which is made on
  the newest window when the interval has passed. Twins ready for inference wait in a bounded
  queue whose overflow is dropped and counted (:mod:`twinkit.predict._online_pace`).
- Scoped: ``scopes`` (or :meth:`PredictionRunner.restrict`) limits a name to some twins of its
  model, e.g. a detector trained on one machine that must not judge its siblings.

Buffers start from history: with ``history`` (the store), a new buffer is filled in the
background with the twin's newest rows before its first live row
(:mod:`twinkit.predict._online_history`), so a model answers from the first live row after a
restart, and at once after a version with other inputs is activated.

Hot swap: activating another version through the :class:`~twinkit.predict.PredictorRegistry`
loads it off the event loop, then replaces the served model in one step on the loop; ingest
never waits for it. Twins' buffers are kept when the inputs are the same. Rows already
handed to the worker finish with the old version and say so; every later prediction carries
the new version. A version that cannot be loaded (corrupt, made by another twinkit) is
logged and shown in :meth:`PredictionRunner.status`, and the previous version goes on serving.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from twinkit.core import Event, EventType, Runtime
from twinkit.core._derived import split_derived
from twinkit.errors import TwinkitError
from twinkit.predict._online_buffer import RowBuffer
from twinkit.predict._online_history import history_rows
from twinkit.predict._online_pace import (
    DEFAULT_MAX_PENDING,
    DEFAULT_MIN_INTERVAL,
    Pacer,
    check_interval,
)
from twinkit.predict._online_publish import Publisher, Served, Track, resume
from twinkit.predict._online_results import (
    EventRecorder,
    LatestPrediction,
    ServingStatus,
    values_of,
)
from twinkit.predict._online_work import Work, run_all
from twinkit.predict._protocol import Window
from twinkit.predict._registry import LoadedModel, PredictorRegistry
from twinkit.predict._registry_entry import Limit, RegistryEntry
from twinkit.query._series import SeriesStore

__all__ = ["PredictionRunner"]

logger = logging.getLogger(__name__)

_DATA = (EventType.TELEMETRY_RECEIVED, EventType.PROPERTY_REPORTED, EventType.TWIN_DELETED)


class PredictionRunner(Publisher):
    """Serves the active models of ``registry`` on the live twins of ``runtime``.

    ``events``: where ``PredictionMade`` events are logged (default: the runtime, when it has
    ``record_event``; None: not logged). ``limits``: per registered name, alert limits per
    prediction name that replace the registry entry's. ``clear_after``: updates within bounds
    in a row that end an alert episode. ``min_interval``: seconds between two inferences of one
    twin by one model (0: every row), ``intervals`` the same per registered name.
    ``max_pending``: twins waiting for inference at most (overflow dropped, counted).
    ``scopes``: per registered name, the only twins it serves. ``history``: the store of the
    twins' series, from which a new buffer is filled (:mod:`twinkit.predict._online_history`),
    so that a model answers from the first live row after a restart or a change of inputs
    (None: buffers fill from live rows only).
    """

    def __init__(
        self,
        runtime: Runtime,
        registry: PredictorRegistry,
        *,
        events: EventRecorder | bool | None = True,
        limits: Mapping[str, Mapping[str, Limit]] | None = None,
        clear_after: int = 3,
        min_interval: float = DEFAULT_MIN_INTERVAL,
        intervals: Mapping[str, float] | None = None,
        max_pending: int = DEFAULT_MAX_PENDING,
        scopes: Mapping[str, Collection[str]] | None = None,
        history: SeriesStore | None = None,
    ) -> None:
        self._runtime = runtime
        self._history = history
        self._registry = registry
        recorder = runtime if events is True else events
        self._events = recorder if isinstance(recorder, EventRecorder) else None
        self._limits = {name: dict(found) for name, found in (limits or {}).items()}
        self._clear_after = max(int(clear_after), 1)
        self._served: dict[str, Served] = {}
        self._errors: dict[str, str] = {}  # name -> why its active version is not served
        self._unloaded: dict[str, RegistryEntry] = {}  # name -> that version
        self._tracks: dict[tuple[str, str], Track] = {}
        self._by_model: dict[str, tuple[str, ...]] = {}
        self._min_interval = check_interval(min_interval, "min_interval")
        self._intervals = {
            name: check_interval(seconds, f"intervals/{name}")
            for name, seconds in (intervals or {}).items()
        }
        self._scopes = {name: frozenset(twins) for name, twins in (scopes or {}).items()}
        self._pacer: Pacer[tuple[str, str]] = Pacer(self._interval_of, max_pending=max_pending)
        self._sleep_until: float | None = None  # when the worker loop wakes by itself
        self._executor: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self._reloads: set[asyncio.Task[None]] = set()
        self._backfills: set[asyncio.Task[None]] = set()
        self._reload_lock = asyncio.Lock()
        self._unsubscribe: Callable[[], None] | None = None
        self._stop_listening: Callable[[], None] | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Load every active model and start serving; idempotent."""
        if self._task is not None:
            return
        self._stopping = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="twinkit-predict")
        self._stop_listening = self._registry.on_change(self._on_registry_change)
        try:
            for entry in await self._registry.active():
                await self._load(entry)
        except BaseException:
            await self.stop()
            raise
        self._resubscribe()
        self._task = asyncio.create_task(self._drain(), name="twinkit-predict")
        if self._events is None:
            logger.info("PredictionMade events are not logged: the runtime cannot record them")
        logger.info("prediction runner serving %d model(s)", len(self._served))

    async def stop(self, timeout: float = 30.0) -> None:
        """Stop serving; the round under way finishes (at most ``timeout`` s)."""
        for stop in (self._stop_listening, self._unsubscribe):
            if stop is not None:
                stop()
        self._stop_listening = self._unsubscribe = None
        for reload in (*self._reloads, *self._backfills):
            reload.cancel()
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            self._wake.set()
            try:
                await asyncio.wait_for(task, timeout)
            except TimeoutError:
                logger.warning("prediction runner: a round took over %g s to finish", timeout)
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, True)
        self._idle.set()

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait until every row received so far has been predicted on and written."""
        if self._reloads:
            await asyncio.wait_for(asyncio.gather(*self._reloads, return_exceptions=True), timeout)
        if self._backfills:
            pending = tuple(self._backfills)
            await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), timeout)
        await asyncio.wait_for(self._idle.wait(), timeout)

    # --- what it serves ------------------------------------------------------------------

    def served(self) -> list[RegistryEntry]:
        """The entries being served, by name."""
        return [self._served[name].entry for name in sorted(self._served)]

    def status(self) -> list[ServingStatus]:
        """One status per served name, and one per active version that failed to load."""
        found = [self._status(name, served) for name, served in sorted(self._served.items())]
        for name, entry in sorted(self._unloaded.items()):
            if name not in self._served:
                error = self._errors.get(name)
                found.append(
                    ServingStatus(
                        name,
                        entry.version,
                        entry.model,
                        entry.kind,
                        0,
                        0,
                        0,
                        0,
                        0,
                        None,
                        None,
                        None,
                        error,
                    )
                )
        return found

    def _status(self, name: str, served: Served) -> ServingStatus:
        tracks = [track for (n, _), track in self._tracks.items() if n == name]
        latencies = np.array(served.latencies) * 1e3
        stats: list[float | None] = [None, None, None]
        if len(latencies):
            stats = [float(v) for v in np.percentile(latencies, [50, 99, 100])]
        entry = served.entry
        return ServingStatus(
            name=name,
            version=entry.version,
            model=entry.model,
            kind=entry.kind,
            twins=len(tracks),
            updates=served.updates,
            failures=served.failures,
            coalesced=served.coalesced,
            late=sum(track.buffer.late for track in tracks),
            latency_ms_p50=stats[0],
            latency_ms_p99=stats[1],
            latency_ms_max=stats[2],
            error=self._errors.get(name),
            throttled=served.throttled,
            dropped=served.dropped,
            min_interval=self._configured_interval(name),
        )

    # --- pacing and scopes ---------------------------------------------------------------

    def pace(self, name: str, seconds: float | None) -> None:
        """Infer with ``name`` at most every ``seconds`` per twin (None: the runner's default)."""
        if seconds is None:
            self._intervals.pop(name, None)
        else:
            self._intervals[name] = check_interval(seconds, f"intervals/{name}")

    def restrict(self, name: str, twins: Collection[str] | None) -> None:
        """Serve ``name`` on these twins only (None: on every twin of its model)."""
        if twins is None:
            self._scopes.pop(name, None)
            return
        self._scopes[name] = scope = frozenset(twins)
        for key in [key for key in self._tracks if key[0] == name and key[1] not in scope]:
            del self._tracks[key]
            self._pacer.forget(key)

    def _configured_interval(self, name: str) -> float:
        """The minimum interval of ``name``: configured, never above a resampled model's
        own cadence (it makes one row per bucket anyway)."""
        seconds = self._intervals.get(name, self._min_interval)
        served = self._served.get(name)
        if served is not None and served.entry.resample is not None:
            return min(seconds, served.entry.resample)
        return seconds

    def _interval_of(self, key: tuple[str, str]) -> float:
        return self._configured_interval(key[0])

    def latest(self, twin_id: str) -> list[LatestPrediction]:
        """The newest answer of every served model about the twin, by name."""
        tracks = [self._tracks.get((name, twin_id)) for name in sorted(self._served)]
        return [track.latest for track in tracks if track is not None and track.latest is not None]

    # --- hot swap ------------------------------------------------------------------------

    def _on_registry_change(self, name: str) -> None:
        task = asyncio.get_running_loop().create_task(self._reload_logged(name))
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    async def _reload_logged(self, name: str) -> None:
        try:
            await self.reload(name)
        except TwinkitError as error:  # the store failed: keep serving what is served
            logger.error("cannot reload predictor %s: %s", name, error)

    async def reload(self, name: str) -> None:
        """Serve the version of ``name`` active in the registry now (none: stop serving it)."""
        async with self._reload_lock:
            active = [entry for entry in await self._registry.active() if entry.name == name]
            current = self._served.get(name)
            if not active:
                self._errors.pop(name, None)
                self._unloaded.pop(name, None)
                if current is not None:
                    self._unserve(name)
                    logger.info("stopped serving %s", current.entry.label)
                return
            if current is None or current.entry.version != active[0].version:
                await self._load(active[0])
                self._resubscribe()

    async def _load(self, entry: RegistryEntry) -> None:
        try:
            loaded = await self._registry.load(entry.name, entry.version)
        except TwinkitError as error:
            self._errors[entry.name] = str(error)
            self._unloaded[entry.name] = entry
            logger.error("cannot serve %s: %s", entry.label, error)
            return
        self._errors.pop(entry.name, None)
        self._unloaded.pop(entry.name, None)
        self._serve(loaded)

    def _serve(self, loaded: LoadedModel) -> None:
        entry = loaded.entry
        old = self._served.get(entry.name)
        limits = self._limits.get(entry.name, entry.limits)
        self._served[entry.name] = Served(entry, loaded.model, limits)
        self._by_model.clear()
        for key, track in list(self._tracks.items()):
            if key[0] != entry.name:
                continue
            if old is not None and _same_rows(old.entry, entry):
                if track.buffer.capacity != entry.window:
                    track.buffer = track.buffer.resized(entry.window)
            else:
                track.buffer = self._buffer(entry, track.twin_id)
                self._backfill(key, math.inf)
            if track.buffer.full:
                self._pacer.again(key)
                self._mark(key, self._served[entry.name])
        was = f" (was v{old.entry.version})" if old is not None else ""
        logger.info("serving %s for %s%s", entry.label, entry.model, was)
        self._warn_of_clashes(entry)

    def _warn_of_clashes(self, entry: RegistryEntry) -> None:
        """Two detectors of overlapping twin models with the same prefix write the same
        series; say so (predictors' names are only known once they answer)."""
        models = self._runtime.models
        for name, served in self._served.items():
            other = served.entry
            if (
                name != entry.name
                and not self._apart(name, entry.name)
                and entry.kind == other.kind == "detector"
                and entry.prefix == other.prefix
                and entry.model in models
                and other.model in models
                and (models.is_a(entry.model, other.model) or models.is_a(other.model, entry.model))
            ):
                logger.warning(
                    "detectors %s and %s both write predicted:%sanomaly_score on twins of %s: "
                    "register one of them with a prefix",
                    other.label,
                    entry.label,
                    f"{entry.prefix}_" if entry.prefix else "",
                    entry.model,
                )

    def _apart(self, one: str, other: str) -> bool:
        """Whether two names serve disjoint sets of twins."""
        a, b = self._scopes.get(one), self._scopes.get(other)
        return a is not None and b is not None and not a & b

    def _unserve(self, name: str) -> None:
        self._served.pop(name, None)
        self._by_model.clear()
        for key in [key for key in self._tracks if key[0] == name]:
            del self._tracks[key]
            self._pacer.forget(key)
        self._resubscribe()

    def _resubscribe(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if not self._served:
            return
        types: tuple[EventType, ...] = _DATA
        if any(split_derived(i) for s in self._served.values() for i in s.entry.inputs):
            types = (*_DATA, EventType.VALUES_DERIVED)
        models = {served.entry.model for served in self._served.values()}
        self._unsubscribe = self._runtime.subscribe(self._on_event, models=models, types=types)

    # --- the loop side -------------------------------------------------------------------

    def _names_for(self, model: str) -> tuple[str, ...]:
        names = self._by_model.get(model)
        if names is None:
            models = self._runtime.models
            names = self._by_model[model] = tuple(
                name
                for name, served in sorted(self._served.items())
                if models.is_a(model, served.entry.model)
            )
        return names

    def _buffer(self, entry: RegistryEntry, twin_id: str) -> RowBuffer:
        served = self._served.get(entry.name)
        # a model may answer from fewer rows than its window (a young engine's remaining life)
        minimum = getattr(served.trained, "min_history", None) if served is not None else None
        buffer = RowBuffer(
            entry.inputs,
            entry.window,
            entry.resample,
            minimum=minimum if isinstance(minimum, int) else None,
        )
        twin = self._runtime.find(twin_id)
        if twin is not None:
            latest: dict[str, Any] = {n: v.value for n, v in twin.telemetry.items()}
            latest.update((n, s.reported) for n, s in twin.properties.items() if s.has_reported)
            latest.update((n, v.value) for n, v in twin.derived.items())
            buffer.seed(latest)
        return buffer

    def _on_event(self, event: Event) -> None:
        """Take the event's values into the twin's buffers (on the loop, without waiting)."""
        if event.type is EventType.TWIN_DELETED:
            for key in [key for key in self._tracks if key[1] == event.twin_id]:
                del self._tracks[key]
                self._pacer.forget(key)
            return
        values = values_of(event)
        if not values:
            return
        twin = self._runtime.find(event.twin_id)
        if twin is None:
            return
        for name in self._names_for(twin.model):
            scope = self._scopes.get(name)
            if scope is not None and twin.id not in scope:
                continue
            served = self._served[name]
            key = (name, twin.id)
            track = self._tracks.get(key)
            if track is None:
                track = self._tracks[key] = resume(
                    Track(twin.id, name, self._buffer(served.entry, twin.id)), twin, served
                )
                self._backfill(key, event.time)
            if track.buffer.add(event.time, values) and track.buffer.full:
                self._mark(key, served)

    def _backfill(self, key: tuple[str, str], before: float) -> None:
        """Fill the new buffer of ``key`` from the twin's history before ``before`` (in the
        background: ingest never waits for it; live rows go on arriving meanwhile)."""
        if self._history is None or self._task is None:
            return
        task = asyncio.create_task(self._fill(key, before), name=f"twinkit-backfill-{key[1]}")
        self._backfills.add(task)
        task.add_done_callback(self._backfills.discard)

    async def _fill(self, key: tuple[str, str], before: float) -> None:
        track, served = self._tracks.get(key), self._served.get(key[0])
        if track is None or served is None or self._history is None:
            return
        buffer, entry = track.buffer, served.entry
        try:
            times, values = await history_rows(
                self._history,
                key[1],
                columns=entry.inputs,
                resample=entry.resample,
                before=before,
                count=buffer.capacity,
            )
        except TwinkitError as error:  # the store failed, or a series is unreadable
            logger.warning("%s on %s starts without history: %s", entry.label, key[1], error)
            return
        except Exception:  # a bug must not end serving: the buffer fills from live rows
            logger.exception("%s on %s starts without history", entry.label, key[1])
            return
        if self._tracks.get(key) is not track or track.buffer is not buffer:
            return  # replaced meanwhile (a new version, the twin deleted)
        taken = buffer.backfill(times, values)
        if taken:
            logger.debug("%s on %s: %d rows from history", entry.label, key[1], taken)
        if taken and buffer.full:
            self._pacer.again(key)
            self._mark(key, served)

    def _mark(self, key: tuple[str, str], served: Served) -> None:
        state, due = self._pacer.mark(key)
        self._idle.clear()
        if state == "coalesced":
            served.coalesced += 1
        elif state == "deferred":
            served.throttled += 1
            assert due is not None
            if self._sleep_until is not None and due >= self._sleep_until:
                return  # the worker loop wakes by then anyway
        self._wake.set()

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            self._wake.clear()
            try:
                works = self._collect()
                if not works:
                    await self._sleep()
                    continue
                assert self._executor is not None
                outcomes = await loop.run_in_executor(self._executor, run_all, works)
                await self._publish(outcomes)
            except Exception:  # never let one bad round end online inference
                logger.exception("prediction runner: a round of work failed")

    async def _sleep(self) -> None:
        """Wait for new rows, or until the next deferred inference is due."""
        timeout = self._pacer.promote()
        if self._pacer.ready:
            return
        if timeout is None:
            self._idle.set()
        self._sleep_until = None if timeout is None else time.monotonic() + timeout
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self._sleep_until = None

    def _collect(self) -> list[Work]:
        works = []
        self._pacer.promote()
        for key in self._pacer.dropped():
            served = self._served.get(key[0])
            if served is not None:
                served.dropped += 1
        for key in self._pacer.take():
            track = self._tracks.get(key)
            served = self._served.get(key[0])
            if track is None or served is None or not track.buffer.full:
                continue
            times, values = track.buffer.window()
            window = Window(track.twin_id, times, values, track.buffer.columns)
            works.append(Work(served.entry, served.trained, window, (served, track)))
        return works


def _same_rows(old: RegistryEntry, new: RegistryEntry) -> bool:
    return old.inputs == new.inputs and old.resample == new.resample

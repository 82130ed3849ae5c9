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
  ``clear_after`` updates back within bounds in a row, so a score hovering at its threshold
  does not alert on every row.
- A model that raises fails that update only: logged (with its traceback once per streak),
  counted, alerted once per streak and twin; the runner goes on.

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
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from twinkit.core import PREDICTED, Derived, Event, EventType, Runtime
from twinkit.core._derived import split_derived
from twinkit.errors import NotFoundError, TwinkitError
from twinkit.predict._online_buffer import RowBuffer
from twinkit.predict._online_results import (
    EventRecorder,
    LatestPrediction,
    ServingStatus,
    alert_of,
    prediction_values,
    score_values,
)
from twinkit.predict._online_work import Outcome, Work, run_all
from twinkit.predict._protocol import Window
from twinkit.predict._registry import LoadedModel, PredictorRegistry
from twinkit.predict._registry_entry import Limit, RegistryEntry, TrainedModel

__all__ = ["PredictionRunner"]

logger = logging.getLogger(__name__)

LATENCIES_KEPT: Final = 1024
"""Per-update latencies kept per served model for its percentiles."""

_DATA = (EventType.TELEMETRY_RECEIVED, EventType.PROPERTY_REPORTED, EventType.TWIN_DELETED)
_ANOMALY = "anomaly"


@dataclass(slots=True, eq=False)
class _Served:
    """One served version. ``trained`` is used on the worker thread only."""

    entry: RegistryEntry
    trained: TrainedModel
    limits: Mapping[str, Limit]
    updates: int = 0
    failures: int = 0
    coalesced: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCIES_KEPT))


@dataclass(slots=True, eq=False)
class _Track:
    """One twin under one served name (mutated on the loop only)."""

    twin_id: str
    name: str
    buffer: RowBuffer
    alarmed: set[str] = field(default_factory=set)
    calm: dict[str, int] = field(default_factory=dict)
    failing: bool = False
    version: int = 0  # of the newest answer
    latest: LatestPrediction | None = None


@dataclass(slots=True)
class _Round:
    """What one round of outcomes writes: derived values per name, events, alerts."""

    derived: dict[str, list[Derived]] = field(default_factory=dict)
    made: list[tuple[_Track, float, dict[str, Any]]] = field(default_factory=list)
    alerts: list[tuple[_Track, str, str]] = field(default_factory=list)


class PredictionRunner:
    """Serves the active models of ``registry`` on the live twins of ``runtime``.

    ``events``: where ``PredictionMade`` events are logged (default: the runtime, when it has
    ``record_event``; None: not logged). ``limits``: per registered name, alert limits per
    prediction name that replace the registry entry's. ``clear_after``: updates within bounds
    in a row that end an alert episode.
    """

    def __init__(
        self,
        runtime: Runtime,
        registry: PredictorRegistry,
        *,
        events: EventRecorder | bool | None = True,
        limits: Mapping[str, Mapping[str, Limit]] | None = None,
        clear_after: int = 3,
    ) -> None:
        self._runtime = runtime
        self._registry = registry
        recorder = runtime if events is True else events
        self._events = recorder if isinstance(recorder, EventRecorder) else None
        self._limits = {name: dict(found) for name, found in (limits or {}).items()}
        self._clear_after = max(int(clear_after), 1)
        self._served: dict[str, _Served] = {}
        self._errors: dict[str, str] = {}  # name -> why its active version is not served
        self._unloaded: dict[str, RegistryEntry] = {}  # name -> that version
        self._tracks: dict[tuple[str, str], _Track] = {}
        self._by_model: dict[str, tuple[str, ...]] = {}
        self._dirty: dict[tuple[str, str], None] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self._reloads: set[asyncio.Task[None]] = set()
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
        for reload in tuple(self._reloads):
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

    def _status(self, name: str, served: _Served) -> ServingStatus:
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
        )

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
        self._served[entry.name] = _Served(entry, loaded.model, limits)
        self._by_model.clear()
        for key, track in list(self._tracks.items()):
            if key[0] != entry.name:
                continue
            if old is not None and _same_rows(old.entry, entry):
                if track.buffer.capacity != entry.window:
                    track.buffer = track.buffer.resized(entry.window)
            else:
                track.buffer = self._buffer(entry, track.twin_id)
            if track.buffer.full:
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

    def _unserve(self, name: str) -> None:
        self._served.pop(name, None)
        self._by_model.clear()
        for key in [key for key in self._tracks if key[0] == name]:
            del self._tracks[key]
            self._dirty.pop(key, None)
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
        buffer = RowBuffer(entry.inputs, entry.window, entry.resample)
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
                self._dirty.pop(key, None)
            return
        values = _values_of(event)
        if not values:
            return
        twin = self._runtime.find(event.twin_id)
        if twin is None:
            return
        for name in self._names_for(twin.model):
            served = self._served[name]
            key = (name, twin.id)
            track = self._tracks.get(key)
            if track is None:
                track = self._tracks[key] = _Track(
                    twin.id, name, self._buffer(served.entry, twin.id)
                )
            if track.buffer.add(event.time, values) and track.buffer.full:
                self._mark(key, served)

    def _mark(self, key: tuple[str, str], served: _Served) -> None:
        if key in self._dirty:
            served.coalesced += 1
        else:
            self._dirty[key] = None
        self._idle.clear()
        self._wake.set()

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
                outcomes = await loop.run_in_executor(self._executor, run_all, works)
                await self._publish(outcomes)
            except Exception:  # never let one bad round end online inference
                logger.exception("prediction runner: a round of work failed")
            self._wake.set()  # look again: rows may have come in meanwhile

    def _collect(self) -> list[Work]:
        works = []
        dirty, self._dirty = self._dirty, {}
        for key in dirty:
            track = self._tracks.get(key)
            served = self._served.get(key[0])
            if track is None or served is None or not track.buffer.full:
                continue
            times, values = track.buffer.window()
            window = Window(track.twin_id, times, values, track.buffer.columns)
            works.append(Work(served.entry, served.trained, window, (served, track)))
        return works

    # --- results -------------------------------------------------------------------------

    async def _publish(self, outcomes: Sequence[Outcome]) -> None:
        batch = _Round()
        for outcome in outcomes:
            owner: tuple[_Served, _Track] = outcome.work.owner
            served, track = owner
            if self._tracks.get((track.name, track.twin_id)) is not track:
                continue  # the twin was deleted, or its model unserved, meanwhile
            if outcome.error is not None:
                self._failed(served, track, outcome, batch)
            else:
                self._succeeded(served, track, outcome, batch)
        for name, items in batch.derived.items():
            live = [item for item in items if self._runtime.find(item.twin_id) is not None]
            try:
                await self._runtime.record_derived(live, cause=f"predictor:{name}")
            except TwinkitError as error:
                logger.warning("predictions of %s not recorded: %s", name, error)
        for track, at, data in batch.made:
            await self._made(track, at, data)
        for track, alert, message in batch.alerts:
            try:
                await self._runtime.raise_alert(
                    track.twin_id, alert, message, cause=f"predictor:{track.name}"
                )
            except NotFoundError:
                continue  # deleted meanwhile

    def _failed(self, served: _Served, track: _Track, outcome: Outcome, batch: _Round) -> None:
        error = outcome.error
        assert error is not None
        served.failures += 1
        entry = outcome.work.entry
        reason = (
            str(error) if isinstance(error, TwinkitError) else f"{type(error).__name__}: {error}"
        )
        if track.failing:
            logger.debug("%s failed again on %s: %s", entry.label, track.twin_id, reason)
            return
        track.failing = True
        trace = None if isinstance(error, TwinkitError) else error
        logger.warning("%s failed on %s: %s", entry.label, track.twin_id, reason, exc_info=trace)
        message = f"{entry.kind} {entry.label} failed: {reason}"
        batch.alerts.append((track, "predictorFailed", message))

    def _succeeded(self, served: _Served, track: _Track, outcome: Outcome, batch: _Round) -> None:
        entry, window = outcome.work.entry, outcome.work.window
        at = float(window.times[-1])
        if track.failing:
            track.failing = False
            logger.info("%s works again on %s", entry.label, track.twin_id)
        served.updates += 1
        served.latencies.append(outcome.seconds)
        score, predictions = outcome.score, outcome.predictions
        if score is not None:
            values = score_values(score, entry.prefix)
            changes = [(_ANOMALY, self._step(track, _ANOMALY, score.anomalous))]
        else:
            values = prediction_values(predictions, entry.prefix)
            changes = [
                (p.name, self._step(track, p.name, limit.crossed(p.value)))
                for p in predictions
                if (limit := served.limits.get(p.name)) is not None
            ]
        batch.derived.setdefault(entry.name, []).append(
            Derived(track.twin_id, at, PREDICTED, values)
        )
        latest = LatestPrediction(
            track.twin_id,
            entry.name,
            entry.version,
            entry.kind,
            at,
            values,
            tuple(predictions),
            score,
            tuple(sorted(track.alarmed)),
        )
        track.latest = latest
        if track.version != entry.version:
            track.version = entry.version
            batch.made.append((track, at, {**latest.to_json(), "reason": "serving"}))
        for key, change in changes:
            if change is not None:
                reason = _reason(key, change, score is not None)
                batch.made.append((track, at, {**latest.to_json(), "reason": reason, "on": key}))
                if change == "entered":
                    batch.alerts.append((track, *alert_of(entry, served.limits, latest, key)))

    def _step(self, track: _Track, key: str, outside: bool) -> str | None:
        """Advance an alert episode: ``entered``, ``left`` or None (nothing new)."""
        if outside:
            track.calm.pop(key, None)
            if key not in track.alarmed:
                track.alarmed.add(key)
                return "entered"
        elif key in track.alarmed:
            calm = track.calm.get(key, 0) + 1
            if calm >= self._clear_after:
                track.alarmed.discard(key)
                track.calm.pop(key, None)
                return "left"
            track.calm[key] = calm
        return None

    async def _made(self, track: _Track, at: float, data: dict[str, Any]) -> None:
        if self._events is None:
            return
        try:
            await self._events.record_event(
                track.twin_id,
                EventType.PREDICTION_MADE,
                data,
                cause=f"predictor:{track.name}",
                time=at,
            )
        except NotFoundError:
            return
        except TwinkitError as error:
            logger.warning("PredictionMade of %s not recorded: %s", track.name, error)


def _same_rows(old: RegistryEntry, new: RegistryEntry) -> bool:
    return old.inputs == new.inputs and old.resample == new.resample


def _values_of(event: Event) -> Mapping[str, Any]:
    data = event.data
    if event.type is EventType.TELEMETRY_RECEIVED:
        values: Mapping[str, Any] = data.get("values") or {}
        return values
    if event.type is EventType.PROPERTY_REPORTED:
        return {} if data.get("removed") else {data["name"]: data.get("value")}
    if event.type is EventType.VALUES_DERIVED:
        kind = data.get("kind")
        return {f"{kind}:{name}": value for name, value in (data.get("values") or {}).items()}
    return {}


def _reason(key: str, change: str, detector: bool) -> str:
    if detector:
        return "anomalous" if change == "entered" else "normal"
    return "limit" if change == "entered" else "within"

"""The results side of online inference: what one round of outcomes writes onto the twins.

Derived ``predicted:*`` values per model and round, ``PredictionMade`` events at the moments an
operator looks for, and alerts once per episode, cleared when it ends; see
:mod:`twinkit.predict._online` for the rules. :class:`Publisher` is a part of
:class:`~twinkit.predict.PredictionRunner`.

An alert name is one per twin, while several served names (and several limits of one) may hold
it: an alert is cleared when the last episode holding it on the twin ends. A track made after a
restart takes over the episodes whose alerts its name left open (:func:`resume`), so they end
and clear as they would have without the restart, and are not raised twice.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from twinkit.core import PREDICTED, Derived, EventType, Runtime, Twin
from twinkit.errors import NotFoundError, TwinkitError, ValidationError
from twinkit.predict._online_buffer import RowBuffer
from twinkit.predict._online_results import (
    EventRecorder,
    LatestPrediction,
    alert_of,
    change_reason,
    prediction_values,
    score_values,
)
from twinkit.predict._online_work import Outcome
from twinkit.predict._registry_entry import Limit, RegistryEntry, TrainedModel

__all__ = ["LATENCIES_KEPT", "Publisher", "Round", "Served", "Track", "resume"]

logger = logging.getLogger(__name__)

LATENCIES_KEPT: Final = 1024
"""Per-update latencies kept per served model for its percentiles."""

_ANOMALY = "anomaly"
_DETECTED = "anomalyDetected"
_LIMIT = "predictionLimit"
_FAILED = "predictorFailed"


@dataclass(slots=True, eq=False)
class Served:
    """One served version. ``trained`` is used on the worker thread only."""

    entry: RegistryEntry
    trained: TrainedModel
    limits: Mapping[str, Limit]
    updates: int = 0
    failures: int = 0
    coalesced: int = 0
    throttled: int = 0
    dropped: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCIES_KEPT))


@dataclass(slots=True, eq=False)
class Track:
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
class Round:
    """What one round of outcomes writes: derived values per name, events, alerts."""

    derived: dict[str, list[Derived]] = field(default_factory=dict)
    made: list[tuple[Track, float, dict[str, Any]]] = field(default_factory=list)
    alerts: list[tuple[Track, str, str]] = field(default_factory=list)
    cleared: list[tuple[Track, str, str]] = field(default_factory=list)


def resume(track: Track, twin: Twin, served: Served) -> Track:
    """``track`` (new) holding the episodes whose alerts its name raised and left open on
    ``twin``, e.g. before a restart: they then end, and clear, like any other."""
    cause = f"predictor:{track.name}"
    for alert in twin.alerts.values():
        if alert.raised_by != cause:
            continue
        if alert.name == _FAILED:
            track.failing = True
        elif alert.name == _DETECTED:
            track.alarmed.add(_ANOMALY)
        elif alert.name == _LIMIT:
            track.alarmed.update(served.limits)
    return track


def _holds(track: Track, alert: str) -> bool:
    """Whether an episode of ``track`` keeps ``alert`` open on its twin."""
    if alert == _FAILED:
        return track.failing
    if alert == _DETECTED:
        return _ANOMALY in track.alarmed
    return any(key != _ANOMALY for key in track.alarmed)


class Publisher:
    """Writes rounds of outcomes; the runner provides the attributes declared here."""

    _runtime: Runtime
    _events: EventRecorder | None
    _tracks: dict[tuple[str, str], Track]
    _served: dict[str, Served]
    _clear_after: int

    async def _publish(self, outcomes: Sequence[Outcome]) -> None:
        batch = Round()
        for outcome in outcomes:
            owner: tuple[Served, Track] = outcome.work.owner
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
        for track, alert, message in batch.cleared:
            await self._clear(track, alert, message)

    async def _clear(self, track: Track, alert: str, message: str) -> None:
        """Clear ``alert`` on the track's twin unless another episode there still holds it."""
        twin = self._runtime.find(track.twin_id)
        if twin is None or alert not in twin.alerts:
            return  # deleted, or cleared by somebody else meanwhile
        for name in self._served:
            other = self._tracks.get((name, track.twin_id))
            if other is not None and _holds(other, alert):
                return
        try:
            await self._runtime.clear_alert(
                track.twin_id, alert, cause=f"predictor:{track.name}", message=message
            )
        except (NotFoundError, ValidationError):
            return  # deleted or cleared between the look and the write

    def _failed(self, served: Served, track: Track, outcome: Outcome, batch: Round) -> None:
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
        batch.alerts.append((track, _FAILED, message))

    def _succeeded(self, served: Served, track: Track, outcome: Outcome, batch: Round) -> None:
        entry, window = outcome.work.entry, outcome.work.window
        at = float(window.times[-1])
        if track.failing:
            track.failing = False
            logger.info("%s works again on %s", entry.label, track.twin_id)
            batch.cleared.append((track, _FAILED, f"{entry.kind} {entry.label} works again"))
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
                reason = change_reason(change, score is not None)
                batch.made.append((track, at, {**latest.to_json(), "reason": reason, "on": key}))
                if change == "entered":
                    batch.alerts.append((track, *alert_of(entry, served.limits, latest, key)))
                else:
                    batch.cleared.append((track, *_ended(entry.label, latest, key)))

    def _step(self, track: Track, key: str, outside: bool) -> str | None:
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

    async def _made(self, track: Track, at: float, data: dict[str, Any]) -> None:
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


def _ended(label: str, latest: LatestPrediction, key: str) -> tuple[str, str]:
    """The name of the alert an episode on ``key`` held, and why it is cleared."""
    score = latest.score
    if score is not None:
        return _DETECTED, (
            f"detector {label}: anomaly score {score.score:.4g} back under threshold "
            f"{score.threshold:.4g}"
        )
    value = next((p.value for p in latest.predictions if p.name == key), None)
    shown = "" if value is None else f" {value:.4g}"
    return _LIMIT, f"predictor {label}: {key}{shown} back within its limit"

"""What online inference answers: the values it writes, its newest answers, its status.

See :mod:`twinkit.predict._online` for how they are made and when they are logged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, runtime_checkable

from twinkit.core import Event, EventType
from twinkit.predict._protocol import AnomalyScore, Prediction
from twinkit.predict._registry_entry import Kind, Limit, RegistryEntry

__all__ = [
    "ANOMALY_SCORE",
    "ANOMALY_THRESHOLD",
    "EventRecorder",
    "LatestPrediction",
    "ServingStatus",
    "alert_of",
    "change_reason",
    "output_name",
    "prediction_values",
    "score_values",
    "values_of",
]

ANOMALY_SCORE: Final = "anomaly_score"
ANOMALY_THRESHOLD: Final = "anomaly_threshold"
_NOT_NAME: Final = re.compile(r"[^A-Za-z0-9_]+")


def output_name(name: str) -> str:
    """The derived value name of a prediction name: characters a DTDL name cannot hold become
    ``_`` (``level@3600`` -> ``level_3600``); one not starting with a letter gets ``p_``."""
    cleaned = _NOT_NAME.sub("_", name).strip("_") or "prediction"
    return cleaned if cleaned[0].isalpha() else f"p_{cleaned}"


@runtime_checkable
class EventRecorder(Protocol):
    """Where logged ``PredictionMade`` events go (a runtime with ``record_event``)."""

    async def record_event(
        self,
        twin_id: str,
        type: EventType,
        data: Mapping[str, Any],
        *,
        cause: str,
        time: float | None = None,
    ) -> Event: ...


@dataclass(frozen=True, slots=True)
class LatestPrediction:
    """The newest answer of one served model about one twin."""

    twin_id: str
    name: str
    version: int
    kind: Kind
    time: float
    values: Mapping[str, float]
    predictions: tuple[Prediction, ...] = ()
    score: AnomalyScore | None = None
    alarmed: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "predictor": self.name,
            "version": self.version,
            "kind": self.kind,
            "time": self.time,
            "values": dict(self.values),
            "alarmed": list(self.alarmed),
        }
        if self.score is not None:
            body["score"] = self.score.score
            body["threshold"] = self.score.threshold
            body["anomalous"] = self.score.anomalous
            contributions = self.score.contributions
            body["contributions"] = None if contributions is None else dict(contributions)
        else:
            body["predictions"] = [_prediction_json(p) for p in self.predictions]
        return body


def _prediction_json(prediction: Prediction) -> dict[str, Any]:
    return {
        "name": prediction.name,
        "value": prediction.value,
        "lower": prediction.lower,
        "upper": prediction.upper,
        "level": prediction.level,
        "horizon": prediction.horizon,
    }


@dataclass(frozen=True, slots=True)
class ServingStatus:
    """Where one served model stands: counters and per-update latency (ms).

    ``coalesced``: rows that got no inference of their own (a newer row of the twin was
    inferred on instead); ``throttled``: inferences put off by ``min_interval`` (seconds);
    ``dropped``: inferences dropped from a full queue; ``late``: rows older than the newest.
    """

    name: str
    version: int
    model: str
    kind: Kind
    twins: int
    updates: int
    failures: int
    coalesced: int
    late: int
    latency_ms_p50: float | None
    latency_ms_p99: float | None
    latency_ms_max: float | None
    error: str | None = None
    throttled: int = 0
    dropped: int = 0
    min_interval: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "model": self.model,
            "kind": self.kind,
            "twins": self.twins,
            "updates": self.updates,
            "failures": self.failures,
            "coalesced": self.coalesced,
            "late": self.late,
            "throttled": self.throttled,
            "dropped": self.dropped,
            "minInterval": self.min_interval,
            "latencyMs": {
                "p50": self.latency_ms_p50,
                "p99": self.latency_ms_p99,
                "max": self.latency_ms_max,
            },
            "error": self.error,
        }


def prediction_values(
    predictions: Sequence[Prediction], prefix: str | None = None
) -> dict[str, float]:
    """The derived values of predictions: ``<name>``, ``<name>_lower``, ``<name>_upper``
    (``<prefix>_<name>``... with a prefix)."""
    values = {}
    for prediction in predictions:
        name = output_name(prediction.name if prefix is None else f"{prefix}_{prediction.name}")
        values[name] = prediction.value
        if prediction.lower is not None:
            values[f"{name}_lower"] = prediction.lower
        if prediction.upper is not None:
            values[f"{name}_upper"] = prediction.upper
    return values


def score_values(score: AnomalyScore, prefix: str | None = None) -> dict[str, float]:
    """The derived values of a score: ``anomaly_score`` and ``anomaly_threshold``."""
    lead = "" if prefix is None else f"{prefix}_"
    return {f"{lead}{ANOMALY_SCORE}": score.score, f"{lead}{ANOMALY_THRESHOLD}": score.threshold}


def alert_of(
    entry: RegistryEntry, limits: Mapping[str, Limit], latest: LatestPrediction, key: str
) -> tuple[str, str]:
    """The name and message of the alert that ``latest`` leaving its bounds on ``key`` raises."""
    score = latest.score
    if score is not None:
        message = (
            f"detector {entry.label}: anomaly score {score.score:.4g} above threshold "
            f"{score.threshold:.4g}"
        )
        if score.contributions:
            top = sorted(score.contributions.items(), key=lambda item: -abs(item[1]))[:3]
            message += "; most from " + ", ".join(f"{n} ({v:+.3g})" for n, v in top)
        return "anomalyDetected", message
    value = next(p.value for p in latest.predictions if p.name == key)
    return (
        "predictionLimit",
        f"predictor {entry.label}: {key} {value:.4g} {limits[key].describe(value)}",
    )


def values_of(event: Event) -> Mapping[str, Any]:
    """The values an event brings a twin's rows: telemetry, one reported property, or derived
    values as ``<kind>:<name>``; nothing for other events."""
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


def change_reason(change: str, detector: bool) -> str:
    """The ``reason`` of the PredictionMade event that logs an alert episode's ``change``
    (``entered`` or ``left``)."""
    if detector:
        return "anomalous" if change == "entered" else "normal"
    return "limit" if change == "entered" else "within"

"""Training from the twins' history: read it from the store, fit, measure, register.

Three levels, as for simulation:

- one call: :func:`train` reads the history of every twin of a model over a time range, fits
  a predictor or detector on a worker thread, measures it on its own training windows and
  registers it as a new version (active only when asked);
- the parts: :func:`training_set` (history as one frame per twin), the model's own ``fit``,
  :func:`evaluate` and :meth:`PredictorRegistry.register
  <twinkit.predict.PredictorRegistry.register>`;
- the protocol itself (:class:`~twinkit.predict.Predictor`, :class:`~twinkit.predict.Detector`).

Rows are what the :class:`~twinkit.predict.PredictionRunner` feeds a model live, so that a
model sees the same kind of rows in training and in service:

- raw (``resample=None``): one row per time at which any input has a point, every column
  holding the newest value of its input at or before that time (a NaN counts as no value);
  rows before every input has had a value are left out;
- resampled (``resample=w`` seconds): one row per bucket ``[k*w, (k+1)*w)`` that has points,
  indexed by the bucket's start and holding the newest values at the bucket's end.

Frames are indexed by time in seconds since the epoch (float, as :class:`~twinkit.predict.Window`
times are) and carry their twin's id in ``frame.attrs["twin_id"]``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from twinkit.core import Runtime, Twin
from twinkit.core._derived import split_derived
from twinkit.errors import NotFoundError, TwinkitError, ValidationError
from twinkit.model import ModelSet, PrimitiveSchema, Property, Telemetry
from twinkit.predict._protocol import AnomalyScore, Detector, Progress, TrainingSet, Window
from twinkit.predict._registry import PredictorRegistry
from twinkit.predict._registry_entry import (
    Limit,
    RegistryEntry,
    TrainedModel,
    check_name,
    declared,
    kind_of,
)
from twinkit.query._series import MAX_PAGE, SeriesStore, series_range

__all__ = ["EVALUATION_WINDOWS", "check_inputs", "evaluate", "train", "training_set", "windows_of"]

logger = logging.getLogger(__name__)

EVALUATION_WINDOWS: Final = 256
"""Training windows a new model is measured on (latency, alarm rate), evenly spread."""

Instant = float | int | datetime | str
_FloatArray = npt.NDArray[np.float64]
_NUMERIC: Final = frozenset(
    {
        PrimitiveSchema.BOOLEAN,
        PrimitiveSchema.BYTE,
        PrimitiveSchema.DECIMAL,
        PrimitiveSchema.DOUBLE,
        PrimitiveSchema.FLOAT,
        PrimitiveSchema.INTEGER,
        PrimitiveSchema.LONG,
        PrimitiveSchema.SHORT,
        PrimitiveSchema.UNSIGNED_BYTE,
        PrimitiveSchema.UNSIGNED_INTEGER,
        PrimitiveSchema.UNSIGNED_LONG,
        PrimitiveSchema.UNSIGNED_SHORT,
    }
)
# Shares of train()'s progress: reading the history, fitting, measuring.
_READ, _FIT = 0.2, 0.95


# --- arguments -----------------------------------------------------------------------------


def instant(value: Instant, what: str) -> float:
    """Seconds since the epoch of a number, a datetime or an ISO 8601 string (naive: UTC)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as err:
            raise ValidationError(
                f"bad {what} time",
                path=what,
                expected="seconds since the epoch or an ISO 8601 time",
                got=value,
            ) from err
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(
            f"bad {what} time",
            path=what,
            expected="finite seconds since the epoch, a datetime or an ISO 8601 time",
            got=value,
        )
    return float(value)


def _range(start: Instant, end: Instant) -> tuple[float, float]:
    lo, hi = instant(start, "start"), instant(end, "end")
    if lo >= hi:
        raise ValidationError(
            "training range is empty", path="start, end", expected="start < end", got=(lo, hi)
        )
    return lo, hi


def _width(resample: float | None) -> float | None:
    if resample is None:
        return None
    if isinstance(resample, bool) or not isinstance(resample, int | float) or not resample > 0:
        raise ValidationError(
            "bad resample width", path="resample", expected="seconds > 0, or null", got=resample
        )
    if not math.isfinite(resample):
        raise ValidationError(
            "bad resample width", path="resample", expected="finite seconds", got=resample
        )
    return float(resample)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def check_inputs(models: ModelSet, model: str, inputs: Sequence[str]) -> tuple[str, ...]:
    """``inputs`` when each is a numeric (or boolean) telemetry or property of ``model`` or a
    derived series (``residual:flow``); NotFoundError for an unknown model, else a
    ValidationError naming every input that does not fit."""
    if model not in models:
        raise NotFoundError(
            f"model {model} not found; expected the DTMI of an uploaded model", where=model
        )
    names = tuple(inputs)
    if not names:
        raise ValidationError(
            "no inputs", model=model, path="inputs", expected="one or more names", got=[]
        )
    contents = models.contents(model)
    problems = []
    for name in names:
        if isinstance(name, str) and split_derived(name) is not None:
            continue
        content = contents.get(name) if isinstance(name, str) else None
        if content is None:
            problems.append(f"{name!r} is no content of the model")
        elif not isinstance(content, Telemetry | Property):
            problems.append(f"{name!r} is a {type(content).__name__}")
        elif content.schema not in _NUMERIC:
            problems.append(f"{name!r} has schema {content.schema}, not a number")
    if problems:
        usable = sorted(
            name
            for name, content in contents.items()
            if isinstance(content, Telemetry | Property) and content.schema in _NUMERIC
        )
        raise ValidationError(
            f"inputs a model cannot learn from: {'; '.join(problems)}",
            model=model,
            path="inputs",
            expected=f"numeric telemetry or properties of {model} ({', '.join(usable) or 'none'})"
            " or derived series such as 'residual:<name>'",
            got=list(names),
        )
    if len(set(names)) != len(names):
        raise ValidationError(
            "repeated inputs", model=model, path="inputs", expected="distinct names", got=names
        )
    return names


def _twins(runtime: Runtime, model: str, twin_ids: Sequence[str] | None) -> list[Twin]:
    models = runtime.models
    if twin_ids is None:
        found = runtime.twins(model=model)
        if not found:
            raise NotFoundError(
                f"no twins of model {model} (or of models extending it) to train from",
                where=model,
            )
        return found
    if not twin_ids:
        raise ValidationError(
            "no twins", path="twins", expected="twin ids, or null for every twin", got=[]
        )
    chosen = []
    for twin_id in twin_ids:
        twin = runtime.get(twin_id)
        if not models.is_a(twin.model, model):
            raise ValidationError(
                f"twin {twin_id!r} is not a twin of the model trained",
                model=model,
                path=f"twins/{twin_id}",
                expected=f"a twin of {model} or of a model extending it",
                got=twin.model,
            )
        chosen.append(twin)
    return chosen


# --- reading ---------------------------------------------------------------------------------


def _numbers(values: npt.NDArray[Any], where: str, times: _FloatArray) -> _FloatArray:
    """Points as floats: booleans as 0/1, a None as NaN; anything else is a ValidationError."""
    if values.dtype == np.float64:
        return values
    out = np.empty(len(values), dtype=np.float64)
    for index, value in enumerate(values.tolist()):
        if value is None:
            out[index] = np.nan
        elif isinstance(value, bool | int | float):
            out[index] = float(value)
        else:
            raise ValidationError(
                "a point a model cannot learn from",
                path=f"{where} at {_iso(float(times[index]))}",
                expected="a number or a boolean",
                got=value,
            )
    return out


async def _read(
    store: SeriesStore, twin_id: str, name: str, lo: float, hi: float
) -> tuple[_FloatArray, _FloatArray]:
    """Every point of one series with ``lo <= time < hi``, page by page."""
    times, values = [], []
    after: float | None = None
    while True:
        page = await series_range(store, twin_id, name, lo, hi, after=after, limit=MAX_PAGE)
        times.append(page.times)
        values.append(_numbers(page.values, f"{twin_id}/{name}", page.times))
        if page.next_after is None:
            break
        after = page.next_after
    return np.concatenate(times), np.concatenate(values)


def rows(
    twin_id: str,
    columns: Sequence[str],
    series: Mapping[str, tuple[_FloatArray, _FloatArray]],
    resample: float | None,
) -> pd.DataFrame:
    """The rows of one twin from its points per input (see the module docstring)."""
    times = np.unique(np.concatenate([series[name][0] for name in columns]))
    data = np.full((len(times), len(columns)), np.nan)
    for column, name in enumerate(columns):
        at, values = series[name]
        data[np.searchsorted(times, at), column] = values
    filled = pd.DataFrame(data, columns=list(columns)).ffill().to_numpy(dtype=np.float64)
    if resample is not None and len(times):
        buckets = np.floor(times / resample)
        last = np.r_[buckets[1:] != buckets[:-1], True]
        times, filled = buckets[last] * resample, filled[last]
    complete = ~np.isnan(filled).any(axis=1)
    frame = pd.DataFrame(
        filled[complete], index=pd.Index(times[complete], name="time"), columns=list(columns)
    )
    frame.attrs["twin_id"] = twin_id
    return frame


async def training_set(
    store: SeriesStore,
    runtime: Runtime,
    *,
    model: str,
    inputs: Sequence[str],
    start: Instant,
    end: Instant,
    twins: Sequence[str] | None = None,
    resample: float | None = None,
    progress: Progress | None = None,
) -> list[pd.DataFrame]:
    """One frame per twin of ``model`` (or of ``twins``) with the rows of ``inputs`` over
    ``[start, end)``. A twin without a complete row is left out with a warning; NotFoundError
    when no twin has one, naming what each lacks."""
    columns = check_inputs(runtime.models, model, inputs)
    lo, hi = _range(start, end)
    width = _width(resample)
    chosen = _twins(runtime, model, twins)
    total, done = len(chosen) * len(columns), 0
    frames, lacking = [], {}
    for twin in chosen:
        series = {}
        for name in columns:
            series[name] = await _read(store, twin.id, name, lo, hi)
            done += 1
            if progress is not None:
                progress(done / total)
        frame = rows(twin.id, columns, series, width)
        if len(frame):
            frames.append(frame)
        else:
            empty = [name for name in columns if not len(series[name][0])]
            lacking[twin.id] = (
                f"no points of {', '.join(map(repr, empty))}"
                if empty
                else "no time at which every input has a value"
            )
    span = f"between {_iso(lo)} and {_iso(hi)}"
    if not frames:
        reasons = "; ".join(f"{twin_id}: {why}" for twin_id, why in lacking.items())
        raise NotFoundError(
            f"no history of {list(columns)} to train from {span}: {reasons}", where=model
        )
    for twin_id, why in lacking.items():
        logger.warning("training on %s: twin %s left out (%s %s)", model, twin_id, why, span)
    return frames


# --- measuring -------------------------------------------------------------------------------


def windows_of(
    frames: TrainingSet, inputs: Sequence[str], window: int, limit: int | None = None
) -> list[Window]:
    """Windows of ``window`` rows of ``inputs`` from ``frames``, at most ``limit`` of them
    evenly spread (every one when None); a frame lacking an input is a ValidationError."""
    columns = list(inputs)
    arrays = []
    for index, frame in enumerate(frames):
        missing = [name for name in columns if name not in frame.columns]
        twin_id = str(frame.attrs.get("twin_id", f"unit-{index}"))
        if missing:
            raise ValidationError(
                "training frame lacks inputs of the model",
                path=f"frame {index} ({twin_id})",
                expected=f"columns {columns}",
                got=list(frame.columns),
            )
        times = np.asarray(frame.index, dtype=np.float64)
        arrays.append((twin_id, times, frame[columns].to_numpy(dtype=np.float64)))
    counts = np.array([max(len(t) - window + 1, 0) for _, t, _ in arrays], dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return []
    picks = (
        np.arange(total)
        if limit is None or limit >= total
        else np.linspace(0, total - 1, limit).astype(np.int64)
    )
    offsets = np.cumsum(counts) - counts
    found = []
    for pick in np.unique(picks):
        unit = int(np.searchsorted(offsets, pick, side="right") - 1)
        twin_id, times, values = arrays[unit]
        first = int(pick - offsets[unit])
        rows_ = slice(first, first + window)
        found.append(Window(twin_id, times[rows_], values[rows_], tuple(columns)))
    return found


def evaluate(
    trained: TrainedModel, frames: TrainingSet, *, limit: int = EVALUATION_WINDOWS
) -> dict[str, float]:
    """What every new model is measured by, on up to ``limit`` of its training windows:
    latency per call (``latency_ms_p50``, ``latency_ms_max``) and, for a detector, the share
    of windows it flags (``alarm_rate_train``, a false-alarm rate when the history was
    normal). A model that fails on its own training windows is a ValidationError."""
    kind = kind_of(trained)
    windows = windows_of(frames, trained.inputs, trained.window, limit)
    metrics: dict[str, float] = {
        "training_rows": float(sum(len(frame) for frame in frames)),
        "training_units": float(len(frames)),
    }
    if not windows:
        logger.warning("no training window of %d rows to measure the model on", trained.window)
        return metrics
    latencies, alarms = np.empty(len(windows)), 0
    for index, window in enumerate(windows):
        began = time.perf_counter()
        try:
            if kind == "detector":
                assert isinstance(trained, Detector)
                score: AnomalyScore = trained.score(window)
                alarms += score.anomalous
            else:
                trained.predict(window)  # type: ignore[union-attr]
        except Exception as err:
            raise ValidationError(
                f"the trained model fails on its own training window: {type(err).__name__}: {err}",
                path=f"window of {window.twin_id} ending at {_iso(float(window.times[-1]))}",
                expected=f"a {kind} that can {'score' if kind == 'detector' else 'predict'} "
                "what it was trained on",
                got=type(err).__name__,
            ) from err
        latencies[index] = time.perf_counter() - began
    metrics["latency_ms_p50"] = float(np.median(latencies) * 1e3)
    metrics["latency_ms_max"] = float(latencies.max() * 1e3)
    if kind == "detector":
        metrics["alarm_rate_train"] = alarms / len(windows)
    return metrics


# --- one call --------------------------------------------------------------------------------


def _part(progress: Progress | None, lo: float, hi: float) -> Progress | None:
    """``progress`` of a part that makes up ``[lo, hi]`` of the whole."""
    if progress is None:
        return None
    report: Progress = progress

    def part(fraction: float) -> None:
        report(lo + (hi - lo) * min(max(float(fraction), 0.0), 1.0))

    return part


def _fit(
    trained: TrainedModel, frames: TrainingSet, progress: Progress | None, where: str
) -> dict[str, float]:
    try:
        metrics = trained.fit(frames, progress=progress)
    except TwinkitError:
        raise
    except Exception as err:
        raise ValidationError(
            f"fitting failed: {type(err).__name__}: {err}",
            path=where,
            expected="history the model can learn from",
            got=type(err).__name__,
        ) from err
    return dict(metrics or {})


async def train(
    trained: TrainedModel,
    *,
    store: SeriesStore,
    runtime: Runtime,
    registry: PredictorRegistry,
    name: str,
    model: str,
    start: Instant,
    end: Instant,
    twins: Sequence[str] | None = None,
    resample: float | None = None,
    cause: str = "system",
    activate: bool = False,
    limits: Mapping[str, Limit] | None = None,
    factory: str | None = None,
    params: Mapping[str, Any] | None = None,
    prefix: str | None = None,
    progress: Progress | None = None,
    measure: Callable[[TrainedModel, TrainingSet], dict[str, float]] = evaluate,
) -> RegistryEntry:
    """Fit ``trained`` on the history of the twins of ``model`` over ``[start, end)`` and keep
    it as the next version of ``name``; returns its entry.

    ``progress`` gets the fraction done (reading 0-0.2, fitting 0.2-0.95, measuring), from a
    worker thread while fitting. The model's own metrics and :func:`evaluate`'s are kept
    (the model's win where names clash). Not active unless ``activate``.
    """
    check_name(name)
    kind_of(trained, f"predictor {name}")
    declared(trained, f"predictor {name}")
    frames = await training_set(
        store,
        runtime,
        model=model,
        inputs=trained.inputs,
        start=start,
        end=end,
        twins=twins,
        resample=resample,
        progress=_part(progress, 0.0, _READ),
    )
    metrics = await _fit_and_measure(trained, frames, progress, measure, name)
    lo, hi = _range(start, end)
    return await registry.register(
        trained,
        name=name,
        model=model,
        cause=cause,
        twins=[str(frame.attrs["twin_id"]) for frame in frames],
        start=lo,
        end=hi,
        resample=_width(resample),
        metrics=metrics,
        limits=limits,
        factory=factory,
        params=params,
        prefix=prefix,
        activate=activate,
    )


async def _fit_and_measure(
    trained: TrainedModel,
    frames: TrainingSet,
    progress: Progress | None,
    measure: Callable[[TrainedModel, TrainingSet], dict[str, float]],
    name: str,
) -> dict[str, float]:
    """Fit and measure on worker threads; the model's metrics, ``measure``'s and the time."""
    began = time.perf_counter()
    fitted = await asyncio.to_thread(
        _fit, trained, frames, _part(progress, _READ, _FIT), f"predictor {name}/fit"
    )
    seconds = time.perf_counter() - began
    measured = await asyncio.to_thread(measure, trained, frames)
    if progress is not None:
        progress(1.0)
    rows_ = sum(len(frame) for frame in frames)
    logger.info("fitted %s on %d unit(s), %d rows, in %.2f s", name, len(frames), rows_, seconds)
    return {**measured, "fit_seconds": seconds, **fitted}

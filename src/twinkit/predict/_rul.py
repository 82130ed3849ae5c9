"""Remaining useful life of turbofans (or any machine run to failure): the :class:`RulPredictor`.

The pipeline, trained from engines run to failure (one frame per engine, one row per cycle):

1. operating regimes: sensors standardised per flight condition, constant sensors dropped
   (:mod:`._rul_regimes`);
2. a health index: the least-squares linear map from the normalised sensors to the capped
   target, one less noisy signal added to the sensors (fitted once on all training engines,
   like the regimes: a dozen coefficients from thousands of cycles, which hardly flatters the
   out-of-fold figures below);
3. windowed features of every signal: latest value, trailing means and slopes over several
   lengths, exponential smoothing, and the engine's age (:mod:`._rul_features`);
4. targets: remaining cycles capped at ``cap`` (piecewise linear: early in life wear does not
   show, so no model can tell 300 cycles left from 200);
5. an ensemble of scikit-learn regressors, weighted by out-of-fold fit over engines, with a
   split-conformal interval calibrated on the same out-of-fold residuals (:mod:`._rul_train`).

Live, :meth:`RulPredictor.predict` takes the newest ``window`` cycles of one engine as numpy
arrays and answers in tens of microseconds: the ensemble is compiled to flat arrays
(:mod:`._rul_compiled`), no pandas on the way.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from twinkit.errors import ValidationError
from twinkit.predict._cmapss import CMAPSS_SENSORS, CMAPSS_SETTINGS
from twinkit.predict._protocol import Prediction, Progress, TrainingSet, Window
from twinkit.predict._rul_compiled import CompiledMember, compile_regressor
from twinkit.predict._rul_features import FeatureSpec, WindowFeatures, history_features
from twinkit.predict._rul_metrics import RulEvaluation
from twinkit.predict._rul_regimes import Regimes, fit_regimes
from twinkit.predict._rul_train import (
    MEMBERS,
    IntervalTable,
    engine_folds,
    fit_members,
    stack_weights,
)

__all__ = ["RulConfig", "RulPredictor"]

logger = logging.getLogger(__name__)

Array = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class RulConfig:
    """How a :class:`RulPredictor` is built and trained.

    ``regimes`` fixes the number of operating regimes (None: detected). ``age`` names the input
    holding the engine's cycle count (None: age is not used). ``members`` are candidates from
    :data:`MEMBERS` (the out-of-fold fit picks their weights); ``size`` is the number of
    boosting rounds; ``threads`` caps the threads of each fit
    (one is the robust choice on a shared machine). Predictions need at least
    ``min_history`` cycles; shorter than the feature window is fine (see :class:`FeatureSpec`).
    """

    cap: float = 125.0
    level: float = 0.9
    regimes: int | None = None
    settings: tuple[str, ...] = CMAPSS_SETTINGS
    sensors: tuple[str, ...] = CMAPSS_SENSORS
    age: str | None = "cycle"
    features: FeatureSpec = field(default_factory=FeatureSpec)
    health_index: bool = True
    members: tuple[str, ...] = ("boosting", "small_boosting", "ridge")
    size: int = 400
    folds: int = 5
    interval_bands: int = 5
    min_history: int = 5
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        unknown = [name for name in self.members if name not in MEMBERS]
        if unknown or not self.members:
            raise ValidationError(
                "unknown ensemble members",
                path="rul config/members",
                expected=f"some of {sorted(MEMBERS)}",
                got=list(self.members),
            )
        checks = (
            ("cap", self.cap > 0, "> 0"),
            ("level", 0 < self.level < 1, "between 0 and 1"),
            ("size", self.size >= 1, ">= 1"),
            ("threads", self.threads >= 1, ">= 1"),
            ("interval_bands", self.interval_bands >= 1, ">= 1"),
            ("min_history", 1 <= self.min_history <= self.features.window, "1..feature window"),
            ("sensors", bool(self.sensors), "at least one sensor"),
        )
        for name, ok, expected in checks:
            if not ok:
                raise ValidationError(
                    f"RUL setting {name} out of range",
                    path=f"rul config/{name}",
                    expected=expected,
                    got=getattr(self, name),
                )

    def columns(self, sensors: Sequence[str]) -> tuple[str, ...]:
        """Input columns in order: age (when used), settings, ``sensors``."""
        return (*((self.age,) if self.age else ()), *self.settings, *sensors)


@dataclass(frozen=True, slots=True)
class _Model:
    """Everything a trained predictor needs for one window, preloaded."""

    inputs: tuple[str, ...]
    regimes: Regimes
    health: Array | None
    features: WindowFeatures
    members: tuple[CompiledMember, ...]
    weights: tuple[float, ...]
    interval: IntervalTable
    metrics: Mapping[str, float]


class RulPredictor:
    """Remaining useful life from a window of one engine's cycles, with a conformal interval.

    Implements :class:`~twinkit.predict.Predictor`: ``fit`` on engines run to failure (the last
    row of each frame is the failing cycle), then ``predict`` answers one
    ``Prediction("rul", value, lower, upper, level)`` in cycles, capped at ``config.cap``. The
    interval covers the capped true RUL at ``config.level`` (split conformal by engine).
    A window shorter than :attr:`window` is used as it is (young engines; the model was
    trained on such prefixes); shorter than ``config.min_history`` raises ValidationError.
    """

    def __init__(self, config: RulConfig | None = None) -> None:
        self.config = config or RulConfig()
        self._model: _Model | None = None

    @property
    def inputs(self) -> Sequence[str]:
        """The columns a window must have: those used once fitted, all candidates before."""
        if self._model is not None:
            return self._model.inputs
        return self.config.columns(self.config.sensors)

    @property
    def window(self) -> int:
        return self.config.features.window

    @property
    def min_history(self) -> int:
        """The fewest cycles it answers from (a live runner predicts from then on)."""
        return self.config.min_history

    @property
    def fitted(self) -> bool:
        return self._model is not None

    @property
    def metrics(self) -> Mapping[str, float]:
        """The training metrics of the last :meth:`fit`."""
        return self._require().metrics

    def fit(self, history: TrainingSet, *, progress: Progress | None = None) -> Mapping[str, float]:
        """Train on engines run to failure; return out-of-fold metrics and member weights."""
        began = time.perf_counter()
        config = self.config
        tables = [
            _table(frame, config.columns(config.sensors), n) for n, frame in enumerate(history)
        ]
        if len(tables) < config.folds:
            raise ValidationError(
                "too few training engines for the out-of-fold split",
                path="rul training",
                expected=f"at least {config.folds} engines run to failure (config.folds)",
                got=len(tables),
            )
        start = 1 if config.age else 0
        settings = slice(start, start + len(config.settings))
        stacked = np.vstack(tables)
        regimes = fit_regimes(
            stacked[:, settings],
            stacked[:, settings.stop :],
            config.sensors,
            count=config.regimes,
            seed=config.seed,
        )
        kept = [config.sensors.index(name) + settings.stop for name in regimes.sensors]
        signals = [regimes.normalise(table[:, settings], table[:, kept]) for table in tables]
        health = _health_index(signals, config.cap) if config.health_index else None
        data = _dataset(config, tables, signals, health)
        model = self._train(data, regimes, health, began, progress)
        self._model = model
        return model.metrics

    def _train(
        self,
        data: _Dataset,
        regimes: Regimes,
        health: Array | None,
        began: float,
        progress: Progress | None,
    ) -> _Model:
        config = self.config
        row_fold = engine_folds(data.engines, config.folds, config.seed)[data.engine]
        fitted, out_of_fold = fit_members(
            config.members,
            data.features,
            data.target,
            row_fold,
            seed=config.seed,
            size=config.size,
            threads=config.threads,
            progress=progress,
        )
        weights = stack_weights(out_of_fold, data.target)
        used = [n for n, weight in enumerate(weights) if weight > 0]
        blended = np.clip(out_of_fold[:, used] @ weights[used], 0.0, config.cap)
        interval = IntervalTable.calibrate(
            blended,
            data.target,
            data.engine,
            level=config.level,
            bands=config.interval_bands,
            cap=config.cap,
        )
        metrics = _metrics(
            config,
            data,
            out_of_fold=out_of_fold,
            weights=weights,
            blended=blended,
            interval=interval,
            regimes=regimes,
        )
        metrics["training_seconds"] = time.perf_counter() - began
        logger.info("rul predictor trained: %s", metrics)
        return _Model(
            inputs=config.columns(regimes.sensors),
            regimes=regimes,
            health=health,
            features=WindowFeatures(config.features),
            members=tuple(compile_regressor(fitted[config.members[n]]) for n in used),
            weights=tuple(float(weights[n]) for n in used),
            interval=interval,
            metrics=metrics,
        )

    def predict(self, window: Window) -> Sequence[Prediction]:
        """The RUL after the newest row of ``window`` (columns :attr:`inputs`), with its interval."""
        model = self._require()
        if window.columns != model.inputs:
            raise ValidationError(
                "window columns do not match the predictor's inputs",
                path=f"window of {window.twin_id}",
                expected=f"columns {list(model.inputs)}",
                got=list(window.columns),
            )
        values = window.values
        if len(values) < self.config.min_history:
            raise ValidationError(
                "too short a history for a remaining-useful-life estimate",
                path=f"window of {window.twin_id}",
                expected=f"at least {self.config.min_history} cycles (up to {self.window} used)",
                got=len(values),
            )
        if len(values) > self.window:
            values = values[-self.window :]
        if not np.isfinite(values).all():
            raise ValidationError(
                "window holds values that are not finite",
                path=f"window of {window.twin_id}",
                expected="finite numbers in every input",
                got=int((~np.isfinite(values)).sum()),
            )
        value = self._estimate(model, values)
        lower, upper = model.interval.interval(value)
        return [Prediction("rul", value, lower, upper, level=self.config.level)]

    def _estimate(self, model: _Model, values: Array) -> float:
        config = self.config
        start = 1 if config.age else 0
        stop = start + len(config.settings)
        signals = model.regimes.normalise(values[:, start:stop], values[:, stop:])
        if model.health is not None:
            signals = np.column_stack((signals, signals @ model.health[:-1] + model.health[-1]))
        age = float(values[-1, 0]) if config.age else 0.0
        features = model.features(signals, age)
        total = 0.0
        for member, weight in zip(model.members, model.weights, strict=True):
            total += weight * member.predict_one(features)
        return min(max(total, 0.0), config.cap)

    def predict_engine(self, frame: pd.DataFrame) -> tuple[Array, Array, Array]:
        """Estimates and interval bounds at every row of one engine's history from
        ``config.min_history`` on (offline evaluation; rows before get NaN)."""
        model = self._require()
        missing = [name for name in model.inputs if name not in frame.columns]
        if missing:
            raise ValidationError(
                "engine frame lacks the predictor's inputs",
                path="rul engine frame",
                expected=f"columns {list(model.inputs)}",
                got=missing,
            )
        values = frame[list(model.inputs)].to_numpy(dtype=np.float64)
        estimates = np.full(len(values), np.nan)
        for row in range(self.config.min_history - 1, len(values)):
            window = values[max(0, row + 1 - self.window) : row + 1]
            estimates[row] = self._estimate(model, window)
        known = ~np.isnan(estimates)
        lower, upper = np.full(len(values), np.nan), np.full(len(values), np.nan)
        lower[known], upper[known] = model.interval.intervals(estimates[known])
        return estimates, lower, upper

    def evaluate(self, engines: Sequence[pd.DataFrame], true_rul: Array) -> RulEvaluation:
        """Scores at the last cycle of each engine against its true RUL (the C-MAPSS protocol)."""
        model = self._require()
        if len(engines) != len(true_rul):
            raise ValidationError(
                "one true RUL per engine is needed",
                path="rul evaluation",
                expected=f"{len(engines)} values",
                got=len(true_rul),
            )
        predicted, lower, upper = [], [], []
        for n, frame in enumerate(engines):
            table = _table(frame, model.inputs, n)
            window = Window(
                f"engine {n}", np.asarray(frame.index, dtype=np.float64), table, model.inputs
            )
            (estimate,) = self.predict(window)
            predicted.append(estimate.value)
            lower.append(estimate.lower)
            upper.append(estimate.upper)
        return RulEvaluation(
            np.array(predicted),
            np.array(lower, dtype=np.float64),
            np.array(upper, dtype=np.float64),
            np.asarray(true_rul, dtype=np.float64),
            self.config.cap,
            self.config.level,
        )

    def _require(self) -> _Model:
        if self._model is None:
            raise ValidationError(
                "remaining-useful-life predictor is not trained",
                path="RulPredictor",
                expected="fit(history) before predict/evaluate",
                got="an untrained predictor",
            )
        return self._model


@dataclass(frozen=True, slots=True)
class _Dataset:
    features: Array
    target: Array
    remaining: Array
    engine: npt.NDArray[np.intp]
    engines: int


def _table(frame: pd.DataFrame, columns: Sequence[str], number: int) -> Array:
    """The ``columns`` of one engine's frame as a finite float array, or a clear error."""
    where = str(frame.attrs.get("twin_id") or f"engine {frame.attrs.get('unit', number)}")
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise ValidationError(
            "engine history lacks input columns",
            path=where,
            expected=f"columns {list(columns)}",
            got=f"missing {missing}",
        )
    if not len(frame):
        raise ValidationError("engine history is empty", path=where, expected="at least one cycle")
    table = frame[list(columns)].to_numpy(dtype=np.float64)
    if not np.isfinite(table).all():
        row = int(np.argmax(~np.isfinite(table).all(axis=1)))
        raise ValidationError(
            "engine history holds values that are not finite",
            path=f"{where}, row {row}",
            expected="finite numbers",
            got=table[row].tolist(),
        )
    return table


def _health_index(signals: list[Array], cap: float) -> Array:
    """Coefficients (then intercept) of the least-squares map from normalised sensors to the
    capped remaining life, rescaled so the index has unit spread."""
    stacked = np.vstack(signals)
    target = np.concatenate([np.minimum(np.arange(len(s))[::-1], cap) for s in signals])
    design = np.column_stack((stacked, np.ones(len(stacked))))
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    spread = float(np.std(design @ coef)) or 1.0
    centre = float(np.mean(design @ coef))
    coef = coef / spread
    coef[-1] -= centre / spread
    result: Array = coef
    return result


def _dataset(
    config: RulConfig, tables: list[Array], signals: list[Array], health: Array | None
) -> _Dataset:
    """Features and capped targets at every cycle from ``min_history`` on, of every engine."""
    features, target, remaining, engine = [], [], [], []
    for number, (table, normalised) in enumerate(zip(tables, signals, strict=True)):
        signal = normalised
        if health is not None:
            signal = np.column_stack((normalised, normalised @ health[:-1] + health[-1]))
        age = table[:, 0] if config.age else np.zeros(len(table))
        rows = slice(config.min_history - 1, None)
        left = np.arange(len(table))[::-1].astype(np.float64)[rows]
        features.append(history_features(config.features, signal, age)[rows])
        remaining.append(left)
        target.append(np.minimum(left, config.cap))
        engine.append(np.full(len(left), number, dtype=np.intp))
    if not sum(len(t) for t in target):
        raise ValidationError(
            "no engine is long enough to train on",
            path="rul training",
            expected=f"engines with at least {config.min_history} cycles",
            got=[len(t) for t in tables],
        )
    return _Dataset(
        np.vstack(features),
        np.concatenate(target),
        np.concatenate(remaining),
        np.concatenate(engine),
        len(tables),
    )


def _metrics(
    config: RulConfig,
    data: _Dataset,
    *,
    out_of_fold: Array,
    weights: Array,
    blended: Array,
    interval: IntervalTable,
    regimes: Regimes,
) -> dict[str, float]:
    def error(predicted: Array) -> float:
        return math.sqrt(float(np.mean((np.clip(predicted, 0, config.cap) - data.target) ** 2)))

    lower, upper = interval.intervals(blended)
    metrics = {
        "engines": float(data.engines),
        "rows": float(len(data.target)),
        "regimes": float(regimes.count),
        "sensors": float(len(regimes.sensors)),
        "features": float(data.features.shape[1]),
        "oof_rmse": error(blended),
        "oof_coverage": float(np.mean((lower <= data.target) & (data.target <= upper))),
        "oof_mean_width": float(np.mean(upper - lower)),
    }
    for n, name in enumerate(config.members):
        metrics[f"oof_rmse_{name}"] = error(out_of_fold[:, n])
        metrics[f"weight_{name}"] = float(weights[n])
    return metrics

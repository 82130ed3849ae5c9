"""Short-horizon forecasts of one telemetry series, with conformal prediction intervals.

A :class:`Forecaster` predicts a series (the tank's ``level``) ``h`` seconds ahead for each of
its horizons, from the series' own recent past, optional exogenous inputs of the same twin
(the tank's ``inflow`` and ``outflow``) and the time of day. It is a *direct* multi-horizon
model: one regressor per horizon learns the change ``y(t + h) - y(t)`` from features at ``t``
(see ``_forecast_features`` for the grid and the features). Intervals are split conformal on
the last part of the history, held out from fitting (see ``_forecast_conformal``); with
``adapt`` they follow drift online.

Three levels of use:

- live, through the :class:`~twinkit.predict.Predictor` protocol: :meth:`Forecaster.predict`
  answers one :class:`~twinkit.predict.Prediction` per horizon, named ``<target>@<h>``
  (``level@3600``), from a window of the newest readings;
- offline: :meth:`Forecaster.backtest` forecasts from every grid point of a frame, next to
  what happened and to the persistence and seasonal-naive baselines;
- :func:`~twinkit.predict.evaluate_forecaster` sums a backtest up per horizon (errors against
  the baselines, interval coverage and width).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from twinkit.errors import ValidationError
from twinkit.predict._forecast_conformal import (
    AdaptiveTracker,
    adaptive_half_widths,
    conformal_quantile,
)
from twinkit.predict._forecast_features import (
    Features,
    Grid,
    check_readings,
    frame_readings,
    instant,
    resample,
    seconds_of,
    select_columns,
)
from twinkit.predict._forecast_regressor import Method, Regressor, make_regressor, threads
from twinkit.predict._forecast_samples import (
    Folds,
    Samples,
    calibration_folds,
    check_counts,
    samples,
)
from twinkit.predict._protocol import Prediction, Progress, TrainingSet, Window

__all__ = ["Forecaster"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_WINDOW_MARGIN: Final = 1.25
"""Rows asked for beyond the history span at the trained rate, for jitter and lost messages."""


@dataclass(frozen=True, slots=True)
class _Horizon:
    """What was learned for one horizon: the regressor and the sorted calibration scores."""

    seconds: float
    steps: int
    model: Regressor
    scores: FloatArray


@dataclass(frozen=True, slots=True)
class _Fitted:
    horizons: tuple[_Horizon, ...]
    interval: float
    """Median time between training readings, s: sizes :attr:`Forecaster.window`."""
    metrics: Mapping[str, float]


class Forecaster:
    """Forecasts ``target`` at each of ``horizons`` seconds ahead with an interval at ``level``.

    ``exogenous`` names other inputs of the same twin that help (their past values only; the
    forecaster does not know their future).

    Intervals are calibrated on errors made on data the model did not learn from. With
    ``folds`` > 1 (cross-conformal, the default) each frame is cut in time into that many
    blocks, each block's errors come from a model fitted on the others (less a margin around
    the block), and the model kept is fitted on everything: every day of the history, calm or
    busy, informs the intervals. With ``folds=1`` (split conformal, one fit) the last
    ``calibration`` share of each frame is held out and the model kept never saw it.
    ``adapt`` > 0 turns on adaptive conformal inference with that step size (0.005 to 0.05 are
    usual), for intervals that follow drift after training. ``method`` picks the
    regressor, or is a callable returning one (anything with ``fit(X, y)`` and ``predict(X)``).
    ``threads`` caps scikit-learn's OpenMP threads in fit and predict (None: one per core):
    one by default, since a twin server shares its cores with ingest, and OpenMP threads
    spinning on a busy 2-core machine were measured making a fit 30 times slower.
    """

    def __init__(
        self,
        target: str,
        *,
        exogenous: Sequence[str] = (),
        horizons: Sequence[float] = (300.0, 900.0, 1800.0, 3600.0),
        level: float = 0.9,
        features: Features | Mapping[str, Any] | None = None,
        folds: int = 4,
        calibration: float = 0.25,
        adapt: float = 0.0,
        method: Method | Callable[[], Regressor] = "boosting",
        seed: int = 0,
        threads: int | None = 1,
    ) -> None:
        if not isinstance(target, str) or not target:
            raise ValidationError(
                "bad target", path="Forecaster(target=...)", expected="an input name", got=target
            )
        if isinstance(exogenous, str) or not all(isinstance(n, str) and n for n in exogenous):
            raise ValidationError(
                "bad exogenous inputs",
                path="Forecaster(exogenous=...)",
                expected="a list of input names",
                got=exogenous,
            )
        self.target, self.exogenous = target, tuple(exogenous)
        if len(set(self.inputs)) != len(self.inputs):
            raise ValidationError(
                "an input is named twice",
                path="Forecaster(exogenous=...)",
                expected="distinct names, the target not among the exogenous inputs",
                got=list(self.inputs),
            )
        self.features = Features.of(features)
        self.horizons = self._check_horizons(horizons)
        self.level = _check_fraction(level, "Forecaster(level=...)", "0 < level < 1, e.g. 0.9")
        self.calibration = _check_fraction(
            calibration, "Forecaster(calibration=...)", "a fraction, e.g. 0.25"
        )
        self.folds, self.adapt, self.method = _check_fitting(folds, adapt, method)
        self.seed = seed
        self.threads = threads
        self._fitted: _Fitted | None = None
        self._tracker: AdaptiveTracker | None = None

    def _check_horizons(self, horizons: Sequence[float]) -> tuple[float, ...]:
        if not len(horizons):
            raise ValidationError(
                "no horizons to forecast",
                path="Forecaster(horizons=...)",
                expected="one or more horizons in seconds",
                got=list(horizons),
            )
        steps = [self.features.steps_of(h, f"horizons[{i}]") for i, h in enumerate(horizons)]
        if len(set(steps)) != len(steps):
            raise ValidationError(
                "a horizon is given twice",
                path="Forecaster(horizons=...)",
                expected="distinct horizons",
                got=list(horizons),
            )
        period = self.features.period
        if self.features.seasonal and max(horizons) >= period:
            raise ValidationError(
                "seasonal features need horizons shorter than the period",
                path="Forecaster(horizons=...)",
                expected=f"horizons below {period:g} s",
                got=max(horizons),
            )
        return tuple(float(h) for h in sorted(horizons))

    # --- the Predictor protocol -----------------------------------------------------------

    @property
    def inputs(self) -> tuple[str, ...]:
        """The target first, then the exogenous inputs."""
        return (self.target, *self.exogenous)

    @property
    def history(self) -> float:
        """Seconds of readings one forecast needs before its newest reading."""
        return self._reach() * self.features.step

    @property
    def window(self) -> int:
        """Rows one forecast needs: :attr:`history` at the rate seen in training (one row per
        step before fitting), with a margin for jitter and lost messages."""
        interval = self.features.step if self._fitted is None else self._fitted.interval
        return math.ceil(_WINDOW_MARGIN * self.history / interval) + 1

    def _reach(self) -> int:
        return self.features.reach(bool(self.exogenous))

    @property
    def fitted(self) -> bool:
        return self._fitted is not None

    def fit(self, history: TrainingSet, *, progress: Progress | None = None) -> Mapping[str, float]:
        """Learn one regressor per horizon and calibrate its intervals on errors made on data
        it did not learn from (see :attr:`folds`); return those errors next to persistence's
        and the interval widths (``mae@3600``, ``persistence_mae@3600``, ``width@3600``, ...).
        Every horizon's pairs are checked before the first fit: too short a history fails
        at once.
        """
        grids, interval = self._grids(history)
        plans = [self._plan(grids, horizon) for horizon in self.horizons]
        rounds = sum(len(folds) + (self.folds > 1) for _, _, _, folds in plans)
        done = [0]

        def advance() -> None:
            done[0] += 1
            if progress is not None:
                progress(done[0] / rounds)

        fitted: list[_Horizon] = []
        metrics: dict[str, float] = {}
        for horizon, steps, pairs, folds in plans:
            errors, change, model = [], [], None
            for train, held in folds:
                model = self._fit_one(pairs.x[train], pairs.y[train])
                errors.append(pairs.y[held] - self._predict(model, pairs.x[held]))
                change.append(pairs.y[held])
                advance()
            if model is None or self.folds > 1:
                model = self._fit_one(pairs.x, pairs.y)
                advance()
            scores = np.sort(np.abs(np.concatenate(errors)))
            fitted.append(_Horizon(horizon, steps, model, scores))
            metrics |= _fit_metrics(horizon, scores, np.concatenate(change), self.level)
            metrics[f"samples@{horizon:g}"] = float(len(pairs.y))
        self._fitted = _Fitted(tuple(fitted), interval, metrics)
        self._tracker = self._new_tracker()
        logger.info(
            "forecaster of %s fitted on %d frames: %s",
            self.target,
            len(grids),
            ", ".join(f"mae@{h.seconds:g}={metrics[f'mae@{h.seconds:g}']:.4g}" for h in fitted),
        )
        return dict(metrics)

    def _plan(self, grids: Sequence[Grid], horizon: float) -> tuple[float, int, Samples, Folds]:
        """The pairs of one horizon and its calibration folds, checked for size."""
        steps = self.features.steps_of(horizon, "horizon")
        pairs = samples(grids, self.features, self._reach(), steps)
        folds = calibration_folds(
            pairs, steps=steps, reach=self._reach(), folds=self.folds, calibration=self.calibration
        )
        check_counts(
            folds,
            grids,
            where=f"forecaster of {self.target}/horizon {horizon:g} s",
            features=self.features,
            reach=self._reach(),
            steps=steps,
            held_share=self.calibration if self.folds == 1 else 1.0 / self.folds,
            level=self.level,
        )
        return horizon, steps, pairs, folds

    def _fit_one(self, x: FloatArray, y: FloatArray) -> Regressor:
        model = self._make_regressor()
        with threads(self.threads):
            model.fit(x, y)
        return model

    def _predict(self, model: Regressor, x: FloatArray) -> FloatArray:
        if not len(x):
            return np.empty(0)
        with threads(self.threads):
            return np.asarray(model.predict(x), dtype=np.float64)

    def predict(self, window: Window) -> list[Prediction]:
        """One prediction per horizon, ``<target>@<seconds>``, from the newest row of
        ``window``; ValidationError when not fitted, when the window misses an input, is too
        short, out of time order or has a gap it cannot bridge."""
        return self.predict_many([window])[0]

    def predict_many(self, windows: Sequence[Window]) -> list[list[Prediction]]:
        """:meth:`predict` for many windows (of many twins) with one regressor call per
        horizon. Every window is checked before any is answered: a bad one raises for all
        and changes no adaptive state, so the caller can retry the others one by one."""
        fitted = self._require_fitted()
        grids = [self._window_grid(window) for window in windows]
        if not grids:
            return []
        with threads(self.threads):
            changes = [
                np.asarray(
                    h.model.predict(
                        np.vstack(
                            [
                                self.features.matrix(g, np.array([len(g.times) - 1]), h.steps)
                                for g in grids
                            ]
                        )
                    ),
                    dtype=np.float64,
                )
                for h in fitted.horizons
            ]
        return [
            self._answer(window, grid, [float(change[i]) for change in changes])
            for i, (window, grid) in enumerate(zip(windows, grids, strict=True))
        ]

    def _window_grid(self, window: Window) -> Grid:
        where = f"window of {window.twin_id}"
        values = select_columns(window.values, window.columns, self.inputs, where)
        check_readings(window.times, values, self.inputs, where)
        grid = resample(
            window.times, values, step=self.features.step, max_gap=self.features.max_gap
        )
        self._check_window(grid, window, where)
        return grid

    def _answer(self, window: Window, grid: Grid, changes: Sequence[float]) -> list[Prediction]:
        """Predictions from the regressors' ``changes`` (one per horizon) at the grid's end,
        with intervals at the level to use now (adapted per twin with ``adapt``)."""
        now, current = float(grid.times[-1]), float(grid.values[-1, 0])
        tracker = self._tracker if self.adapt else None
        if tracker is not None:
            tracker.settle(window.twin_id, grid.times, grid.values[:, 0])
        predictions = []
        for horizon, change in zip(self._require_fitted().horizons, changes, strict=True):
            value = current + change
            level = self.level
            if tracker is not None:
                level = tracker.level(window.twin_id, horizon.seconds)
            half = conformal_quantile(horizon.scores, level)
            if tracker is not None:
                tracker.record(window.twin_id, now, horizon.seconds, value, half)
            predictions.append(
                Prediction(
                    f"{self.target}@{horizon.seconds:g}",
                    value,
                    value - half,
                    value + half,
                    level=self.level,
                    horizon=horizon.seconds,
                )
            )
        return predictions

    # --- offline --------------------------------------------------------------------------

    def backtest(
        self,
        frame: pd.DataFrame,
        *,
        levels: Sequence[float] | None = None,
        every: float | None = None,
    ) -> pd.DataFrame:
        """Forecasts from every ``every`` seconds (one step by default) of ``frame``, as if
        made live at each point with only the data before it: one row per origin and horizon
        with ``time`` (the origin), ``horizon``, ``value``, ``lower@<level>``/``upper@<level>``
        per level (the forecaster's by default), ``actual`` (NaN past the frame's end),
        ``persistence`` (the value at the origin) and ``seasonal`` (one period before the
        target time; NaN without a period or that much history). With ``adapt`` the intervals
        at the forecaster's level adapt along the frame as they would live."""
        fitted = self._require_fitted()
        levels = tuple(levels) if levels is not None else (self.level,)
        for i, level in enumerate(levels):
            _check_fraction(level, f"backtest(levels[{i}])", "0 < level < 1")
        grid = self._grid(frame, "backtest frame")
        stride = 1 if every is None else self.features.steps_of(every, "backtest(every=...)")
        reach = self._reach()
        origins = np.arange(reach, len(grid.times), stride, dtype=np.int64)
        with threads(self.threads):
            parts = [self._backtest_horizon(grid, origins, h, levels) for h in fitted.horizons]
        if not parts or not len(origins):
            return pd.DataFrame(columns=["time", "horizon", "value", "actual"])
        return pd.concat(parts, ignore_index=True)

    def _backtest_horizon(
        self, grid: Grid, origins: IntArray, horizon: _Horizon, levels: tuple[float, ...]
    ) -> pd.DataFrame:
        features = self.features.matrix(grid, origins, horizon.steps)
        usable = ~np.isnan(features).any(axis=1)
        origins, features = origins[usable], features[usable]
        y = grid.values[:, 0]
        value = y[origins] + (
            np.asarray(horizon.model.predict(features), dtype=np.float64)
            if len(origins)
            else np.empty(0)
        )
        ahead = origins + horizon.steps
        actual = np.where(ahead < len(y), y[np.minimum(ahead, len(y) - 1)], np.nan)
        columns: dict[str, Any] = {
            "time": grid.times[origins],
            "horizon": np.full(len(origins), horizon.seconds),
            "value": value,
        }
        for level in levels:
            half = np.full(len(origins), conformal_quantile(horizon.scores, level))
            if self.adapt and level == self.level:
                errors = np.abs(np.nan_to_num(actual - value, nan=0.0))
                half = adaptive_half_widths(
                    horizon.scores,
                    level,
                    gamma=self.adapt,
                    origins=grid.times[origins],
                    horizon=horizon.seconds,
                    errors=errors,
                )
            columns[f"lower@{level:g}"] = value - half
            columns[f"upper@{level:g}"] = value + half
        columns["actual"] = actual
        columns["persistence"] = y[origins]
        columns["seasonal"] = self._seasonal_naive(y, origins, horizon.steps)
        return pd.DataFrame(columns)

    def _seasonal_naive(self, y: FloatArray, origins: IntArray, steps: int) -> FloatArray:
        if not self.features.period:
            return np.full(len(origins), np.nan)
        back = origins + steps - self.features.steps_of(self.features.period, "period")
        return np.where(back >= 0, y[np.maximum(back, 0)], np.nan)

    def calibration_scores(self, horizon: float) -> FloatArray:
        """The sorted absolute calibration errors of ``horizon`` (a copy)."""
        for fitted in self._require_fitted().horizons:
            if fitted.seconds == horizon:
                return fitted.scores.copy()
        raise ValidationError(
            "not a horizon of this forecaster",
            path=f"forecaster of {self.target}/horizon",
            expected=" | ".join(f"{h:g}" for h in self.horizons),
            got=horizon,
        )

    # --- pieces ---------------------------------------------------------------------------

    def _make_regressor(self) -> Regressor:
        if callable(self.method):
            return self.method()
        return make_regressor(self.method, self.seed)

    def _new_tracker(self) -> AdaptiveTracker | None:
        if not self.adapt:
            return None
        return AdaptiveTracker(self.horizons, self.level, self.adapt, self.features.step)

    def _require_fitted(self) -> _Fitted:
        if self._fitted is None:
            raise ValidationError(
                "the forecaster is not fitted",
                path=f"forecaster of {self.target}",
                expected="a fitted forecaster: call fit(history) first",
                got="not fitted",
            )
        return self._fitted

    def _grid(self, frame: pd.DataFrame, where: str) -> Grid:
        times, values = frame_readings(frame, self.inputs, where)
        return resample(times, values, step=self.features.step, max_gap=self.features.max_gap)

    def _grids(self, history: TrainingSet) -> tuple[list[Grid], float]:
        if isinstance(history, pd.DataFrame) or not len(history):
            raise ValidationError(
                "no history to fit on",
                path=f"forecaster of {self.target}: fit(history)",
                expected="a non-empty sequence of frames (wrap a single frame in a list)",
                got=type(history).__name__ if isinstance(history, pd.DataFrame) else "no frames",
            )
        grids, gaps = [], []
        for i, frame in enumerate(history):
            grids.append(self._grid(frame, f"history[{i}]"))
            steps = np.diff(seconds_of(frame.index, f"history[{i}]"))
            gaps.append(steps[steps > 0])
        positive = np.concatenate(gaps)
        interval = float(np.median(positive)) if len(positive) else self.features.step
        return grids, interval

    def _check_window(self, grid: Grid, window: Window, where: str) -> None:
        reach = self._reach()
        if len(grid.times) <= reach:
            raise ValidationError(
                "window too short for the forecaster",
                path=where,
                expected=(
                    f"readings over at least {self.history:g} s before the newest "
                    f"(a window of {self.window} rows at the trained rate)"
                ),
                got=f"{len(window.times)} rows over {window.times[-1] - window.times[0]:g} s",
            )
        hole = grid.missing(len(grid.times) - 1 - reach, len(grid.times) - 1)
        if hole is not None:
            row, column = hole
            end = float(grid.times[row])
            raise ValidationError(
                "window has a gap the forecaster cannot bridge",
                path=f"{where}/{self.inputs[column]}",
                expected=(
                    f"finite readings at most {self.features.max_gap:g} s apart over the last "
                    f"{self.history:g} s, the newest in the window's last {grid.step:g} s"
                ),
                got=f"none usable from {instant(end - grid.step)} to {instant(end)}",
            )

    def __repr__(self) -> str:
        state = "fitted" if self._fitted is not None else "not fitted"
        horizons = ", ".join(f"{h:g}" for h in self.horizons)
        return (
            f"Forecaster({self.target!r}, horizons=[{horizons}] s, level={self.level:g}, {state})"
        )


def _fit_metrics(
    horizon: float, scores: FloatArray, change: FloatArray, level: float
) -> dict[str, float]:
    """Figures of the calibration errors ``scores`` (sorted) next to persistence's, which
    errs by the whole ``change``."""
    h = f"{horizon:g}"
    return {
        f"mae@{h}": float(np.mean(scores)),
        f"rmse@{h}": float(np.sqrt(np.mean(scores * scores))),
        f"persistence_mae@{h}": float(np.mean(np.abs(change))),
        f"width@{h}": 2.0 * conformal_quantile(scores, level),
        f"calibration_samples@{h}": float(len(scores)),
    }


def _check_fraction(value: float, where: str, expected: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < value < 1.0:
        raise ValidationError(
            "must be a fraction between 0 and 1", path=where, expected=expected, got=value
        )
    return float(value)


def _check_fitting(
    folds: int, adapt: float, method: Method | Callable[[], Regressor]
) -> tuple[int, float, Method | Callable[[], Regressor]]:
    if isinstance(folds, bool) or not isinstance(folds, int) or not 1 <= folds <= 20:
        raise ValidationError(
            "bad number of calibration folds",
            path="Forecaster(folds=...)",
            expected="1 (split conformal) or 2 to 20 (cross-conformal)",
            got=folds,
        )
    if isinstance(adapt, bool) or not isinstance(adapt, int | float) or not 0.0 <= adapt < 1.0:
        raise ValidationError(
            "bad adaptation rate",
            path="Forecaster(adapt=...)",
            expected="0 (off) or a step size below 1, e.g. 0.01",
            got=adapt,
        )
    if not callable(method) and method not in ("boosting", "ridge"):
        raise ValidationError(
            "unknown forecasting method",
            path="Forecaster(method=...)",
            expected="'boosting', 'ridge' or a callable returning a regressor",
            got=method,
        )
    return folds, float(adapt), method

"""How good a forecaster is on data it did not learn from, per horizon.

Two ways to hold data out, both *rolling origin*: forecasts are made from every grid point of
the held-out data with only the readings before it, as they would be live.

- :func:`evaluate_forecaster`: a fitted forecaster on held-out frames (later in time than its
  history, or other twins);
- :func:`rolling_origin`: the history is cut in time into a first training part and
  ``folds`` test blocks after it; for each block a fresh forecaster is fitted on everything
  before the block and scored on the block, so every test reading lies after what its model
  learned from (expanding window).

Each scores point forecasts (MAE and RMSE) next to two baselines, *persistence* (the value at
the origin) and *seasonal naive* (the value one period before the target time, where the
history reaches back that far; its figures are over those forecasts only), and intervals by
their coverage (the share of actual values inside) and mean width, at several levels.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import numpy.typing as npt
import pandas as pd

from twinkit.errors import ValidationError
from twinkit.predict._forecast import Forecaster
from twinkit.predict._forecast_features import seconds_of
from twinkit.predict._protocol import Progress, TrainingSet

__all__ = ["ForecastEvaluation", "HorizonScore", "evaluate_forecaster", "rolling_origin"]

logger = logging.getLogger(__name__)

LEVELS = (0.5, 0.8, 0.9, 0.95)


@dataclass(frozen=True, slots=True)
class HorizonScore:
    """Errors and interval figures of the forecasts of one horizon (seconds)."""

    horizon: float
    samples: int
    mae: float
    rmse: float
    persistence_mae: float
    persistence_rmse: float
    seasonal_mae: float
    """NaN where no forecast had a value one period back."""
    seasonal_rmse: float
    seasonal_samples: int
    coverage: Mapping[float, float]
    """Level -> share of actual values inside the interval at that level."""
    width: Mapping[float, float]
    """Level -> mean width of the interval at that level."""

    @property
    def skill(self) -> float:
        """1 - MAE / persistence MAE: above 0 beats persistence, 1 is perfect."""
        return 1.0 - self.mae / self.persistence_mae if self.persistence_mae > 0 else math.nan


@dataclass(frozen=True, slots=True)
class ForecastEvaluation:
    """The scores of every horizon, in horizon order."""

    horizons: tuple[HorizonScore, ...]

    def score(self, horizon: float) -> HorizonScore:
        for score in self.horizons:
            if score.horizon == horizon:
                return score
        raise ValidationError(
            "no score for this horizon",
            path="evaluation/horizon",
            expected=" | ".join(f"{s.horizon:g}" for s in self.horizons),
            got=horizon,
        )

    def figures(self) -> dict[str, float]:
        """Flat figures for reports and JSON: ``mae@3600``, ``coverage@3600@0.9``, ..."""
        out: dict[str, float] = {}
        for s in self.horizons:
            h = f"{s.horizon:g}"
            out |= {
                f"samples@{h}": float(s.samples),
                f"mae@{h}": s.mae,
                f"rmse@{h}": s.rmse,
                f"persistence_mae@{h}": s.persistence_mae,
                f"persistence_rmse@{h}": s.persistence_rmse,
                f"seasonal_mae@{h}": s.seasonal_mae,
                f"seasonal_rmse@{h}": s.seasonal_rmse,
                f"skill@{h}": s.skill,
            }
            for level, share in s.coverage.items():
                out[f"coverage@{h}@{level:g}"] = share
                out[f"width@{h}@{level:g}"] = s.width[level]
        return out

    def table(self) -> pd.DataFrame:
        """One row per horizon: errors, baselines, coverage and width per level."""
        rows = []
        for s in self.horizons:
            row: dict[str, float] = {
                "horizon": s.horizon,
                "samples": s.samples,
                "mae": s.mae,
                "persistence_mae": s.persistence_mae,
                "seasonal_mae": s.seasonal_mae,
                "rmse": s.rmse,
                "persistence_rmse": s.persistence_rmse,
                "seasonal_rmse": s.seasonal_rmse,
                "skill": s.skill,
            }
            for level, share in s.coverage.items():
                row[f"coverage@{level:g}"] = share
                row[f"width@{level:g}"] = s.width[level]
            rows.append(row)
        return pd.DataFrame(rows).set_index("horizon")


def evaluate_forecaster(
    forecaster: Forecaster,
    held_out: TrainingSet,
    *,
    levels: Sequence[float] = LEVELS,
    every: float | None = None,
) -> ForecastEvaluation:
    """Score a fitted ``forecaster`` on ``held_out`` frames: forecasts from every ``every``
    seconds (each grid step by default) that has enough history before it, against what came.
    """
    frames = _frames(held_out, "evaluate_forecaster(held_out)")
    levels = _levels(forecaster, levels)
    tests = [forecaster.backtest(frame, levels=levels, every=every) for frame in frames]
    return summarize(tests, levels)


def rolling_origin(
    make: Callable[[], Forecaster],
    history: TrainingSet,
    *,
    folds: int = 3,
    test: float = 0.4,
    levels: Sequence[float] = LEVELS,
    progress: Progress | None = None,
) -> ForecastEvaluation:
    """Refit-and-score over time: the last ``test`` share of each frame (in time) is cut into
    ``folds`` blocks; ``make()`` builds the forecaster fitted for each block on all readings
    before it (of every frame) and scored on forecasts made from inside the block (their
    actual values may lie after it: no model saw those either)."""
    frames = _frames(history, "rolling_origin(history)")
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 1:
        raise ValidationError(
            "bad number of folds",
            path="rolling_origin(folds=...)",
            expected="an integer >= 1",
            got=folds,
        )
    if not 0.0 < test < 1.0:
        raise ValidationError(
            "bad test share",
            path="rolling_origin(test=...)",
            expected="0 < test < 1, e.g. 0.4",
            got=test,
        )
    bounds = [_fold_times(frame, folds, test, f"history[{i}]") for i, frame in enumerate(frames)]
    tests: list[pd.DataFrame] = []
    chosen: tuple[float, ...] = ()
    for k in range(folds):
        forecaster = make()
        chosen = _levels(forecaster, levels)
        forecaster.fit(
            [_before(frame, cuts[k]) for frame, cuts in zip(frames, bounds, strict=True)]
        )
        before = forecaster.history + forecaster.features.step
        after = max(forecaster.horizons)
        for frame, cuts in zip(frames, bounds, strict=True):
            block = _between(frame, cuts[k] - before, cuts[k + 1] + after)
            result = forecaster.backtest(block, levels=chosen)
            inside = (result["time"] > cuts[k]) & (result["time"] <= cuts[k + 1])
            tests.append(result[inside])
        logger.info("rolling origin: fold %d of %d scored", k + 1, folds)
        if progress is not None:
            progress((k + 1) / folds)
    return summarize(tests, chosen)


def summarize(tests: Sequence[pd.DataFrame], levels: Sequence[float]) -> ForecastEvaluation:
    """Pool backtests (:meth:`Forecaster.backtest` frames) and score them per horizon; rows
    without an actual value (past the end of their frame) are left out."""
    pooled = pd.concat([t for t in tests if len(t)], ignore_index=True) if tests else None
    if pooled is None or not len(pooled) or not pooled["actual"].notna().any():
        raise ValidationError(
            "no forecast to score",
            path="held-out data",
            expected="frames longer than the forecaster's history plus its shortest horizon",
            got=f"{sum(len(t) for t in tests)} forecasts, none with an actual value",
        )
    pooled = pooled[pooled["actual"].notna()]
    scores = []
    for horizon, rows in pooled.groupby("horizon", sort=True):
        actual = rows["actual"].to_numpy()
        error = rows["value"].to_numpy() - actual
        naive = rows["persistence"].to_numpy() - actual
        seasonal = (rows["seasonal"].to_numpy() - actual)[rows["seasonal"].notna().to_numpy()]
        coverage, width = {}, {}
        for level in levels:
            lower = rows[f"lower@{level:g}"].to_numpy()
            upper = rows[f"upper@{level:g}"].to_numpy()
            coverage[level] = float(np.mean((actual >= lower) & (actual <= upper)))
            width[level] = float(np.mean(upper - lower))
        scores.append(
            HorizonScore(
                float(str(horizon)),
                len(rows),
                _mae(error),
                _rmse(error),
                _mae(naive),
                _rmse(naive),
                _mae(seasonal),
                _rmse(seasonal),
                len(seasonal),
                MappingProxyType(coverage),
                MappingProxyType(width),
            )
        )
    return ForecastEvaluation(tuple(scores))


def _mae(error: npt.NDArray[np.float64]) -> float:
    return float(np.mean(np.abs(error))) if len(error) else math.nan


def _rmse(error: npt.NDArray[np.float64]) -> float:
    return float(np.sqrt(np.mean(error * error))) if len(error) else math.nan


def _frames(history: TrainingSet, where: str) -> list[pd.DataFrame]:
    if isinstance(history, pd.DataFrame) or not len(history):
        raise ValidationError(
            "no frames to evaluate on",
            path=where,
            expected="a non-empty sequence of frames (wrap a single frame in a list)",
            got=type(history).__name__ if isinstance(history, pd.DataFrame) else "no frames",
        )
    return list(history)


def _levels(forecaster: Forecaster, levels: Sequence[float]) -> tuple[float, ...]:
    """The levels asked for, with the forecaster's own (whose intervals may adapt) among them."""
    chosen = [float(level) for level in levels]
    if forecaster.level not in chosen:
        chosen.append(forecaster.level)
    return tuple(sorted(chosen))


def _fold_times(frame: pd.DataFrame, folds: int, test: float, where: str) -> list[float]:
    """The ``folds + 1`` cut times of a frame: the start of the test part, then block ends."""
    times = seconds_of(frame.index, where)
    if not len(times):
        raise ValidationError(
            "an empty frame", path=where, expected="readings over time", got="0 rows"
        )
    first, last = float(times[0]), float(times[-1])
    start = last - test * (last - first)
    return [start + (last - start) * k / folds for k in range(folds)] + [math.inf]


def _before(frame: pd.DataFrame, cut: float) -> pd.DataFrame:
    times = seconds_of(frame.index, "frame")
    return frame.iloc[: int(np.searchsorted(times, cut, side="right"))]


def _between(frame: pd.DataFrame, lo: float, hi: float) -> pd.DataFrame:
    times = seconds_of(frame.index, "frame")
    start = int(np.searchsorted(times, lo, side="left"))
    end = int(np.searchsorted(times, hi, side="right"))
    return frame.iloc[start:end]

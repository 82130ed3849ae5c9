"""What every anomaly detector shares: input checks, causal features, a threshold from training.

A detector learns *normal* behaviour from history (one frame per unit, indexed by time, one
column per input) and scores how far the newest rows are from it. The work common to all of
them lives here:

- checking history and windows (missing columns, non-finite values, too little data) with
  errors that name the frame, column and time;
- **causal features**: each input is smoothed over the newest ``smooth`` rows (a mean, a
  median or an exponentially weighted mean), so a score uses only the present and past rows;
  inputs named ``slow`` (temperatures and other thermal states that wander for minutes) are
  judged by their *rate* - the change of the smoothed value over ``rate_lag`` rows - instead of
  their level, which a short stretch of normal history cannot bound;
- standardisation fitted on the training features only;
- the **threshold**: ``margin`` times the ``quantile`` of the training scores; test data and
  labels never move it.

Scores are computed the same way one window at a time (:meth:`score`, live) and for a whole
frame at once (:meth:`score_frame`, evaluation): a window of :attr:`window` rows gives the score
the frame gives its last row.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias, runtime_checkable

import numpy as np
import numpy.typing as npt
import pandas as pd

from twinkit.errors import ValidationError
from twinkit.predict._protocol import AnomalyScore, Detector, Progress, TrainingSet, Window

__all__ = ["BatchDetector", "Features", "FittedDetector", "Statistic"]

logger = logging.getLogger(__name__)

Array: TypeAlias = npt.NDArray[np.float64]
Statistic: TypeAlias = Literal["mean", "median", "ewma"]
"""How a feature smooths its input over the newest rows."""

MIN_ROWS = 20
"""Fewest rows of history a detector learns from."""


@runtime_checkable
class BatchDetector(Detector, Protocol):
    """A :class:`Detector` that also scores a whole frame at once (offline evaluation)."""

    @property
    def threshold(self) -> float:
        """A score above this is an anomaly, fixed at fit from the training data only.

        Infinite before fitting (reading it must not raise: ``isinstance`` checks read it).
        """
        ...

    def score_frame(self, frame: pd.DataFrame) -> Array:
        """The score of every row of ``frame``, each from that row and the rows before it."""
        ...


def _sliding(values: Array, rows: int) -> Array:
    """Views of the ``rows`` newest rows at each row, the first row repeated before the start."""
    padded = np.concatenate([np.repeat(values[:1], rows - 1, axis=0), values])
    return np.lib.stride_tricks.sliding_window_view(padded, rows, axis=0)


def _shift(values: Array, lag: int) -> Array:
    """``values`` ``lag`` rows earlier (the first row repeated before the start)."""
    if lag == 0:
        return values
    return np.concatenate([np.repeat(values[:1], lag, axis=0), values])[: len(values)]


@dataclass(frozen=True, slots=True)
class Features:
    """How raw inputs become a detector's features (before standardisation).

    Each input gives one feature: its ``statistic`` over the newest ``smooth`` rows, or for a
    ``slow`` input the change of that value over the last ``rate_lag`` rows.
    """

    inputs: tuple[str, ...]
    smooth: int = 1
    statistic: Statistic = "mean"
    slow: tuple[str, ...] = ()
    rate_lag: int = 30
    alpha: float = 0.3

    def __post_init__(self) -> None:
        _check_names(self.inputs, "inputs")
        _check_int(self.smooth, "smooth", 1)
        _check_int(self.rate_lag, "rate_lag", 1)
        unknown = [name for name in self.slow if name not in self.inputs]
        if unknown or len(set(self.slow)) != len(self.slow):
            raise ValidationError(
                "slow inputs must be distinct names among the inputs",
                path="slow",
                expected=f"some of {list(self.inputs)}",
                got=list(self.slow),
            )
        if self.statistic not in ("mean", "median", "ewma"):
            raise ValidationError(
                "unknown smoothing statistic",
                path="statistic",
                expected="'mean', 'median' or 'ewma'",
                got=self.statistic,
            )
        if not 0 < self.alpha <= 1:
            raise ValidationError(
                "EWMA weight out of range", path="alpha", expected="0 < alpha <= 1", got=self.alpha
            )

    @property
    def rows(self) -> int:
        """How many newest rows one feature row depends on."""
        return self.smooth + (self.rate_lag if self.slow else 0)

    @property
    def names(self) -> tuple[str, ...]:
        slow = set(self.slow)
        return tuple(f"rate({name})" if name in slow else name for name in self.inputs)

    def compute(self, values: Array) -> Array:
        """Feature rows for ``values`` (rows in time order, columns as :attr:`inputs`)."""
        if self.smooth == 1:
            smoothed = values
        else:
            view = _sliding(values, self.smooth)  # (rows, inputs, smooth), oldest first
            if self.statistic == "mean":
                smoothed = view.mean(axis=-1)
            elif self.statistic == "median":
                smoothed = np.median(view, axis=-1)
            else:
                weights = (1 - self.alpha) ** np.arange(self.smooth - 1, -1, -1, dtype=np.float64)
                smoothed = view @ (weights / weights.sum())
        if not self.slow:
            return np.ascontiguousarray(smoothed, dtype=np.float64)
        out = np.array(smoothed, dtype=np.float64)
        slow = [self.inputs.index(name) for name in self.slow]
        out[:, slow] = smoothed[:, slow] - _shift(smoothed[:, slow], self.rate_lag)
        return out


@dataclass(frozen=True, slots=True)
class _Scaler:
    centre: Array
    scale: Array

    @classmethod
    def fit(cls, rows: Array, robust: bool) -> _Scaler:
        if robust:
            centre = np.median(rows, axis=0)
            deviation = np.abs(rows - centre)
            scale = 1.4826 * np.median(deviation, axis=0)
            # Quantised inputs (a flow meter stuck on a few values) can have a zero MAD; the
            # mean absolute deviation (x1.2533 for a normal spread) is robust enough there.
            scale = np.where(scale > 0, scale, 1.2533 * deviation.mean(axis=0))
        else:
            centre = rows.mean(axis=0)
            scale = rows.std(axis=0)
        # A feature constant in training gets a tiny scale: any later change stands out, finitely.
        floor = 1e-6 * np.maximum(np.abs(centre), 1.0)
        return cls(centre, np.maximum(scale, floor))

    def __call__(self, rows: Array) -> Array:
        return (rows - self.centre) / self.scale


def _check_names(names: Sequence[str], what: str) -> None:
    if (
        not names
        or any(not isinstance(n, str) or not n for n in names)
        or len(set(names)) != len(names)
    ):
        raise ValidationError(
            f"a detector needs distinct, non-empty {what}",
            path=what,
            expected="a non-empty sequence of distinct names",
            got=list(names),
        )


def _check_int(value: object, what: str, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValidationError(
            f"{what} must be a whole number of rows", path=what, expected=f">= {least}", got=value
        )


def _first_bad(values: Array, columns: Sequence[str], times: Sequence[object]) -> str | None:
    """``column at time`` of the first non-finite value, or None."""
    bad = ~np.isfinite(values)
    if not bad.any():
        return None
    row, column = np.argwhere(bad)[0]
    return f"{columns[column]} at {times[row]}"


def _frame_values(frame: pd.DataFrame, inputs: Sequence[str], where: str) -> Array:
    missing = [name for name in inputs if name not in frame.columns]
    if missing:
        raise ValidationError(
            f"columns {missing} are missing",
            path=where,
            expected=f"columns {list(inputs)}",
            got=[str(c) for c in frame.columns],
        )
    try:
        values = frame.loc[:, list(inputs)].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValidationError(
            f"values are not numbers: {err}", path=where, expected="numeric columns"
        ) from err
    bad = _first_bad(values, inputs, list(frame.index))
    if bad is not None:
        raise ValidationError(
            "a value is NaN or infinite", path=f"{where}: {bad}", expected="finite numbers"
        )
    return values


class FittedDetector:
    """Base of twinkit's detectors: subclasses supply the model, this class the rest.

    A subclass implements :meth:`_fit_model` (learn from standardised model rows, one array
    per unit; return the training scores and metrics) and :meth:`_score_rows` (scores and
    per-feature contributions of model rows); :meth:`_rows` may turn feature rows into model
    rows (lagged windows). ``quantile`` and ``margin`` set the threshold: ``margin *
    quantile(training scores)``.

    A row is scored once :attr:`warmup` rows (its own and earlier ones) exist: features need
    that much history, and a half-filled smoothing window would look anomalous. Earlier rows
    score 0 and are left out of training.
    """

    _lags = 1  # feature rows in one model row (models on lagged windows raise it)
    _context = 1  # model rows one score reads (a CUSUM reads its whole span)
    _robust_scale = False

    def __init__(self, features: Features, *, quantile: float = 1.0, margin: float = 1.0) -> None:
        if not 0.5 <= quantile <= 1:
            raise ValidationError(
                "threshold quantile out of range",
                path="quantile",
                expected="0.5 <= quantile <= 1 (1: the largest training score)",
                got=quantile,
            )
        if not margin > 0 or not math.isfinite(margin):
            raise ValidationError(
                "threshold margin must be positive", path="margin", expected="> 0", got=margin
            )
        self.features = features
        self.quantile = quantile
        self.margin = margin
        self._scaler: _Scaler | None = None
        self._threshold: float | None = None

    @property
    def inputs(self) -> Sequence[str]:
        return self.features.inputs

    @property
    def warmup(self) -> int:
        """Rows of history the first score needs (rows before it score 0)."""
        return self.features.rows + self._lags - 1

    @property
    def window(self) -> int:
        return self.warmup + self._context - 1

    @property
    def fitted(self) -> bool:
        return self._threshold is not None

    @property
    def threshold(self) -> float:
        """Scores above this are anomalies; infinite until :meth:`fit` has set it."""
        return math.inf if self._threshold is None else self._threshold

    def _not_fitted(self) -> ValidationError:
        return ValidationError(
            f"{type(self).__name__} is not fitted",
            path=type(self).__name__,
            expected="fit(history) on normal data before scoring",
        )

    # --- training ---------------------------------------------------------------------------

    def fit(self, history: TrainingSet, *, progress: Progress | None = None) -> Mapping[str, float]:
        """Learn normal behaviour and the threshold from ``history`` (normal data only)."""
        name = type(self).__name__
        report = progress or (lambda fraction: None)
        report(0.0)
        raw = [self.features.compute(v) for v in self._history_values(history)]
        settled = self.features.rows - 1
        self._scaler = _Scaler.fit(np.concatenate([r[settled:] for r in raw]), self._robust_scale)
        units = [self._rows(self._scaler(r))[self.warmup - 1 :] for r in raw]
        units = [u for u in units if len(u)]
        report(0.05)
        scores, metrics = self._fit_model(units, lambda f: report(0.05 + 0.9 * f))
        cut = float(np.quantile(scores, self.quantile))
        self._threshold = self.margin * cut if cut > 0 else self.margin * 1e-12
        alarms = float(np.mean(scores > self._threshold))
        report(1.0)
        logger.info("%s fitted on %d rows: threshold %.4g", name, len(scores), self._threshold)
        return {
            "rows": float(len(scores)),
            "units": float(len(units)),
            "features": float(units[0].shape[1]),
            "threshold": self._threshold,
            "train_alarm_rate": alarms,
            **metrics,
        }

    def _history_values(self, history: TrainingSet) -> list[Array]:
        name = type(self).__name__
        if isinstance(history, pd.DataFrame) or not isinstance(history, Sequence):
            raise ValidationError(
                "history must be a sequence of frames (one per unit)",
                path=f"{name}.fit",
                expected="a list of DataFrames",
                got=type(history).__name__,
            )
        values: list[Array] = []
        for index, frame in enumerate(history):
            where = f"{name}.fit: history[{index}]"
            if not isinstance(frame, pd.DataFrame):
                raise ValidationError(
                    "history holds something that is not a frame",
                    path=where,
                    expected="a DataFrame indexed by time",
                    got=type(frame).__name__,
                )
            if len(frame):
                values.append(_frame_values(frame, self.inputs, where))
        usable = sum(max(len(v) - self.warmup + 1, 0) for v in values)
        if usable < MIN_ROWS:
            raise ValidationError(
                "not enough history to learn normal behaviour",
                path=f"{name}.fit",
                expected=(
                    f"at least {MIN_ROWS} rows of {list(self.inputs)} after the first "
                    f"{self.warmup - 1} of each frame (the features' warm-up)"
                ),
                got=f"{sum(len(v) for v in values)} rows in {len(history)} frames",
            )
        return values

    def _rows(self, z: Array) -> Array:
        """Model rows from standardised feature rows (one per row; lagged windows, say)."""
        return z

    def _fit_model(self, units: list[Array], progress: Progress) -> tuple[Array, dict[str, float]]:
        """Learn from model rows (one array per unit); training scores and metrics."""
        raise NotImplementedError

    def _score_rows(self, rows: Array) -> tuple[Array, Array | None]:
        """Scores of model rows and their per-feature contributions (or None)."""
        raise NotImplementedError

    # --- scoring ----------------------------------------------------------------------------

    def _model_rows(self, values: Array) -> Array:
        """Model rows of ``values``, warm-up rows dropped."""
        if self._scaler is None:
            raise self._not_fitted()
        return self._rows(self._scaler(self.features.compute(values)))[self.warmup - 1 :]

    def score_frame(self, frame: pd.DataFrame) -> Array:
        """Scores of every row of ``frame`` (each from that row and earlier ones)."""
        where = f"{type(self).__name__}.score_frame"
        if not self.fitted:
            raise self._not_fitted()
        values = _frame_values(frame, self.inputs, where)
        scores = np.zeros(len(values), dtype=np.float64)
        if len(values) >= self.warmup:
            scores[self.warmup - 1 :] = self._score_rows(self._model_rows(values))[0]
        return scores

    def alarms_frame(self, frame: pd.DataFrame) -> npt.NDArray[np.bool_]:
        """Which rows of ``frame`` score above the threshold."""
        return self.score_frame(frame) > self.threshold

    def _window_values(self, window: Window) -> Array:
        """The newest :attr:`window` rows of the inputs, checked."""
        where = f"{type(self).__name__}.score: window of {window.twin_id}"
        try:
            columns = [window.columns.index(name) for name in self.inputs]
        except ValueError as err:
            raise ValidationError(
                "the window lacks inputs of the detector",
                path=where,
                expected=f"columns {list(self.inputs)}",
                got=list(window.columns),
            ) from err
        if not len(window.times):
            raise ValidationError("the window is empty", path=where, expected=">= 1 row", got=0)
        values = np.asarray(window.values[-self.window :, columns], dtype=np.float64)
        bad = _first_bad(values, self.inputs, list(window.times[-self.window :]))
        if bad is not None:
            raise ValidationError(
                "a value is NaN or infinite", path=f"{where}: {bad}", expected="finite numbers"
            )
        return values

    def score(self, window: Window) -> AnomalyScore:
        """Score the newest row of ``window``, with each input's share of the score.

        A window shorter than :attr:`warmup` rows scores 0 (no contributions): too little
        history to judge.
        """
        if not self.fitted:
            raise self._not_fitted()
        values = self._window_values(window)
        if len(values) < self.warmup:
            return AnomalyScore(0.0, self.threshold)
        rows = self._model_rows(values)[-self._context :]
        scores, contributions = self._score_rows(rows)
        return AnomalyScore(float(scores[-1]), self.threshold, self._by_input(contributions))

    def score_many(self, windows: Sequence[Window]) -> list[AnomalyScore]:
        """:meth:`score` of each window (one per twin), the model called once for them all."""
        if not self.fitted:
            raise self._not_fitted()
        if self._context != 1:  # each score reads a sequence of rows: one call per window
            return [self.score(window) for window in windows]
        answers = [AnomalyScore(0.0, self.threshold) for _ in windows]
        rows: list[Array] = []
        slots: list[int] = []
        for slot, window in enumerate(windows):
            values = self._window_values(window)
            if len(values) >= self.warmup:
                rows.append(self._model_rows(values)[-1:])
                slots.append(slot)
        if rows:
            scores, contributions = self._score_rows(np.concatenate(rows))
            for k, slot in enumerate(slots):
                part = None if contributions is None else contributions[k : k + 1]
                answers[slot] = AnomalyScore(float(scores[k]), self.threshold, self._by_input(part))
        return answers

    def _by_input(self, contributions: Array | None) -> dict[str, float] | None:
        """Per-input contributions of the last row (an input's features summed over lags)."""
        if contributions is None:
            return None
        per_feature = contributions[-1].reshape(-1, len(self.inputs)).sum(axis=0)
        return {name: float(v) for name, v in zip(self.inputs, per_feature, strict=True)}

"""How remaining-useful-life estimates are scored: RMSE, the PHM08 score, interval coverage.

The C-MAPSS protocol scores one estimate per test engine, at its last cycle. The PHM08 score
(Saxena et al., 2008) punishes late estimates (predicted above the truth: the engine fails
before maintenance) harder than early ones: with ``d = predicted - true`` it sums
``exp(-d / 13) - 1`` for ``d < 0`` and ``exp(d / 10) - 1`` for ``d >= 0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from twinkit.errors import ValidationError

__all__ = ["RulEvaluation", "interval_coverage", "phm08_score", "rmse"]

Array = npt.NDArray[np.float64]


def _pair(predicted: Sequence[float] | Array, true: Sequence[float] | Array) -> tuple[Array, Array]:
    p, t = np.asarray(predicted, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if p.shape != t.shape or p.ndim != 1 or not len(p):
        raise ValidationError(
            "predicted and true values must be two non-empty lists of the same length",
            path="rul metrics",
            expected="1-D arrays of equal length >= 1",
            got=(p.shape, t.shape),
        )
    return p, t


def rmse(predicted: Sequence[float] | Array, true: Sequence[float] | Array) -> float:
    """Root mean squared error."""
    p, t = _pair(predicted, true)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def phm08_score(predicted: Sequence[float] | Array, true: Sequence[float] | Array) -> float:
    """The PHM08 challenge score (lower is better; late estimates cost more than early ones)."""
    p, t = _pair(predicted, true)
    d = p - t
    return float(np.sum(np.where(d < 0, np.expm1(-d / 13.0), np.expm1(d / 10.0))))


def interval_coverage(
    lower: Sequence[float] | Array, upper: Sequence[float] | Array, true: Sequence[float] | Array
) -> float:
    """The fraction of ``true`` values inside their ``[lower, upper]`` interval (ends included)."""
    low, t = _pair(lower, true)
    high, _ = _pair(upper, true)
    if (low > high).any():
        row = int(np.argmax(low > high))
        raise ValidationError(
            "interval lower bound above its upper bound",
            path=f"rul metrics/interval {row}",
            expected="lower <= upper",
            got=(float(low[row]), float(high[row])),
        )
    return float(np.mean((low <= t) & (t <= high)))


@dataclass(frozen=True, slots=True)
class RulEvaluation:
    """Estimates at the last cycle of each test engine against the true remaining life.

    ``rmse``/``score``/``coverage`` compare with the true RUL as given; the ``*_capped`` figures
    with the true RUL capped as the training targets were (what the estimate and its interval
    stand for, and how much of the deep-learning literature reports C-MAPSS RMSE).
    """

    predicted: Array
    lower: Array
    upper: Array
    true: Array
    cap: float
    level: float

    @property
    def rmse(self) -> float:
        return rmse(self.predicted, self.true)

    @property
    def rmse_capped(self) -> float:
        return rmse(self.predicted, np.minimum(self.true, self.cap))

    @property
    def score(self) -> float:
        return phm08_score(self.predicted, self.true)

    @property
    def score_capped(self) -> float:
        return phm08_score(self.predicted, np.minimum(self.true, self.cap))

    @property
    def coverage(self) -> float:
        return interval_coverage(self.lower, self.upper, self.true)

    @property
    def coverage_capped(self) -> float:
        return interval_coverage(self.lower, self.upper, np.minimum(self.true, self.cap))

    @property
    def mean_width(self) -> float:
        return float(np.mean(self.upper - self.lower))

    def figures(self) -> dict[str, float]:
        """All figures by name (for reports and JSON)."""
        return {
            "engines": float(len(self.true)),
            "rmse": self.rmse,
            "rmse_capped": self.rmse_capped,
            "score": self.score,
            "score_capped": self.score_capped,
            "level": self.level,
            "coverage": self.coverage,
            "coverage_capped": self.coverage_capped,
            "mean_width": self.mean_width,
        }

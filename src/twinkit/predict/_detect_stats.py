"""Univariate detectors: robust z-scores, EWMA control charts and CUSUM on shadow residuals.

Each input is judged on its own against its training distribution and the score is the largest
per-input statistic, so an alarm names the sensor that moved (the contributions are the
per-input statistics). They need no learning library and are cheap enough for every twin.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from twinkit.errors import ValidationError
from twinkit.predict._detect import Array, Features, FittedDetector, _sliding
from twinkit.predict._protocol import Progress

__all__ = ["EwmaDetector", "ResidualCusumDetector", "RobustZDetector"]


def _max_abs(z: Array) -> tuple[Array, Array]:
    magnitude = np.abs(z)
    return magnitude.max(axis=1), magnitude


class RobustZDetector(FittedDetector):
    """Rolling median of each input against its training median, in units of the training MAD.

    The score is the largest ``|median - centre| / (1.4826 MAD)`` over the inputs: a robust
    z-score that one wild training value does not distort and a single spike in the window
    (shorter than half of ``smooth`` rows) does not trip.
    """

    _robust_scale = True

    def __init__(
        self,
        inputs: Sequence[str],
        *,
        smooth: int = 5,
        slow: Sequence[str] = (),
        rate_lag: int = 30,
        quantile: float = 1.0,
        margin: float = 1.5,
    ) -> None:
        features = Features(tuple(inputs), smooth, "median", tuple(slow), rate_lag)
        super().__init__(features, quantile=quantile, margin=margin)

    def _fit_model(self, units: list[Array], progress: Progress) -> tuple[Array, dict[str, float]]:
        scores, _ = self._score_rows(np.concatenate(units))
        return scores, {}

    def _score_rows(self, z: Array) -> tuple[Array, Array | None]:
        return _max_abs(z)


class EwmaDetector(FittedDetector):
    """An EWMA control chart per input: ``|EWMA - mean|`` in units of the EWMA's own spread.

    The exponentially weighted mean (weight ``alpha`` on the newest row, truncated to the newest
    ``span`` rows) reacts to small persistent shifts that single readings hide in noise; its
    spread is measured on the training data, so autocorrelated inputs get honest limits.
    """

    def __init__(
        self,
        inputs: Sequence[str],
        *,
        alpha: float = 0.2,
        span: int = 30,
        slow: Sequence[str] = (),
        rate_lag: int = 30,
        quantile: float = 1.0,
        margin: float = 1.5,
    ) -> None:
        features = Features(tuple(inputs), span, "ewma", tuple(slow), rate_lag, alpha)
        super().__init__(features, quantile=quantile, margin=margin)

    def _fit_model(self, units: list[Array], progress: Progress) -> tuple[Array, dict[str, float]]:
        scores, _ = self._score_rows(np.concatenate(units))
        return scores, {}

    def _score_rows(self, z: Array) -> tuple[Array, Array | None]:
        return _max_abs(z)


class ResidualCusumDetector(FittedDetector):
    """Two-sided CUSUM on residual series (measured - simulated), e.g. ``residual:flow``.

    A shadow simulation's residuals sit near zero (or a steady bias) while the plant behaves as
    its model says; a fault moves one of them. Each residual is standardised by its training
    median and MAD, and the CUSUM statistics ``max(0, S + z - k)`` and ``max(0, S - z - k)``
    accumulate drifts larger than the allowance ``k`` (in MADs) over the newest ``span`` rows.
    The score is the largest of them; each series' statistic is its contribution.
    """

    _robust_scale = True

    def __init__(
        self,
        inputs: Sequence[str],
        *,
        k: float = 0.5,
        span: int = 120,
        quantile: float = 1.0,
        margin: float = 1.5,
    ) -> None:
        if not k >= 0:
            raise ValidationError(
                "CUSUM allowance must not be negative", path="k", expected=">= 0", got=k
            )
        super().__init__(Features(tuple(inputs)), quantile=quantile, margin=margin)
        if isinstance(span, bool) or not isinstance(span, int) or span < 2:
            raise ValidationError(
                "CUSUM span must be a whole number of rows", path="span", expected=">= 2", got=span
            )
        self.k = k
        self.span = span
        self._context = span

    def _fit_model(self, units: list[Array], progress: Progress) -> tuple[Array, dict[str, float]]:
        scores = np.concatenate([self._score_rows(z)[0] for z in units])
        return scores, {}

    def _score_rows(self, z: Array) -> tuple[Array, Array | None]:
        # A CUSUM restarted ``span`` rows ago is the partial sum minus its lowest earlier value
        # within the span (the sum before the first row counting as zero).
        statistics = []
        for drift in (z - self.k, -z - self.k):
            partial = np.cumsum(drift, axis=0)
            before = np.concatenate([np.zeros((1, z.shape[1])), partial[:-1]])
            lowest = _sliding(before, self.span).min(axis=-1)
            statistics.append(np.maximum(partial - lowest, 0.0))
        per_series = np.maximum(statistics[0], statistics[1])
        return per_series.max(axis=1), per_series

"""Windowed features of normalised sensor histories, for every cycle at once or for one window.

Per signal (a normalised sensor, or the learned health index): the latest value, means over
several trailing windows, least-squares slopes over several windows and exponentially smoothed
values; plus the engine's age. A window covers the newest ``w`` cycles, or all there are when
the history is shorter, so a young engine gets features of the same kind (and the model is
trained on such young prefixes too).

:func:`history_features` computes them for every row of an engine's history with cumulative
sums (training); :class:`WindowFeatures` computes the same numbers for the newest row of one
live window with a handful of precomputed dot products (inference, a few microseconds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from twinkit.errors import ValidationError

__all__ = ["FeatureSpec", "WindowFeatures", "history_features"]

Array = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """Which features to compute: window lengths (cycles) for means and slopes, smoothing.

    ``smoothing`` holds the factors ``a`` of exponential smoothing (weights ``(1 - a) ** k`` for
    the value ``k`` cycles back) over the newest ``smoothing_span`` cycles; ``age`` adds the
    engine's age (its cycle count) as a feature. The defaults were chosen by out-of-fold RMSE
    over C-MAPSS training engines: windows of up to 200 cycles beat windows of up to 30 (the
    usual choice) by over three cycles (FD001: 15.6 to 12.2), and 300 did a little better
    still; wear builds up over the whole life.
    """

    means: tuple[int, ...] = (5, 10, 20, 30, 60, 100, 200, 300)
    slopes: tuple[int, ...] = (10, 20, 30, 60, 100, 200, 300)
    smoothing: tuple[float, ...] = (0.1, 0.3)
    smoothing_span: int = 30
    age: bool = True

    def __post_init__(self) -> None:
        lengths = (*self.means, *self.slopes, self.smoothing_span)
        if not self.means or any(length < 1 for length in lengths):
            raise ValidationError(
                "feature windows must be whole numbers of cycles >= 1",
                path="features",
                expected="at least one mean window; every window >= 1",
                got={"means": self.means, "slopes": self.slopes, "span": self.smoothing_span},
            )
        if any(not 0 < factor < 1 for factor in self.smoothing):
            raise ValidationError(
                "smoothing factors must lie between 0 and 1",
                path="features/smoothing",
                expected="0 < a < 1",
                got=self.smoothing,
            )

    @property
    def window(self) -> int:
        """The longest history any feature looks at."""
        return max((*self.means, *self.slopes, self.smoothing_span))

    def names(self, signals: Sequence[str]) -> tuple[str, ...]:
        """Feature names, in the column order of :func:`history_features`."""
        names = [f"{signal}:last" for signal in signals]
        names += [f"{signal}:mean{w}" for w in self.means for signal in signals]
        names += [f"{signal}:slope{w}" for w in self.slopes for signal in signals]
        names += [f"{signal}:ewm{a:g}" for a in self.smoothing for signal in signals]
        return (*names, "age") if self.age else tuple(names)


def _padded_cumsum(values: Array) -> Array:
    total = np.zeros((len(values) + 1, *values.shape[1:]))
    np.cumsum(values, axis=0, out=total[1:])
    return total


def history_features(spec: FeatureSpec, signals: Array, age: Array) -> Array:
    """Features at every row of one engine's history ``signals`` (rows x signals)."""
    n = len(signals)
    rows = np.arange(n)
    index = rows.astype(np.float64)
    total = _padded_cumsum(signals)
    columns = [signals]
    for w in spec.means:
        count = np.minimum(rows + 1, w)
        columns.append((total[rows + 1] - total[rows + 1 - count]) / count[:, None])
    if spec.slopes:
        sum_u, sum_uu = _padded_cumsum(index), _padded_cumsum(index * index)
        sum_ux = _padded_cumsum(index[:, None] * signals)
    for w in spec.slopes:
        count = np.minimum(rows + 1, w)
        start, end = rows + 1 - count, rows + 1
        su, suu = sum_u[end] - sum_u[start], sum_uu[end] - sum_uu[start]
        sx, sux = total[end] - total[start], sum_ux[end] - sum_ux[start]
        denominator = count * suu - su * su
        safe = np.where(denominator > 0, denominator, 1.0)
        slope = (count[:, None] * sux - su[:, None] * sx) / safe[:, None]
        columns.append(np.where((denominator > 0)[:, None], slope, 0.0))
    for factor in spec.smoothing:
        columns.append(_smoothed(signals, 1.0 - factor, spec.smoothing_span))
    if spec.age:
        columns.append(age.reshape(n, 1).astype(np.float64))
    return np.hstack(columns)


def _smoothed(signals: Array, keep: float, span: int) -> Array:
    """Weighted means of the newest ``min(rows, span)`` values with weights ``keep ** back``."""
    from scipy.signal import lfilter  # type: ignore[import-untyped, unused-ignore]

    n = len(signals)
    rows = np.arange(n)
    running = np.asarray(lfilter([1.0], [1.0, -keep], signals, axis=0), dtype=np.float64)
    count = np.minimum(rows + 1, span)
    before = rows - count
    earlier = np.where((before >= 0)[:, None], running[np.maximum(before, 0)], 0.0)
    windowed = running - (keep**count)[:, None] * earlier
    weight = (1.0 - keep**count) / (1.0 - keep)
    result: Array = windowed / weight[:, None]
    return result


class WindowFeatures:
    """The features of the newest row of one window, as :func:`history_features` gives them.

    Every feature but the age is a weighted sum of a signal's newest values, so one matrix per
    window length maps a window to all of them in one product; the matrices are built once per
    length (a window shorter than a feature's length uses all its rows, as in training).
    """

    __slots__ = ("_matrices", "spec")

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self._matrices: dict[int, Array] = {}

    def matrix(self, rows: int) -> Array:
        """The (features per signal) x ``rows`` weights for a window of ``rows`` rows."""
        found = self._matrices.get(rows)
        if found is not None:
            return found
        spec = self.spec
        weights = np.zeros((1 + len(spec.means) + len(spec.slopes) + len(spec.smoothing), rows))
        weights[0, -1] = 1.0
        line = 1
        for w in spec.means:
            count = min(rows, w)
            weights[line, rows - count :] = 1.0 / count
            line += 1
        for w in spec.slopes:
            count = min(rows, w)
            weights[line, rows - count :] = _slope_weights(count)
            line += 1
        for factor in spec.smoothing:
            count = min(rows, spec.smoothing_span)
            weights[line, rows - count :] = _ewm_weights(1.0 - factor, count)
            line += 1
        self._matrices[rows] = weights
        return weights

    def __call__(self, signals: Array, age: float) -> Array:
        """Features of ``signals[-1]`` given the rows before it (``signals``: rows x signals)."""
        rows = min(len(signals), self.spec.window)
        features = (self.matrix(rows) @ signals[len(signals) - rows :]).ravel()
        if self.spec.age:
            return np.append(features, age)
        return features


def _slope_weights(count: int) -> Array:
    """Weights whose dot product with ``count`` values is their least-squares slope per row."""
    centred = np.arange(count, dtype=np.float64) - (count - 1) / 2.0
    spread = float(centred @ centred)
    return centred / spread if spread > 0 else np.zeros(count)


def _ewm_weights(keep: float, count: int) -> Array:
    weights = keep ** np.arange(count - 1, -1, -1, dtype=np.float64)
    result: Array = weights / weights.sum()
    return result

"""Operating regimes: sensors standardised per flight condition, constant sensors dropped.

A turbofan's sensor readings depend as much on where it flies (altitude, Mach number, throttle:
the three C-MAPSS operating settings) as on its wear. FD002/FD004 mix six flight conditions, so
raw readings jump between six levels; standardising each sensor within its regime leaves the
wear. The regimes are found by k-means on the settings (each scaled to its range); their number
is given or chosen by silhouette: six tight clusters score near 1, the noise around one
condition (FD001/FD003) scores far lower and is taken as a single regime.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from twinkit.errors import ValidationError

__all__ = ["Regimes", "detect_regimes", "fit_regimes"]

logger = logging.getLogger(__name__)

Array = npt.NDArray[np.float64]

_MIN_SILHOUETTE = 0.75
"""Below this best silhouette the settings are one condition plus noise (FD001 scores ~0.4)."""
_MAX_REGIMES = 8
_SAMPLE = 1000
_MIN_LEVELS = 3
"""A sensor with fewer distinct readings than this in every regime carries no trend."""


@dataclass(frozen=True, slots=True)
class Regimes:
    """Fitted regimes: centres in scaled settings space and per-regime sensor statistics.

    ``mean[r, j]`` and ``std[r, j]`` standardise ``sensors[j]`` in regime ``r``; ``dropped``
    lists the sensors found constant.
    """

    offset: Array
    scale: Array
    centres: Array
    mean: Array
    std: Array
    sensors: tuple[str, ...]
    dropped: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.centres)

    def assign(self, settings: Array) -> npt.NDArray[np.intp]:
        """The regime of each row of ``settings`` (nearest centre)."""
        if len(self.centres) == 1:
            return np.zeros(len(settings), dtype=np.intp)
        scaled = (settings - self.offset) / self.scale
        distance = ((scaled[:, None, :] - self.centres[None, :, :]) ** 2).sum(axis=2)
        nearest: npt.NDArray[np.intp] = np.argmin(distance, axis=1)
        return nearest

    def normalise(self, settings: Array, sensors: Array) -> Array:
        """``sensors`` (rows x :attr:`sensors`) standardised within each row's regime."""
        regime = self.assign(settings)
        result: Array = (sensors - self.mean[regime]) / self.std[regime]
        return result


def _scaling(settings: Array) -> tuple[Array, Array]:
    low = settings.min(axis=0)
    span = settings.max(axis=0) - low
    return low, np.where(span > 0, span, 1.0)


def _kmeans(
    points: Array, k: int, seed: int, starts: int = 4
) -> tuple[Array, npt.NDArray[np.intp]]:
    from sklearn.cluster import KMeans  # type: ignore[import-untyped, unused-ignore]
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped, unused-ignore]

    # A few thousand points in three dimensions: one thread is fastest, and OpenMP's spinning
    # threads cost seconds on a busy machine.
    with threadpool_limits(limits=1):
        model = KMeans(n_clusters=k, n_init=starts, random_state=seed).fit(points)
    return np.asarray(model.cluster_centers_, dtype=np.float64), np.asarray(model.labels_)


def detect_regimes(settings: Array, *, seed: int = 0) -> int:
    """How many operating regimes ``settings`` (rows x settings) hold: best silhouette, or 1."""
    from sklearn.metrics import silhouette_score  # type: ignore[import-untyped, unused-ignore]

    offset, scale = _scaling(settings)
    points = (settings - offset) / scale
    rng = np.random.default_rng(seed)
    if len(points) > _SAMPLE:
        points = points[rng.choice(len(points), _SAMPLE, replace=False)]
    distinct = len(np.unique(points, axis=0))
    best, best_score = 1, -1.0
    for k in range(2, min(_MAX_REGIMES, distinct - 1) + 1):
        _, labels = _kmeans(points, k, seed, starts=2)
        score = float(silhouette_score(points, labels))
        logger.debug("regimes: k=%d silhouette %.3f", k, score)
        if score > best_score:
            best, best_score = k, score
    chosen = best if best_score >= _MIN_SILHOUETTE else 1
    logger.info("operating regimes: %d (best silhouette %.3f at k=%d)", chosen, best_score, best)
    return chosen


def _levels(column: Array, regime: npt.NDArray[np.intp], count: int) -> int:
    """The most distinct values ``column`` takes within any one regime."""
    return max(len(np.unique(column[regime == r])) for r in range(count))


def fit_regimes(
    settings: Array,
    sensors: Array,
    names: Sequence[str],
    *,
    count: int | None = None,
    seed: int = 0,
) -> Regimes:
    """Regimes of ``settings`` and the per-regime statistics of ``sensors`` (columns ``names``).

    ``count`` fixes the number of regimes (None: :func:`detect_regimes`). Sensors showing fewer
    than three distinct readings in every regime are dropped.
    """
    if settings.ndim != 2 or sensors.ndim != 2 or len(settings) != len(sensors):
        raise ValidationError(
            "settings and sensors must be tables of the same rows",
            path="regimes",
            expected="two 2-D arrays with as many rows",
            got=(settings.shape, sensors.shape),
        )
    if sensors.shape[1] != len(names):
        raise ValidationError(
            "sensor names do not match the sensor columns",
            path="regimes",
            expected=f"{sensors.shape[1]} names",
            got=list(names),
        )
    if count is None:
        count = detect_regimes(settings, seed=seed)
    if not 1 <= count <= len(settings):
        raise ValidationError(
            "regime count out of range",
            path="regimes/count",
            expected=f"1..{len(settings)}",
            got=count,
        )
    offset, scale = _scaling(settings)
    if count == 1:
        centres = np.zeros((1, settings.shape[1]))
        regime = np.zeros(len(settings), dtype=np.intp)
    else:
        centres, regime = _kmeans((settings - offset) / scale, count, seed)
    keep = [j for j in range(len(names)) if _levels(sensors[:, j], regime, count) >= _MIN_LEVELS]
    if not keep:
        raise ValidationError(
            "every sensor is constant within its operating regime",
            path="regimes/sensors",
            expected="at least one sensor that varies",
            got=list(names),
        )
    kept = sensors[:, keep]
    mean = np.stack([kept[regime == r].mean(axis=0) for r in range(count)])
    std = np.stack([kept[regime == r].std(axis=0) for r in range(count)])
    std = np.where(std > 0, std, 1.0)
    dropped = tuple(name for j, name in enumerate(names) if j not in keep)
    logger.info("regime normalisation: %d regime(s), dropped constant sensors %s", count, dropped)
    return Regimes(offset, scale, centres, mean, std, tuple(names[j] for j in keep), dropped)

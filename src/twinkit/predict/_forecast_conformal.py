"""Prediction intervals for forecasts: split conformal, optionally adaptive.

Split conformal: absolute errors of the fitted model on held-out calibration data (data the
model did not learn from, later in time than what it learned from) are the *scores*; the
interval at level ``1 - alpha`` is the forecast plus or minus the ``ceil((n + 1)(1 - alpha))``-th
smallest of the ``n`` scores. Where calibration and later data are exchangeable this covers
the truth with probability at least ``1 - alpha``; a time series is only roughly so, which is
why coverage is measured on held-out data (:func:`~twinkit.predict.evaluate_forecaster`).

Adaptive conformal inference (Gibbs and Candès, *Adaptive conformal inference under
distribution shift*, NeurIPS 2021) follows drift: each time the truth of a past forecast
arrives, ``alpha_t`` moves by ``gamma * (alpha - miss)``, so a run of misses widens the
intervals and a run of hits narrows them, keeping the long-run miss rate at ``alpha`` even
when the errors grow or shrink after calibration.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["AdaptiveTracker", "adaptive_half_widths", "conformal_quantile", "min_calibration"]

FloatArray = npt.NDArray[np.float64]


def min_calibration(level: float) -> int:
    """The fewest scores that give a finite interval at ``level``: ``ceil(level / (1 - level))``."""
    return math.ceil(level / (1.0 - level) - 1e-9)


def conformal_quantile(scores: FloatArray, level: float) -> float:
    """The conformal half-width at ``level`` from ``scores`` sorted ascending.

    Levels the scores cannot reach (too few of them, or an adaptive level past 1) give the
    largest score; levels at or below 0 give 0.
    """
    if level <= 0.0:
        return 0.0
    rank = math.ceil((len(scores) + 1) * level - 1e-9)
    return float(scores[min(max(rank, 1), len(scores)) - 1])


def adaptive_half_widths(
    scores: FloatArray,
    level: float,
    *,
    gamma: float,
    origins: FloatArray,
    horizon: float,
    errors: FloatArray,
) -> FloatArray:
    """Half-widths of forecasts made at ``origins`` (ascending) for ``horizon`` seconds ahead,
    with adaptive conformal inference replayed as it would run live: the truth of a forecast
    (``errors[i]``, its absolute error) is used only once ``origins[i] + horizon`` has come."""
    alpha = target = 1.0 - level
    half = np.empty(len(origins))
    settled = 0
    for i, now in enumerate(origins):
        while settled < i and origins[settled] + horizon <= now:
            miss = errors[settled] > half[settled]
            alpha += gamma * (target - float(miss))
            settled += 1
        half[i] = conformal_quantile(scores, 1.0 - alpha)
    return half


@dataclass(slots=True)
class _Pending:
    due: float
    value: float
    half: float


@dataclass(slots=True)
class _Track:
    alpha: float
    last: float = -math.inf
    pending: deque[_Pending] = field(default_factory=deque)


class AdaptiveTracker:
    """Live adaptive conformal state, per twin and horizon.

    :meth:`settle` scores the forecasts whose time has come against the newest readings and
    moves each ``alpha``; :meth:`level` is the level to take the next interval at;
    :meth:`record` keeps a forecast to settle later (at most one per ``every`` seconds per
    twin and horizon, so a twin reporting every second does not adapt sixty times faster
    than one reporting every minute). Thread-safe.
    """

    def __init__(self, horizons: Sequence[float], level: float, gamma: float, every: float) -> None:
        self.horizons = tuple(horizons)
        self.target = 1.0 - level
        self.gamma = gamma
        self.every = every
        self._tracks: dict[tuple[str, float], _Track] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _track(self, twin_id: str, horizon: float) -> _Track:
        key = (twin_id, horizon)
        track = self._tracks.get(key)
        if track is None:
            track = self._tracks[key] = _Track(self.target)
        return track

    def settle(self, twin_id: str, times: FloatArray, truth: FloatArray) -> None:
        """Score pending forecasts of ``twin_id`` due by ``times[-1]`` against ``truth``
        (interpolated at the due time; forecasts whose truth is missing are dropped)."""
        newest = float(times[-1])
        with self._lock:
            for horizon in self.horizons:
                track = self._track(twin_id, horizon)
                while track.pending and track.pending[0].due <= newest:
                    done = track.pending.popleft()
                    if done.due < times[0]:
                        continue
                    actual = float(np.interp(done.due, times, truth))
                    if math.isfinite(actual):
                        miss = abs(actual - done.value) > done.half
                        track.alpha += self.gamma * (self.target - float(miss))

    def level(self, twin_id: str, horizon: float) -> float:
        with self._lock:
            return 1.0 - self._track(twin_id, horizon).alpha

    def record(
        self, twin_id: str, origin: float, horizon: float, value: float, half: float
    ) -> None:
        with self._lock:
            track = self._track(twin_id, horizon)
            if origin - track.last >= self.every:
                track.pending.append(_Pending(origin + horizon, value, half))
                track.last = origin

    def forget(self, twin_id: str) -> None:
        """Drop a twin's state (it was deleted, or its history restarted)."""
        with self._lock:
            for horizon in self.horizons:
                self._tracks.pop((twin_id, horizon), None)

"""The training pairs of a forecaster, and how they are split to calibrate its intervals.

A pair is the features at an origin ``t`` of a grid and the change of the target from ``t`` to
``t + h``. Pairs that touch a missing grid point are left out. Calibration needs errors on
pairs the model did not learn from, and in a time series neighbours are alike, so the split is
in time, with a margin:

- split conformal (one fold): the last share of each frame calibrates; no fitted pair's target
  reaches into it;
- cross-conformal (``folds`` > 1): each frame's origins are cut into that many blocks; each
  block calibrates a model fitted on the other blocks less the pairs whose target reaches into
  the block or whose features read it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from twinkit.errors import ValidationError
from twinkit.predict._forecast_conformal import min_calibration
from twinkit.predict._forecast_features import Features, Grid

__all__ = ["Folds", "Samples", "calibration_folds", "check_counts", "samples"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]
Folds = list[tuple[Mask, Mask]]
"""(fit, calibrate) masks over the pairs, one per fold."""

MIN_FIT: Final = 50
"""Fewest training pairs per horizon and fold."""
MIN_CALIBRATION: Final = 30
"""Fewest calibration pairs per horizon and fold (more if the level needs them)."""


@dataclass(frozen=True, slots=True)
class Samples:
    """Training pairs of one horizon: features ``x``, change ``y``, and for each the origin
    (grid index) and the grid size of its frame."""

    x: FloatArray
    y: FloatArray
    origin: IntArray
    size: IntArray


def samples(grids: Sequence[Grid], features: Features, reach: int, steps: int) -> Samples:
    """Every usable pair of every grid for a horizon of ``steps``, from origin ``reach`` on."""
    xs, ys, origins, sizes = [], [], [], []
    for grid in grids:
        origin = np.arange(reach, max(reach, len(grid.times) - steps), dtype=np.int64)
        x = features.matrix(grid, origin, steps)
        y = grid.values[origin + steps, 0] - grid.values[origin, 0]
        good = ~(np.isnan(x).any(axis=1) | np.isnan(y))
        xs.append(x[good])
        ys.append(y[good])
        origins.append(origin[good])
        sizes.append(np.full(int(good.sum()), len(grid.times), dtype=np.int64))
    return Samples(
        np.concatenate(xs), np.concatenate(ys), np.concatenate(origins), np.concatenate(sizes)
    )


def calibration_folds(
    pairs: Samples, *, steps: int, reach: int, folds: int, calibration: float
) -> Folds:
    """(fit, calibrate) masks over ``pairs``, one per fold (see the module's docstring)."""
    origin, size = pairs.origin, pairs.size
    if folds == 1:
        split = np.floor(size * (1.0 - calibration)).astype(np.int64)
        return [((origin + steps < split), (origin >= split))]
    span = np.maximum(size - steps - reach, 1)
    block = np.minimum((origin - reach) * folds // span, folds - 1)
    out = []
    for k in range(folds):
        held = block == k
        first = reach + (k * span + folds - 1) // folds
        end = reach + ((k + 1) * span + folds - 1) // folds
        near = (origin >= first - steps) & (origin < end + steps + reach)
        out.append((~held & ~near, held))
    return out


def check_counts(
    masks: Sequence[tuple[Mask, Mask]],
    grids: Sequence[Grid],
    *,
    where: str,
    features: Features,
    reach: int,
    steps: int,
    held_share: float,
    level: float,
) -> None:
    """A ValidationError saying how long a history is needed, when a fold has too few pairs."""
    least = max(MIN_CALIBRATION, min_calibration(level))
    fits, held = min(int(m[0].sum()) for m in masks), min(int(m[1].sum()) for m in masks)
    if fits >= MIN_FIT and held >= least:
        return
    rows = 2 * (reach + steps) + steps + max(MIN_FIT / (1.0 - held_share), least / held_share)
    longest = max(len(g.times) for g in grids) * features.step
    raise ValidationError(
        "history too short to fit and calibrate the forecaster",
        path=where,
        expected=(
            f"at least {MIN_FIT} samples to fit and {least} to calibrate per fold (a frame of "
            f"about {math.ceil(rows * features.step / 3600.0)} h without gaps longer than "
            f"{features.max_gap:g} s)"
        ),
        got=f"{fits} to fit and {held} to calibrate; the longest frame spans {longest:g} s",
    )

"""Training of the RUL ensemble: members out of fold by engine, stacking, conformal intervals.

Training engines are split into folds *by engine* (rows of one engine are never on both sides).
Each candidate member is fitted once per fold to predict the held-out engines, and once on all
engines. The out-of-fold predictions choose the members' weights (non-negative least squares:
a member that does not help gets weight 0 and is left out) and calibrate the interval: split
conformal by engine, with residual quantiles taken per band of predicted RUL (an engine near
failure is known to a few cycles, a healthy one to tens).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from twinkit.errors import ValidationError
from twinkit.predict._protocol import Progress

__all__ = ["MEMBERS", "IntervalTable", "engine_folds", "fit_members", "stack_weights"]

logger = logging.getLogger(__name__)

Array = npt.NDArray[np.float64]
Index = npt.NDArray[np.intp]


def _boosting(seed: int, size: int, leaves: int = 15, share: float | None = 0.5) -> Any:
    from sklearn.ensemble import (  # type: ignore[import-untyped, unused-ignore]
        HistGradientBoostingRegressor,
    )

    return HistGradientBoostingRegressor(
        max_iter=size,
        learning_rate=0.05,
        max_leaf_nodes=leaves,
        min_samples_leaf=40,
        l2_regularization=1.0,
        max_features=1.0 if share is None else share,
        early_stopping=False,
        random_state=seed,
    )


def _small_boosting(seed: int, size: int) -> Any:
    return _boosting(seed, 2 * size, leaves=7, share=None)


def _extra_trees(seed: int, size: int) -> Any:
    from sklearn.ensemble import ExtraTreesRegressor  # type: ignore[import-untyped, unused-ignore]

    return ExtraTreesRegressor(
        n_estimators=max(size // 2, 10),
        min_samples_leaf=10,
        max_features=0.3,
        random_state=seed,
        n_jobs=1,
    )


def _ridge(seed: int, size: int) -> Any:
    from sklearn.linear_model import Ridge  # type: ignore[import-untyped, unused-ignore]
    from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped, unused-ignore]
    from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped, unused-ignore]

    return make_pipeline(StandardScaler(), Ridge(alpha=10.0))


MEMBERS: Mapping[str, Callable[[int, int], Any]] = {
    "boosting": _boosting,
    "small_boosting": _small_boosting,
    "extra_trees": _extra_trees,
    "ridge": _ridge,
}
"""Candidate members by name: a factory of an unfitted regressor from (seed, size), where size
is the number of boosting rounds. ``boosting``: trees of 15 leaves, each split choosing among
half the features; ``small_boosting``: 7 leaves, twice the rounds; ``extra_trees``: half as
many fully grown randomised trees (slower to train and to answer; off by default); ``ridge``:
linear. Chosen by out-of-fold RMSE over the training engines of FD001 and FD003 (smaller trees
did better than 31 or 63 leaves; FD003 preferred 7, FD001 15: both are offered and the
stacking weighs them per data set)."""


def engine_folds(engines: int, folds: int, seed: int) -> Index:
    """The fold of each engine: a seeded shuffle dealt round-robin (fold sizes differ by <= 1)."""
    if not 2 <= folds <= engines:
        raise ValidationError(
            "cannot split the training engines into folds",
            path="rul training/folds",
            expected=f"2 <= folds <= {engines} (the number of training engines)",
            got=folds,
        )
    order = np.random.default_rng(seed).permutation(engines)
    fold = np.empty(engines, dtype=np.intp)
    fold[order] = np.arange(engines) % folds
    return fold


def fit_members(
    names: tuple[str, ...],
    features: Array,
    target: Array,
    row_fold: Index,
    *,
    seed: int,
    size: int,
    threads: int,
    progress: Progress | None,
) -> tuple[dict[str, Any], Array]:
    """Each member fitted on all rows, and its out-of-fold predictions (rows x members);
    ``progress`` hears the share of fits done.

    ``threads`` caps the OpenMP/BLAS threads of the fits: scikit-learn's gradient boosting
    spins its threads at every barrier, and on a machine busy with other work two threads were
    measured 20 times slower than one.
    """
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped, unused-ignore]

    for name in names:  # import the members' modules first: a limit reaches loaded libraries only
        MEMBERS[name](seed, size)
    with threadpool_limits(limits=threads):
        return _fit_members(
            names, features, target, row_fold, seed=seed, size=size, progress=progress
        )


def _fit_members(
    names: tuple[str, ...],
    features: Array,
    target: Array,
    row_fold: Index,
    *,
    seed: int,
    size: int,
    progress: Progress | None,
) -> tuple[dict[str, Any], Array]:
    folds = int(row_fold.max()) + 1
    fits, done = len(names) * (folds + 1), 0
    out_of_fold = np.empty((len(target), len(names)))
    fitted: dict[str, Any] = {}
    for column, name in enumerate(names):
        make = MEMBERS[name]
        for fold in range(folds):
            held = row_fold == fold
            model = make(seed, size).fit(features[~held], target[~held])
            out_of_fold[held, column] = model.predict(features[held])
            done += 1
            if progress is not None:
                progress(done / fits)
        fitted[name] = make(seed, size).fit(features, target)
        done += 1
        if progress is not None:
            progress(done / fits)
        logger.info(
            "rul member %s: out-of-fold RMSE %.2f",
            name,
            math.sqrt(float(np.mean((out_of_fold[:, column] - target) ** 2))),
        )
    return fitted, out_of_fold


def stack_weights(predictions: Array, target: Array) -> Array:
    """Non-negative weights of the members' predictions (rows x members) that best fit
    ``target`` in least squares, normalised to sum to 1."""
    from scipy.optimize import nnls  # type: ignore[import-untyped, unused-ignore]

    weights, _ = nnls(predictions, target)
    total = float(weights.sum())
    if total <= 0:
        return np.full(predictions.shape[1], 1.0 / predictions.shape[1])
    result: Array = weights / total
    return result


@dataclass(frozen=True, slots=True)
class IntervalTable:
    """Conformal offsets per band of predicted RUL: the interval of a prediction ``p`` in band
    ``b`` is ``[p + lower[b], p + upper[b]]`` clipped to ``[0, cap]``.

    ``edges`` are the inner band boundaries (predicted RUL); ``level`` the nominal coverage.
    """

    edges: Array
    lower: Array
    upper: Array
    level: float
    cap: float

    @classmethod
    def calibrate(
        cls, predicted: Array, target: Array, groups: Index, *, level: float, bands: int, cap: float
    ) -> IntervalTable:
        """Offsets from held-out residuals ``target - predicted``; ``groups`` names each row's
        engine, and the finite-sample correction counts engines, not rows (rows of one engine
        are not independent)."""
        edges = np.unique(np.quantile(predicted, np.linspace(0, 1, bands + 1)[1:-1]))
        band = np.searchsorted(edges, predicted, side="right")
        residual = target - predicted
        tail = (1.0 - level) / 2.0
        lower, upper = [], []
        for b in range(len(edges) + 1):
            inside = band == b
            if not inside.any():  # interpolated edges can leave a band empty: use them all
                inside = np.ones(len(band), dtype=bool)
            engines = max(len(np.unique(groups[inside])), 1)
            widen = min(1.0, math.ceil((engines + 1) * (1 - tail)) / engines)
            lower.append(float(np.quantile(residual[inside], 1.0 - widen)))
            upper.append(float(np.quantile(residual[inside], widen)))
        return cls(edges, np.array(lower), np.array(upper), level, cap)

    def interval(self, predicted: float) -> tuple[float, float]:
        band = int(np.searchsorted(self.edges, predicted, side="right"))
        low = min(max(predicted + float(self.lower[band]), 0.0), predicted)
        high = max(min(predicted + float(self.upper[band]), self.cap), predicted)
        return low, high

    def intervals(self, predicted: Array) -> tuple[Array, Array]:
        band = np.searchsorted(self.edges, predicted, side="right")
        low = np.minimum(np.clip(predicted + self.lower[band], 0.0, None), predicted)
        high = np.maximum(np.clip(predicted + self.upper[band], None, self.cap), predicted)
        return low, high

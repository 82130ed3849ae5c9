"""Detectors that reconstruct the present from normal memory: MSET-style similarity, autoencoder.

Both estimate what the inputs *should* read now given normal behaviour and score the
residuals (measured - estimated), input by input, so an alarm names the sensors that left the
normal pattern:

- :class:`SimilarityDetector`, after the Multivariate State Estimation Technique (MSET): the
  estimate is a kernel-weighted mix of the most similar states kept from normal operation;
- :class:`AutoencoderDetector`: a small neural network (scikit-learn's MLPRegressor) trained to
  reproduce windows of normal rows through a narrow middle layer.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from twinkit.errors import ValidationError
from twinkit.predict._detect import Array, Features, FittedDetector, _check_int, _shift
from twinkit.predict._detect_multi import sklearn_module
from twinkit.predict._protocol import Progress

__all__ = ["AutoencoderDetector", "SimilarityDetector"]


def _normalised(residual: Array, spread: Array) -> tuple[Array, Array]:
    terms = (residual / spread) ** 2
    return terms.sum(axis=1) / residual.shape[1], terms / residual.shape[1]


class SimilarityDetector(FittedDetector):
    """MSET-like state estimation: each row is rebuilt from its ``neighbours`` nearest normal states.

    The memory holds the training feature rows (evenly thinned to ``memory`` rows). A row's
    estimate is the mean of its nearest memory states weighted by a Gaussian kernel whose width
    is the typical distance between normal neighbours; the score is the mean squared residual
    per input in units of the training residuals. Training residuals leave out each row's own
    neighbourhood in time (rows closer than the feature span), so the threshold reflects how
    well *unseen* normal rows are rebuilt.
    """

    def __init__(
        self,
        inputs: Sequence[str],
        *,
        neighbours: int = 10,
        memory: int = 5000,
        smooth: int = 5,
        slow: Sequence[str] = (),
        rate_lag: int = 30,
        quantile: float = 1.0,
        margin: float = 1.0,
    ) -> None:
        features = Features(tuple(inputs), smooth, "mean", tuple(slow), rate_lag)
        super().__init__(features, quantile=quantile, margin=margin)
        _check_int(neighbours, "neighbours", 1)
        _check_int(memory, "memory", 2 * neighbours)
        self.neighbours = neighbours
        self.memory = memory
        self._states: Array | None = None
        self._index: Any = None
        self._width = 1.0
        self._spread: Array | None = None

    def _fit_model(self, units: list[Array], progress: Progress) -> tuple[Array, dict[str, float]]:
        z = np.concatenate(units)
        unit = np.concatenate([np.full(len(u), i) for i, u in enumerate(units)])
        position = np.concatenate([np.arange(len(u)) for u in units])
        keep = np.unique(np.linspace(0, len(z) - 1, min(self.memory, len(z))).astype(int))
        self._states = z[keep]
        self._index = sklearn_module("neighbors").NearestNeighbors().fit(self._states)
        progress(0.3)
        # Neighbours of a training row, its own stretch of time left out.
        gap = self.features.rows
        wanted = min(len(keep), self.neighbours + 2 * gap + 1)
        distances, found = self._index.kneighbors(z, n_neighbors=wanted)
        near = (unit[keep][found] == unit[:, None]) & (
            np.abs(position[keep][found] - position[:, None]) <= gap
        )
        if near.all(axis=1).any():
            raise ValidationError(
                "too little history for similarity estimation",
                path=f"{type(self).__name__}.fit",
                expected=f"more than {2 * gap + 1} rows apart from each other in time",
                got=f"{len(z)} rows",
            )
        order = np.argsort(near, axis=1, kind="stable")[:, : self.neighbours]
        distances = np.take_along_axis(np.where(near, np.inf, distances), order, axis=1)
        found = np.take_along_axis(found, order, axis=1)
        nearest = distances[:, 0]
        self._width = max(float(np.median(nearest[np.isfinite(nearest)])), 1e-9)
        residual = z - self._estimate(distances, found)
        self._spread = np.maximum(np.sqrt((residual**2).mean(axis=0)), 1e-9)
        progress(0.9)
        scores, _ = _normalised(residual, self._spread)
        return scores, {"memory": float(len(keep)), "kernel_width": self._width}

    def _estimate(self, distances: Array, found: Array) -> Array:
        assert self._states is not None
        # Kernel weights relative to the nearest state: the same ratios, and no underflow far
        # from every normal state.
        squared = np.where(np.isfinite(distances), distances**2, np.inf)
        weights = np.exp(-(squared - squared[:, :1]) / self._width**2)
        weights /= weights.sum(axis=1, keepdims=True)
        return np.asarray(np.einsum("rk,rkf->rf", weights, self._states[found]), dtype=np.float64)

    def _score_rows(self, z: Array) -> tuple[Array, Array | None]:
        assert self._states is not None and self._spread is not None
        distances, found = self._index.kneighbors(
            z, n_neighbors=min(self.neighbours, len(self._states))
        )
        return _normalised(z - self._estimate(distances, found), self._spread)


class AutoencoderDetector(FittedDetector):
    """An MLP autoencoder over windows of ``lags`` consecutive feature rows (the newest last).

    The network (``hidden`` layer sizes, the middle one narrow) learns to reproduce normal
    windows; the score is the mean squared reconstruction error per feature in units of its
    training error. Training runs ``epochs`` passes of Adam (fewer when the loss stops
    improving) and reports progress per pass; ``seed`` fixes the weights and the shuffling.
    """

    def __init__(
        self,
        inputs: Sequence[str],
        *,
        lags: int = 5,
        hidden: Sequence[int] = (16, 4, 16),
        epochs: int = 300,
        seed: int = 0,
        smooth: int = 5,
        slow: Sequence[str] = (),
        rate_lag: int = 30,
        quantile: float = 1.0,
        margin: float = 1.0,
    ) -> None:
        features = Features(tuple(inputs), smooth, "mean", tuple(slow), rate_lag)
        super().__init__(features, quantile=quantile, margin=margin)
        _check_int(lags, "lags", 1)
        _check_int(epochs, "epochs", 1)
        if not hidden or any(
            isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden
        ):
            raise ValidationError(
                "hidden layer sizes must be positive whole numbers",
                path="hidden",
                expected="e.g. (16, 4, 16)",
                got=list(hidden),
            )
        self._lags = lags
        self.hidden = tuple(hidden)
        self.epochs = epochs
        self.seed = seed
        self._network: Any = None
        self._spread: Array | None = None

    def _rows(self, z: Array) -> Array:
        """Each row with the ``lags - 1`` rows before it: oldest block first, newest last."""
        return np.hstack([_shift(z, lag) for lag in range(self._lags - 1, -1, -1)])

    def _fit_model(self, units: list[Array], progress: Progress) -> tuple[Array, dict[str, float]]:
        x = np.concatenate(units)
        network = sklearn_module("neural_network").MLPRegressor(
            hidden_layer_sizes=self.hidden,
            alpha=1e-3,
            batch_size=min(64, len(x)),
            learning_rate_init=1e-3,
            random_state=self.seed,
        )
        best, stale, epoch = np.inf, 0, 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # partial_fit warns about convergence by design
            for epoch in range(1, self.epochs + 1):
                network.partial_fit(x, x)
                loss = float(network.loss_)
                stale = 0 if loss < best * (1 - 1e-3) else stale + 1
                best = min(best, loss)
                progress(epoch / self.epochs)
                if stale >= 20:
                    break
        self._network = network
        error = x - network.predict(x)
        self._spread = np.maximum(np.sqrt((error**2).mean(axis=0)), 1e-9)
        scores, _ = _normalised(error, self._spread)
        return scores, {"epochs": float(epoch), "loss": best}

    def _score_rows(self, rows: Array) -> tuple[Array, Array | None]:
        assert self._spread is not None
        return _normalised(rows - self._network.predict(rows), self._spread)

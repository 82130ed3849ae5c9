"""Multivariate detectors: PCA with Hotelling's T² and SPE (Q), and an isolation forest.

Both look at all inputs together, so they notice a combination that never occurs in normal
operation (a current too high *for that flow*) even when every input alone is in range.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from twinkit.errors import ValidationError
from twinkit.predict._detect import Array, Features, FittedDetector
from twinkit.predict._protocol import Progress

__all__ = ["IsolationForestDetector", "PcaDetector", "sklearn_module"]


def sklearn_module(name: str) -> ModuleType:
    """Import ``sklearn.<name>``, saying which extra installs it when it is missing."""
    try:
        return importlib.import_module(f"sklearn.{name}")
    except ImportError as err:
        raise ImportError(
            f"scikit-learn is needed for this detector: pip install 'twinkit[ml]' ({err})"
        ) from err


class PcaDetector(FittedDetector):
    """PCA of normal data; Hotelling's T² inside the model plane and SPE (Q) off it.

    T² (the Mahalanobis distance within the ``variance`` fraction of retained components)
    catches unusual *levels* along normal directions; SPE (the squared distance to the plane)
    catches broken *relationships* between inputs. Each has a limit at the ``quantile`` of its
    training values; the score is the larger of ``T²/limit`` and ``SPE/limit``, and the
    contributions split that statistic among the inputs (they add up to the score).
    """

    def __init__(
        self,
        inputs: Sequence[str],
        *,
        variance: float = 0.9,
        smooth: int = 5,
        slow: Sequence[str] = (),
        rate_lag: int = 30,
        quantile: float = 1.0,
        margin: float = 1.0,
    ) -> None:
        if not 0 < variance <= 1:
            raise ValidationError(
                "retained variance out of range",
                path="variance",
                expected="0 < variance <= 1",
                got=variance,
            )
        features = Features(tuple(inputs), smooth, "mean", tuple(slow), rate_lag)
        super().__init__(features, quantile=quantile, margin=margin)
        self.variance = variance
        self._loadings: Array | None = None  # (features, components)
        self._eigenvalues: Array | None = None
        self._limits = (1.0, 1.0)

    def _fit_model(self, units: list[Array], progress: Progress) -> tuple[Array, dict[str, float]]:
        z = np.concatenate(units)
        covariance = z.T @ z / max(len(z) - 1, 1)
        eigenvalues, vectors = np.linalg.eigh(covariance)
        order = np.argsort(eigenvalues)[::-1]
        eigenvalues, vectors = np.maximum(eigenvalues[order], 0.0), vectors[:, order]
        explained = np.cumsum(eigenvalues) / max(float(eigenvalues.sum()), 1e-300)
        keep = int(np.searchsorted(explained, self.variance - 1e-12) + 1)
        keep = max(1, min(keep, len(eigenvalues) - 1 if len(eigenvalues) > 1 else 1))
        self._loadings = vectors[:, :keep]
        self._eigenvalues = np.maximum(eigenvalues[:keep], 1e-12 * max(eigenvalues[0], 1e-300))
        progress(0.5)
        t2, spe = self._statistics(z)
        self._limits = (
            max(float(np.quantile(t2, self.quantile)), 1e-12),
            max(float(np.quantile(spe, self.quantile)), 1e-12),
        )
        scores, _ = self._score_rows(z)
        return scores, {
            "components": float(keep),
            "explained_variance": float(explained[keep - 1]),
            "t2_limit": self._limits[0],
            "spe_limit": self._limits[1],
        }

    def _statistics(self, z: Array) -> tuple[Array, Array]:
        assert self._loadings is not None and self._eigenvalues is not None
        scores = z @ self._loadings
        t2 = (scores**2 / self._eigenvalues).sum(axis=1)
        residual = z - scores @ self._loadings.T
        return t2, (residual**2).sum(axis=1)

    def _score_rows(self, z: Array) -> tuple[Array, Array | None]:
        assert self._loadings is not None and self._eigenvalues is not None
        projected = z @ self._loadings
        # T² = z · (P Λ⁻¹ Pᵀ z): its terms z_j (P Λ⁻¹ Pᵀ z)_j are the inputs' shares.
        t2_terms = z * ((projected / self._eigenvalues) @ self._loadings.T) / self._limits[0]
        spe_terms = (z - projected @ self._loadings.T) ** 2 / self._limits[1]
        t2, spe = t2_terms.sum(axis=1), spe_terms.sum(axis=1)
        worse = (t2 >= spe)[:, None]
        return np.maximum(t2, spe), np.where(worse, t2_terms, spe_terms)


class IsolationForestDetector(FittedDetector):
    """scikit-learn's isolation forest on the (smoothed, standardised) inputs.

    The score is the negated ``score_samples`` (higher is more anomalous: rows isolated by
    fewer random splits). Trees give no per-input contributions. ``seed`` fixes the forest.
    """

    def __init__(
        self,
        inputs: Sequence[str],
        *,
        trees: int = 100,
        seed: int = 0,
        smooth: int = 1,
        slow: Sequence[str] = (),
        rate_lag: int = 30,
        quantile: float = 1.0,
        margin: float = 1.0,
    ) -> None:
        features = Features(tuple(inputs), smooth, "mean", tuple(slow), rate_lag)
        super().__init__(features, quantile=quantile, margin=margin)
        if isinstance(trees, bool) or not isinstance(trees, int) or trees < 1:
            raise ValidationError(
                "an isolation forest needs trees", path="trees", expected=">= 1", got=trees
            )
        self.trees = trees
        self.seed = seed
        self._forest: Any = None

    def _fit_model(self, units: list[Array], progress: Progress) -> tuple[Array, dict[str, float]]:
        ensemble = sklearn_module("ensemble")
        z = np.concatenate(units)
        self._forest = ensemble.IsolationForest(
            n_estimators=self.trees, random_state=self.seed, n_jobs=1
        ).fit(z)
        progress(0.8)
        scores, _ = self._score_rows(z)
        return scores, {"trees": float(self.trees)}

    def _score_rows(self, z: Array) -> tuple[Array, Array | None]:
        return -np.asarray(self._forest.score_samples(z), dtype=np.float64), None

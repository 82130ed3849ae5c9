"""Detectors combined: the geometric mean of how far each member is above its own threshold.

Members that see a fault in different ways (PCA's broken correlations, a similarity model's
unfamiliar state, an EWMA chart's persistent shift) rarely raise the same false alarm, so
requiring them to agree *on average* - the geometric mean of ``score / threshold`` above one -
cuts false alarms more than it delays true ones. Each member keeps its threshold from the
training data, so the combination's threshold does too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from twinkit.errors import ValidationError
from twinkit.predict._detect import Array, BatchDetector
from twinkit.predict._detect_learned import SimilarityDetector
from twinkit.predict._detect_multi import PcaDetector
from twinkit.predict._detect_stats import EwmaDetector
from twinkit.predict._protocol import AnomalyScore, Progress, TrainingSet, Window

__all__ = ["EnsembleDetector", "default_detector"]

_FLOOR = 1e-12  # a member scoring zero makes the mean small, not minus infinity


class EnsembleDetector:
    """Members scored together: ``exp(mean(log(score_i / threshold_i)))`` against ``margin``.

    The inputs are the union of the members' (in order of first use); a window must carry them
    all and hold :attr:`window` rows (the longest member's need). Contributions are the
    members' per-input shares of their scores, averaged and scaled to the combined score.
    """

    def __init__(self, members: Sequence[BatchDetector], *, margin: float = 1.0) -> None:
        if not members or not all(isinstance(m, BatchDetector) for m in members):
            raise ValidationError(
                "an ensemble needs detectors that score frames",
                path="members",
                expected="a non-empty sequence of BatchDetector objects",
                got=[type(m).__name__ for m in members],
            )
        if not margin > 0 or not math.isfinite(margin):
            raise ValidationError(
                "ensemble margin must be positive", path="margin", expected="> 0", got=margin
            )
        self.members = tuple(members)
        self.margin = margin
        self._fitted = False

    @property
    def inputs(self) -> Sequence[str]:
        return tuple(dict.fromkeys(name for m in self.members for name in m.inputs))

    @property
    def window(self) -> int:
        return max(m.window for m in self.members)

    @property
    def threshold(self) -> float:
        """``margin`` once fitted; infinite before."""
        return self.margin if self._fitted else math.inf

    def _check_fitted(self) -> None:
        if not self._fitted:
            raise ValidationError(
                "EnsembleDetector is not fitted",
                path="EnsembleDetector",
                expected="fit(history) on normal data before scoring",
            )

    @property
    def fitted(self) -> bool:
        return self._fitted

    def fit(self, history: TrainingSet, *, progress: Progress | None = None) -> Mapping[str, float]:
        """Fit every member on ``history``; their metrics come back prefixed ``member<i>.``."""
        self._fitted = False
        metrics: dict[str, float] = {}
        count = len(self.members)
        for i, member in enumerate(self.members):

            def part(fraction: float, i: int = i) -> None:
                if progress is not None:
                    progress((i + fraction) / count)

            for key, value in member.fit(history, progress=part).items():
                metrics[f"member{i}.{key}"] = value
        self._fitted = True
        metrics["threshold"] = self.margin
        return metrics

    def _combine(self, ratios: Array) -> Array:
        return np.asarray(np.exp(np.log(np.maximum(ratios, _FLOOR)).mean(axis=0)), dtype=np.float64)

    def score_frame(self, frame: pd.DataFrame) -> Array:
        """Combined scores of every row of ``frame``."""
        self._check_fitted()
        ratios = np.array([m.score_frame(frame) / m.threshold for m in self.members])
        return self._combine(ratios)

    def score(self, window: Window) -> AnomalyScore:
        """Combined score of the newest row of ``window``, with per-input contributions."""
        self._check_fitted()
        return self._combined([m.score(window) for m in self.members])

    def score_many(self, windows: Sequence[Window]) -> list[AnomalyScore]:
        """:meth:`score` of each window, every member called once for them all."""
        self._check_fitted()
        answers = []
        for member in self.members:
            many = getattr(member, "score_many", None)
            answers.append(many(windows) if many else [member.score(w) for w in windows])
        return [self._combined(list(parts)) for parts in zip(*answers, strict=True)]

    def _combined(self, parts: list[AnomalyScore]) -> AnomalyScore:
        ratios = np.array([[p.score / p.threshold] for p in parts])
        combined = float(self._combine(ratios)[0])
        shares: dict[str, float] = {}
        counted = 0
        for part in parts:
            total = sum(part.contributions.values()) if part.contributions else 0.0
            if not part.contributions or total <= 0:
                continue
            counted += 1
            for name, value in part.contributions.items():
                shares[name] = shares.get(name, 0.0) + value / total
        contributions = (
            {name: combined * share / counted for name, share in shares.items()}
            if counted
            else None
        )
        return AnomalyScore(combined, self.margin, contributions)


def default_detector(inputs: Sequence[str], *, slow: Sequence[str] = ()) -> EnsembleDetector:
    """twinkit's chosen anomaly detector for a machine's telemetry (the SKAB benchmark's best).

    PCA T²/SPE and MSET-like similarity over 15-row means and an EWMA chart, combined by
    :class:`EnsembleDetector`; each member's smoothing and margin are those that did best for it
    alone on SKAB's valve1 runs (the other 18 runs held out). Name thermal states (motor and
    fluid temperatures) in ``slow``: they are judged by their rate of change, which a short
    stretch of normal history bounds, rather than their level, which it does not.
    """
    return EnsembleDetector(
        [
            PcaDetector(inputs, smooth=15, margin=2.0, slow=slow),
            SimilarityDetector(inputs, smooth=15, margin=1.5, slow=slow),
            EwmaDetector(inputs, span=30, margin=1.5, slow=slow),
        ]
    )

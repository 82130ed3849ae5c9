"""What a learned model is to twinkit: a :class:`Predictor` or a :class:`Detector`.

Both are trained on history (a sequence of frames: one per twin, run or engine, indexed by time,
one column per telemetry or property) and then fed live *windows*: the newest ``window`` rows of
the ``inputs`` a model declares, as numpy arrays (a DataFrame per update would cost more than the
model). A predictor answers :class:`Prediction` objects, each with its uncertainty (an interval
and its nominal coverage); a detector answers an :class:`AnomalyScore` against its threshold.

Predictions and scores go onto the twin as derived values (series ``predicted:<name>``,
``predicted:<name>_lower`` / ``_upper``, ``predicted:anomaly_score``), never mixed with what the
device reported, and as ``PredictionMade`` events.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeAlias, runtime_checkable

import numpy as np
import numpy.typing as npt
import pandas as pd

from twinkit.errors import ValidationError

__all__ = [
    "AnomalyScore",
    "Detector",
    "Prediction",
    "Predictor",
    "Progress",
    "TrainingSet",
    "Window",
]

TrainingSet: TypeAlias = Sequence[pd.DataFrame]
"""History to learn from: one frame per unit (twin, run, engine), indexed by time."""
Progress: TypeAlias = Callable[[float], None]
"""Called with the fraction of training done (0..1)."""


@dataclass(frozen=True, slots=True)
class Window:
    """The newest rows of one twin's inputs: ``values[i, j]`` is ``columns[j]`` at ``times[i]``."""

    twin_id: str
    times: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]
    columns: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape != (len(self.times), len(self.columns)):
            raise ValidationError(
                "window values do not match its times and columns",
                path=f"window of {self.twin_id}",
                expected=f"an array of shape ({len(self.times)}, {len(self.columns)})",
                got=self.values.shape,
            )

    def frame(self) -> pd.DataFrame:
        """The window as a DataFrame indexed by time (for models that want one)."""
        return pd.DataFrame(
            self.values, index=pd.Index(self.times, name="time"), columns=self.columns
        )

    @classmethod
    def of(cls, twin_id: str, frame: pd.DataFrame) -> Window:
        """A window from a time-indexed frame (tests, offline evaluation)."""
        return cls(
            twin_id,
            np.asarray(frame.index, dtype=np.float64),
            frame.to_numpy(dtype=np.float64),
            tuple(str(c) for c in frame.columns),
        )


@dataclass(frozen=True, slots=True)
class Prediction:
    """One predicted value with its interval: ``lower <= value <= upper`` at ``level`` coverage.

    ``horizon`` is how far ahead (seconds) a forecast looks; None for a present-time estimate
    such as a remaining useful life (whose unit is the predictor's, e.g. cycles).
    """

    name: str
    value: float
    lower: float | None = None
    upper: float | None = None
    level: float | None = None
    horizon: float | None = None

    def __post_init__(self) -> None:
        for what, number in (("value", self.value), ("lower", self.lower), ("upper", self.upper)):
            if number is not None and not math.isfinite(number):
                raise ValidationError(
                    f"prediction {what} is not finite",
                    path=f"prediction {self.name}/{what}",
                    expected="a finite number",
                    got=number,
                )
        if self.level is not None and not 0 < self.level < 1:
            raise ValidationError(
                "interval level must be a coverage between 0 and 1",
                path=f"prediction {self.name}/level",
                expected="0 < level < 1, e.g. 0.9",
                got=self.level,
            )


@dataclass(frozen=True, slots=True)
class AnomalyScore:
    """How unusual a window is: ``anomalous`` when ``score`` exceeds ``threshold``.

    ``contributions`` (optional) says how much each input added to the score, so an alert can
    name the sensor that moved.
    """

    score: float
    threshold: float
    contributions: Mapping[str, float] | None = None

    @property
    def anomalous(self) -> bool:
        return self.score > self.threshold


@runtime_checkable
class Predictor(Protocol):
    """A model that estimates or forecasts values of a twin from a window of its inputs.

    A model that can answer from fewer rows than :attr:`window` (a young engine's remaining
    life) may also have an ``int`` attribute ``min_history``: the live runner then predicts
    once that many rows came, on the rows it has.
    """

    @property
    def inputs(self) -> Sequence[str]:
        """The telemetry and property names a window must have, in column order."""
        ...

    @property
    def window(self) -> int:
        """How many newest rows one prediction needs (1: the latest values only)."""
        ...

    def fit(self, history: TrainingSet, *, progress: Progress | None = None) -> Mapping[str, float]:
        """Learn from ``history``; return training metrics (names to numbers)."""
        ...

    def predict(self, window: Window) -> Sequence[Prediction]:
        """Predictions for the newest row of ``window``; a model not fitted raises ValidationError."""
        ...


@runtime_checkable
class Detector(Protocol):
    """A model of normal behaviour that scores how anomalous a window is."""

    @property
    def inputs(self) -> Sequence[str]: ...

    @property
    def window(self) -> int: ...

    def fit(self, history: TrainingSet, *, progress: Progress | None = None) -> Mapping[str, float]:
        """Learn normal behaviour (and the threshold) from ``history``; return metrics."""
        ...

    def score(self, window: Window) -> AnomalyScore: ...

"""Small real models for the prediction framework's tests, and a pump to serve them on.

Module level (importable by name), so their pickled artifacts load again: a z-score detector
with a batch method, a linear-trend forecaster with an interval from its training residuals,
an echo predictor (the newest value, for limits), and a detector that fails on one value.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from twinkit.core import Reading, Runtime
from twinkit.errors import ValidationError
from twinkit.predict._protocol import AnomalyScore, Prediction, Progress, Window

PUMP = "dtmi:test:predict:Pump;1"
BIG_PUMP = "dtmi:test:predict:BigPump;1"
MODELS: list[dict[str, Any]] = [
    {
        "@context": "dtmi:dtdl:context;3",
        "@id": PUMP,
        "@type": "Interface",
        "contents": [
            {"@type": "Telemetry", "name": "temp", "schema": "double"},
            {"@type": "Telemetry", "name": "flow", "schema": "double"},
            {"@type": "Telemetry", "name": "running", "schema": "boolean"},
            {"@type": "Property", "name": "speed", "schema": "double", "writable": True},
            {"@type": "Property", "name": "label", "schema": "string"},
            {"@type": "Command", "name": "stop"},
        ],
    },
    {
        "@context": "dtmi:dtdl:context;3",
        "@id": BIG_PUMP,
        "@type": "Interface",
        "extends": PUMP,
        "contents": [{"@type": "Telemetry", "name": "power", "schema": "double"}],
    },
]


async def pumps(runtime: Runtime, *ids: str, model: str = PUMP) -> None:
    """The models (once) and a twin of ``model`` per id."""
    if PUMP not in runtime.models:
        await runtime.add_models(MODELS)
    await runtime.create_twins([(twin_id, model, None) for twin_id in ids], cause="test")


async def send(runtime: Runtime, twin_id: str, time: float, **values: Any) -> None:
    """One device message of telemetry ``values`` at ``time``; fails the test if refused."""
    (result,) = await runtime.ingest([[Reading(twin_id, values, time)]], cause="connector:test")
    assert result is None, result


def _not_fitted(model: object) -> ValidationError:
    return ValidationError(
        f"{type(model).__name__} is not fitted",
        path=type(model).__name__,
        expected="fit() first",
        got="an unfitted model",
    )


class ZScoreDetector:
    """Flags a row more than ``k`` training standard deviations from the training mean."""

    def __init__(self, inputs: Sequence[str] = ("temp",), window: int = 1, k: float = 4.0):
        self._inputs = tuple(inputs)
        self._window = window
        self.k = k
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    @property
    def inputs(self) -> Sequence[str]:
        return self._inputs

    @property
    def window(self) -> int:
        return self._window

    def fit(
        self, history: Sequence[pd.DataFrame], *, progress: Progress | None = None
    ) -> Mapping[str, float]:
        if not history:
            raise ValidationError("no history", path="history", expected="frames", got=0)
        parts = []
        for index, frame in enumerate(history):
            parts.append(frame[list(self._inputs)].to_numpy(dtype=float))
            if progress is not None:
                progress((index + 1) / len(history))
        rows = np.concatenate(parts)
        self.mean = rows.mean(axis=0)
        self.std = np.maximum(rows.std(axis=0), 1e-9)
        return {"rows": float(len(rows)), "std_" + self._inputs[0]: float(self.std[0])}

    def score(self, window: Window) -> AnomalyScore:
        if self.mean is None or self.std is None:
            raise _not_fitted(self)
        z = (window.values[-1] - self.mean) / self.std
        contributions = dict(zip(self._inputs, z.tolist(), strict=True))
        return AnomalyScore(float(np.abs(z).max()), self.k, contributions)

    batch_sizes: list[int] = []  # noqa: RUF012  (every score_many call, to see batching)

    def score_many(self, windows: Sequence[Window]) -> list[AnomalyScore]:
        ZScoreDetector.batch_sizes.append(len(windows))
        return [self.score(window) for window in windows]


class TrendPredictor:
    """Forecasts ``target`` ``horizon`` seconds ahead by the least-squares line through the
    window; the interval is the ``level`` quantile of the absolute training errors."""

    def __init__(
        self, target: str = "temp", window: int = 5, horizon: float = 10.0, level: float = 0.9
    ) -> None:
        self.target = target
        self._window = window
        self.horizon = horizon
        self.level = level
        self.half_width: float | None = None

    @property
    def inputs(self) -> Sequence[str]:
        return (self.target,)

    @property
    def window(self) -> int:
        return self._window

    def _line(self, times: np.ndarray, values: np.ndarray) -> float:
        slope, intercept = np.polyfit(times - times[-1], values, 1)
        return float(intercept + slope * self.horizon)

    def fit(
        self, history: Sequence[pd.DataFrame], *, progress: Progress | None = None
    ) -> Mapping[str, float]:
        errors = []
        for frame in history:
            times = np.asarray(frame.index, dtype=float)
            values = frame[self.target].to_numpy(dtype=float)
            for end in range(self._window, len(times) + 1):
                ahead = np.searchsorted(times, times[end - 1] + self.horizon)
                if ahead < len(times) and times[ahead] == times[end - 1] + self.horizon:
                    guess = self._line(
                        times[end - self._window : end], values[end - self._window : end]
                    )
                    errors.append(abs(guess - values[ahead]))
        if not errors:
            raise ValidationError(
                "history too short", path="history", expected="windows with a future", got=0
            )
        self.half_width = float(np.quantile(errors, self.level))
        return {"mae": float(np.mean(errors))}

    def predict(self, window: Window) -> Sequence[Prediction]:
        if self.half_width is None:
            raise _not_fitted(self)
        value = self._line(window.times, window.values[:, 0])
        return [
            Prediction(
                f"{self.target}@{self.horizon:g}",
                value,
                value - self.half_width,
                value + self.half_width,
                self.level,
                self.horizon,
            )
        ]


class EchoPredictor:
    """Predicts ``name`` as the newest value of ``source`` (and ± ``spread``)."""

    def __init__(self, source: str = "temp", name: str = "rul", spread: float = 1.0) -> None:
        self.source = source
        self.name = name
        self.spread = spread
        self.fitted = False

    @property
    def inputs(self) -> Sequence[str]:
        return (self.source,)

    @property
    def window(self) -> int:
        return 1

    def fit(
        self, history: Sequence[pd.DataFrame], *, progress: Progress | None = None
    ) -> Mapping[str, float]:
        self.fitted = True
        return {}

    def predict(self, window: Window) -> Sequence[Prediction]:
        if not self.fitted:
            raise _not_fitted(self)
        value = float(window.values[-1, 0])
        return [Prediction(self.name, value, value - self.spread, value + self.spread, 0.9)]


class FailingDetector(ZScoreDetector):
    """A z-score detector whose ``score`` raises on a newest value of ``poison``."""

    def __init__(self, poison: float = 13.0, **options: Any) -> None:
        super().__init__(**options)
        self.poison = poison

    def score(self, window: Window) -> AnomalyScore:
        if window.values[-1, 0] == self.poison:
            raise ZeroDivisionError(f"poisoned by {self.poison}")
        return super().score(window)


class SlowToLoad(ZScoreDetector):
    """A z-score detector whose artifact takes ``load_seconds`` to unpickle."""

    load_seconds = 0.5

    def __setstate__(self, state: dict[str, Any]) -> None:
        time.sleep(self.load_seconds)
        self.__dict__.update(state)


class SlowToFit(ZScoreDetector):
    """A z-score detector that takes ``steps`` x 10 ms to fit, reporting progress each step."""

    def __init__(self, steps: int = 100, **options: Any) -> None:
        super().__init__(**options)
        self.steps = steps

    def fit(
        self, history: Sequence[pd.DataFrame], *, progress: Progress | None = None
    ) -> Mapping[str, float]:
        for step in range(self.steps):
            time.sleep(0.01)
            if progress is not None:
                progress(step / self.steps)
        return super().fit(history)


def make_zscore(
    inputs: Sequence[str] = ("temp",), window: int = 1, k: float = 4.0
) -> ZScoreDetector:
    """The factory the API and CLI tests train with."""
    return ZScoreDetector(inputs, window, k)


def factories() -> dict[str, Any]:
    """A plug-in's factories (``load_factories("predict_models:factories")``)."""
    return {"zscore": make_zscore, "slow": SlowToFit}


class WindowDigest:
    """Predicts facts of the window it is given (rows, first time, column sums): what the
    runner fed it, for tests of how buffers fill."""

    def __init__(self, window: int = 20, inputs: Sequence[str] = ("temp", "flow")) -> None:
        self._window = window
        self._inputs = tuple(inputs)

    @property
    def inputs(self) -> Sequence[str]:
        return self._inputs

    @property
    def window(self) -> int:
        return self._window

    def fit(
        self, history: Sequence[pd.DataFrame], *, progress: Progress | None = None
    ) -> Mapping[str, float]:
        return {}

    def predict(self, window: Window) -> Sequence[Prediction]:
        sums = [
            Prediction(f"sum_{n}", float(window.values[:, i].sum()))
            for i, n in enumerate(window.columns)
        ]
        return [
            Prediction("rows", float(len(window.times))),
            Prediction("first", float(window.times[0])),
            *sums,
        ]

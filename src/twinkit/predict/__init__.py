"""Prediction (L3): learned models that watch twins — anomaly detection, remaining useful life,
forecasting — trained from twin history and served live with their uncertainty.
"""

from __future__ import annotations

from twinkit.predict._protocol import (
    AnomalyScore,
    Detector,
    Prediction,
    Predictor,
    Progress,
    TrainingSet,
    Window,
)

__all__ = [
    "AnomalyScore",
    "Detector",
    "Prediction",
    "Predictor",
    "Progress",
    "TrainingSet",
    "Window",
]

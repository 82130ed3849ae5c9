"""Prediction (L3): learned models that watch twins — anomaly detection, remaining useful life,
forecasting — trained from twin history and served live with their uncertainty.

Three levels, as in :mod:`twinkit.sim`:

- one call: :func:`train` fits a model on a twin model's history and registers a version;
  :class:`PredictionRunner` serves the active versions on live telemetry;
- reusable models: detectors (:func:`default_detector`, :class:`PcaDetector`,
  :class:`SimilarityDetector`, :class:`ResidualCusumDetector`, ...), the :class:`Forecaster`,
  and the benchmark protocols (:func:`evaluate_skab`, :func:`evaluate_forecaster`);
- the protocols themselves (:class:`Predictor`, :class:`Detector`) and the registry.
"""

from __future__ import annotations

from twinkit.predict._cmapss import (
    CmapssSubset,
    engine_frames,
    load_cmapss,
    read_cmapss,
    read_rul,
)
from twinkit.predict._detect import BatchDetector
from twinkit.predict._detect import Features as DetectorFeatures
from twinkit.predict._detect_ensemble import EnsembleDetector, default_detector
from twinkit.predict._detect_learned import AutoencoderDetector, SimilarityDetector
from twinkit.predict._detect_multi import IsolationForestDetector, PcaDetector
from twinkit.predict._detect_stats import EwmaDetector, ResidualCusumDetector, RobustZDetector
from twinkit.predict._factories import Factories, load_factories
from twinkit.predict._forecast import Forecaster
from twinkit.predict._forecast_eval import (
    ForecastEvaluation,
    HorizonScore,
    evaluate_forecaster,
    rolling_origin,
)
from twinkit.predict._forecast_features import Features as ForecastFeatures
from twinkit.predict._online import PredictionRunner
from twinkit.predict._online_results import LatestPrediction, ServingStatus
from twinkit.predict._protocol import (
    AnomalyScore,
    Detector,
    Prediction,
    Predictor,
    Progress,
    TrainingSet,
    Window,
)
from twinkit.predict._registry import LoadedModel, PredictorRegistry
from twinkit.predict._registry_entry import Limit, RegistryEntry
from twinkit.predict._rul import RulConfig, RulPredictor
from twinkit.predict._rul_metrics import RulEvaluation, interval_coverage, phm08_score, rmse
from twinkit.predict._rul_regimes import Regimes, detect_regimes, fit_regimes
from twinkit.predict._service import Predictions, TrainingJob, TrainRequest
from twinkit.predict._skab import (
    Confusion,
    SkabResult,
    SkabRun,
    evaluate_alarms,
    outlier_metrics,
    read_skab_run,
    skab_runs,
)
from twinkit.predict._skab import evaluate as evaluate_skab
from twinkit.predict._training import evaluate, train, training_set, windows_of

__all__ = [
    "AnomalyScore",
    "AutoencoderDetector",
    "BatchDetector",
    "CmapssSubset",
    "Confusion",
    "Detector",
    "DetectorFeatures",
    "EnsembleDetector",
    "EwmaDetector",
    "Factories",
    "ForecastEvaluation",
    "ForecastFeatures",
    "Forecaster",
    "HorizonScore",
    "IsolationForestDetector",
    "LatestPrediction",
    "Limit",
    "LoadedModel",
    "PcaDetector",
    "Prediction",
    "PredictionRunner",
    "Predictions",
    "Predictor",
    "PredictorRegistry",
    "Progress",
    "Regimes",
    "RegistryEntry",
    "ResidualCusumDetector",
    "RobustZDetector",
    "RulConfig",
    "RulEvaluation",
    "RulPredictor",
    "ServingStatus",
    "SimilarityDetector",
    "SkabResult",
    "SkabRun",
    "TrainRequest",
    "TrainingJob",
    "TrainingSet",
    "Window",
    "default_detector",
    "detect_regimes",
    "engine_frames",
    "evaluate",
    "evaluate_alarms",
    "evaluate_forecaster",
    "evaluate_skab",
    "fit_regimes",
    "interval_coverage",
    "load_cmapss",
    "load_factories",
    "outlier_metrics",
    "phm08_score",
    "read_cmapss",
    "read_rul",
    "read_skab_run",
    "rmse",
    "rolling_origin",
    "skab_runs",
    "train",
    "training_set",
    "windows_of",
]

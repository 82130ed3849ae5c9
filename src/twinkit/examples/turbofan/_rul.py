"""The fleet's remaining-useful-life model: its data, its training once per state folder, and
serving it from an engine's fifth cycle on.

:func:`fleet_data` gives what the demo learns from and replays: C-MAPSS files (``train_`` to
learn, ``test_`` to replay, ``RUL_`` for the truth) or, without them, a generated fleet
(:func:`~twinkit.examples.turbofan.generate_fleet`). :func:`ensure_rul_model` trains a
:class:`~twinkit.predict.RulPredictor` on the training engines unless the registry already
holds a version trained on the same data with the same settings, registers it with an alert
limit on ``rul`` and activates it; the server's prediction runner then serves it on every
Engine twin, from an engine's ``config.min_history``-th cycle on (the model's
``min_history``), on the cycles it has: a full window is 300 cycles, which many engines never
fly. :func:`serve_every_cycle` turns the runner's pacing off for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from twinkit.examples.turbofan._degradation import FleetSpec, generate_fleet
from twinkit.examples.turbofan._engine import ENGINE, SENSOR_NAMES, SETTING_NAMES, telemetry_frame
from twinkit.predict._cmapss import load_cmapss
from twinkit.predict._registry import PredictorRegistry
from twinkit.predict._registry_entry import Limit, RegistryEntry
from twinkit.predict._rul import RulConfig, RulPredictor
from twinkit.predict._service import Predictions

__all__ = [
    "RUL_NAME",
    "FleetData",
    "ModelReady",
    "demo_rul_config",
    "ensure_rul_model",
    "fleet_data",
    "serve_every_cycle",
]

logger = logging.getLogger(__name__)

RUL_NAME: Final = "turbofan-rul"
"""The registry name of the fleet's model; it writes ``predicted:rul`` and its interval."""


def demo_rul_config(seed: int = 0) -> RulConfig:
    """The demo's model: the full feature pipeline on the twin's telemetry names, a smaller
    ensemble (boosting and ridge, 100 rounds, 3 folds) that trains in seconds."""
    return RulConfig(
        settings=SETTING_NAMES,
        sensors=SENSOR_NAMES,
        members=("boosting", "ridge"),
        size=100,
        folds=3,
        seed=seed,
    )


@dataclass(frozen=True, slots=True)
class FleetData:
    """Engines to learn from (run to failure) and to replay (cut before failure, with their
    true remaining lives), as frames of the twin's telemetry; ``description`` says whence."""

    dataset: str
    description: str
    train: tuple[pd.DataFrame, ...]
    test: tuple[pd.DataFrame, ...]
    test_rul: npt.NDArray[np.float64]
    params: Mapping[str, Any] = field(default_factory=dict)


def fleet_data(
    data_dir: Path | None,
    subset: str = "FD001",
    *,
    fleet: FleetSpec | None = None,
) -> FleetData:
    """C-MAPSS ``subset`` from ``data_dir``, or a generated fleet (``fleet``) when it is None.
    A folder without the subset's files is a NotFoundError naming it."""
    if data_dir is not None:
        found = load_cmapss(data_dir, subset)
        return FleetData(
            found.name,
            f"C-MAPSS {found.name} from {data_dir}",
            tuple(telemetry_frame(frame) for frame in found.train),
            tuple(telemetry_frame(frame) for frame in found.test),
            found.test_rul,
            {"dataset": found.name, "source": str(Path(data_dir).resolve())},
        )
    spec = fleet or FleetSpec()
    generated = generate_fleet(spec)
    return FleetData(
        "generated",
        f"a generated fleet ({spec.train} engines run to failure, seed {spec.seed})",
        tuple(telemetry_frame(frame) for frame in generated.train),
        tuple(telemetry_frame(frame) for frame in generated.test),
        generated.test_rul,
        {
            "dataset": "generated",
            "train": spec.train,
            "conditions": spec.conditions,
            "lifeMean": spec.life_mean,
            "seed": spec.seed,
        },
    )


def _config_params(config: RulConfig) -> dict[str, Any]:
    return {
        "members": list(config.members),
        "size": config.size,
        "folds": config.folds,
        "cap": config.cap,
        "level": config.level,
        "minHistory": config.min_history,
        "seed": config.seed,
    }


@dataclass(frozen=True, slots=True)
class ModelReady:
    """What :func:`ensure_rul_model` did: the active entry, and whether it trained it now."""

    entry: RegistryEntry
    trained: bool


async def ensure_rul_model(
    registry: PredictorRegistry,
    data: FleetData,
    *,
    threshold: float,
    cause: str,
    config: RulConfig | None = None,
    progress: Callable[[float], None] | None = None,
) -> ModelReady:
    """The active version of :data:`RUL_NAME`, trained on ``data.train`` and alerting below
    ``threshold`` cycles; trained (with ``progress``) only when no version was trained on the
    same data with the same settings. A version with another threshold is registered again
    with this one (same artifact, no training)."""
    config = config or demo_rul_config()
    params = {**data.params, "config": _config_params(config)}
    limits = {"rul": Limit(below=threshold)}
    matching = [entry for entry in await _entries(registry) if dict(entry.params) == params]
    if matching:
        entry = next((e for e in matching if e.active), matching[-1])
        if dict(entry.limits) == limits:
            if not entry.active:
                entry = await registry.activate(entry.name, entry.version)
            return ModelReady(entry, trained=False)
        loaded = await registry.load(entry.name, entry.version)
        entry = await _register(
            registry,
            loaded.model,
            entry.metrics,
            params=params,
            limits=limits,
            cause=cause,
            data=data,
        )
        return ModelReady(entry, trained=False)
    predictor = RulPredictor(config)
    metrics = await asyncio.to_thread(predictor.fit, data.train, progress=progress)
    entry = await _register(
        registry, predictor, metrics, params=params, limits=limits, cause=cause, data=data
    )
    return ModelReady(entry, trained=True)


async def _entries(registry: PredictorRegistry) -> list[RegistryEntry]:
    return [entry for entry in await registry.entries() if entry.name == RUL_NAME]


async def _register(
    registry: PredictorRegistry,
    trained: Any,
    metrics: Mapping[str, float],
    *,
    params: Mapping[str, Any],
    limits: Mapping[str, Limit],
    cause: str,
    data: FleetData,
) -> RegistryEntry:
    kept = {**metrics, "train_engines": float(len(data.train))}
    kept["train_cycles"] = float(sum(len(frame) for frame in data.train))
    return await registry.register(
        trained,
        name=RUL_NAME,
        model=ENGINE,
        cause=cause,
        metrics=kept,
        limits=limits,
        params=params,
        activate=True,
    )


def serve_every_cycle(predictions: Predictions) -> None:
    """Infer with :data:`RUL_NAME` on every cycle, without the runner's default pacing: a
    cycle is a flight, and each deserves its estimate (the runner answers from the model's
    ``min_history`` cycles on)."""
    predictions.runner.pace(RUL_NAME, 0.0)

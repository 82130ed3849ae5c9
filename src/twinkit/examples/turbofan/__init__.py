"""The turbofan fleet reference twin: engines replaying C-MAPSS histories over MQTT, each twin
with its remaining useful life and interval, updated every flight cycle.

Three levels, as elsewhere in twinkit:

- one call: ``twinkit demo turbofan`` (:func:`run_turbofan_demo`);
- reusable pieces: :class:`FleetReplay` (engines on MQTT, one cycle per message),
  :func:`ensure_rul_model` (train once per state folder, register, activate, alert below a
  threshold), :func:`serve_every_cycle` (an estimate every cycle, from an engine's fifth on), :func:`install_fleet` (models and twins, idempotent);
- the data: :func:`fleet_data` (C-MAPSS files, or a generated fleet) and
  :func:`generate_fleet`, a degradation simulator in the C-MAPSS style
  (:class:`FleetSpec`, :data:`SENSORS`).

The engine's telemetry carries the C-MAPSS paper's names (``T24``, ``Ps30``, ``phi``...; see
``_engine``); :func:`telemetry_frame` renames C-MAPSS columns to them.
"""

from __future__ import annotations

from twinkit.examples.turbofan._degradation import (
    CONDITIONS,
    SENSORS,
    EngineLife,
    FleetSpec,
    SensorSpec,
    engine_life,
    generate_fleet,
)
from twinkit.examples.turbofan._demo import (
    DEFAULT_STATE,
    FLEET_TWIN,
    EngineResult,
    TurbofanDemoOptions,
    engine_twin,
    install_fleet,
    run_turbofan_demo,
)
from twinkit.examples.turbofan._engine import (
    CYCLE,
    ENGINE,
    FLEET,
    SENSOR_COLUMNS,
    SENSOR_NAMES,
    SETTING_COLUMNS,
    SETTING_NAMES,
    TELEMETRY,
    load_models,
    model_documents,
    model_files,
    telemetry_frame,
)
from twinkit.examples.turbofan._replay import FleetReplay, ReplayedEngine
from twinkit.examples.turbofan._rul import (
    RUL_NAME,
    FleetData,
    ModelReady,
    demo_rul_config,
    ensure_rul_model,
    fleet_data,
    serve_every_cycle,
)

__all__ = [
    "CONDITIONS",
    "CYCLE",
    "DEFAULT_STATE",
    "ENGINE",
    "FLEET",
    "FLEET_TWIN",
    "RUL_NAME",
    "SENSORS",
    "SENSOR_COLUMNS",
    "SENSOR_NAMES",
    "SETTING_COLUMNS",
    "SETTING_NAMES",
    "TELEMETRY",
    "EngineLife",
    "EngineResult",
    "FleetData",
    "FleetReplay",
    "FleetSpec",
    "ModelReady",
    "ReplayedEngine",
    "SensorSpec",
    "TurbofanDemoOptions",
    "demo_rul_config",
    "engine_life",
    "engine_twin",
    "ensure_rul_model",
    "fleet_data",
    "generate_fleet",
    "install_fleet",
    "load_models",
    "model_documents",
    "model_files",
    "run_turbofan_demo",
    "serve_every_cycle",
    "telemetry_frame",
]

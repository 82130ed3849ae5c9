"""The pump-station reference twin: DTDL models, the demo layout, MQTT device simulators and
the station's physics in shadow mode.

Three levels, as elsewhere in twinkit:

- one call: :func:`run_devices` (what ``twinkit`` runs for the demo) connects every device of a
  :func:`station_layout` to a broker and runs until stopped;
- reusable pieces: :class:`StationDevices` (physics-driven devices) and :class:`SkabReplay`
  (a pump replaying the SKAB test rig), each with ``start()``/``stop()``;
- the physics itself: :class:`StationModel` and the pump, pipe, tank and valve equations in
  ``twinkit.examples.pumps._physics``, plain functions on frozen states;
- the same physics as simulators beside the twins: :func:`shadow_bindings` (for
  ``twinkit serve --simulators twinkit.examples.pumps:shadow_bindings``; the demo runs them)
  binds :class:`PumpSimulator`, :class:`PipeSimulator`, :class:`ValveSimulator` and
  :class:`TankSimulator` to their models, so a worn bearing or a clogged valve shows up as a
  residual (measured - simulated).

The devices talk to twinkit only over MQTT, as real ones would (see ``_mqtt`` for the topics).
"""

from __future__ import annotations

from twinkit.examples.pumps._devices import DeviceGroup, StationDevices, run_devices, start_devices
from twinkit.examples.pumps._layout import (
    EQUIPMENT,
    PIPE,
    PUMP,
    STATION,
    TANK,
    VALVE,
    RelationshipSpec,
    StationLayout,
    TwinSpec,
    load_models,
    model_files,
    station_layout,
)
from twinkit.examples.pumps._mqtt import Broker, DeviceHandler, DeviceLink
from twinkit.examples.pumps._shadow import shadow_bindings
from twinkit.examples.pumps._simulators import (
    PipeSimulator,
    PumpSimulator,
    StationSimulator,
    StationSimulatorState,
    TankSimulator,
    ValveSimulator,
)
from twinkit.examples.pumps._skab import SkabReplay, SkabRun, read_skab_csv, skab_runs
from twinkit.examples.pumps._station import Reply, StationModel

__all__ = [
    "EQUIPMENT",
    "PIPE",
    "PUMP",
    "STATION",
    "TANK",
    "VALVE",
    "Broker",
    "DeviceGroup",
    "DeviceHandler",
    "DeviceLink",
    "PipeSimulator",
    "PumpSimulator",
    "RelationshipSpec",
    "Reply",
    "SkabReplay",
    "SkabRun",
    "StationDevices",
    "StationLayout",
    "StationModel",
    "StationSimulator",
    "StationSimulatorState",
    "TankSimulator",
    "TwinSpec",
    "ValveSimulator",
    "load_models",
    "model_files",
    "read_skab_csv",
    "run_devices",
    "shadow_bindings",
    "skab_runs",
    "start_devices",
    "station_layout",
]

"""The pump-station reference twin: DTDL models, the demo layout and MQTT device simulators.

Three levels, as elsewhere in twinkit:

- one call: :func:`run_devices` (what ``twinkit`` runs for the demo) connects every device of a
  :func:`station_layout` to a broker and runs until stopped;
- reusable pieces: :class:`StationDevices` (physics-driven devices) and :class:`SkabReplay`
  (a pump replaying the SKAB test rig), each with ``start()``/``stop()``;
- the physics itself: :class:`StationModel` and the pump, pipe, tank and valve equations in
  ``twinkit.examples.pumps._physics``, plain functions on frozen states.

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
    "RelationshipSpec",
    "Reply",
    "SkabReplay",
    "SkabRun",
    "StationDevices",
    "StationLayout",
    "StationModel",
    "TwinSpec",
    "load_models",
    "model_files",
    "read_skab_csv",
    "run_devices",
    "skab_runs",
    "start_devices",
    "station_layout",
]

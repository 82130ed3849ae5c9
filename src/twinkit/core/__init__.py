"""The twin core: events, twin state and the fold between them.

``core`` knows models (``twinkit.model``) but no HTTP, MQTT or SQL. The runtime that turns
requests into events, the twin graph and subscriptions are built on these pieces.
"""

from __future__ import annotations

from twinkit.core._alert_state import SEVERITIES, AlertState
from twinkit.core._alerts import OpenAlert
from twinkit.core._collector import tune_collector
from twinkit.core._derived import PREDICTED, RESIDUAL, SIMULATED, Derived, derived_series
from twinkit.core._events import Event, EventType
from twinkit.core._log import EventLog, Point, Touch
from twinkit.core._requests import (
    Ack,
    CommandResult,
    CommandTransport,
    Reading,
    RelationshipSpec,
)
from twinkit.core._runtime import Runtime
from twinkit.core._twin import (
    ACK_OK,
    PropertyState,
    RelationshipEdge,
    TelemetryValue,
    Twin,
    apply,
    detached,
    fold,
)
from twinkit.core._twin_json import (
    alert_to_json,
    edge_to_json,
    property_to_json,
    twin_from_json,
    twin_to_json,
)

__all__ = [
    "ACK_OK",
    "PREDICTED",
    "RESIDUAL",
    "SEVERITIES",
    "SIMULATED",
    "Ack",
    "AlertState",
    "CommandResult",
    "CommandTransport",
    "Derived",
    "Event",
    "EventLog",
    "EventType",
    "OpenAlert",
    "Point",
    "PropertyState",
    "Reading",
    "RelationshipEdge",
    "RelationshipSpec",
    "Runtime",
    "TelemetryValue",
    "Touch",
    "Twin",
    "alert_to_json",
    "apply",
    "derived_series",
    "detached",
    "edge_to_json",
    "fold",
    "property_to_json",
    "tune_collector",
    "twin_from_json",
    "twin_to_json",
]

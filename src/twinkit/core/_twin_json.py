"""Twin state to plain JSON and back, exactly: what a store keeps as a snapshot.

``twin_from_json(twin_to_json(twin)) == twin`` for every twin folded from JSON events: every
field of :class:`Twin`, :class:`PropertyState`, :class:`TelemetryValue` and
:class:`RelationshipEdge` is written, ``None`` included, so nothing is guessed on the way back.
Keys are camelCase, like the wire form of :class:`~twinkit.core.Event`. Derived values
(simulated, residual, predicted) are a section of their own, ``derived``, by kind then name, so
that they never mix with reported ones; a snapshot written before they existed has no such
section and reads back with none. Open alerts are the section ``alerts``, by name (also absent
from older snapshots). Values (reported,
desired, telemetry, edge properties) are written as they are; JSON has no tuples, sets, NaN or
infinities, so those do not survive a round trip (events cannot carry them either).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from twinkit.core._alert_state import AlertState
from twinkit.core._twin import PropertyState, RelationshipEdge, TelemetryValue, Twin
from twinkit.errors import ValidationError

__all__ = [
    "alert_from_json",
    "alert_to_json",
    "edge_to_json",
    "property_to_json",
    "twin_from_json",
    "twin_to_json",
]


def twin_to_json(twin: Twin) -> dict[str, Any]:
    """The JSON object of ``twin`` (a dict of plain JSON values, ready for orjson)."""
    return {
        "id": twin.id,
        "model": twin.model,
        "version": twin.version,
        "created": twin.created,
        "updated": twin.updated,
        "deleted": twin.deleted,
        "properties": {name: property_to_json(s) for name, s in twin.properties.items()},
        "relationships": {key: edge_to_json(e) for key, e in twin.relationships.items()},
        "telemetry": {
            name: {"value": t.value, "time": t.time} for name, t in twin.telemetry.items()
        },
        "derived": _derived_to_json(twin.derived),
        "alerts": {name: alert_to_json(alert) for name, alert in twin.alerts.items()},
    }


def alert_to_json(alert: AlertState) -> dict[str, Any]:
    """An open alert as snapshots and the API show it."""
    return {
        "name": alert.name,
        "severity": alert.severity,
        "message": alert.message,
        "raised": alert.raised,
        "raisedSeq": alert.raised_seq,
        "raisedBy": alert.raised_by,
        "updated": alert.updated,
        "acknowledged": alert.acknowledged,
        "acknowledgedBy": alert.acknowledged_by,
        "note": alert.note,
    }


def alert_from_json(obj: Mapping[str, Any]) -> AlertState:
    return AlertState(
        name=obj["name"],
        severity=obj["severity"],
        message=obj["message"],
        raised=obj["raised"],
        raised_seq=obj["raisedSeq"],
        updated=obj["updated"],
        raised_by=obj["raisedBy"],
        acknowledged=obj["acknowledged"],
        acknowledged_by=obj["acknowledgedBy"],
        note=obj["note"],
    )


def _derived_to_json(derived: Mapping[str, TelemetryValue]) -> dict[str, Any]:
    kinds: dict[str, dict[str, Any]] = {}
    for series, latest in derived.items():
        kind, _, name = series.partition(":")
        kinds.setdefault(kind, {})[name] = {"value": latest.value, "time": latest.time}
    return kinds


def _derived_from_json(obj: Mapping[str, Any]) -> dict[str, TelemetryValue]:
    return {
        f"{kind}:{name}": TelemetryValue(value["value"], value["time"])
        for kind, values in obj.items()
        for name, value in values.items()
    }


def twin_from_json(obj: Mapping[str, Any]) -> Twin:
    """The twin ``obj`` describes; a ValidationError says which key is missing or malformed."""
    where = f"twin {obj.get('id')!r}" if isinstance(obj, Mapping) else "twin"
    try:
        properties = {name: _property_from_json(value) for name, value in obj["properties"].items()}
        relationships = {key: _edge_from_json(value) for key, value in obj["relationships"].items()}
        telemetry = {
            name: TelemetryValue(value["value"], value["time"])
            for name, value in obj["telemetry"].items()
        }
        return Twin(
            id=obj["id"],
            model=obj["model"],
            version=obj["version"],
            created=obj["created"],
            updated=obj["updated"],
            properties=MappingProxyType(properties),
            relationships=MappingProxyType(relationships),
            telemetry=MappingProxyType(telemetry),
            deleted=obj["deleted"],
            derived=MappingProxyType(_derived_from_json(obj.get("derived") or {})),
            alerts=MappingProxyType(
                {name: alert_from_json(a) for name, a in (obj.get("alerts") or {}).items()}
            ),
        )
    except KeyError as err:
        raise ValidationError(
            "twin JSON is missing a key",
            path=where,
            expected=f"key {err.args[0]!r}, as twin_to_json writes it",
            got=sorted(obj) if isinstance(obj, Mapping) else obj,
        ) from err
    except (AttributeError, TypeError) as err:
        raise ValidationError(
            "twin JSON is malformed",
            path=where,
            expected=(
                "objects for properties, relationships, telemetry, derived and alerts, as "
                "twin_to_json writes them"
            ),
            got=str(err),
        ) from err


def property_to_json(state: PropertyState) -> dict[str, Any]:
    return {
        "reported": state.reported,
        "hasReported": state.has_reported,
        "reportedTime": state.reported_time,
        "desired": state.desired,
        "desiredVersion": state.desired_version,
        "ackVersion": state.ack_version,
        "ackCode": state.ack_code,
        "ackDescription": state.ack_description,
        "lastChanged": state.last_changed,
        "lastUpdated": state.last_updated,
        "lastReported": state.last_reported,
    }


def _property_from_json(obj: Mapping[str, Any]) -> PropertyState:
    return PropertyState(
        reported=obj["reported"],
        has_reported=obj["hasReported"],
        reported_time=obj["reportedTime"],
        desired=obj["desired"],
        desired_version=obj["desiredVersion"],
        ack_version=obj["ackVersion"],
        ack_code=obj["ackCode"],
        ack_description=obj["ackDescription"],
        last_changed=obj["lastChanged"],
        last_updated=obj["lastUpdated"],
        last_reported=obj["lastReported"],
    )


def edge_to_json(edge: RelationshipEdge) -> dict[str, Any]:
    return {
        "id": edge.id,
        "name": edge.name,
        "source": edge.source,
        "target": edge.target,
        "properties": dict(edge.properties),
    }


def _edge_from_json(obj: Mapping[str, Any]) -> RelationshipEdge:
    return RelationshipEdge(
        id=obj["id"],
        name=obj["name"],
        source=obj["source"],
        target=obj["target"],
        properties=MappingProxyType(dict(obj["properties"])),
    )

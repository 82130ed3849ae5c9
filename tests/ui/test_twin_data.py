"""The twin page's shaping of state and events: sync states, property rows, relationship links,
who caused an event, event summaries and open alerts."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Any

import pytest

from twinkit.core import AlertState, Event, EventType, PropertyState, RelationshipEdge, Twin
from twinkit.model.dtdl import parse
from twinkit.ui._twin_data import (
    SyncState,
    cause_label,
    event_row,
    event_summary,
    format_duration,
    format_time,
    format_value,
    is_logged,
    is_numeric,
    open_alerts,
    property_rows,
    relationship_links,
    sync_state,
    unit_label,
)

PUMP = "dtmi:ui:Pump;1"
MODELS: list[dict[str, Any]] = [
    {
        "@context": ["dtmi:dtdl:context;3", "dtmi:dtdl:extension:quantitativeTypes;1"],
        "@id": PUMP,
        "@type": "Interface",
        "contents": [
            {
                "@type": ["Telemetry", "VolumeFlowRate"],
                "name": "flow",
                "schema": "double",
                "unit": "litrePerSecond",
            },
            {"@type": "Telemetry", "name": "status", "schema": "string"},
            {
                "@type": ["Property", "AngularVelocity"],
                "name": "speed",
                "schema": "double",
                "writable": True,
                "unit": "revolutionPerMinute",
            },
            {"@type": "Property", "name": "serial", "schema": "string"},
            {"@type": "Property", "name": "running", "schema": "boolean"},
            {"@type": "Relationship", "name": "feeds"},
        ],
    }
]


def contents() -> Any:
    return parse(MODELS).contents(PUMP)


def event(kind: EventType, data: dict[str, Any], *, seq: int = 1, **more: Any) -> Event:
    fields: dict[str, Any] = {"time": 100.0, "recorded": 100.0, "cause": "system"} | more
    return Event(twin_id="p1", seq=seq, type=kind, data=MappingProxyType(data), **fields)


def twin(**properties: PropertyState) -> Twin:
    return Twin("p1", PUMP, 7, 10.0, 20.0, properties=MappingProxyType(properties))


# --- sync state -------------------------------------------------------------------------------


def test_sync_state_covers_never_set_pending_in_sync_and_rejected() -> None:
    assert sync_state(PropertyState()) is SyncState.NONE
    pending = PropertyState(reported=1.0, has_reported=True, desired=2.0, desired_version=3)
    assert sync_state(pending) is SyncState.PENDING
    acked_not_reported = PropertyState(
        reported=1.0, has_reported=True, desired=2.0, desired_version=3, ack_version=3, ack_code=200
    )
    assert sync_state(acked_not_reported) is SyncState.PENDING
    in_sync = PropertyState(
        reported=2.0, has_reported=True, desired=2.0, desired_version=3, ack_version=3, ack_code=200
    )
    assert sync_state(in_sync) is SyncState.IN_SYNC
    rejected = PropertyState(desired=2.0, desired_version=3, ack_version=3, ack_code=400)
    assert sync_state(rejected) is SyncState.REJECTED
    old_rejection = PropertyState(desired=2.0, desired_version=4, ack_version=3, ack_code=400)
    assert sync_state(old_rejection) is SyncState.PENDING  # the newest version is not answered


# --- values and times -------------------------------------------------------------------------


def test_format_time_is_utc_with_milliseconds_only_when_there_are_some() -> None:
    assert format_time(0.0) == "1970-01-01 00:00:00Z"
    assert format_time(1.25) == "1970-01-01 00:00:01.250Z"
    assert format_time(None) == ""
    assert format_time(float("nan")) == ""


def test_format_duration_picks_the_largest_unit() -> None:
    assert format_duration(5) == "5 s"
    assert format_duration(90) == "1.5 min"
    assert format_duration(1800) == "30 min"
    assert format_duration(21600) == "6 h"
    assert format_duration(7 * 86400) == "7 d"


def test_format_value_is_short_and_plain() -> None:
    assert format_value(None) == ""
    assert format_value(True) == "true"
    assert format_value(1450.123456789) == "1450.12"
    assert format_value({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    long = format_value("x" * 500)
    assert len(long) == 120 and long.endswith("…")


def test_unit_label_gives_symbols() -> None:
    assert unit_label("litrePerSecond") == "l/s"
    assert unit_label("degreeCelsius") == "°C"
    assert unit_label("revolutionPerMinute") == "rpm"
    assert unit_label(None) == ""
    assert unit_label("notAUnit") == "notAUnit"


def test_numeric_contents_are_numbers_and_booleans() -> None:
    found = contents()
    assert is_numeric(found["flow"]) and is_numeric(found["running"])
    assert not is_numeric(found["status"]) and not is_numeric(found["serial"])
    assert not is_numeric(found["feeds"]) and not is_numeric(None)


# --- properties -------------------------------------------------------------------------------


def test_property_rows_list_model_properties_in_order_with_reported_desired_and_sync() -> None:
    speed = PropertyState(
        reported=1400.0,
        has_reported=True,
        desired=1450.0,
        desired_version=2,
        ack_version=2,
        ack_code=400,
        ack_description="out of range",
        last_changed=15.0,
        last_reported=16.5,
    )
    gone = PropertyState(reported="x", has_reported=True)
    rows = property_rows(twin(speed=speed, legacy=gone), contents())
    assert [row.name for row in rows] == ["speed", "serial", "running", "legacy"]
    first = rows[0]
    assert (first.reported, first.desired, first.desired_version) == ("1400", "1450", 2)
    assert first.sync is SyncState.REJECTED and first.writable and first.unit == "rpm"
    assert first.ack == "v2: 400 out of range"
    assert first.last_changed == "1970-01-01 00:00:15Z"
    assert first.last_reported == "1970-01-01 00:00:16.500Z"
    serial = rows[1]
    assert (serial.reported, serial.desired, serial.sync, serial.writable) == (
        "",
        "",
        SyncState.NONE,
        False,
    )
    assert rows[3].reported == "x"  # a property the model no longer declares still shows
    row = first.to_row()
    assert row["sync"] == "rejected" and row["desiredVersion"] == 2


# --- relationships ----------------------------------------------------------------------------


def test_relationship_links_outgoing_then_incoming_sorted() -> None:
    edges = {
        "r2": RelationshipEdge("r2", "feeds", "p1", "tank"),
        "r1": RelationshipEdge("r1", "feeds", "p1", "pipe"),
    }
    base = twin()
    linked = Twin(base.id, base.model, 1, 0.0, 0.0, relationships=MappingProxyType(edges))
    incoming = [RelationshipEdge("x", "drives", "motor-1", "p1")]
    links = relationship_links(linked, incoming)
    assert [(link.outgoing, link.other) for link in links] == [
        (True, "pipe"),
        (True, "tank"),
        (False, "motor-1"),
    ]
    assert links[0].label == "feeds → pipe" and links[2].label == "motor-1 → drives"


# --- events -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cause", "label"),
    [
        ("token:ab12", "alice (token ab12)"),
        ("token:zz99", "token zz99"),
        ("connector:mqtt", "connector mqtt"),
        ("predictor:bearing", "predictor bearing"),
        ("simulator:physics", "simulator physics"),
        ("system", "twinkit"),
        ("system:demo", "system demo"),
    ],
)
def test_cause_label_names_who(cause: str, label: str) -> None:
    assert cause_label(cause, {"ab12": "alice"}) == label


def test_event_summaries_say_what_changed() -> None:
    cases = [
        (EventType.TWIN_CREATED, {"model": PUMP}, f"created as {PUMP}"),
        (EventType.PROPERTY_REPORTED, {"name": "speed", "value": 1450.0}, "speed = 1450"),
        (EventType.PROPERTY_REPORTED, {"name": "speed", "removed": True}, "speed removed"),
        (
            EventType.DESIRED_PROPERTY_SET,
            {"name": "speed", "value": 1500, "version": 3},
            "desired speed = 1500 (v3)",
        ),
        (
            EventType.DESIRED_PROPERTY_ACKNOWLEDGED,
            {"name": "speed", "version": 3, "code": 200, "description": None},
            "speed v3 acknowledged: 200",
        ),
        (
            EventType.DESIRED_PROPERTY_ACKNOWLEDGED,
            {"name": "speed", "version": 3, "code": 409, "description": "busy"},
            "speed v3 rejected: 409 busy",
        ),
        (EventType.RELATIONSHIP_ADDED, {"id": "r", "name": "feeds", "target": "t"}, "feeds → t"),
        (EventType.COMMAND_INVOKED, {"id": "c", "name": "start", "request": 900}, "start(900)"),
        (
            EventType.ALERT_RAISED,
            {"name": "hot", "severity": "critical", "message": "bearing at 95 °C"},
            "hot (critical): bearing at 95 °C",
        ),
        (
            EventType.PREDICTION_MADE,
            {"predictor": "rul", "version": 2, "reason": "limit", "on": "rul"},
            "rul v2: limit on rul",
        ),
        (
            EventType.VALUES_DERIVED,
            {"kind": "simulated", "values": {"flow": 2.5}},
            "simulated:flow = 2.5",
        ),
    ]
    for kind, data, expected in cases:
        assert event_summary(event(kind, data)) == expected


def test_event_row_carries_time_type_and_cause() -> None:
    row = event_row(
        event(
            EventType.DESIRED_PROPERTY_SET,
            {"name": "speed", "value": 1, "version": 1},
            seq=9,
            cause="token:ab12",
            time=1.5,
        ),
        {"ab12": "alice"},
    ).to_row()
    assert row == {
        "seq": 9,
        "time": "1970-01-01 00:00:01.500Z",
        "type": "DesiredPropertySet",
        "summary": "desired speed = 1 (v1)",
        "cause": "alice (token ab12)",
    }


def test_telemetry_and_derived_values_are_not_logged() -> None:
    assert not is_logged(event(EventType.TELEMETRY_RECEIVED, {"values": {}}))
    assert not is_logged(event(EventType.VALUES_DERIVED, {"kind": "x", "values": {}}))
    assert is_logged(event(EventType.ALERT_RAISED, {}))


# --- alerts -----------------------------------------------------------------------------------


def test_open_alerts_are_the_twins_own_newest_first() -> None:
    twin = replace(
        Twin("pump-1", PUMP, version=5, created=1.0, updated=9.0),
        alerts={
            "anomalyDetected": AlertState(
                "anomalyDetected", "warning", "score 9", 5.0, 4, 8.0, "predictor:p"
            ),
            "simulatorFailed": AlertState(
                "simulatorFailed",
                "error",
                "diverged",
                6.0,
                5,
                6.0,
                "simulator:physics",
                acknowledged=7.0,
                acknowledged_by="token:t1",
            ),
        },
    )
    found = open_alerts(twin)
    assert [(a.name, a.time) for a in found] == [("anomalyDetected", 8.0), ("simulatorFailed", 6.0)]
    assert found[0].cause == "predictor:p" and found[1].acknowledged_by == "token:t1"
    assert open_alerts(replace(twin, alerts={})) == []

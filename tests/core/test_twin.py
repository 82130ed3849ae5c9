"""Folding events into twin state: what a user of the twin sees after each change."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twinkit.core import ACK_OK, Event, EventType, Twin, apply, fold


def event(seq: int, kind: EventType, time: float, **data: object) -> Event:
    return Event(
        twin_id="pump-1", seq=seq, type=kind, time=time, recorded=time, cause="test", data=data
    )


def created(**properties: object) -> Twin:
    twin = apply(
        None, event(1, EventType.TWIN_CREATED, 100.0, model="dtmi:ex:Pump;1", properties=properties)
    )
    assert twin is not None
    return twin


def test_creation_sets_model_and_initial_properties() -> None:
    twin = created(serial="A-17")
    assert (twin.id, twin.model, twin.version) == ("pump-1", "dtmi:ex:Pump;1", 1)
    assert twin.reported("serial") == "A-17"
    assert twin.reported("missing", "n/a") == "n/a"


def test_unchanged_report_only_refreshes_last_reported() -> None:
    twin = apply(
        created(), event(2, EventType.PROPERTY_REPORTED, 110.0, name="speed", value=1450.0)
    )
    twin = apply(twin, event(3, EventType.PROPERTY_REPORTED, 120.0, name="speed", value=1450.0))
    state = twin.properties["speed"]
    assert (state.last_changed, state.last_updated, state.last_reported) == (110.0, 110.0, 120.0)
    twin = apply(twin, event(4, EventType.PROPERTY_REPORTED, 130.0, name="speed", value=1500.0))
    state = twin.properties["speed"]
    assert (state.reported, state.last_changed, state.last_reported) == (1500.0, 130.0, 130.0)
    assert twin.version == 4


def test_older_report_does_not_roll_current_value_back() -> None:
    twin = apply(created(), event(2, EventType.PROPERTY_REPORTED, 200.0, name="speed", value=2.0))
    twin = apply(twin, event(3, EventType.PROPERTY_REPORTED, 150.0, name="speed", value=1.0))
    assert twin.reported("speed") == 2.0
    twin = apply(twin, event(4, EventType.TELEMETRY_RECEIVED, 300.0, values={"flow": 5.0}))
    twin = apply(
        twin, event(5, EventType.TELEMETRY_RECEIVED, 250.0, values={"flow": 4.0, "head": 9.0})
    )
    assert twin.telemetry["flow"].value == 5.0  # the late point goes to history only
    assert twin.telemetry["head"].value == 9.0


def test_desired_value_is_in_sync_only_after_ack_and_report() -> None:
    twin = apply(
        created(),
        event(2, EventType.DESIRED_PROPERTY_SET, 110.0, name="speed", value=1200.0, version=1),
    )
    assert not twin.properties["speed"].in_sync
    twin = apply(
        twin,
        event(
            3, EventType.DESIRED_PROPERTY_ACKNOWLEDGED, 111.0, name="speed", version=1, code=ACK_OK
        ),
    )
    assert not twin.properties["speed"].in_sync  # acknowledged, but not yet reported
    twin = apply(twin, event(4, EventType.PROPERTY_REPORTED, 112.0, name="speed", value=1200.0))
    assert twin.properties["speed"].in_sync
    twin = apply(
        twin, event(5, EventType.DESIRED_PROPERTY_SET, 120.0, name="speed", value=900.0, version=2)
    )
    assert not twin.properties["speed"].in_sync


def test_relationships_are_added_and_removed() -> None:
    twin = apply(
        created(),
        event(
            2,
            EventType.RELATIONSHIP_ADDED,
            110.0,
            id="r1",
            name="feeds",
            target="tank-1",
            properties={"since": "2026"},
        ),
    )
    edge = twin.relationships["r1"]
    assert (edge.source, edge.name, edge.target, edge.properties["since"]) == (
        "pump-1",
        "feeds",
        "tank-1",
        "2026",
    )
    twin = apply(twin, event(3, EventType.RELATIONSHIP_REMOVED, 120.0, id="r1"))
    assert twin.relationships == {}


def test_events_before_creation_are_refused() -> None:
    with pytest.raises(ValueError, match="before TwinCreated"):
        apply(None, event(1, EventType.PROPERTY_REPORTED, 1.0, name="x", value=1))


def test_event_wire_form_round_trips() -> None:
    original = event(7, EventType.TELEMETRY_RECEIVED, 1.5, values={"flow": 2.5})
    assert Event.from_json(original.to_json()) == original
    assert original.to_json()["type"] == "TelemetryReceived"


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b"]), st.integers(-5, 5), st.floats(0, 1000)), max_size=30
    )
)
def test_fold_equals_step_by_step_and_is_immutable(reports: list[tuple[str, int, float]]) -> None:
    events = [event(1, EventType.TWIN_CREATED, 0.0, model="dtmi:ex:Pump;1")]
    events += [
        event(i + 2, EventType.PROPERTY_REPORTED, time, name=name, value=value)
        for i, (name, value, time) in enumerate(reports)
    ]
    stepwise = None
    snapshots = []
    for item in events:
        stepwise = apply(stepwise, item)
        snapshots.append(stepwise)
    assert fold(events) == stepwise
    if len(events) > 5:  # resuming from a snapshot gives the same state
        assert fold(events[5:], snapshots[4]) == stepwise
    # the current value of each property is that of its latest-timed report
    for name in ("a", "b"):
        mine = [(t, i, v) for i, (n, v, t) in enumerate(reports) if n == name]
        if mine:
            latest_time = max(t for t, _, _ in mine)
            assert stepwise is not None
            assert stepwise.properties[name].reported_time == latest_time

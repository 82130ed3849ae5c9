"""Subscriptions: filters, who wants which events, and changes made while events go out."""

from __future__ import annotations

from collections.abc import Callable

from twinkit.core import Event, EventType
from twinkit.core._subscribers import Subscribers


def event(twin_id: str, kind: EventType, seq: int = 1) -> Event:
    return Event(twin_id=twin_id, seq=seq, type=kind, time=1.0, recorded=1.0, cause="test")


def test_wants_says_whether_any_listener_takes_a_type() -> None:
    subs = Subscribers(lambda model, base: False)
    assert not subs.wants(EventType.TELEMETRY_RECEIVED)
    stop = subs.add(lambda e: None, types=[EventType.DESIRED_PROPERTY_SET])
    assert not subs.wants(EventType.TELEMETRY_RECEIVED)
    assert subs.wants(EventType.DESIRED_PROPERTY_SET)
    stop_all = subs.add(lambda e: None, twins=["pump-1"])  # no type filter: every type
    assert subs.wants(EventType.TELEMETRY_RECEIVED)
    stop_all()
    stop()
    assert not subs.wants(EventType.DESIRED_PROPERTY_SET) and len(subs) == 0


def test_filters_by_type_twin_and_model() -> None:
    subs = Subscribers(lambda model, base: (model, base) == ("dtmi:x:Pump;1", "dtmi:x:Device;1"))
    by_type: list[Event] = []
    by_twin: list[Event] = []
    by_model: list[Event] = []
    subs.add(by_type.append, types=["TelemetryReceived"])
    subs.add(by_twin.append, twins=["pump-2"])
    subs.add(by_model.append, models=["dtmi:x:Device;1"])
    events = [
        (event("pump-1", EventType.TELEMETRY_RECEIVED), "dtmi:x:Pump;1"),
        (event("pump-2", EventType.PROPERTY_REPORTED), "dtmi:x:Valve;1"),
    ]
    subs.publish(events)
    assert by_type == [events[0][0]] and by_twin == [events[1][0]] and by_model == [events[0][0]]


def test_listeners_removed_or_added_by_a_listener_take_effect_from_the_next_event() -> None:
    subs = Subscribers(lambda model, base: False)
    late: list[int] = []
    stop_late: list[Callable[[], None]] = []
    removed: list[int] = []

    def first(e: Event) -> None:
        if e.seq == 1:
            stop_removed()
            stop_late.append(subs.add(lambda e: late.append(e.seq)))

    subs.add(first)
    stop_removed = subs.add(lambda e: removed.append(e.seq))
    subs.publish((event("p", EventType.PROPERTY_REPORTED, seq), "m") for seq in (1, 2, 3))
    assert removed == [1]  # removed while seq 1 went out: it still had that one
    assert late == [2, 3]


def test_a_failing_listener_does_not_stop_the_others() -> None:
    subs = Subscribers(lambda model, base: False)
    seen: list[int] = []

    def broken(e: Event) -> None:
        raise RuntimeError("boom")

    subs.add(broken)
    subs.add(lambda e: seen.append(e.seq))
    subs.publish((event("p", EventType.PROPERTY_REPORTED, seq), "m") for seq in (1, 2))
    assert seen == [1, 2]


def test_the_audience_of_an_event_type_names_who_listens() -> None:
    subscribers = Subscribers(lambda model, base: model == "m:Pump" and base == "m:Equipment")
    assert not subscribers.audience(EventType.TELEMETRY_RECEIVED)
    subscribers.add(lambda e: None, types=[EventType.PROPERTY_REPORTED])
    assert not subscribers.audience(EventType.TELEMETRY_RECEIVED)
    subscribers.add(lambda e: None, twins=["a"], types=[EventType.TELEMETRY_RECEIVED])
    subscribers.add(lambda e: None, models=["m:Equipment"])
    audience = subscribers.audience(EventType.TELEMETRY_RECEIVED)
    assert audience and not audience.everyone
    assert audience.hears("a", "m:Tank") and audience.hears("b", "m:Pump")
    assert not audience.hears("b", "m:Tank")
    remove = subscribers.add(lambda e: None)
    assert subscribers.audience(EventType.TELEMETRY_RECEIVED).everyone
    remove()
    assert not subscribers.audience(EventType.TELEMETRY_RECEIVED).everyone

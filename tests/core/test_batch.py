"""The staging of a write: telemetry points as columns, transient events only when wanted."""

from __future__ import annotations

import pytest

from twinkit.core import EventType, Point, TelemetryValue, Twin, detached
from twinkit.core._batch import Batch, PointColumns
from twinkit.core._graph import TwinGraph
from twinkit.core._subscribers import Audience


def graph_of(*twins: Twin) -> TwinGraph:
    graph = TwinGraph()
    for twin in twins:
        graph.put(twin)
    return graph


def install(graph: TwinGraph, batch: Batch) -> None:
    """What the runtime does once the batch is committed."""
    for twin in batch.twins.values():
        graph.put(twin)
    for twin_id, latest in batch.latest.items():
        graph.update_latest(twin_id, latest)


PUMP = Twin("pump-1", "dtmi:test:Pump;1", version=1, created=1.0, updated=1.0)


def test_point_columns_read_as_a_sequence_of_points() -> None:
    points = PointColumns([Point("a", "x", 1.0, 1.5)])
    points.add("a", "y", 2.0, "on")
    points.add_values("b", {"x": 3.0, "y": None}, 4.0)
    expected = [
        Point("a", "x", 1.0, 1.5),
        Point("a", "y", 2.0, "on"),
        Point("b", "x", 4.0, 3.0),
        Point("b", "y", 4.0, None),
    ]
    assert list(points) == expected and len(points) == 4 and bool(points)
    assert points[1] == expected[1] and points[-1] == expected[-1]
    assert points[1:3] == expected[1:3] and points[::-2] == expected[::-2]
    assert Point("b", "x", 4.0, 3.0) in points and points.index(expected[2]) == 2
    assert (points.twin_ids, points.names) == (["a", "a", "b", "b"], ["x", "y", "x", "y"])
    with pytest.raises(IndexError):
        points[4]
    assert not PointColumns()


@pytest.mark.parametrize(
    ("audience", "wanted"),
    [
        (None, True),
        (Audience(everyone=True), True),
        (Audience(twins=frozenset({"pump-1"})), True),
        (Audience(models=frozenset({PUMP.model})), True),
        (Audience(twins=frozenset({"pump-2"}), models=frozenset({"dtmi:x:Other;1"})), False),
        (Audience(), False),
    ],
)
def test_telemetry_events_are_staged_only_when_wanted(
    audience: Audience | None, wanted: bool
) -> None:
    batch = Batch(graph_of(PUMP), "connector:mqtt", 10.0, telemetry_events=audience)
    batch.telemetry(PUMP, {"flow": 1.0, "head": 2.0}, 5.0)
    batch.finish()
    assert list(batch.points) == [
        Point("pump-1", "flow", 5.0, 1.0),
        Point("pump-1", "head", 5.0, 2.0),
    ]
    assert batch.latest["pump-1"] == {
        "flow": TelemetryValue(1.0, 5.0),
        "head": TelemetryValue(2.0, 5.0),
    }
    assert "pump-1" not in batch.twins  # telemetry alone makes no new twin
    kinds = [event.type for event in batch.published]
    assert kinds == ([EventType.TELEMETRY_RECEIVED] if wanted else [])
    assert not batch.events  # telemetry is never logged


def test_newest_telemetry_lands_on_the_twin_as_changed_later_in_the_batch() -> None:
    """A report staged after the telemetry of the same twin is kept when the batch is
    installed: the working copy goes into the graph, then the newest values onto it."""
    graph = graph_of(PUMP)
    batch = Batch(graph, "connector:mqtt", 10.0)
    batch.telemetry(PUMP, {"flow": 1.0}, 5.0)
    batch.telemetry(PUMP, {"flow": 3.0}, 7.0)
    batch.telemetry(PUMP, {"flow": 2.0}, 6.0)  # older than the newest: history only
    working = batch.report(PUMP, "mode", "auto", 6.0)
    batch.finish()
    install(graph, batch)
    twin = graph.get("pump-1")
    assert twin is not None and twin.telemetry == {"flow": TelemetryValue(3.0, 7.0)}
    assert twin.reported("mode") == "auto" and twin.version == working.version == 2
    assert [p.value for p in batch.points] == [1.0, 3.0, 2.0, "auto"]


def test_telemetry_older_than_the_twins_latest_does_not_move_it() -> None:
    seen = Twin(
        "pump-1",
        "dtmi:test:Pump;1",
        version=1,
        created=1.0,
        updated=1.0,
        telemetry={"flow": TelemetryValue(9.0, 8.0)},
    )
    batch = Batch(graph_of(seen), "connector:mqtt", 10.0)
    batch.telemetry(seen, {"flow": 1.0}, 5.0)
    batch.finish()
    assert "pump-1" not in batch.twins and "pump-1" not in batch.latest  # nothing newer
    assert list(batch.points) == [Point("pump-1", "flow", 5.0, 1.0)]


def test_latest_telemetry_is_updated_in_place_and_a_detached_copy_stays() -> None:
    graph = graph_of(PUMP)
    graph.update_latest("pump-1", {"flow": TelemetryValue(1.0, 5.0)})
    live = graph.get("pump-1")
    assert live is not None and live.telemetry == {"flow": TelemetryValue(1.0, 5.0)}
    kept = detached(live)
    graph.update_latest(
        "pump-1", {"flow": TelemetryValue(2.0, 6.0), "head": TelemetryValue(3.0, 6.0)}
    )
    assert graph.get("pump-1") is live  # no new twin per message
    assert live.telemetry == {"flow": TelemetryValue(2.0, 6.0), "head": TelemetryValue(3.0, 6.0)}
    assert kept.telemetry == {"flow": TelemetryValue(1.0, 5.0)} and kept.version == live.version
    assert graph.last_seq("pump-1") == 1


def test_a_twin_put_with_other_telemetry_gets_its_own_latest_values() -> None:
    graph = graph_of(PUMP)
    graph.update_latest("pump-1", {"flow": TelemetryValue(1.0, 5.0)})
    loaded = Twin(
        "pump-1",
        PUMP.model,
        version=2,
        created=1.0,
        updated=2.0,
        telemetry={"head": TelemetryValue(4.0, 7.0)},
    )
    graph.put(loaded)  # e.g. the twin as a snapshot had it
    graph.update_latest("pump-1", {"flow": TelemetryValue(2.0, 8.0)})
    twin = graph.get("pump-1")
    assert twin is not None and twin.version == 2
    assert twin.telemetry == {"head": TelemetryValue(4.0, 7.0), "flow": TelemetryValue(2.0, 8.0)}
    assert loaded.telemetry == {"head": TelemetryValue(4.0, 7.0)}  # what was put is not moved
    graph.put(Twin("pump-1", PUMP.model, version=3, created=1.0, updated=3.0, deleted=True))
    graph.update_latest("pump-1", {"flow": TelemetryValue(5.0, 9.0)})  # not live: nothing
    assert graph.get("pump-1") is None
    graph.put(Twin("pump-1", PUMP.model, version=4, created=9.0, updated=9.0))
    again = graph.get("pump-1")
    assert again is not None and dict(again.telemetry) == {}  # a new twin of the id starts empty

"""Series ids found in bulk and point rows made from columns (the append hot path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from twinkit.core import Event, EventType, Point
from twinkit.core._batch import PointColumns
from twinkit.errors import ConflictError, StoreError
from twinkit.store._sqlite_engine import SQLiteEngine, connect
from twinkit.store._sqlite_engine_points import INSERT_POINT, INSERT_POINT_DATA, point_rows


def engine(where: str = ":memory:") -> SQLiteEngine:
    return SQLiteEngine(connect(where, "NORMAL"), where)


def traced(eng: SQLiteEngine, points: list[Point]) -> list[str]:
    statements: list[str] = []
    eng._conn.set_trace_callback(statements.append)
    try:
        eng.append([], points, [])
    finally:
        eng._conn.set_trace_callback(None)
    return statements


def test_new_series_of_a_batch_cost_one_statement_per_250() -> None:
    eng = engine()
    eng.rollups.pending()  # the rollup state loads once, on first use
    points = [Point(f"dev-{i}", f"v{j}", 1.0, float(j)) for i in range(300) for j in range(3)]
    statements = traced(eng, points)
    series = [s for s in statements if "INTO series" in s or "JOIN series" in s]
    assert len([s for s in series if s.startswith("INSERT INTO series")]) == 4  # 900 series
    assert not [s for s in series if s.startswith("SELECT")]  # every id came back with its row
    assert eng.series_id("dev-299", "v2") == 900 and eng.series_id("dev-0", "v0") == 1
    assert eng.points("dev-123", "v1", 0.0, 2.0, 10) == [Point("dev-123", "v1", 1.0, 1.0)]
    again = traced(eng, [Point(p.twin_id, p.name, 2.0, p.value) for p in points])
    assert not [s for s in again if "INTO series" in s or "JOIN series" in s]  # all known now
    eng.close()


def test_ids_of_a_rolled_back_batch_are_not_kept() -> None:
    eng = engine()
    first = Event(twin_id="a", seq=1, type=EventType.ALERT_RAISED, time=1, recorded=1, cause="c")
    eng.append([first], [], [])
    taken = Event(twin_id="a", seq=1, type=EventType.ALERT_RAISED, time=2, recorded=2, cause="c")
    with pytest.raises(ConflictError, match="already stored"):
        eng.append([taken], [Point("a", "x", 1.0, 1.0)], [])
    assert eng.series_id("a", "x") is None  # the series went with the rollback
    eng.append([], [Point("a", "x", 1.0, 1.0)], [])
    assert eng.series_id("a", "x") == 1
    eng.close()


def test_ids_of_series_stored_before_a_restart_are_found_by_name(tmp_path: Path) -> None:
    where = str(tmp_path / "points.db")
    first = engine(where)
    first.append([], [Point("a", "x", 1.0, 1.0), Point("b", "y", 1.0, 2.0)], [])
    first.close()
    again = engine(where)
    statements = traced(
        again, [Point("b", "y", 2.0, 3.0), Point("c", "z", 2.0, 4.0), Point("a", "x", 2.0, 5.0)]
    )
    assert len([s for s in statements if "JOIN series" in s]) == 1  # one look-up for a and b
    assert [again.series_id(*key) for key in (("a", "x"), ("b", "y"), ("c", "z"))] == [1, 2, 3]
    assert again.points("b", "y", 0.0, 10.0, 10) == [
        Point("b", "y", 1.0, 2.0),
        Point("b", "y", 2.0, 3.0),
    ]
    again.close()


def test_a_deleted_twins_series_are_set_aside_for_a_new_twin_of_its_id() -> None:
    eng = engine()
    eng.append([], [Point("a", "x", 1.0, 1.0)], [])
    gone = Event(twin_id="a", seq=1, type=EventType.TWIN_DELETED, time=2.0, recorded=2.0, cause="c")
    eng.append([gone], [Point("a", "x", 3.0, 7.0)], [])  # the new "a", in the same batch
    assert eng.series_id("a", "x") == 2
    assert eng.points("a", "x", 0.0, 10.0, 10) == [Point("a", "x", 3.0, 7.0)]
    assert eng.series_id("a@deleted:1", "x") == 1
    eng.close()


def test_point_rows_leave_data_out_unless_a_value_needs_it() -> None:
    floats = PointColumns([Point("a", "x", 1.0, 1.5), Point("a", "y", 1.0, 2.5)])
    assert point_rows(floats, [1, 2]) == (INSERT_POINT, [(1, 1.0, 1.5), (2, 1.0, 2.5)])
    numbers = PointColumns([Point("a", "x", 1.0, 1.5), Point("a", "y", 1.0, 2)])
    assert point_rows(numbers, [1, 2]) == (INSERT_POINT, [(1, 1.0, 1.5), (2, 1.0, 2.0)])
    mixed = PointColumns([Point("a", "x", 1.0, 1.5), Point("a", "y", 1.0, "on")])
    assert point_rows(mixed, [1, 2]) == (
        INSERT_POINT_DATA,
        [(1, 1.0, 1.5, None), (2, 1.0, None, b'"on"')],
    )


def test_a_series_that_cannot_be_read_back_is_a_store_error() -> None:
    eng = engine()
    eng._conn.execute("CREATE TRIGGER hide BEFORE INSERT ON series BEGIN SELECT RAISE(IGNORE); END")
    with pytest.raises(StoreError, match="cannot be read back"):
        eng.append([], [Point("a", "x", 1.0, 1.0)], [])
    assert eng.series_id("a", "x") is None
    eng.close()


def test_computed_points_replace_the_value_at_their_time_and_device_points_do_not() -> None:
    eng = engine()
    eng.append([], [Point("a", "x", 1.0, 1.0), Point("a", "predicted:y", 1.0, 1.0)], [])
    again = PointColumns([Point("a", "x", 1.0, 9.0)])
    statement, _ = point_rows(again, [1])
    assert statement.startswith("INSERT OR IGNORE")
    eng.append([], again, [])  # a redelivery of a device's point: ignored
    computed = PointColumns(
        [Point("a", "predicted:y", 1.0, 2.0), Point("a", "predicted:y", 2.0, "on")]
    )
    computed.replace = True
    assert point_rows(computed, [2, 2])[0].startswith("INSERT OR REPLACE")
    eng.append([], computed, [])  # a model's newer answer for the same time: kept
    assert eng.points("a", "x", 0.0, 5.0, 10) == [Point("a", "x", 1.0, 1.0)]
    assert eng.points("a", "predicted:y", 0.0, 5.0, 10) == [
        Point("a", "predicted:y", 1.0, 2.0),
        Point("a", "predicted:y", 2.0, "on"),
    ]
    eng.close()

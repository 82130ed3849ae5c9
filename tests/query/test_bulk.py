"""Bulk export and import: Parquet/CSV round trips, filters, units, bad rows and dead letters."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from twinkit.core import Reading, Runtime
from twinkit.errors import NotFoundError, ValidationError
from twinkit.query._bulk import file_format, ns_to_seconds, seconds_to_ns, split_unit
from twinkit.query._bulk_export import (
    SERIES_SCHEMA,
    SeriesFilter,
    export_series,
    export_twins,
    iter_series_batches,
    list_series,
    series_table,
    twin_table,
)
from twinkit.query._bulk_import import ImportOptions, ImportSummary, import_file
from twinkit.store import Point, SQLiteStore

T = TypeVar("T")

DEVICE = "dtmi:test:bulk:Device;1"
PUMP = "dtmi:test:bulk:Pump;1"
MOTOR = "dtmi:test:bulk:Motor;1"
TANK = "dtmi:test:bulk:Tank;1"
T0 = 1_714_521_600.0  # 2024-05-01T00:00:00Z
MODELS: list[dict[str, Any]] = [
    {
        "@context": "dtmi:dtdl:context;2",
        "@id": DEVICE,
        "@type": "Interface",
        "contents": [{"@type": "Property", "name": "serial", "schema": "string"}],
    },
    {
        "@context": "dtmi:dtdl:context;2",
        "@id": MOTOR,
        "@type": "Interface",
        "contents": [
            {
                "@type": ["Telemetry", "AngularVelocity"],
                "name": "speed",
                "schema": "double",
                "unit": "revolutionPerSecond",
            }
        ],
    },
    {
        "@context": "dtmi:dtdl:context;2",
        "@id": PUMP,
        "@type": "Interface",
        "extends": DEVICE,
        "contents": [
            {
                "@type": ["Telemetry", "Temperature"],
                "name": "temperature",
                "schema": "double",
                "unit": "degreeCelsius",
            },
            {"@type": "Telemetry", "name": "flow", "schema": "double"},
            {"@type": "Telemetry", "name": "state", "schema": "string"},
            {"@type": "Telemetry", "name": "running", "schema": "boolean"},
            {
                "@type": "Telemetry",
                "name": "position",
                "schema": {
                    "@type": "Object",
                    "fields": [
                        {"name": "x", "schema": "double"},
                        {"name": "y", "schema": "double"},
                    ],
                },
            },
            {
                "@type": ["Property", "Length"],
                "name": "depth",
                "schema": "integer",
                "unit": "centimetre",
            },
            {"@type": "Property", "name": "setpoint", "schema": "double", "writable": True},
            {"@type": "Component", "name": "motor", "schema": MOTOR},
        ],
    },
    {
        "@context": "dtmi:dtdl:context;2",
        "@id": TANK,
        "@type": "Interface",
        "contents": [{"@type": "Telemetry", "name": "level", "schema": "double"}],
    },
]
TWINS = [("pump-1", PUMP, {"serial": "A1"}), ("pump-2", PUMP, None), ("tank-1", TANK, None)]


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


async def open_twins(path: Path) -> tuple[SQLiteStore, Runtime]:
    """A store at ``path`` with the test models and twins (created on first open)."""
    store = await SQLiteStore.open(path)
    runtime = await Runtime.open(store, clock=lambda: T0 - 1000.0)
    if not runtime.models:
        await runtime.add_models(MODELS)
        await runtime.create_twins(TWINS, cause="test")
    return store, runtime


def with_twins(path: Path, body: Callable[[SQLiteStore, Runtime], Awaitable[T]]) -> T:
    async def main() -> T:
        store, runtime = await open_twins(path)
        try:
            return await body(store, runtime)
        finally:
            await runtime.close()
            await store.close()

    return asyncio.run(main())


async def fill(runtime: Runtime, count: int = 50) -> None:
    """Every kind of value: numbers, text, booleans, objects, properties, a component."""
    messages = []
    for i in range(count):
        values: dict[str, Any] = {
            "temperature": 20.0 + i / 7,
            "flow": float(i),
            "state": ["idle", "running", ""][i % 3],
            "running": i % 2 == 0,
            "position": {"x": i * 0.5, "y": -1.0},
            "setpoint": float(i // 10),
            "motor/speed": 25.0 + i,
        }
        messages.append([Reading("pump-1", values, T0 + i + 0.123456789)])
        messages.append([Reading("pump-2", {"flow": 100.0 - i}, T0 + i * 2.0)])
        messages.append([Reading("tank-1", {"level": i / 3}, T0 + i)])
    assert await runtime.ingest(messages, cause="test") == [None] * len(messages)


async def all_points(store: SQLiteStore) -> dict[tuple[str, str], list[Point]]:
    found = {}
    for ref in await list_series(store):
        found[(ref.twin_id, ref.name)] = await store.points(
            ref.twin_id, ref.name, -math.inf, math.inf
        )
    return found


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_then_import_into_a_fresh_store_gives_the_same_series(
    tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / f"history.{fmt}"

    async def source(store: SQLiteStore, runtime: Runtime) -> dict[tuple[str, str], list[Point]]:
        await fill(runtime)
        summary = await export_series(store, out, chunk_rows=64)
        assert summary.rows == 50 * 6 + 5 + 50 + 50  # six telemetry, setpoint changes 5 times
        assert summary.items == 9 and summary.format == fmt and summary.bytes > 0
        return await all_points(store)

    async def target(store: SQLiteStore, runtime: Runtime) -> Any:
        summary = await import_file(runtime, out, ImportOptions(chunk_rows=100))
        return summary, await all_points(store), runtime.get("pump-1")

    before = with_twins(tmp_path / "a.db", source)
    summary, after, pump = with_twins(tmp_path / "b.db", target)
    assert summary.layout == "long" and summary.rows_rejected == 0
    assert summary.rows_read == summary.rows_imported == 405
    assert after == before  # times to the last bit, strings, booleans, objects
    assert pump.properties["setpoint"].reported == 4.0
    assert pump.telemetry["motor/speed"].value == 74.0
    assert pump.telemetry["state"].value == "running"  # the newest point is the current value


def test_exported_columns_are_typed_as_documented(tmp_path: Path) -> None:
    async def body(store: SQLiteStore, runtime: Runtime) -> pa.Table:
        await fill(runtime, 3)
        await export_series(store, tmp_path / "s.parquet", where=SeriesFilter(twins=("pump-1",)))
        return pq.read_table(tmp_path / "s.parquet")

    table = with_twins(tmp_path / "a.db", body)
    assert table.schema == SERIES_SCHEMA
    nanos = table.column("time").cast(pa.int64()).to_pylist()
    rows = {(r["name"], ns): r for r, ns in zip(table.to_pylist(), nanos, strict=True)}

    def at(second: int) -> int:
        return int(seconds_to_ns(np.array([T0 + second + 0.123456789]))[0])

    running = rows[("running", at(0))]
    assert running["value"] == 1.0 and running["json"] == "true"
    state = rows[("state", at(1))]
    assert state["value"] is None and orjson.loads(state["json"]) == "running"
    flow = rows[("flow", at(2))]
    assert flow["value"] == 2.0 and flow["json"] is None
    assert at(0) % 1000 != 0  # nanoseconds, not microseconds


def test_csv_export_writes_iso_times_with_nanoseconds(tmp_path: Path) -> None:
    async def body(store: SQLiteStore, runtime: Runtime) -> str:
        await fill(runtime, 1)
        await export_series(store, tmp_path / "s.csv", where=SeriesFilter(names=("flow",)))
        return (tmp_path / "s.csv").read_text()

    text = with_twins(tmp_path / "a.db", body)
    assert text.splitlines() == [
        '"twin_id","name","time","value","json"',
        '"pump-1","flow","2024-05-01T00:00:00.123456717Z",0,',  # the float's nanoseconds
        '"pump-2","flow","2024-05-01T00:00:00.000000000Z",100,',
    ]


# --- export filters --------------------------------------------------------------------------


def test_series_filters_by_twin_model_name_and_time(tmp_path: Path) -> None:
    async def body(store: SQLiteStore, runtime: Runtime) -> None:
        await fill(runtime, 20)

        async def keys(where: SeriesFilter) -> set[tuple[str, str]]:
            table = await series_table(store, where)
            return set(zip(table["twin_id"].to_pylist(), table["name"].to_pylist(), strict=True))

        assert await keys(SeriesFilter(twins=("tank-1",))) == {("tank-1", "level")}
        assert {t for t, _ in await keys(SeriesFilter(models=(DEVICE,)))} == {"pump-1", "pump-2"}
        assert await keys(SeriesFilter(models=(PUMP,), names=("flow",))) == {
            ("pump-1", "flow"),
            ("pump-2", "flow"),
        }
        assert await keys(SeriesFilter(twins=("tank-1",), models=(PUMP,))) == set()
        ranged = await series_table(
            store, SeriesFilter(twins=("pump-2",), start=T0 + 10, end=T0 + 20)
        )
        assert ranged["time"].cast(pa.int64()).to_pylist() == [
            int((T0 + s) * 1e9) for s in (10, 12, 14, 16, 18)
        ]
        with pytest.raises(NotFoundError, match="dtmi:test:bulk:Nope;1"):
            await series_table(store, SeriesFilter(models=("dtmi:test:bulk:Nope;1",)))

    with_twins(tmp_path / "a.db", body)


def test_small_chunks_page_through_a_series_without_losing_or_repeating_points(
    tmp_path: Path,
) -> None:
    async def body(store: SQLiteStore, runtime: Runtime) -> None:
        await fill(runtime, 50)
        where = SeriesFilter(twins=("tank-1",))
        sizes = [b.num_rows async for b in iter_series_batches(store, where, chunk_rows=7)]
        assert sizes == [7] * 7 + [1]
        table = await series_table(store, where)
        assert table["value"].to_pylist() == [i / 3 for i in range(50)]

    with_twins(tmp_path / "a.db", body)


def test_deleted_twins_history_is_left_out_unless_asked_for(tmp_path: Path) -> None:
    async def body(store: SQLiteStore, runtime: Runtime) -> None:
        await fill(runtime, 5)
        await runtime.delete_twin("tank-1", cause="test")
        names = {r.twin_id for r in await list_series(store)}
        assert not any(n.startswith("tank-1") for n in names)
        deleted = await list_series(store, SeriesFilter(twins=("tank-1",), include_deleted=True))
        assert [r.twin_id.split("@")[0] for r in deleted] == ["tank-1"]
        assert deleted[0].twin_id.startswith("tank-1@deleted:")

    with_twins(tmp_path / "a.db", body)


def test_export_progress_counts_every_row(tmp_path: Path) -> None:
    bars: list[Bar] = []

    class Bar:
        def __init__(self, description: str, total: int | None) -> None:
            self.description, self.total, self.done, self.closed = description, total, 0, False
            bars.append(self)

        def update(self, n: int) -> None:
            self.done += n

        def close(self) -> None:
            self.closed = True

    async def body(store: SQLiteStore, runtime: Runtime) -> None:
        await fill(runtime, 30)
        await export_series(store, tmp_path / "s.parquet", chunk_rows=10, progress=Bar)
        await import_file(runtime, tmp_path / "s.parquet", progress=Bar)

    with_twins(tmp_path / "a.db", body)
    export, load = bars
    assert export.total == export.done == 30 * 6 + 3 + 60 and export.closed
    assert load.total == load.done == export.total and load.closed


def test_a_failed_export_leaves_no_file_behind(tmp_path: Path) -> None:
    async def body(store: SQLiteStore, runtime: Runtime) -> None:
        await runtime.ingest([[Reading("tank-1", {"level": 1.0}, 1e10)]], cause="test")
        with pytest.raises(ValidationError, match="1677 and 2262"):
            await export_series(store, tmp_path / "s.parquet")

    with_twins(tmp_path / "a.db", body)
    assert list(tmp_path.glob("s.parquet*")) == []
    assert list(tmp_path.glob(".s.parquet*")) == []


# --- twins -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_twins_export_one_row_per_twin_with_its_document(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"twins.{fmt}"

    async def body(store: SQLiteStore, runtime: Runtime) -> None:
        await fill(runtime, 12)
        summary = await export_twins(store, out, models=(DEVICE,))
        assert summary.rows == 2

    with_twins(tmp_path / "a.db", body)
    table = pq.read_table(out) if fmt == "parquet" else pa_csv.read_csv(out)
    rows = {row["id"]: row for row in table.to_pylist()}
    assert set(rows) == {"pump-1", "pump-2"}
    pump = rows["pump-1"]
    assert pump["model"] == PUMP and pump["version"] == 3  # created, setpoint 0.0, then 1.0
    assert pump["properties.setpoint"] == 1.0 and pump["properties.serial"] == "A1"
    assert rows["pump-2"]["properties.serial"] in ((None,) if fmt == "parquet" else ("", None))
    document = orjson.loads(pump["document"])
    assert document["$dtId"] == "pump-1" and document["$metadata"]["$model"] == PUMP


def test_twins_export_as_of_a_past_time(tmp_path: Path) -> None:
    out = tmp_path / "then.parquet"

    async def body(store: SQLiteStore, runtime: Runtime) -> None:
        await fill(runtime, 30)
        await export_twins(store, out, models=(PUMP,), as_of=T0 + 15)
        with pytest.raises(NotFoundError, match="Nope"):
            await export_twins(store, out, models=("dtmi:test:bulk:Nope;1",), as_of=T0)

    with_twins(tmp_path / "a.db", body)
    rows = pq.read_table(out).to_pylist()
    assert [r["id"] for r in rows] == ["pump-1", "pump-2"]
    assert rows[0]["properties.setpoint"] == 1.0  # 2.0 came at T0 + 20
    assert orjson.loads(rows[0]["document"])["setpoint"] == 1.0


def test_twin_table_property_columns_fall_back_to_json_for_mixed_values(tmp_path: Path) -> None:
    async def body(store: SQLiteStore, runtime: Runtime) -> pa.Table:
        return await twin_table(store, twins=("pump-1", "tank-1"))

    table = with_twins(tmp_path / "a.db", body)
    assert table["id"].to_pylist() == ["pump-1", "tank-1"]
    assert table.schema.field("properties.serial").type == pa.string()
    assert table.schema.field("version").type == pa.int64()


# --- import: wide files and units ------------------------------------------------------------


def test_wide_csv_converts_units_in_headers_to_the_models_units(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "pump.csv",
        """
time,temperature[degF],flow,depth[mm],motor/speed[rpm],state
2024-05-01T00:00:00Z,212,1.5,100,120,idle
2024-05-01T00:00:01Z,32,,250,,42
2024-05-01T02:00:02+02:00,50,2.5,,60,
""",
    )

    async def body(store: SQLiteStore, runtime: Runtime) -> ImportSummary:
        summary = await import_file(runtime, path, ImportOptions(twin="pump-1"))
        temps = await store.points("pump-1", "temperature", 0, math.inf)
        assert [p.time - T0 for p in temps] == [0, 1, 2]
        assert [p.value for p in temps] == pytest.approx([100.0, 0.0, 10.0], abs=1e-12)
        assert [p.value for p in await store.points("pump-1", "depth", 0, math.inf)] == [10, 25]
        speeds = await store.points("pump-1", "motor/speed", 0, math.inf)
        assert [p.value for p in speeds] == [2.0, 1.0]
        states = await store.points("pump-1", "state", 0, math.inf)
        assert [p.value for p in states] == ["idle", "42"]  # text stays text for strings
        assert runtime.get("pump-1").properties["depth"].reported == 25
        return summary

    summary = with_twins(tmp_path / "a.db", body)
    assert (summary.layout, summary.rows_read, summary.rows_imported) == ("wide", 3, 3)
    assert summary.values_imported == 5 + 3 + 3


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("temperature[bar]", "column 'temperature[bar]': cannot convert 'bar' to 'degreeCelsius'"),
        ("temperature[furlongs]", "column 'temperature[furlongs]': cannot convert 'furlongs'"),
        ("flow[m3/s]", "column 'flow[m3/s]': telemetry 'flow' has no unit to convert 'm3/s' to"),
        ("pressure", "column 'pressure': the model has no telemetry or property 'pressure'"),
    ],
)
def test_a_header_that_does_not_fit_the_model_stops_the_import_before_any_row(
    tmp_path: Path, header: str, message: str
) -> None:
    path = write_csv(tmp_path / "pump.csv", f"time,flow,{header}\n1714521600,1.0,2.0\n")

    async def body(store: SQLiteStore, runtime: Runtime) -> None:
        with pytest.raises(ValidationError) as caught:
            await import_file(runtime, path, ImportOptions(twin="pump-1"))
        assert message in str(caught.value)
        assert await store.points("pump-1", "flow", 0, math.inf) == []

    with_twins(tmp_path / "a.db", body)


def test_wide_file_needs_an_existing_twin_and_ignores_listed_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "w.csv", "time,level,label\n1714521600,1.0,a\n1714521601,,b\n")

    async def body(store: SQLiteStore, runtime: Runtime) -> ImportSummary:
        with pytest.raises(ValidationError, match="needs the twin"):
            await import_file(runtime, path)
        with pytest.raises(NotFoundError, match="nope"):
            await import_file(runtime, path, ImportOptions(twin="nope", ignore_columns=("label",)))
        return await import_file(
            runtime, path, ImportOptions(twin="tank-1", ignore_columns=("label",))
        )

    summary = with_twins(tmp_path / "a.db", body)
    assert (summary.rows_imported, summary.rows_empty, summary.rows_rejected) == (1, 1, 0)


def test_parquet_wide_file_with_typed_columns(tmp_path: Path) -> None:
    path = tmp_path / "w.parquet"
    times = pa.array(np.array([0, 1_500_000_000], dtype="int64") + int(T0 * 1e9))
    pq.write_table(
        pa.table(
            {
                "ts": times.cast(pa.timestamp("ns")),  # naive: UTC
                "running": pa.array([True, False]),
                "flow": pa.array([1, 2], pa.int32()),
                "position": pa.array([{"x": 1.0, "y": 2.0}, None]),
            }
        ),
        path,
    )

    async def body(store: SQLiteStore, runtime: Runtime) -> None:
        summary = await import_file(runtime, path, ImportOptions(twin="pump-1", time_column="ts"))
        assert summary.rows_imported == 2 and summary.values_imported == 5
        running = await store.points("pump-1", "running", 0, math.inf)
        assert [(p.time, p.value) for p in running] == [(T0, True), (T0 + 1.5, False)]
        assert [p.value for p in await store.points("pump-1", "position", 0, math.inf)] == [
            {"x": 1.0, "y": 2.0}
        ]

    with_twins(tmp_path / "a.db", body)


# --- import: times ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "unit"),
    [
        (["1714521600", "1714521601.25"], None),
        (["1714521600000", "1714521601250"], None),
        (["1714521600000000", "1714521601250000"], None),
        (["2024-05-01T00:00:00Z", "2024-05-01T02:00:01.25+02:00"], None),
        (["2024-05-01 00:00:00", "2024-05-01T00:00:01.250"], None),  # no zone: UTC
        (["1714521600000", "1714521601250"], "ms"),
        (["1714521600", "1714521601.25"], "s"),
    ],
)
def test_times_as_iso_or_epoch_numbers(tmp_path: Path, cells: list[str], unit: Any) -> None:
    text = "time,level\n" + "".join(f"{cell},{i}\n" for i, cell in enumerate(cells))
    path = write_csv(tmp_path / "t.csv", text)

    async def body(store: SQLiteStore, runtime: Runtime) -> list[float]:
        await import_file(runtime, path, ImportOptions(twin="tank-1", time_unit=unit))
        return [p.time for p in await store.points("tank-1", "level", 0, math.inf)]

    assert with_twins(tmp_path / "a.db", body) == [T0, T0 + 1.25]


def test_nanosecond_conversion_is_exact_for_every_float_time_after_1970_04() -> None:
    rng = np.random.default_rng(7)
    times = np.concatenate(
        [rng.uniform(1e7, 9.2e9, 200_000), rng.uniform(-9.2e9, -1e7, 50_000), [T0, 1.7e9 + 0.1]]
    )
    assert np.array_equal(ns_to_seconds(seconds_to_ns(times)), times)


# --- import: bad rows ------------------------------------------------------------------------


def test_bad_rows_are_rejected_with_row_and_column_and_dead_lettered(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "long.csv",
        """
twin_id,name,time,value
pump-1,flow,2024-05-01T00:00:00Z,1.5
ghost,flow,2024-05-01T00:00:00Z,1.5
pump-1,pressure,2024-05-01T00:00:00Z,1.5
pump-1,flow,yesterday,1.5
pump-1,flow,2024-05-01T00:00:01Z,fast
pump-1,flow,2024-05-01T00:00:02Z
pump-1,running,2024-05-01T00:00:02Z,maybe
pump-1,flow,2024-05-01T00:00:03Z,
pump-1,temperature[degF],2024-05-01T00:00:04Z,212
,flow,2024-05-01T00:00:05Z,1
""",
    )

    async def body(store: SQLiteStore, runtime: Runtime) -> ImportSummary:
        summary = await import_file(runtime, path)
        assert [p.value for p in await store.points("pump-1", "flow", 0, math.inf)] == [1.5]
        temps = await store.points("pump-1", "temperature", 0, math.inf)
        assert [p.value for p in temps] == pytest.approx([100.0], abs=1e-12)
        letters = await store.dead_letters(limit=100)
        assert [d.source for d in letters] == [
            f"import:{path}:{row}" for row in (2, 3, 4, 5, 6, 7, 8, 10)
        ]
        record = orjson.loads(letters[0].payload)
        assert record == {"twinId": "ghost", "ts": "2024-05-01T00:00:00Z", "values": {"flow": 1.5}}
        assert orjson.loads(letters[3].payload)["values"] == {"flow": "fast"}
        assert "row 2, column 'twin_id': twin 'ghost' not found" in letters[0].reason
        return summary

    summary = with_twins(tmp_path / "a.db", body)
    assert (summary.rows_read, summary.rows_imported, summary.rows_rejected) == (10, 2, 8)
    by_row = {r.row: r for r in summary.rejected}
    assert by_row[2].column == "twin_id"
    assert by_row[3].column == "name" and "no telemetry or property 'pressure'" in by_row[3].reason
    assert by_row[4].column == "time" and by_row[4].got == "yesterday"
    assert by_row[5].column == "value" and by_row[5].got == "fast"
    assert "double" in str(by_row[5].expected)
    assert by_row[6].column is None and "3 fields" not in by_row[6].reason  # a short CSV line
    assert by_row[6].got == "3 fields: pump-1,flow,2024-05-01T00:00:02Z"
    assert by_row[7].column == "value" and by_row[7].expected == "boolean"
    assert by_row[8].reason == "no value"
    assert by_row[10].column == "twin_id"
    assert str(by_row[5]).startswith(f"{path}: row 5, column 'value': ")


def test_a_bad_cell_of_a_wide_row_rejects_the_row_naming_its_column(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "w.csv",
        "time,flow,temperature[degF]\n1714521600,1,50\n1714521601,2,hot\n1714521602,3,32\n",
    )

    async def body(store: SQLiteStore, runtime: Runtime) -> ImportSummary:
        summary = await import_file(runtime, path, ImportOptions(twin="pump-1"))
        assert [p.value for p in await store.points("pump-1", "flow", 0, math.inf)] == [1.0, 3.0]
        return summary

    summary = with_twins(tmp_path / "a.db", body)
    (rejected,) = summary.rejected
    assert (rejected.row, rejected.column, rejected.got) == (2, "temperature[degF]", "hot")


def test_many_rejected_rows_are_all_counted_but_only_some_kept(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "w.csv", "time,flow\n" + "".join(f"{T0 + i},x{i}\n" for i in range(30))
    )

    async def body(store: SQLiteStore, runtime: Runtime) -> ImportSummary:
        options = ImportOptions(twin="pump-1", keep_rejected=5, chunk_rows=8)
        summary = await import_file(runtime, path, options)
        assert len(await store.dead_letters(limit=100)) == 30
        return summary

    summary = with_twins(tmp_path / "a.db", body)
    assert summary.rows_rejected == 30 and [r.row for r in summary.rejected] == [1, 2, 3, 4, 5]


def test_file_level_problems_raise_before_anything_is_imported(tmp_path: Path) -> None:
    async def body(store: SQLiteStore, runtime: Runtime) -> None:
        with pytest.raises(NotFoundError, match=r"missing\.csv"):
            await import_file(runtime, tmp_path / "missing.csv")
        empty = write_csv(tmp_path / "empty.csv", "")
        with pytest.raises(ValidationError, match="empty CSV"):
            await import_file(runtime, empty)
        no_time = write_csv(tmp_path / "nt.csv", "when,level\n1,2\n")
        with pytest.raises(ValidationError, match="no time column 'time'"):
            await import_file(runtime, no_time, ImportOptions(twin="tank-1"))
        half = write_csv(tmp_path / "half.csv", "twin_id,time,value\na,1,2\n")
        with pytest.raises(ValidationError, match="missing columns for the long layout"):
            await import_file(runtime, half, ImportOptions(layout="long"))
        junk = tmp_path / "junk.parquet"
        junk.write_bytes(b"not parquet at all")
        with pytest.raises(ValidationError, match="cannot read"):
            await import_file(runtime, junk)
        with pytest.raises(ValidationError, match="cannot tell the file format"):
            await import_file(runtime, tmp_path / "data.xlsx")

    with_twins(tmp_path / "a.db", body)


# --- import: history and current values ------------------------------------------------------


def test_old_points_become_history_and_new_ones_current_values(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "w.csv",
        f"time,setpoint,flow\n{T0 + 5},1.0,10\n{T0 + 100},2.0,20\n{T0 + 1},3.0,30\n",
    )

    async def body(store: SQLiteStore, runtime: Runtime) -> None:
        await runtime.ingest(
            [[Reading("pump-1", {"setpoint": 9.0, "flow": 1.0}, T0 + 50)]], cause="t"
        )
        await import_file(runtime, path, ImportOptions(twin="pump-1"))
        pump = runtime.get("pump-1")
        assert pump.properties["setpoint"].reported == 2.0  # T0 + 100 is newer than T0 + 50
        assert pump.telemetry["flow"].value == 20.0
        history = await store.points("pump-1", "setpoint", 0, math.inf)
        assert [(p.time - T0, p.value) for p in history] == [
            (1, 3.0),
            (5, 1.0),
            (50, 9.0),
            (100, 2.0),
        ]
        events = [e for e in await runtime.events("pump-1") if e.cause == "import:w.csv"]
        assert [e.data["value"] for e in events] == [2.0]  # old points: history, no events

    with_twins(tmp_path / "a.db", body)


def test_importing_the_same_file_twice_adds_nothing(tmp_path: Path) -> None:
    out = tmp_path / "s.parquet"

    async def body(store: SQLiteStore, runtime: Runtime) -> None:
        await fill(runtime, 10)
        await export_series(store, out)
        before = await all_points(store)
        version = runtime.get("pump-1").version
        summary = await import_file(runtime, out)
        assert summary.rows_rejected == 0
        assert await all_points(store) == before
        assert runtime.get("pump-1").version == version

    with_twins(tmp_path / "a.db", body)


# --- small parts -----------------------------------------------------------------------------


def test_units_in_headers_and_file_formats() -> None:
    assert split_unit("temperature[degF]") == ("temperature", "degF")
    assert split_unit(" motor/speed [ rpm ] ") == ("motor/speed", "rpm")
    assert split_unit("flow") == ("flow", None)
    assert split_unit("a[b]c") == ("a[b]c", None)
    assert file_format("x.PARQUET", None) == "parquet"
    assert file_format("x.csv", None) == "csv"
    assert file_format("x.dat", "csv") == "csv"
    with pytest.raises(ValidationError, match="parquet or csv"):
        file_format("x.csv", "xlsx")


def test_options_are_checked() -> None:
    with pytest.raises(ValidationError, match="chunk size"):
        ImportOptions(chunk_rows=0)
    with pytest.raises(ValidationError, match="time unit"):
        ImportOptions(time_unit="fortnights")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="empty time range"):
        SeriesFilter(start=10.0, end=10.0)


def test_twins_to_table_types_simple_columns_and_keeps_the_rest_as_json() -> None:
    from twinkit.query._bulk_export import twins_to_table

    table = twins_to_table(
        [
            ("a", PUMP, 1, {"$dtId": "a", "n": 1, "flag": True, "mixed": 1, "obj": {"x": 1}}),
            ("b", PUMP, 2, {"$dtId": "b", "n": 2.5, "mixed": "one", "late": "x"}),
        ]
    )
    assert table.schema.field("properties.n").type == pa.float64()
    assert table.schema.field("properties.flag").type == pa.bool_()
    assert table["properties.mixed"].to_pylist() == ["1", '"one"']
    assert table["properties.obj"].to_pylist() == ['{"x":1}', None]
    assert table["properties.late"].to_pylist() == [None, "x"]
    assert "properties.$dtId" not in table.column_names


def test_docs_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    text = (Path(__file__).resolve().parents[2] / "docs" / "bulk.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert blocks, "docs/bulk.md lost its example"
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "docs/bulk.md", "exec"), {"__name__": "bulk_doc"})

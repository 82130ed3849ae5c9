"""``twinkit export`` and ``twinkit import`` on data folders, as a user runs them."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from twinkit.cli import cli
from twinkit.core import Reading, Runtime
from twinkit.store import Point, SQLiteStore

PUMP = "dtmi:test:cli:Pump;1"
T0 = 1_714_521_600.0  # 2024-05-01T00:00:00Z
MODELS: list[dict[str, Any]] = [
    {
        "@context": "dtmi:dtdl:context;2",
        "@id": PUMP,
        "@type": "Interface",
        "contents": [
            {
                "@type": ["Telemetry", "Temperature"],
                "name": "temperature",
                "schema": "double",
                "unit": "degreeCelsius",
            },
            {"@type": "Telemetry", "name": "state", "schema": "string"},
            {"@type": "Property", "name": "setpoint", "schema": "double", "writable": True},
        ],
    }
]
SERIES = [("pump-1", "temperature"), ("pump-1", "state"), ("pump-1", "setpoint")]


def make_data(folder: Path, points: int = 0) -> Path:
    """A data folder with the pump model, twin pump-1 and ``points`` readings."""

    async def main() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        async with await SQLiteStore.open(folder / "twinkit.db") as store:
            runtime = await Runtime.open(store, clock=lambda: T0 - 60)
            await runtime.add_models(MODELS)
            await runtime.create_twin("pump-1", PUMP, cause="test")
            messages = [
                [
                    Reading(
                        "pump-1",
                        {"temperature": 20 + i / 4, "state": f"s{i % 3}", "setpoint": i // 5},
                        T0 + i * 0.5,
                    )
                ]
                for i in range(points)
            ]
            assert await runtime.ingest(messages, cause="test") == [None] * points
            await runtime.close()

    asyncio.run(main())
    return folder


def read_series(folder: Path) -> dict[tuple[str, str], list[Point]]:
    async def main() -> dict[tuple[str, str], list[Point]]:
        async with await SQLiteStore.open(folder / "twinkit.db") as store:
            return {key: await store.points(*key, -math.inf, math.inf) for key in SERIES}

    return asyncio.run(main())


def dead_letters(folder: Path) -> list[tuple[str, str]]:
    async def main() -> list[tuple[str, str]]:
        async with await SQLiteStore.open(folder / "twinkit.db") as store:
            return [(d.source, d.reason) for d in await store.dead_letters(limit=100)]

    return asyncio.run(main())


def twinkit(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_export_then_import_into_a_fresh_data_folder(tmp_path: Path, suffix: str) -> None:
    source = make_data(tmp_path / "a", points=40)
    target = make_data(tmp_path / "b")
    out = tmp_path / f"history.{suffix}"

    exported = twinkit("export", "series", "--data", str(source), "-o", str(out))
    assert exported.exit_code == 0, exported.output
    assert f"wrote 88 points of 3 series to {out}" in exported.output  # 40 + 40 + 8 setpoints

    imported = twinkit("import", str(out), "--data", str(target))
    assert imported.exit_code == 0, imported.output
    assert f"{out}: 88 rows read, 88 imported, 0 rejected, 0 empty" in imported.output
    assert read_series(target) == read_series(source)


def test_export_filters_and_format_option(tmp_path: Path) -> None:
    source = make_data(tmp_path / "a", points=40)
    out = tmp_path / "part.data"
    result = twinkit(
        "export", "series", "--data", str(source), "-o", str(out), "--format", "parquet",
        "--name", "temperature", "--start", "2024-05-01T00:00:05Z", "--end", str(T0 + 10),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert set(table["name"].to_pylist()) == {"temperature"}
    assert table.num_rows == 10  # 5 s to 10 s at 2 points per second


def test_export_twins_as_csv(tmp_path: Path) -> None:
    source = make_data(tmp_path / "a", points=12)
    out = tmp_path / "twins.csv"
    result = twinkit("export", "twins", "--data", str(source), "-o", str(out), "--model", PUMP)
    assert result.exit_code == 0, result.output
    header, row = out.read_text().splitlines()
    assert header == '"id","model","version","document","properties.setpoint"'
    assert row.startswith(f'"pump-1","{PUMP}",4,')
    assert row.endswith(",2")


def test_import_wide_csv_converts_units_and_reports_bad_rows(tmp_path: Path) -> None:
    target = make_data(tmp_path / "b")
    wide = tmp_path / "pump.csv"
    wide.write_text(
        "time,temperature[degF],state\n"
        "2024-05-01T00:00:00Z,212,on\n"
        "2024-05-01T00:00:01Z,hot,off\n"
        "2024-05-01T00:00:02Z,32,on\n"
    )
    result = twinkit("import", str(wide), "--data", str(target), "--twin", "pump-1")
    assert result.exit_code == 1  # a row was rejected
    assert f"{wide}: 3 rows read, 2 imported, 1 rejected" in result.output
    assert f"rejected: {wide}: row 2, column 'temperature[degF]': " in result.output
    assert "got 'hot'" in result.output
    temperatures = read_series(target)[("pump-1", "temperature")]
    assert [p.value for p in temperatures] == pytest.approx([100.0, 0.0], abs=1e-12)
    ((source, reason),) = dead_letters(target)
    assert source == f"import:{wide}:2" and "column 'temperature[degF]'" in reason


def test_import_json_summary_and_time_options(tmp_path: Path) -> None:
    target = make_data(tmp_path / "b")
    log = tmp_path / "log.csv"
    log.write_text(f"ts,temperature\n{int(T0 * 1000)},1.5\n{int(T0 * 1000) + 500},2.5\n")
    result = twinkit(
        "import", str(log), "--data", str(target), "--twin", "pump-1",
        "--time-column", "ts", "--time-unit", "ms", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["layout"] == "wide" and summary["rowsImported"] == 2
    assert [p.time for p in read_series(target)[("pump-1", "temperature")]] == [T0, T0 + 0.5]


def test_an_incompatible_unit_fails_the_file_naming_the_column(tmp_path: Path) -> None:
    target = make_data(tmp_path / "b")
    wide = tmp_path / "pump.csv"
    wide.write_text("time,temperature[bar]\n2024-05-01T00:00:00Z,1\n")
    result = twinkit("import", str(wide), "--data", str(target), "--twin", "pump-1")
    assert result.exit_code == 1
    assert "error: column 'temperature[bar]': cannot convert 'bar' to 'degreeCelsius'" in (
        result.output
    )
    assert read_series(target)[("pump-1", "temperature")] == []


def test_commands_need_an_existing_data_folder(tmp_path: Path) -> None:
    for args in (
        ["export", "series", "-o", str(tmp_path / "x.csv")],
        ["import", str(tmp_path / "x.csv")],
    ):
        result = twinkit(*args, "--data", str(tmp_path / "nothing"))
        assert result.exit_code == 1
        assert "no twinkit database at" in result.output
    assert not (tmp_path / "nothing").exists()


def test_help_shows_examples() -> None:
    for args in (["export", "series"], ["export", "twins"], ["import"]):
        result = twinkit(*args, "--help")
        assert result.exit_code == 0
        assert "Examples:" in result.output and "twinkit " + args[0] in result.output

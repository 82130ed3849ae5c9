"""``twinkit export`` and ``twinkit import``: bulk series and twins, offline, on a data folder."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import click

from twinkit.api import Settings
from twinkit.cli import _DATA, _F, _cell, _fail_on_errors, _with_store, cli
from twinkit.core import Runtime
from twinkit.errors import NotFoundError, ValidationError
from twinkit.query._bulk import FORMATS, tqdm_progress
from twinkit.query._bulk_columns import TIME_UNITS, TimeUnit
from twinkit.query._bulk_export import SeriesFilter, export_series, export_twins
from twinkit.query._bulk_import import ImportOptions, ImportSummary, import_file
from twinkit.store import SQLiteStore

# --- bulk export and import (offline, on a data folder) -----------------------------------------


def _existing_settings(data_dir: str | None) -> Settings:
    """Settings of a data folder that must already hold a database (export reads, import adds)."""
    settings = Settings.load({"data_dir": data_dir})
    if not settings.database.is_file():
        raise NotFoundError(
            f"no twinkit database at {settings.database}: expected a data folder that "
            "`twinkit serve` or the demo has used (--data or TWINKIT_DATA_DIR)",
            where=str(settings.database),
        )
    return settings


def _cli_time(text: str | None, option: str) -> float | None:
    """An option's time: epoch seconds, or ISO 8601 (a time without a zone is UTC)."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as err:
        raise ValidationError(
            "bad time",
            path=option,
            expected="epoch seconds or ISO 8601 (2024-05-01, 2024-05-01T12:00:00Z)",
            got=text,
        ) from err
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _format_option(command: _F) -> _F:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default=None,
        help="File format (default: from the file name: .parquet/.pq or .csv).",
    )(command)


@cli.group("export")
def export_group() -> None:
    """Export series (history) or twins (current state) from a data folder to Parquet or CSV.

    Reads the database directly and never blocks a running server (it may run meanwhile).
    """


@export_group.command("series")
@_DATA
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="File to write.")
@_format_option
@click.option("--twin", "twins", multiple=True, help="Only this twin (repeatable).")
@click.option(
    "--model", "models", multiple=True, help="Only twins of this model or one extending it."
)
@click.option("--name", "names", multiple=True, help="Only this telemetry/property (repeatable).")
@click.option("--start", default=None, help="From this time (ISO 8601 or epoch seconds).")
@click.option("--end", default=None, help="Until before this time (ISO 8601 or epoch seconds).")
@click.option(
    "--include-deleted", is_flag=True, help="Also the history of deleted twins (<id>@deleted:<n>)."
)
@click.option(
    "--chunk-rows",
    type=click.IntRange(min=1),
    default=100_000,
    show_default=True,
    help="Points read and written per step (memory use and Parquet row-group size).",
)
@_fail_on_errors
def export_series_command(
    *,
    data_dir: str | None,
    out: str,
    fmt: str | None,
    twins: tuple[str, ...],
    models: tuple[str, ...],
    names: tuple[str, ...],
    start: str | None,
    end: str | None,
    include_deleted: bool,
    chunk_rows: int,
) -> None:
    """Points of the selected series, one row each: twin_id, name, time, value, json.

    \b
    Examples:
      twinkit export series -o history.parquet
      twinkit export series -o pump1.csv --twin pump-1 --start 2024-05-01 --end 2024-05-02
      twinkit export series -o flows.parquet --model dtmi:example:Pump;1 --name flow
    """
    settings = _existing_settings(data_dir)
    where = SeriesFilter(
        twins=twins,
        models=models,
        names=names,
        start=_cli_time(start, "--start"),
        end=_cli_time(end, "--end"),
        include_deleted=include_deleted,
    )
    summary = _with_store(
        settings,
        lambda store: export_series(
            store, out, format=fmt, where=where, chunk_rows=chunk_rows, progress=tqdm_progress
        ),
    )
    click.echo(
        f"wrote {summary.rows} points of {summary.items} series to {summary.path} "
        f"({summary.bytes:,} bytes, {summary.seconds:.2f} s)",
        err=True,
    )


@export_group.command("twins")
@_DATA
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="File to write.")
@_format_option
@click.option("--twin", "twins", multiple=True, help="Only this twin (repeatable).")
@click.option(
    "--model", "models", multiple=True, help="Only twins of this model or one extending it."
)
@click.option(
    "--as-of", default=None, help="The twins as they were then (ISO 8601 or epoch seconds)."
)
@_fail_on_errors
def export_twins_command(
    *,
    data_dir: str | None,
    out: str,
    fmt: str | None,
    twins: tuple[str, ...],
    models: tuple[str, ...],
    as_of: str | None,
) -> None:
    """Twins as they are (or were, with --as-of), one row each: id, model, version, document
    (JSON, in Azure Digital Twins' shape) and a properties.<name> column per reported property.

    \b
    Examples:
      twinkit export twins -o twins.parquet
      twinkit export twins -o pumps.csv --model dtmi:example:Pump;1
      twinkit export twins -o monday.parquet --as-of 2024-05-06T14:00:00Z
    """
    settings = _existing_settings(data_dir)
    at = _cli_time(as_of, "--as-of")
    summary = _with_store(
        settings,
        lambda store: export_twins(
            store, out, format=fmt, twins=twins, models=models, as_of=at, progress=tqdm_progress
        ),
    )
    click.echo(f"wrote {summary.rows} twins to {summary.path} ({summary.bytes:,} bytes)", err=True)


async def _import_files(
    settings: Settings, files: Sequence[str], options: ImportOptions
) -> list[ImportSummary]:
    summaries = []
    async with await SQLiteStore.open(settings.database) as store:
        runtime = await Runtime.open(store)
        try:
            for file in files:
                summaries.append(await import_file(runtime, file, options, progress=tqdm_progress))
        finally:
            await runtime.close()
    return summaries


def _summary_json(summary: ImportSummary) -> dict[str, Any]:
    return {
        "file": summary.file,
        "format": summary.format,
        "layout": summary.layout,
        "rowsRead": summary.rows_read,
        "rowsImported": summary.rows_imported,
        "rowsRejected": summary.rows_rejected,
        "rowsEmpty": summary.rows_empty,
        "valuesImported": summary.values_imported,
        "seconds": round(summary.seconds, 3),
        "rejected": [
            {
                "row": r.row,
                "column": r.column,
                "reason": r.reason,
                "expected": r.expected,
                "got": _cell(r.got),
            }
            for r in summary.rejected
        ],
    }


@cli.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@_DATA
@_format_option
@click.option(
    "--layout",
    type=click.Choice(["long", "wide"]),
    default=None,
    help="long: twin_id,name,time,value[,json]; wide: time + one column per content "
    "(default: long when the file has name and value columns).",
)
@click.option(
    "--twin", default=None, help="The twin of a wide file (or of a long one without twin_id)."
)
@click.option("--time-column", default="time", show_default=True, help="Name of the time column.")
@click.option(
    "--time-unit",
    type=click.Choice(TIME_UNITS),
    default=None,
    help="iso, or epoch s/ms/us/ns (default: timestamps and ISO as they are, numbers by size).",
)
@click.option(
    "--ignore-column", "ignored", multiple=True, help="A column of a wide file to leave out."
)
@click.option(
    "--chunk-rows",
    type=click.IntRange(min=1),
    default=50_000,
    show_default=True,
    help="Rows per ingest transaction.",
)
@click.option(
    "--show-rejected",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="How many rejected rows to list (all are kept as dead letters).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary per file.")
@_fail_on_errors
def import_command(
    *,
    files: tuple[str, ...],
    data_dir: str | None,
    fmt: str | None,
    layout: str | None,
    twin: str | None,
    time_column: str,
    time_unit: str | None,
    ignored: tuple[str, ...],
    chunk_rows: int,
    show_rejected: int,
    as_json: bool,
) -> None:
    """Import history from CSV or Parquet FILES into the twins' series.

    Every row is validated by the twin's model, as live data is; a header's unit, as in
    temperature[degF], is converted to the model's unit. Bad rows are listed with their row
    and column, kept as dead letters (source import:<file>:<row>), and the rest is imported;
    the exit status is 1 when any row was rejected. Run it while `twinkit serve` is stopped
    on that data folder: a running server would not see the imported values.

    \b
    Examples:
      twinkit import history.parquet
      twinkit import pump1.csv --twin pump-1            (wide: time,flow,pressure[bar],...)
      twinkit import log.csv --twin pump-1 --time-column ts --time-unit ms
    """
    settings = _existing_settings(data_dir)
    options = ImportOptions(
        format=fmt,
        layout="long" if layout == "long" else "wide" if layout == "wide" else None,
        twin=twin,
        time_column=time_column,
        time_unit=_time_unit(time_unit),
        ignore_columns=ignored,
        chunk_rows=chunk_rows,
        keep_rejected=max(show_rejected, 1000 if as_json else 0),
    )
    summaries = asyncio.run(_import_files(settings, files, options))
    for summary in summaries:
        if as_json:
            click.echo(json.dumps(_summary_json(summary), indent=2))
            continue
        click.echo(
            f"{summary.file}: {summary.rows_read} rows read, {summary.rows_imported} imported, "
            f"{summary.rows_rejected} rejected, {summary.rows_empty} empty, in "
            f"{summary.seconds:.2f} s ({summary.rows_per_second:,.0f} rows/s)"
        )
        for rejected in summary.rejected[:show_rejected]:
            click.echo(f"  rejected: {rejected}", err=True)
        hidden = summary.rows_rejected - min(show_rejected, len(summary.rejected))
        if hidden > 0:
            click.echo(
                f"  ... and {hidden} more rejected rows (see `twinkit dead-letter ls`)", err=True
            )
    sys.exit(1 if any(s.rows_rejected for s in summaries) else 0)


def _time_unit(text: str | None) -> TimeUnit | None:
    for unit in TIME_UNITS:
        if unit == text:
            return unit
    return None

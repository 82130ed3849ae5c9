"""The ``twinkit`` command: a thin face over the same service objects the API uses."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from twinkit import __version__
from twinkit.api import Client, ClientError, Role, Settings, issue_token
from twinkit.api._serve import serve as serve_api
from twinkit.core import Runtime
from twinkit.errors import NotFoundError, TwinkitError, ValidationError
from twinkit.examples.bracket._demo import DEFAULT_STATE as BRACKET_STATE
from twinkit.examples.bracket._demo import BracketDemoOptions, run_bracket_demo
from twinkit.examples.bracket._loads import Crack
from twinkit.examples.pumps._demo import DEFAULT_STATE, DemoOptions, run_demo
from twinkit.model.dtdl import ParseIssue, ParsingError, dumps, parse
from twinkit.predict._factories import load_factories
from twinkit.query._bulk import FORMATS, tqdm_progress
from twinkit.query._bulk_columns import TIME_UNITS, TimeUnit
from twinkit.query._bulk_export import SeriesFilter, export_series, export_twins
from twinkit.query._bulk_import import ImportOptions, ImportSummary, import_file
from twinkit.sim._shadow_plugins import load_bindings
from twinkit.store import SQLiteStore

__all__ = ["cli", "main", "models"]

_F = TypeVar("_F", bound=Callable[..., Any])


@click.group(name="twinkit", context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="twinkit")
def cli() -> None:
    """twinkit: an open-source digital twin platform."""


@cli.group()
def models() -> None:
    """Work with models (DTDL interfaces)."""


def _json_files(paths: Sequence[str]) -> Iterator[Path]:
    """The files named, and every ``*.json`` file under the folders named, sorted."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.json") if p.is_file())
        else:
            yield path


def _parse_paths(paths: Sequence[str], allow_undefined: bool) -> tuple[int, list[ParseIssue]]:
    files = list(_json_files(paths))
    if not files:
        issue = ParseIssue(" ".join(paths), "/", "no-input", "no .json files found")
        return 0, [issue]
    try:
        model_set = parse(files, allow_undefined_extensions=allow_undefined)
    except ParsingError as err:
        return 0, list(err.errors)
    return len(model_set), []


@models.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option(
    "--allow-undefined-extensions",
    is_flag=True,
    help="Accept @context extensions twinkit does not know.",
)
def validate(paths: tuple[str, ...], as_json: bool, allow_undefined_extensions: bool) -> None:
    """Check DTDL files (or every .json file in folders) together.

    Exits 0 when they are valid, 1 with every error listed as ``file: element: message``.
    """
    count, issues = _parse_paths(paths, allow_undefined_extensions)
    if as_json:
        report = {
            "valid": not issues,
            "interfaces": count,
            "errors": [
                {"file": i.document, "element": i.element, "rule": i.rule, "message": i.message}
                for i in issues
            ],
        }
        click.echo(json.dumps(report, indent=2))
    elif issues:
        for issue in issues:
            click.echo(f"{issue.document}: {issue.element}: {issue.message}", err=False)
        click.echo(f"{len(issues)} error{'s' if len(issues) != 1 else ''}", err=True)
    else:
        click.echo(f"valid: {count} interface{'s' if count != 1 else ''}")
    sys.exit(1 if issues else 0)


@models.command("export")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["dtdl3"]),
    default="dtdl3",
    show_default=True,
    help="Output format.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here, not stdout.")
def export_models(paths: tuple[str, ...], fmt: str, output: str | None) -> None:
    """Parse DTDL v2 or v3 files and write them out as DTDL v3 (one JSON array)."""
    del fmt  # only dtdl3 for now
    try:
        model_set = parse(list(_json_files(paths)))
    except ParsingError as err:
        for issue in err.errors:
            click.echo(f"{issue.document}: {issue.element}: {issue.message}", err=True)
        sys.exit(1)
    text = dumps(model_set)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {len(model_set)} interfaces to {output}", err=True)
    else:
        click.echo(text)


# --- the server ------------------------------------------------------------------------------

_DATA = click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Data folder (TWINKIT_DATA_DIR; default ./twinkit-data).",
)


def _fail_on_errors(command: _F) -> _F:
    """Turn twinkit errors into a one-line message on stderr and exit status 1."""

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except TwinkitError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(1)

    return run  # type: ignore[return-value]


@cli.command("serve")
@_DATA
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8000; 0 picks a free one).")
@click.option("--mqtt-url", default=None, help="Use this MQTT broker instead of a local Mosquitto.")
@click.option(
    "--mqtt-protocol",
    type=click.Choice(["5", "3.1.1"]),
    default=None,
    help="MQTT version to speak (default 5; 3.1.1 for brokers such as NATS).",
)
@click.option(
    "--simulators",
    metavar="MODULE[:ATTR]",
    default=None,
    help="Run these simulators in shadow mode: a function (default 'bindings') of MODULE "
    "returning SimulationBinding objects (see docs/simulation.md).",
)
@click.option(
    "--predictors",
    metavar="MODULE[:ATTR]",
    default=None,
    help="Also offer these models for training: a mapping (default 'predictors') of MODULE "
    "from names to factories (see docs/prediction.md); installed ones are always offered.",
)
@_fail_on_errors
def serve(
    data_dir: str | None,
    *,
    host: str | None,
    port: int | None,
    mqtt_url: str | None,
    mqtt_protocol: str | None,
    simulators: str | None,
    predictors: str | None,
) -> None:
    """Run the API (and a supervised Mosquitto unless --mqtt-url is given) until Ctrl-C."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings.load(
        {
            "data_dir": data_dir,
            "host": host,
            "port": port,
            "mqtt_url": mqtt_url,
            "mqtt_protocol": mqtt_protocol,
        }
    )
    bindings = load_bindings(simulators) if simulators else []
    factories = load_factories(predictors) if predictors else {}
    # a server keeps ~10^6 long-lived objects (twins, values, buffers): with the default
    # threshold (700) the cyclic collector rescans them every few batches, a quarter of the
    # ingest time; 50,000 young objects between collections cuts that to a few per cent
    gc.set_threshold(50_000, 20, 10)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_api(settings, say=click.echo, bindings=bindings, factories=factories))


@cli.group()
def token() -> None:
    """Manage API tokens in a data folder (works while the server runs, or without it)."""


def _with_store(settings: Settings, work: Callable[[SQLiteStore], Any]) -> Any:
    async def run() -> Any:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        async with await SQLiteStore.open(settings.database) as store:
            return await work(store)

    return asyncio.run(run())


@token.command("create")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--name", default="", help="What the token is for.")
@_DATA
@_fail_on_errors
def token_create(role: str, name: str, data_dir: str | None) -> None:
    """Create a token and print its secret (shown this once only)."""
    settings = Settings.load({"data_dir": data_dir})
    record, secret = _with_store(settings, lambda store: issue_token(store, role, name))
    click.echo(f"token {record.id} ({record.role}) created; its secret, shown once:", err=True)
    click.echo(secret)


@token.command("ls")
@_DATA
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_fail_on_errors
def token_ls(data_dir: str | None, as_json: bool) -> None:
    """List tokens (never their secrets)."""
    settings = Settings.load({"data_dir": data_dir})
    records = _with_store(settings, lambda store: store.tokens())
    rows = [
        {"id": r.id, "name": r.name, "role": r.role, "created": r.created, "revoked": r.revoked}
        for r in records
    ]
    _show(rows, as_json, ["id", "role", "name", "created", "revoked"])


@token.command("revoke")
@click.argument("token_id")
@_DATA
@_fail_on_errors
def token_revoke(token_id: str, data_dir: str | None) -> None:
    """Revoke a token; a running server stops accepting it within a second or two."""
    settings = Settings.load({"data_dir": data_dir})
    _with_store(settings, lambda store: store.revoke_token(token_id, time.time()))
    click.echo(f"token {token_id} revoked")


# --- HTTP clients of a running server --------------------------------------------------------


def _client_options(command: _F) -> _F:
    command = click.option(
        "--token",
        envvar="TWINKIT_TOKEN",
        default=None,
        help="API token (TWINKIT_TOKEN).",
    )(command)
    command = click.option(
        "--url",
        envvar="TWINKIT_URL",
        default="http://127.0.0.1:8000",
        show_default=True,
        help="Server URL (TWINKIT_URL).",
    )(command)
    return click.option("--json", "as_json", is_flag=True, help="Print JSON, not a table.")(command)


def _client(url: str, secret: str | None) -> Client:
    if not secret:
        raise ClientError(
            "no token: pass --token or set TWINKIT_TOKEN (first start wrote one to "
            "<data>/admin-token)",
            status=None,
            kind="unauthenticated",
        )
    return Client(url, secret)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _show(rows: list[dict[str, Any]], as_json: bool, columns: list[str]) -> None:
    """Rows as JSON, or as a table with the given columns."""
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row_cells in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row_cells, widths, strict=True)).rstrip())


@cli.group()
def twin() -> None:
    """Read twins and set desired values on a running server."""


@twin.command("ls")
@click.option("--model", default=None, help="Only twins of this model (or extending it).")
@_client_options
@_fail_on_errors
def twin_ls(model: str | None, url: str, token: str | None, as_json: bool) -> None:
    """List twins."""
    with _client(url, token) as client:
        page = client.get("/twins", model=model, limit=1000)
    rows = [
        {
            "id": t["id"],
            "model": t["model"],
            "version": t["version"],
            "properties": {n: p["reported"] for n, p in t["properties"].items()},
        }
        for t in page["items"]
    ]
    _show(rows, as_json, ["id", "model", "version", "properties"])


@twin.command("get")
@click.argument("twin_id")
@_client_options
@_fail_on_errors
def twin_get(twin_id: str, url: str, token: str | None, as_json: bool) -> None:
    """One twin: its properties (reported, desired, in sync) and latest telemetry."""
    with _client(url, token) as client:
        found = client.get(f"/twins/{twin_id}")
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    click.echo(f"{found['id']}  {found['model']}  version {found['version']}")
    rows = [
        {"name": n, "reported": p["reported"], "desired": p["desired"], "in sync": p["inSync"]}
        for n, p in found["properties"].items()
    ]
    rows += [
        {"name": n, "reported": t["value"], "desired": None, "in sync": None}
        for n, t in found["telemetry"].items()
    ]
    _show(rows, False, ["name", "reported", "desired", "in sync"])


@twin.command("set-desired")
@click.argument("twin_id")
@click.argument("name")
@click.argument("value")
@_client_options
@_fail_on_errors
def twin_set_desired(
    twin_id: str, name: str, value: str, *, url: str, token: str | None, as_json: bool
) -> None:
    """Set a desired value; VALUE is JSON (21.5, true, "on", {...}) or else taken as text."""
    try:
        parsed: Any = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    with _client(url, token) as client:
        answer = client.put(f"/twins/{twin_id}/properties/{name}/desired", {"value": parsed})
    if as_json:
        click.echo(json.dumps(answer, indent=2))
    else:
        click.echo(
            f"{twin_id}/{name}: desired {_cell(answer['desired'])} (version "
            f"{answer['desiredVersion']}), reported {_cell(answer['reported'])}, "
            f"in sync: {'yes' if answer['inSync'] else 'no'}"
        )


@cli.group("dead-letter")
def dead_letter() -> None:
    """Inspect and replay messages twinkit could not accept."""


@dead_letter.command("ls")
@click.option("--all", "show_all", is_flag=True, help="Include replayed ones.")
@_client_options
@_fail_on_errors
def dead_letter_ls(show_all: bool, url: str, token: str | None, as_json: bool) -> None:
    """List dead letters (pending only unless --all)."""
    with _client(url, token) as client:
        page = client.get("/dead-letters", all=str(show_all).lower(), limit=10_000)
    _show(page["items"], as_json, ["id", "source", "received", "replayed", "reason"])


@dead_letter.command("replay")
@click.argument("ids", nargs=-1, type=int)
@_client_options
@_fail_on_errors
def dead_letter_replay(ids: tuple[int, ...], url: str, token: str | None, as_json: bool) -> None:
    """Replay pending dead letters (all, or the IDS given)."""
    with _client(url, token) as client:
        report = client.post("/dead-letters/replay", {"ids": list(ids) if ids else None})
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"replayed: {len(report['replayed'])} {list(report['replayed'])}")
    for failure in report["failed"]:
        click.echo(f"still failing: {failure['id']} ({failure['source']}): {failure['reason']}")
    if report.get("missing"):
        click.echo(f"not pending: {list(report['missing'])}")


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


# --- the demo ---------------------------------------------------------------------------------


@cli.group()
def demo() -> None:
    """Run a reference twin live on this machine, with simulated devices."""


@demo.command("pumps")
@click.option(
    "--state",
    type=click.Path(file_okay=False),
    default=str(DEFAULT_STATE),
    show_default=True,
    help="State folder: store, broker data, admin token. A second run reuses it.",
)
@click.option(
    "--data",
    "skab_dir",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="A SKAB data folder: pump-skab then replays its runs (default: physics only).",
)
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8000; 0 picks a free one).")
@click.option("--mqtt-url", default=None, help="Use this MQTT broker instead of a local Mosquitto.")
@click.option("--pumps", type=click.IntRange(1, 99), default=3, show_default=True)
@click.option(
    "--speedup",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Simulated seconds per wall-clock second.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sensor noise.")
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stop after this many seconds (default: run until Ctrl-C).",
)
@_fail_on_errors
def demo_pumps(
    *,
    state: str,
    skab_dir: str | None,
    host: str | None,
    port: int | None,
    mqtt_url: str | None,
    pumps: int,
    speedup: float,
    seed: int,
    duration: float | None,
) -> None:
    """The pump station: DTDL models, twins, physics devices on MQTT, the API, until Ctrl-C."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings.load({"data_dir": state, "host": host, "port": port, "mqtt_url": mqtt_url})
    options = DemoOptions(
        settings,
        skab_dir=Path(skab_dir) if skab_dir else None,
        pumps=pumps,
        speedup=speedup,
        seed=seed,
        duration=duration,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_demo(options, say=click.echo))


@demo.command("bracket")
@click.option(
    "--state",
    type=click.Path(file_okay=False),
    default=str(BRACKET_STATE),
    show_default=True,
    help="State folder: store, broker data, admin token. A second run reuses it.",
)
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8000; 0 picks a free one).")
@click.option("--mqtt-url", default=None, help="Use this MQTT broker instead of a local Mosquitto.")
@click.option(
    "--speedup",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Simulated seconds per wall-clock second.",
)
@click.option(
    "--publish-interval",
    type=click.FloatRange(min=0, min_open=True),
    default=0.2,
    show_default=True,
    help="Seconds (simulated) between two readings of the load cell and gauges.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of loads and noise.")
@click.option(
    "--crack-at",
    type=click.FloatRange(min=0),
    default=None,
    help="Grow a crack near the wall from this many simulated seconds on (default: healthy).",
)
@click.option(
    "--crack-severity",
    type=click.FloatRange(min=0, max=0.95, min_open=True),
    default=0.6,
    show_default=True,
    help="Share of the crack zone's stiffness lost once the crack has grown.",
)
@click.option(
    "--crack-growth",
    type=click.FloatRange(min=0),
    default=120.0,
    show_default=True,
    help="Simulated seconds the crack takes to grow to its full severity.",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where the reduced-order model is cached (default $TWINKIT_CACHE_DIR or ~/.cache/twinkit).",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stop after this many seconds (default: run until Ctrl-C).",
)
@_fail_on_errors
def demo_bracket(
    *,
    state: str,
    host: str | None,
    port: int | None,
    mqtt_url: str | None,
    speedup: float,
    publish_interval: float,
    seed: int,
    crack_at: float | None,
    crack_severity: float,
    crack_growth: float,
    cache_dir: str | None,
    duration: float | None,
) -> None:
    """The structural twin: a cantilever bracket's load and strain gauges on MQTT, its
    reduced-order FE model in shadow mode (stress and deflection live), the API, until Ctrl-C."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings.load({"data_dir": state, "host": host, "port": port, "mqtt_url": mqtt_url})
    crack = None
    if crack_at is not None:
        crack = Crack(start=crack_at, severity=crack_severity, growth=crack_growth)
    options = BracketDemoOptions(
        settings,
        speedup=speedup,
        publish_interval=publish_interval,
        seed=seed,
        crack=crack,
        cache_dir=Path(cache_dir) if cache_dir else None,
        duration=duration,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_bracket_demo(options, say=click.echo))


def main() -> None:
    """Entry point of the ``twinkit`` console script."""
    cli()


from twinkit.cli import _history, _predict, _scenario  # noqa: E402, F401  (register their commands)

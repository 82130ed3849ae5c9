"""The ``twinkit`` command: a thin face over the same service objects the API uses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from twinkit import __version__
from twinkit.api import Client, ClientError, Role, Settings, issue_token
from twinkit.api._serve import serve as serve_api
from twinkit.core import tune_collector
from twinkit.errors import TwinkitError
from twinkit.model.dtdl import ParseIssue, ParsingError, dumps, parse
from twinkit.predict._factories import load_factories
from twinkit.sim._shadow_plugins import load_bindings
from twinkit.store import SQLiteStore
from twinkit.ui import dashboard_available, mount_dashboard

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


_NO_DASHBOARD = click.option(
    "--no-dashboard", is_flag=True, help="Serve the API only, without the web dashboard (/ui)."
)


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
@_NO_DASHBOARD
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
    no_dashboard: bool,
) -> None:
    """Run the API and the dashboard (/ui), and a supervised Mosquitto unless --mqtt-url is
    given, until Ctrl-C."""
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
    tune_collector()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve_api(
                settings,
                say=click.echo,
                bindings=bindings,
                factories=factories,
                mount=_dashboard_mount(no_dashboard),
            )
        )


def _dashboard_mount(
    no_dashboard: bool,
) -> Callable[[Any, Any], None] | None:
    """The dashboard's mount function, unless turned off or not installed (then say so)."""
    if no_dashboard:
        return None
    if not dashboard_available():
        click.echo("dashboard off: its packages are missing; pip install 'twinkit[ui]'", err=True)
        return None
    return mount_dashboard


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


def main() -> None:
    """Entry point of the ``twinkit`` console script."""
    cli()


from twinkit.cli import _alert, _bulk, _demo, _history, _predict, _scenario  # noqa: E402, F401  (register their commands)

"""The ``twinkit`` command: a thin face over the same service objects the API uses."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import click

from twinkit import __version__
from twinkit.model.dtdl import ParseIssue, ParsingError, dumps, parse

__all__ = ["cli", "main", "models"]


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


def main() -> None:
    """Entry point of the ``twinkit`` console script."""
    cli()

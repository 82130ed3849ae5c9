"""The ``twinkit`` command: a thin face over the same service objects the API uses."""

from __future__ import annotations

import click

from twinkit import __version__

__all__ = ["cli", "main", "models"]


@click.group(name="twinkit", context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="twinkit")
def cli() -> None:
    """twinkit: an open-source digital twin platform."""


@cli.group()
def models() -> None:
    """Work with models (DTDL interfaces)."""


def main() -> None:
    """Entry point of the ``twinkit`` console script."""
    cli()

"""``twinkit alert``: the open alerts of a running server, acknowledged and cleared.

``ls`` lists what is open (newest raised first; ``ACK`` says who acknowledged it); ``ack``
records that an operator has seen an alert, which stays open; ``clear`` closes it. Both need an
operator token. Everything goes through the API (docs/api.md).
"""

from __future__ import annotations

import json

import click

from twinkit.api._client_frames import iso
from twinkit.cli import _client, _client_options, _fail_on_errors, _show, cli
from twinkit.core import SEVERITIES

__all__: list[str] = []

_COLUMNS = ["raised", "twin", "name", "severity", "ack", "message"]


@cli.group()
def alert() -> None:
    """Open alerts: list, acknowledge and clear them."""


@alert.command("ls")
@click.option("--twin", "twin_id", default=None, help="Only this twin's alerts.")
@click.option("--model", default=None, help="Only twins of this model (or extending it).")
@click.option(
    "--severity",
    type=click.Choice(SEVERITIES),
    default=None,
    help="Only alerts at least this severe.",
)
@_client_options
@_fail_on_errors
def ls(
    *,
    twin_id: str | None,
    model: str | None,
    severity: str | None,
    url: str,
    token: str | None,
    as_json: bool,
) -> None:
    """List the open alerts, newest raised first."""
    with _client(url, token) as client:
        found = client.get("/alerts", twin=twin_id, model=model, severity=severity)
    items = found["items"]
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    rows = [
        {
            "raised": iso(item["raised"]),
            "twin": item["twinId"],
            "name": item["name"],
            "severity": item["severity"],
            "ack": item["acknowledgedBy"] or ("yes" if item["acknowledged"] else ""),
            "message": item["message"],
        }
        for item in items
    ]
    _show(rows, False, _COLUMNS)
    click.echo(f"{found['total']} open alert(s)", err=True)


@alert.command("ack")
@click.argument("twin_id", metavar="TWIN")
@click.argument("name")
@click.option("--note", default="", help="What you say about it (kept with the alert).")
@_client_options
@_fail_on_errors
def ack(*, twin_id: str, name: str, note: str, url: str, token: str | None, as_json: bool) -> None:
    """Acknowledge the open alert NAME of TWIN (it stays open until cleared)."""
    with _client(url, token) as client:
        found = client.acknowledge_alert(twin_id, name, note)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    click.echo(f"acknowledged {twin_id}/{name} ({found['severity']}): {found['message']}")


@alert.command("clear")
@click.argument("twin_id", metavar="TWIN")
@click.argument("name")
@click.option("--message", default="", help="Why it is cleared.")
@_client_options
@_fail_on_errors
def clear(
    *, twin_id: str, name: str, message: str, url: str, token: str | None, as_json: bool
) -> None:
    """Clear (close) the open alert NAME of TWIN."""
    with _client(url, token) as client:
        event = client.clear_alert(twin_id, name, message)
    if as_json:
        click.echo(json.dumps(event, indent=2))
        return
    click.echo(f"cleared {twin_id}/{name} (event {event['seq']})")

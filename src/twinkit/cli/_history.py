"""``twinkit query``, ``series``, ``as-of``, ``diff`` and ``history``: history and queries of a
running server, through its API (the same token and URL options as ``twinkit twin``)."""

from __future__ import annotations

import json
from typing import Any

import click

from twinkit.cli import _client, _client_options, _fail_on_errors, _show, cli

__all__: list[str] = []

_MAX_ROWS = 100_000


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """A query row for a table: a twin document shows its id, model and property values."""
    if "$dtId" in row:
        meta = row.get("$metadata") or {}
        values = {k: v for k, v in row.items() if not k.startswith("$")}
        return {"$dtId": row["$dtId"], "model": meta.get("$model"), **values}
    return row


@cli.command("query")
@click.argument("text")
@click.option("--page-size", type=click.IntRange(1, 10_000), default=1000, show_default=True)
@click.option("--max-rows", type=click.IntRange(1), default=_MAX_ROWS, show_default=True)
@_client_options
@_fail_on_errors
def query(
    *, text: str, page_size: int, max_rows: int, url: str, token: str | None, as_json: bool
) -> None:
    """Run a twin query (docs/query-language.md) and print every row.

    \b
    Examples:
      twinkit query "SELECT T FROM DIGITALTWINS T WHERE T.speed > 1400"
      twinkit query "SELECT COUNT() FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:x:Pump;1')"
      twinkit query "SELECT P, T FROM DIGITALTWINS P JOIN T RELATED P.feeds" --json
    """
    rows: list[dict[str, Any]] = []
    body: dict[str, Any] = {"query": text, "pageSize": page_size}
    with _client(url, token) as client:
        while len(rows) < max_rows:
            page = client.post("/query", json=body)
            rows += page["value"]
            if not page["continuationToken"]:
                break
            body["continuationToken"] = page["continuationToken"]
    rows = rows[:max_rows]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    flat = [_flat(row) for row in rows]
    columns = list(dict.fromkeys(key for row in flat for key in row))
    _show(flat, False, columns)
    click.echo(f"({len(rows)} rows)")


@cli.command("series")
@click.argument("twin_id")
@click.argument("name")
@click.option("--start", required=True, help="Seconds since the epoch or ISO 8601 (UTC).")
@click.option("--end", required=True, help="Seconds since the epoch or ISO 8601 (UTC).")
@click.option("--width", type=float, default=None, help="Bucket width in seconds (raw if none).")
@click.option(
    "--agg",
    type=click.Choice(["avg", "min", "max", "count", "first", "last", "sum"]),
    default="avg",
    show_default=True,
)
@click.option(
    "--fill", type=click.Choice(["none", "previous", "linear"]), default="none", show_default=True
)
@_client_options
@_fail_on_errors
def series(
    *,
    twin_id: str,
    name: str,
    start: str,
    end: str,
    width: float | None,
    agg: str,
    fill: str,
    url: str,
    token: str | None,
    as_json: bool,
) -> None:
    """Points of one series, raw or downsampled into buckets (rollups serve long ranges).

    \b
    Examples:
      twinkit series pump-1 flow --start 2026-11-24T00:00Z --end 2026-11-25T00:00Z --width 3600
      twinkit series pump-1 flow --start 1764000000 --end 1764003600 --json
    """
    with _client(url, token) as client:
        if width is not None:
            found = client.get(
                f"/twins/{twin_id}/series/{name}/buckets",
                start=start,
                end=end,
                width=width,
                agg=agg,
                fill=fill,
            )
            rows = found["buckets"]
        else:
            rows, after = [], None
            while len(rows) < _MAX_ROWS:
                params = {"start": start, "end": end, "limit": 10_000}
                page = client.get(
                    f"/twins/{twin_id}/series/{name}",
                    **(params if after is None else {**params, "after": after}),
                )
                rows += page["points"]
                after = page["nextAfter"]
                if after is None:
                    break
    _show(rows, as_json, ["time", "value"])


@cli.command("as-of")
@click.argument("when")
@click.option("--twin", "twin_id", default=None, help="One twin (default: the whole graph).")
@_client_options
@_fail_on_errors
def as_of(*, when: str, twin_id: str | None, url: str, token: str | None, as_json: bool) -> None:
    """The twin graph (or one twin) as it was at WHEN (seconds or ISO 8601, UTC).

    \b
    Examples:
      twinkit as-of 2026-11-17T14:00Z
      twinkit as-of 2026-11-17T14:00Z --twin pump-1 --json
    """
    with _client(url, token) as client:
        if twin_id is not None:
            twins = [client.get(f"/twins/{twin_id}/as-of", time=when)]
        else:
            twins = client.get("/graph/as-of", time=when)["twins"]
    if as_json:
        click.echo(json.dumps(twins if twin_id is None else twins[0], indent=2))
        return
    rows = [
        {
            "id": t["id"],
            "model": t["model"],
            "version": t["version"],
            "properties": {n: p["reported"] for n, p in t["properties"].items()},
        }
        for t in twins
    ]
    _show(rows, False, ["id", "model", "version", "properties"])


@cli.command("diff")
@click.argument("start")
@click.argument("end")
@click.option("--twin", "twin_id", default=None, help="One twin (default: the whole graph).")
@_client_options
@_fail_on_errors
def diff(
    *, start: str, end: str, twin_id: str | None, url: str, token: str | None, as_json: bool
) -> None:
    """What changed between START and END: twins, property values, relationships."""
    with _client(url, token) as client:
        params = {"start": start, "end": end}
        found = client.get("/diff", **(params if twin_id is None else {**params, "twin": twin_id}))
    rows = [
        {**c, "before": _short(c["before"]), "after": _short(c["after"])} for c in found["changes"]
    ]
    _show(
        rows if not as_json else found["changes"],
        as_json,
        ["kind", "twinId", "name", "before", "after"],
    )


def _short(value: Any) -> Any:
    if isinstance(value, dict) and "id" in value and "model" in value:
        return f"<twin {value['id']}>"
    return value


@cli.command("history")
@click.argument("twin_id")
@click.argument("name")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@_client_options
@_fail_on_errors
def history(
    *, twin_id: str, name: str, limit: int, url: str, token: str | None, as_json: bool
) -> None:
    """Every change of one property, newest first, with who made it (token or connector)."""
    with _client(url, token) as client:
        found = client.get(f"/twins/{twin_id}/properties/{name}/history", limit=limit)
    _show(found["changes"], as_json, ["time", "kind", "value", "version", "cause"])

"""``twinkit predict``: learned models on a running server (docs/prediction.md).

``ls`` and ``show`` read the registry; ``train`` trains a new version with one of the
server's factories and follows it with a progress bar until it ends (``--no-wait`` returns at
once); ``activate``, ``deactivate`` and ``rm`` do what they say. Everything goes through the
API, so a running server swaps an activated version in at once.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

import click

from twinkit.api._client_frames import iso
from twinkit.cli import _client, _client_options, _fail_on_errors, _show, cli

__all__ = ["parse_limit", "parse_param", "parse_time"]

_FINAL = ("done", "failed", "cancelled")


@cli.group()
def predict() -> None:
    """Predictors and detectors: train them on history, serve one version of each live."""


def parse_time(text: str | None, option: str) -> float | None:
    """Seconds since the epoch from seconds or ISO 8601 text (a naive time is UTC)."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"expected seconds or an ISO 8601 time, got {text!r}", param_hint=option
        ) from None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


def parse_param(text: str) -> tuple[str, Any]:
    """``KEY=VALUE``, VALUE as JSON (``3``, ``["temp","flow"]``, ``true``) or else text."""
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise click.BadParameter(f"expected KEY=VALUE, got {text!r}", param_hint="--param")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def parse_limit(text: str) -> tuple[str, dict[str, float]]:
    """``NAME<VALUE`` (alert below) or ``NAME>VALUE`` (alert above)."""
    for sign, bound in (("<", "below"), (">", "above")):
        name, found, value = text.partition(sign)
        if found and name and value:
            try:
                return name, {bound: float(value)}
            except ValueError:
                break
    raise click.BadParameter(
        f"expected NAME<VALUE or NAME>VALUE, e.g. rul<30, got {text!r}", param_hint="--limit"
    )


def _when(stamp: float | None) -> str | None:
    return None if stamp is None else iso(stamp)


def _follow(client: Any, location: str) -> dict[str, Any]:
    """Poll the training job with a progress bar on stderr until it ends."""
    from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

    path = location.split("/api/v1", 1)[-1]
    with tqdm(
        total=100,
        desc="training",
        unit="%",
        file=sys.stderr,
        dynamic_ncols=True,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}",
    ) as bar:
        while True:
            job: dict[str, Any] = client.get(path)
            bar.update(round(float(job["progress"]) * 100) - bar.n)
            if job["status"] in _FINAL:
                return job
            time.sleep(0.2)


@predict.command("ls")
@_client_options
@_fail_on_errors
def ls(*, url: str, token: str | None, as_json: bool) -> None:
    """Every registered name: its twin model, kind, active and newest version."""
    with _client(url, token) as client:
        found = client.get("/predictors")
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    columns = ["name", "kind", "model", "active", "latest", "versions", "serving"]
    _show(found["items"], False, columns)
    kinds = ", ".join(item["name"] for item in found["factories"]) or "none"
    click.echo(f"factories: {kinds}", err=True)


def _metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{name}={value:.4g}" for name, value in sorted(metrics.items()))


@predict.command("show")
@click.argument("name")
@_client_options
@_fail_on_errors
def show(*, name: str, url: str, token: str | None, as_json: bool) -> None:
    """Every version of NAME (training range, twins, metrics) and how it serves."""
    with _client(url, token) as client:
        found = client.get(f"/predictors/{name}")
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    rows = [
        {
            "version": item["version"],
            "active": "yes" if item["active"] else "",
            "created": _when(item["created"]),
            "trained on": f"{_when(item['training']['start'])} .. "
            f"{_when(item['training']['end'])}, {len(item['training']['twins'])} twin(s)",
            "metrics": _metrics(item["metrics"]),
        }
        for item in found["items"]
    ]
    click.echo(f"{found['name']}  {found['kind']} of {found['model']}")
    _show(rows, False, ["version", "active", "created", "trained on", "metrics"])
    status = found["status"]
    if status is not None:
        latency = status["latencyMs"]
        p50 = "-" if latency["p50"] is None else f"{latency['p50']:.3f} ms"
        click.echo(
            f"serving v{status['version']} on {status['twins']} twin(s): {status['updates']} "
            f"updates, {status['failures']} failures, median latency {p50}"
            + (f"; error: {status['error']}" if status["error"] else "")
        )


@predict.command("train")
@click.argument("name")
@click.option("--factory", required=True, help="A factory of the server (see `predict ls`).")
@click.option("--model", required=True, help="The twin model (DTMI) it serves.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Factory parameter.")
@click.option("--start", default=None, help="From: seconds or ISO 8601 (default: all history).")
@click.option("--end", default=None, help="To (exclusive): seconds or ISO 8601 (default: now).")
@click.option("--twin", "twins", multiple=True, help="Train on this twin only (repeat).")
@click.option("--resample", type=float, default=None, help="Rows per bucket of SECONDS.")
@click.option("--limit", "limits", multiple=True, metavar="NAME<V|NAME>V", help="Alert bound.")
@click.option("--prefix", default=None, help="Put before the names of its predicted values.")
@click.option("--activate", is_flag=True, help="Serve the new version when it is trained.")
@click.option("--no-wait", is_flag=True, help="Return once the job is queued.")
@_client_options
@_fail_on_errors
def train(
    *,
    name: str,
    factory: str,
    model: str,
    params: tuple[str, ...],
    start: str | None,
    end: str | None,
    twins: tuple[str, ...],
    resample: float | None,
    limits: tuple[str, ...],
    prefix: str | None,
    activate: bool,
    no_wait: bool,
    url: str,
    token: str | None,
    as_json: bool,
) -> None:
    """Train a new version of NAME on the history of the twins of --model.

    \b
    Examples:
      twinkit predict train pump-anomaly --factory zscore --model 'dtmi:example:Pump;1' \\
          --param 'inputs=["temp","vibration"]' --param window=30 --start 2026-01-01 --activate
      twinkit predict train fleet-rul --factory rul --model 'dtmi:example:Engine;1' \\
          --limit 'rul<30'

    Exits 1 when the training fails (its reason is printed).
    """
    body = {
        "factory": factory,
        "model": model,
        "params": dict(parse_param(item) for item in params),
        "start": parse_time(start, "--start"),
        "end": parse_time(end, "--end"),
        "twins": list(twins) or None,
        "resample": resample,
        "activate": activate,
        "limits": dict(parse_limit(item) for item in limits),
        "prefix": prefix,
    }
    with _client(url, token) as client:
        started = client.request("POST", f"/predictors/{name}/train", json=body)
        job = started if no_wait else _follow(client, f"/predictors/{name}/jobs/{started['id']}")
    if as_json:
        click.echo(json.dumps(job, indent=2))
    elif job["status"] == "done":
        click.echo(f"{name}: version {job['version']} trained{' and active' if activate else ''}")
    elif job["status"] == "failed":
        click.echo(f"{name}: training failed: {job['error']}", err=True)
    else:
        click.echo(f"{name}: training {job['id']} {job['status']}")
    if job["status"] in ("failed", "cancelled"):
        sys.exit(1)


@predict.command("activate")
@click.argument("name")
@click.argument("version", type=click.IntRange(min=1))
@_client_options
@_fail_on_errors
def activate(*, name: str, version: int, url: str, token: str | None, as_json: bool) -> None:
    """Serve VERSION of NAME from now on (swapped in while ingest goes on)."""
    with _client(url, token) as client:
        entry = client.post(f"/predictors/{name}/activate", {"version": version})
    if as_json:
        click.echo(json.dumps(entry, indent=2))
    else:
        click.echo(f"{name}: version {entry['version']} active")


@predict.command("deactivate")
@click.argument("name")
@_client_options
@_fail_on_errors
def deactivate(*, name: str, url: str, token: str | None, as_json: bool) -> None:
    """Serve no version of NAME."""
    with _client(url, token) as client:
        client.post(f"/predictors/{name}/deactivate")
    click.echo(f"{name}: no version active")


@predict.command("rm")
@click.argument("name")
@click.argument("version", type=click.IntRange(min=1))
@_client_options
@_fail_on_errors
def remove(*, name: str, version: int, url: str, token: str | None, as_json: bool) -> None:
    """Forget VERSION of NAME and its artifact (not the active one)."""
    with _client(url, token) as client:
        client.request("DELETE", f"/predictors/{name}/versions/{version}")
    click.echo(f"{name}: version {version} deleted")

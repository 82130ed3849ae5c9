"""``twinkit scenario``: what-if scenarios on a running server (docs/scenarios.md).

``run`` starts one from a JSON spec file and/or options (options win; overrides add up), and
with ``--wait`` follows it with a progress bar until it ends; ``ls``, ``show``, ``compare``
(a table, or ``--plot file.png``), ``cancel`` and ``rm`` do what they say.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from twinkit.api._client_frames import iso
from twinkit.cli import _client, _client_options, _fail_on_errors, _show, cli

__all__: list[str] = []


@cli.group()
def scenario() -> None:
    """What-if scenarios: fork twins at a time, change them, run ahead, compare with reality."""


def _target(text: str, option: str) -> tuple[str, str, str]:
    """``TWIN.NAME<sep>REST`` split at the last ``.`` before the separator (twin ids may hold
    dots, content names never do)."""
    for separator in ("=", "*"):
        head, found, rest = text.partition(separator)
        if found:
            twin, dot, name = head.rpartition(".")
            if dot and twin and name and rest:
                return twin, name, separator + rest
    raise click.BadParameter(f"expected TWIN.NAME=VALUE, got {text!r}", param_hint=option)


def _number(text: str, option: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise click.BadParameter(f"expected a number, got {text!r}", param_hint=option) from None


def _setting(text: str, option: str) -> float | list[list[float]]:
    """``2.5`` (a constant) or ``0:1,300:3`` (a schedule of offset:value steps)."""
    if ":" not in text:
        return _number(text, option)
    steps = []
    for part in text.split(","):
        offset, colon, value = part.partition(":")
        if not colon:
            raise click.BadParameter(
                f"expected OFFSET:VALUE steps separated by commas, got {text!r}",
                param_hint=option,
            )
        steps.append([_number(offset, option), _number(value, option)])
    return steps


def _overrides(
    spec: dict[str, Any], key: str, items: Sequence[str], option: str, *, schedules: bool
) -> None:
    for item in items:
        twin, name, rest = _target(item, option)
        if not rest.startswith("="):
            raise click.BadParameter(f"expected TWIN.NAME=VALUE, got {item!r}", param_hint=option)
        value = _setting(rest[1:], option) if schedules else _number(rest[1:], option)
        spec.setdefault(key, {}).setdefault(twin, {})[name] = value


def _fault(text: str) -> dict[str, Any]:
    """``TWIN.TARGET*0.3@600`` (scaled) or ``TWIN.TARGET=0@600-1200`` (replaced), from
    ``@START`` (default 0) to ``-END`` (default: the end)."""
    body, at, window = text.rpartition("@") if "@" in text else (text, "", "")
    twin, target, rest = _target(body, "--fault")
    fault: dict[str, Any] = {"twin": twin, "target": target}
    key = "multiplier" if rest.startswith("*") else "value"
    fault[key] = _number(rest[1:], "--fault")
    if at:
        start, dash, end = window.partition("-")
        fault["start"] = _number(start, "--fault")
        if dash:
            fault["end"] = _number(end, "--fault")
    return fault


def build_spec(file: str | None, options: dict[str, Any]) -> dict[str, Any]:
    """The JSON spec from a file (``-``: stdin) with the command-line options on top."""
    spec: dict[str, Any] = {}
    if file is not None:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as err:
            raise click.BadParameter(f"not JSON: {err}", param_hint="SPEC") from err
        if not isinstance(loaded, dict):
            raise click.BadParameter("expected a JSON object", param_hint="SPEC")
        spec = loaded
    for key in ("name", "at", "horizon", "dt", "depth", "binding", "description"):
        if options.get(key) is not None:
            spec[key] = options[key]
    if options.get("roots"):
        spec["roots"] = list(options["roots"])
    _overrides(spec, "parameters", options.get("params", ()), "--param", schedules=False)
    _overrides(spec, "inputs", options.get("inputs", ()), "--input", schedules=True)
    _overrides(spec, "setpoints", options.get("setpoints", ()), "--setpoint", schedules=True)
    faults = [_fault(item) for item in options.get("faults", ())]
    if faults:
        spec["faults"] = [*spec.get("faults", []), *faults]
    return spec


def _when(value: float | None) -> str | None:
    return None if value is None else iso(value)


def _row(found: dict[str, Any]) -> dict[str, Any]:
    spec = found["spec"]
    return {
        "name": found["name"],
        "status": found["status"],
        "progress": f"{found['progress']:.0%}",
        "at": _when(spec.get("at")),
        "horizon": spec.get("horizon"),
        "roots": ",".join(spec.get("roots", [])),
        "error": found.get("error"),
    }


_ROW = ["name", "status", "progress", "at", "horizon", "roots", "error"]


def _follow(client: Any, name: str) -> dict[str, Any]:
    """Poll the scenario with a progress bar on stderr until it ends."""
    from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

    with tqdm(
        total=100,
        desc=name,
        unit="%",
        file=sys.stderr,
        dynamic_ncols=True,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}",
    ) as bar:

        def show(fraction: float) -> None:
            bar.update(round(fraction * 100) - bar.n)

        found: dict[str, Any] = client.wait_scenario(name, progress=show, poll=0.2)
    return found


@scenario.command("run")
@click.argument("spec_file", metavar="[SPEC]", required=False, type=click.Path(allow_dash=True))
@click.option("--name", default=None, help="The scenario's name (unique).")
@click.option("--root", "roots", multiple=True, help="A root twin (repeat for more).")
@click.option("--depth", type=click.IntRange(0), default=None, help="Relationship hops (1).")
@click.option("--at", default=None, help="Fork time: seconds or ISO 8601 (default: now).")
@click.option("--horizon", type=float, default=None, help="Seconds to simulate.")
@click.option("--dt", type=float, default=None, help="Step in seconds (the bindings').")
@click.option("--binding", default=None, help="Use the bindings of this name.")
@click.option("--description", default=None)
@click.option("--param", "params", multiple=True, metavar="TWIN.NAME=VALUE")
@click.option("--input", "inputs", multiple=True, metavar="TWIN.NAME=VALUE|T:V,T:V")
@click.option("--setpoint", "setpoints", multiple=True, metavar="TWIN.PROPERTY=VALUE|T:V,T:V")
@click.option("--fault", "faults", multiple=True, metavar="TWIN.TARGET(*M|=V)[@START[-END]]")
@click.option("--wait", is_flag=True, help="Follow the run (progress bar) until it ends.")
@_client_options
@_fail_on_errors
def run(
    *, spec_file: str | None, wait: bool, url: str, token: str | None, as_json: bool, **options: Any
) -> None:
    """Start a what-if scenario from a JSON SPEC file (- for stdin) and/or options.

    \b
    Examples:
      twinkit scenario run --name clog --root tank-1 --horizon 3600 --dt 10 \\
          --fault 'valve-1.opening*0.3@600' --wait
      twinkit scenario run spec.json --at 2026-11-24T08:00Z --input 'pump-1.speed=0:1450,1800:0'

    Exits 1 when the scenario (with --wait) fails or is cancelled.
    """
    spec = build_spec(spec_file, options)
    with _client(url, token) as client:
        found = client.run_scenario(spec)
        if wait:
            found = _follow(client, found["name"])
    if as_json:
        click.echo(json.dumps(found, indent=2))
    else:
        _show([_row(found)], False, _ROW)
    if wait and found["status"] != "done":
        sys.exit(1)


@scenario.command("ls")
@_client_options
@_fail_on_errors
def ls(*, url: str, token: str | None, as_json: bool) -> None:
    """Every scenario, oldest first."""
    with _client(url, token) as client:
        items = client.get("/scenarios")["items"]
    if as_json:
        click.echo(json.dumps(items, indent=2))
    else:
        _show([_row(item) for item in items], False, _ROW)


@scenario.command("show")
@click.argument("name")
@_client_options
@_fail_on_errors
def show(*, name: str, url: str, token: str | None, as_json: bool) -> None:
    """One scenario: status, progress, error, spec as run and its series."""
    with _client(url, token) as client:
        found = client.scenario(name)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    spec = found["spec"]
    rows = [
        {"field": key, "value": value}
        for key, value in (
            ("name", found["name"]),
            ("status", found["status"]),
            ("progress", f"{found['progress']:.0%}"),
            ("error", found["error"]),
            ("cause", found["cause"]),
            ("created", _when(found["created"])),
            ("started", _when(found["started"])),
            ("finished", _when(found["finished"])),
            *((key, spec.get(key)) for key in ("roots", "depth", "horizon", "dt", "binding")),
            ("at", _when(spec.get("at"))),
            *((k, spec[k]) for k in ("parameters", "inputs", "setpoints", "faults") if spec[k]),
            ("series", [f"{s['twinId']}/{s['name']}" for s in found["series"]]),
        )
    ]
    _show(rows, False, ["field", "value"])


@scenario.command("compare")
@click.argument("name")
@click.argument("twin_id")
@click.argument("series")
@click.option("--buckets", type=click.IntRange(1, 100_000), default=None, help="Average into N.")
@click.option("--reality", default=None, help="The real series to compare with (SERIES).")
@click.option(
    "--plot",
    "plot_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write a plot of scenario against reality here (.png, .svg, .pdf).",
)
@_client_options
@_fail_on_errors
def compare(
    *,
    name: str,
    twin_id: str,
    series: str,
    buckets: int | None,
    reality: str | None,
    plot_file: str | None,
    url: str,
    token: str | None,
    as_json: bool,
) -> None:
    """The scenario's SERIES of TWIN_ID against reality, with the difference.

    \b
    Examples:
      twinkit scenario compare clog tank-1 level --buckets 60
      twinkit scenario compare clog tank-1 level --plot clog.png
    """
    with _client(url, token) as client:
        if plot_file is not None:
            client.plot_scenario(
                name, twin_id, series, buckets=buckets, reality=reality, path=plot_file
            )
            click.echo(f"wrote {plot_file}")
            return
        frame = client.compare_scenario(name, twin_id, series, buckets=buckets, reality=reality)
    rows: list[dict[str, Any]] = [
        {
            "time": stamp.isoformat().replace("+00:00", "Z"),
            **{str(c): None if math.isnan(v) else float(v) for c, v in row.items()},
        }
        for stamp, row in zip(frame.index, frame.to_dict("records"), strict=True)
    ]
    _show(rows, as_json, ["time", "scenario", "reality", "difference"])


@scenario.command("cancel")
@click.argument("name")
@_client_options
@_fail_on_errors
def cancel(*, name: str, url: str, token: str | None, as_json: bool) -> None:
    """Stop a queued or running scenario (the points so far are kept)."""
    with _client(url, token) as client:
        found = client.cancel_scenario(name)
    if as_json:
        click.echo(json.dumps(found, indent=2))
    else:
        _show([_row(found)], False, _ROW)


@scenario.command("rm")
@click.argument("names", nargs=-1, required=True)
@_client_options
@_fail_on_errors
def rm(*, names: tuple[str, ...], url: str, token: str | None, as_json: bool) -> None:
    """Forget scenarios and their series (running ones are cancelled first)."""
    del as_json
    with _client(url, token) as client:
        for name in names:
            client.delete_scenario(name)
            click.echo(f"deleted scenario {name}")

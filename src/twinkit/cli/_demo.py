"""``twinkit demo``: the reference twins (pump station, bracket, turbofan fleet), each with
broker, devices, server and dashboard on this machine."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from twinkit.api import Settings
from twinkit.cli import _NO_DASHBOARD, _dashboard_mount, _fail_on_errors, cli
from twinkit.core import tune_collector
from twinkit.examples.bracket._demo import DEFAULT_STATE as BRACKET_STATE
from twinkit.examples.bracket._demo import BracketDemoOptions, run_bracket_demo
from twinkit.examples.bracket._loads import Crack
from twinkit.examples.pumps._demo import DEFAULT_STATE, DemoOptions, run_demo
from twinkit.examples.turbofan._demo import DEFAULT_STATE as TURBOFAN_STATE
from twinkit.examples.turbofan._demo import TurbofanDemoOptions, run_turbofan_demo

# --- the demo ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Serving:
    """What every demo's server options say: its settings, how long to run, and whether to
    serve the dashboard."""

    settings: Settings
    duration: float | None
    dashboard: bool


def _server_options(default_state: Path) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The options every demo has (its state folder, where to listen, which broker, how long to
    run, whether to serve the dashboard), handed to the command as one ``serving`` argument;
    the terminal gets the log."""

    def add(command: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(command)
        def with_serving(
            *,
            state: str,
            host: str | None,
            port: int | None,
            mqtt_url: str | None,
            duration: float | None,
            no_dashboard: bool,
            **rest: Any,
        ) -> None:
            logging.basicConfig(
                level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
            )
            settings = Settings.load(
                {"data_dir": state, "host": host, "port": port, "mqtt_url": mqtt_url}
            )
            dashboard = _dashboard_mount(no_dashboard) is not None
            command(serving=_Serving(settings, duration, dashboard), **rest)

        wrapped: Callable[..., None] = with_serving
        for option in reversed(
            (
                click.option(
                    "--state",
                    type=click.Path(file_okay=False),
                    default=str(default_state),
                    show_default=True,
                    help="State folder: store, broker data, admin token. A second run reuses it.",
                ),
                click.option(
                    "--host", default=None, help="Address to listen on (default 127.0.0.1)."
                ),
                click.option(
                    "--port",
                    type=int,
                    default=None,
                    help="Port (default 8000; 0 picks a free one).",
                ),
                click.option(
                    "--mqtt-url",
                    default=None,
                    help="Use this MQTT broker instead of a local Mosquitto.",
                ),
                click.option(
                    "--duration",
                    type=click.FloatRange(min=0, min_open=True),
                    default=None,
                    help="Stop after this many seconds (default: run until Ctrl-C).",
                ),
                _NO_DASHBOARD,
            )
        ):
            wrapped = option(wrapped)
        return wrapped

    return add


@cli.group()
def demo() -> None:
    """Run a reference twin live on this machine, with simulated devices."""


@demo.command("pumps")
@_server_options(DEFAULT_STATE)
@click.option(
    "--data",
    "skab_dir",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="A SKAB data folder: pump-skab then replays its runs (default: physics only).",
)
@click.option("--pumps", type=click.IntRange(1, 99), default=3, show_default=True)
@click.option(
    "--speedup",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Simulated seconds per wall-clock second.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sensor noise.")
@_fail_on_errors
def demo_pumps(
    *, serving: _Serving, skab_dir: str | None, pumps: int, speedup: float, seed: int
) -> None:
    """The pump station: DTDL models, twins, physics devices on MQTT, the API, until Ctrl-C."""
    options = DemoOptions(
        serving.settings,
        skab_dir=Path(skab_dir) if skab_dir else None,
        pumps=pumps,
        speedup=speedup,
        seed=seed,
        duration=serving.duration,
        dashboard=serving.dashboard,
    )
    _run(run_demo(options, say=click.echo))


@demo.command("bracket")
@_server_options(BRACKET_STATE)
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
@_fail_on_errors
def demo_bracket(
    *,
    serving: _Serving,
    speedup: float,
    publish_interval: float,
    seed: int,
    crack_at: float | None,
    crack_severity: float,
    crack_growth: float,
    cache_dir: str | None,
) -> None:
    """The structural twin: a cantilever bracket's load and strain gauges on MQTT, its
    reduced-order FE model in shadow mode (stress and deflection live), the API, until Ctrl-C."""
    crack = None
    if crack_at is not None:
        crack = Crack(start=crack_at, severity=crack_severity, growth=crack_growth)
    options = BracketDemoOptions(
        serving.settings,
        speedup=speedup,
        publish_interval=publish_interval,
        seed=seed,
        crack=crack,
        cache_dir=Path(cache_dir) if cache_dir else None,
        duration=serving.duration,
        dashboard=serving.dashboard,
    )
    _run(run_bracket_demo(options, say=click.echo))


_SUBSETS = ("FD001", "FD002", "FD003", "FD004")  # the C-MAPSS subsets


@demo.command("turbofan")
@_server_options(TURBOFAN_STATE)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="A C-MAPSS folder with train_/test_/RUL_<subset>.txt[.gz]: train on its training "
    "engines, replay its test engines (default: a generated fleet).",
)
@click.option(
    "--subset",
    type=click.Choice(_SUBSETS),
    default="FD001",
    show_default=True,
    help="Which C-MAPSS subset of --data.",
)
@click.option(
    "--engines",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="How many test engines fly at once (the first ones of the set).",
)
@click.option(
    "--speedup",
    type=click.FloatRange(min=0, min_open=True),
    default=2.0,
    show_default=True,
    help="Flight cycles each engine replays per second.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Alert when an engine's estimated remaining life falls below this many cycles.",
)
@_fail_on_errors
def turbofan(
    *,
    serving: _Serving,
    data_dir: str | None,
    subset: str,
    engines: int,
    speedup: float,
    threshold: float,
) -> None:
    """A turbofan fleet: C-MAPSS engines (or generated ones) replayed over MQTT, each twin with
    its remaining useful life and interval every cycle, alerts below a threshold, the API
    and the dashboard."""
    options = TurbofanDemoOptions(
        serving.settings,
        data_dir=Path(data_dir) if data_dir else None,
        subset=subset,
        engines=engines,
        speedup=speedup,
        threshold=threshold,
        duration=serving.duration,
        dashboard=serving.dashboard,
    )
    _run(run_turbofan_demo(options, say=click.echo))


def _run(demo: Coroutine[Any, Any, object]) -> None:
    """Run a demo as ``twinkit serve`` runs: the collector tuned for a live graph; Ctrl-C stops."""
    tune_collector()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(demo)

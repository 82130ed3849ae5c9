"""``twinkit demo pumps``: the pump station as a live twin, everything on this machine.

One call, :func:`run_demo`, opens the services on a state folder (store, runtime, a supervised
Mosquitto unless an MQTT URL is given, the MQTT connector), puts the station's models, twins
and relationships in (once: a second run reuses the state), starts the simulated devices,
serves the API, runs the station's physics in shadow mode once every device has reported (a
shadow starts from the twin's latest values, which must be this run's), serves the pumps'
anomaly detector (trained in the background: :mod:`twinkit.examples.pumps._detector`), and
waits for Ctrl-C,
SIGTERM or ``duration``. It then stops devices, server, connector, broker and store, in that
order, so that nothing the devices sent is cut off half-way.

:func:`install_station` is the idempotent set-up step on its own, for scripts and tests that
bring their own runtime.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from twinkit.api import API_PREFIX, Services, Settings
from twinkit.api._serve import ensure_admin_token
from twinkit.core import Runtime
from twinkit.errors import ConflictError, ValidationError
from twinkit.examples._server import (
    START_TIMEOUT_S,
    broker_url,
    demo_server,
    listen,
    shell_path,
    stop_on_signals,
    twinkit_command,
    wait_for_stop,
    wait_started,
)
from twinkit.examples.pumps._detector import PumpDetectors
from twinkit.examples.pumps._devices import DeviceGroup, start_devices
from twinkit.examples.pumps._layout import (
    PIPE,
    PUMP,
    TANK,
    VALVE,
    StationLayout,
    model_files,
    station_layout,
)
from twinkit.examples.pumps._shadow import shadow_bindings
from twinkit.examples.pumps._skab import skab_runs

__all__ = [
    "DEFAULT_STATE",
    "DEMO_CAUSE",
    "DemoOptions",
    "InstallReport",
    "install_station",
    "run_demo",
    "start_station_shadow",
]

logger = logging.getLogger(__name__)

DEFAULT_STATE: Final = Path(".twinkit-demo")
DEMO_CAUSE: Final = "system:demo"
"""The ``cause`` of every event the demo's set-up writes."""
_START_TIMEOUT: Final = START_TIMEOUT_S


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What the demo runs with. ``settings.data_dir`` is the state folder; ``skab_dir`` a SKAB
    data folder whose runs ``pump-skab`` replays (None: physics only); ``duration`` stops the
    demo after that many seconds (None: run until interrupted); ``shadow`` runs the station's
    physics in shadow mode."""

    settings: Settings = field(default_factory=lambda: Settings(data_dir=DEFAULT_STATE))
    skab_dir: Path | None = None
    pumps: int = 3
    speedup: float = 1.0
    seed: int = 0
    dashboard: bool = False  # serve the web dashboard at /ui (once per process)
    duration: float | None = None
    shadow: bool = True

    def __post_init__(self) -> None:
        if not self.speedup > 0:
            raise ValidationError(
                "speedup must be positive", path="speedup", expected="> 0", got=self.speedup
            )
        if self.duration is not None and not self.duration > 0:
            raise ValidationError(
                "duration must be positive",
                path="duration",
                expected="seconds > 0, or none to run until interrupted",
                got=self.duration,
            )

    def layout(self) -> StationLayout:
        return station_layout(self.pumps, replay_pump=self.skab_dir is not None)


@dataclass(frozen=True, slots=True)
class InstallReport:
    """What :func:`install_station` added; all empty when the state already held the station."""

    models: tuple[str, ...]
    twins: tuple[str, ...]
    relationships: tuple[str, ...]

    @property
    def fresh(self) -> bool:
        """True when anything was added (the first run on a state folder)."""
        return bool(self.models or self.twins or self.relationships)


def _model_documents() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in model_files():
        loaded = json.loads(path.read_text(encoding="utf-8"))
        documents.extend(loaded if isinstance(loaded, list) else [loaded])
    return documents


async def install_station(
    runtime: Runtime, layout: StationLayout, *, cause: str = DEMO_CAUSE
) -> InstallReport:
    """Put the pump-station models, ``layout``'s twins and its relationships into ``runtime``,
    skipping what is already there: the missing models in one upload, the missing twins in one
    transaction, then each missing relationship.

    A twin id that exists with another model is a ConflictError (the state folder belongs to
    something else); a model that exists with other content is one too (DTDL models are
    immutable).
    """
    known = {str(doc["@id"]) for doc in runtime.model_documents()}
    missing_models = [doc for doc in _model_documents() if str(doc["@id"]) not in known]
    added_models = await runtime.add_models(missing_models) if missing_models else []
    new_twins = []
    for spec in layout.twins:
        existing = runtime.find(spec.id)
        if existing is None:
            new_twins.append((spec.id, spec.model, dict(spec.properties)))
        elif existing.model != spec.model:
            raise ConflictError(
                f"twin {spec.id!r} exists with model {existing.model}, but the demo station "
                f"needs {spec.model}: use another --state folder",
                where=spec.id,
            )
    if new_twins:
        await runtime.create_twins(new_twins, cause=cause)
    added_edges = []
    for rel in layout.relationships:
        edges = runtime.get(rel.source).relationships.values()
        if any(e.name == rel.name and e.target == rel.target for e in edges):
            continue
        await runtime.add_relationship(
            rel.source, rel.name, rel.target, cause=cause, relationship_id=rel.id
        )
        added_edges.append(rel.id)
    report = InstallReport(tuple(added_models), tuple(t[0] for t in new_twins), tuple(added_edges))
    logger.info(
        "demo station: %d models, %d twins, %d relationships added",
        len(report.models),
        len(report.twins),
        len(report.relationships),
    )
    return report


async def start_station_shadow(services: Services, *, time_scale: float = 1.0) -> None:
    """Run the station's simulators (:func:`shadow_bindings`) in shadow mode on ``services``.

    Call it once the pump models are stored (after :func:`install_station`): each binding is
    checked against them, and on a fresh state folder they are not there before. A shadow
    starts from its twin's latest values when the twin's next data arrives, so start it once
    the devices have reported. ``time_scale`` is the devices' speed-up.
    """
    for binding in shadow_bindings(time_scale=time_scale):
        services.bindings.add(binding, services.runtime.models)
    await services.start_shadow()


async def run_demo(
    options: DemoOptions,
    *,
    say: Callable[[str], None],
    stop: asyncio.Event | None = None,
) -> None:
    """Run the demo until ``stop`` is set, SIGINT/SIGTERM arrives, or ``options.duration``
    passes; then stop everything in order. ``say`` prints the lines a user reads."""
    stop = stop or asyncio.Event()
    layout = options.layout()
    if options.skab_dir is not None:
        skab_runs(options.skab_dir)  # a missing or empty folder fails before anything starts
    sock = listen(options.settings)  # a taken port fails before anything starts, too
    try:
        with stop_on_signals(stop, say):
            services = await Services.open(options.settings)
            try:
                secret = await ensure_admin_token(services)
                report = await install_station(services.runtime, layout)
                if not stop.is_set():
                    await _run_devices_and_server(
                        services,
                        options,
                        sock=sock,
                        layout=layout,
                        stop=stop,
                        say=say,
                        secret=secret,
                        report=report,
                    )
            finally:
                await services.close()
                say("twinkit demo stopped")
    finally:
        sock.close()


async def _run_devices_and_server(
    services: Services,
    options: DemoOptions,
    *,
    sock: socket.socket,
    layout: StationLayout,
    stop: asyncio.Event,
    say: Callable[[str], None],
    secret: str | None,
    report: InstallReport,
) -> None:
    detectors = PumpDetectors(services, layout, speedup=options.speedup)
    await detectors.prepare()
    started = services.clock()
    devices: DeviceGroup = await asyncio.to_thread(
        start_devices,
        broker_url(services),
        layout,
        speedup=options.speedup,
        seed=options.seed,
        skab_dir=options.skab_dir,
    )
    server, dashboard = demo_server(services, dashboard=options.dashboard)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    detectors.start(devices.replay, started)
    try:
        await wait_started(server, serving)
        if options.shadow:
            await _reported_since(services.runtime, _simulated_twins(layout), started, stop)
            await start_station_shadow(services, time_scale=options.speedup)
        host, port = sock.getsockname()[:2]
        base = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
        for line in _banner(
            services,
            options,
            layout=layout,
            report=report,
            secret=secret,
            base=base,
            dashboard=dashboard,
            detectors=detectors.describe(replaying=devices.replay is not None),
        ):
            say(line)
        await wait_for_stop(stop, serving, options.duration)
    finally:  # devices first: what they already sent is still taken in
        await detectors.stop()
        await asyncio.to_thread(devices.stop)
        server.should_exit = True
        await serving


def _simulated_twins(layout: StationLayout) -> list[str]:
    """The twins of the station's physics (pump-skab replays a rig the physics do not model)."""
    bound = {PUMP, PIPE, TANK, VALVE}
    return [t.id for t in layout.twins if t.model in bound and t.id != layout.replay_twin]


async def _reported_since(
    runtime: Runtime, twin_ids: list[str], since: float, stop: asyncio.Event
) -> None:
    """Wait until every twin has telemetry from ``since`` on (at most ``_START_TIMEOUT`` s)."""

    def fresh(twin_id: str) -> bool:
        twin = runtime.find(twin_id)
        return twin is not None and any(v.time >= since for v in twin.telemetry.values())

    loop = asyncio.get_running_loop()
    deadline = loop.time() + _START_TIMEOUT
    while not stop.is_set() and not all(map(fresh, twin_ids)):
        if loop.time() > deadline:
            silent = [t for t in twin_ids if not fresh(t)]
            logger.warning(
                "no telemetry from %s within %g s; shadow mode starts anyway",
                ", ".join(silent),
                _START_TIMEOUT,
            )
            return
        await asyncio.sleep(0.05)


def _banner(
    services: Services,
    options: DemoOptions,
    *,
    layout: StationLayout,
    report: InstallReport,
    secret: str | None,
    base: str,
    dashboard: bool = False,
    detectors: Sequence[str] = (),
) -> Iterator[str]:
    """The lines that tell a user what runs and what to try (``detectors``: what they serve)."""
    settings = services.settings
    state = "created" if report.fresh else "reused"
    pumps = [t.id for t in layout.twins if t.id.startswith("pump-") and t.id != layout.replay_twin]
    yield ""
    yield (
        f"twinkit demo: a pump station of {len(layout.twins)} twins ({', '.join(pumps)}, "
        f"their pipes, tank-1, valve-1"
        + (f", {layout.replay_twin} replaying SKAB" if layout.replay_twin else "")
        + f"), simulated at {options.speedup:g}x"
    )
    yield f"  state    {settings.data_dir} ({state})"
    if dashboard:
        yield f"  dashboard {base}/ui/  (sign in with the admin token)"
    yield f"  API      {base}{API_PREFIX}"
    yield f"  docs     {base}/docs"
    yield f"  stream   ws://{base.removeprefix('http://')}{API_PREFIX}/stream (WebSocket)"
    mqtt = services.connector_state()
    if mqtt is not None:
        supervised = " (supervised mosquitto)" if services.broker is not None else ""
        yield f"  MQTT     {mqtt['url']}{supervised}"
    if services.shadow is not None:
        yield (
            "  shadow   the physics of every pump, pipe, valve and tank runs beside them: "
            "residual:<telemetry> = measured - simulated"
        )
    yield from detectors
    token_file = settings.admin_token_file
    if secret is not None:
        yield f"  admin token (shown once, also in {token_file}): {secret}"
    elif token_file.exists():
        yield f"  admin token: in {token_file}"
    else:
        yield (
            f"  admin token: none stored; make one with: {twinkit_command()} token create "
            f"--role admin --data {shell_path(settings.data_dir)}"
        )
    twinkit = twinkit_command()
    yield "try, in another shell:"
    yield (f"  export TWINKIT_URL={base} TWINKIT_TOKEN=$(cat {shell_path(token_file)})")
    yield f"  {twinkit} twin ls"
    yield f"  {twinkit} twin set-desired pump-1 speedSetpoint 1200"
    yield f"  {twinkit} twin get pump-1"
    yield (
        f'  curl -H "Authorization: Bearer $TWINKIT_TOKEN" '
        f"{base}{API_PREFIX}/twins/pump-1/predictions"
    )
    yield f'  curl -H "Authorization: Bearer $TWINKIT_TOKEN" {base}{API_PREFIX}/twins/pump-1'
    yield (
        f"  pump-1's live events: ws://{base.removeprefix('http://')}{API_PREFIX}/stream"
        "?twins=pump-1&token=$TWINKIT_TOKEN"
    )
    if services.shadow is not None:
        yield (
            f'  curl -H "Authorization: Bearer $TWINKIT_TOKEN" '
            f"{base}{API_PREFIX}/twins/pump-1/shadow"
        )
        yield (
            f"  {twinkit} series pump-1 residual:vibration1 "
            "--start $(($(date +%s) - 600)) --end $(date +%s) --width 10"
        )
    stop = f"after {options.duration:g} s or on " if options.duration else "on "
    yield f"The demo stops {stop}Ctrl-C (devices, server, connector, broker, store, in that order)."

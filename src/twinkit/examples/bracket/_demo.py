"""``twinkit demo bracket``: the structural twin live, everything on this machine.

One call, :func:`run_bracket_demo`: load the bracket's reduced-order model from the cache (or
train it from full FE solves, with progress, and cache it), open the services on a state folder
(store, runtime, a supervised Mosquitto unless an MQTT URL is given, the MQTT connector), put
the Bracket model and twin in (once), run the ROM in shadow mode, start the simulated data
logger (a hoist's duty cycle; optionally a crack that grows), serve the API and wait for
Ctrl-C, SIGTERM or ``duration``. Then it stops the logger, the server and the services, and
prints how long each ROM evaluation took in the live loop.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from twinkit.api import API_PREFIX, Services, Settings
from twinkit.api._serve import bind, ensure_admin_token
from twinkit.core import Runtime
from twinkit.errors import ConflictError, ValidationError
from twinkit.examples._server import (
    broker_url,
    demo_server,
    say_progress,
    stop_on_signals,
    wait_started,
)
from twinkit.examples.bracket._device import BracketDevice, GaugeModel, start_device
from twinkit.examples.bracket._loads import Crack
from twinkit.examples.bracket._reduced import BracketRom, bracket_rom
from twinkit.examples.bracket._spec import BRACKET, BracketSpec, model_documents

__all__ = [
    "DEFAULT_STATE",
    "DEMO_CAUSE",
    "BracketDemoOptions",
    "install_bracket",
    "run_bracket_demo",
]

logger = logging.getLogger(__name__)

DEFAULT_STATE: Final = Path(".twinkit-bracket")
DEMO_CAUSE: Final = "system:demo"


@dataclass(frozen=True, slots=True)
class BracketDemoOptions:
    """What the demo runs with. ``settings.data_dir`` is the state folder; ``publish_interval``
    the logger's sample period in plant seconds (plant time runs ``speedup`` times faster than
    the clock); ``crack`` the fault (None: healthy); ``cache_dir`` where the ROM is cached
    (None: see :func:`~twinkit.examples.bracket.rom_cache_dir`); ``duration`` stops the demo
    after that many seconds (None: run until interrupted)."""

    settings: Settings = field(default_factory=lambda: Settings(data_dir=DEFAULT_STATE))
    spec: BracketSpec = field(default_factory=BracketSpec)
    twin_id: str = "bracket-1"
    speedup: float = 1.0
    publish_interval: float = 0.2
    seed: int = 0
    crack: Crack | None = None
    cache_dir: Path | None = None
    dashboard: bool = False  # serve the web dashboard at /ui (once per process)
    duration: float | None = None

    def __post_init__(self) -> None:
        for name, value in (("speedup", self.speedup), ("publish_interval", self.publish_interval)):
            if not value > 0:
                raise ValidationError(
                    f"{name} must be positive", path=name, expected="> 0", got=value
                )
        if self.duration is not None and not self.duration > 0:
            raise ValidationError(
                "duration must be positive",
                path="duration",
                expected="seconds > 0, or none to run until interrupted",
                got=self.duration,
            )


async def install_bracket(
    runtime: Runtime, spec: BracketSpec, twin_id: str = "bracket-1", *, cause: str = DEMO_CAUSE
) -> bool:
    """Put the Bracket model and a twin with ``spec``'s nameplate into ``runtime`` unless they
    are there; True when anything was added. A twin ``twin_id`` of another model is a
    ConflictError (the state folder belongs to something else)."""
    known = {str(doc["@id"]) for doc in runtime.model_documents()}
    missing = [doc for doc in model_documents() if str(doc["@id"]) not in known]
    if missing:
        await runtime.add_models(missing)
    existing = runtime.find(twin_id)
    if existing is not None and existing.model != BRACKET:
        raise ConflictError(
            f"twin {twin_id!r} exists with model {existing.model}, but the demo needs "
            f"{BRACKET}: use another --state folder",
            where=twin_id,
        )
    if existing is None:
        await runtime.create_twin(twin_id, BRACKET, spec.properties(), cause=cause)
    return bool(missing) or existing is None


async def run_bracket_demo(
    options: BracketDemoOptions,
    *,
    say: Callable[[str], None],
    stop: asyncio.Event | None = None,
) -> None:
    """Run the demo until ``stop`` is set, SIGINT/SIGTERM arrives or ``options.duration``
    passes; then stop everything in order. ``say`` prints the lines a user reads."""
    stop = stop or asyncio.Event()
    settings = options.settings
    try:
        sock = bind(settings.host, settings.port)  # a taken port fails before anything starts
    except OSError as err:
        raise ConflictError(
            f"cannot listen on {settings.host}:{settings.port}: {err.strerror or err}; "
            "pass another --port (0 picks a free one)",
            where="--port",
        ) from err
    try:
        with stop_on_signals(stop, say):
            reduced = await asyncio.to_thread(
                bracket_rom,
                options.spec,
                cache_dir=options.cache_dir,
                progress=say_progress(say, "training the reduced-order model from full FE solves"),
            )
            for line in reduced.describe():
                say(line)
            gauges = await asyncio.to_thread(GaugeModel.of, options.spec)  # the "real" bracket
            if stop.is_set():  # interrupted while the models were built
                say("twinkit demo stopped")
                return
            services = await Services.open(settings)
            try:
                secret = await ensure_admin_token(services)
                fresh = await install_bracket(services.runtime, options.spec, options.twin_id)
                services.bindings.add(reduced.binding(), services.runtime.models)
                await services.start_shadow()
                if not stop.is_set():
                    await _run_logger_and_server(
                        services,
                        options,
                        reduced,
                        gauges,
                        sock=sock,
                        stop=stop,
                        say=say,
                        secret=secret,
                        fresh=fresh,
                    )
            finally:
                await services.close()
                interval = options.publish_interval / options.speedup
                say(reduced.timing.summary().describe(interval))
                say("twinkit demo stopped")
    finally:
        sock.close()


async def _run_logger_and_server(
    services: Services,
    options: BracketDemoOptions,
    reduced: BracketRom,
    gauges: GaugeModel,
    *,
    sock: socket.socket,
    stop: asyncio.Event,
    say: Callable[[str], None],
    secret: str | None,
    fresh: bool,
) -> None:
    device: BracketDevice = await asyncio.to_thread(
        start_device,
        broker_url(services),
        options.spec,
        twin_id=options.twin_id,
        crack=options.crack,
        speedup=options.speedup,
        publish_interval=options.publish_interval,
        seed=options.seed,
        gauges=gauges,
    )
    server, dashboard = demo_server(services, dashboard=options.dashboard)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await wait_started(server, serving)
        host, port = sock.getsockname()[:2]
        base = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
        for line in _banner(
            services, options, reduced, fresh=fresh, secret=secret, base=base, dashboard=dashboard
        ):
            say(line)
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait(
            {stopping, serving}, timeout=options.duration, return_when=asyncio.FIRST_COMPLETED
        )
        stopping.cancel()
        if serving in done:
            logger.error("the API server stopped by itself; stopping the demo")
        elif not done:
            logger.info("demo ran its %g s; stopping", options.duration)
    finally:  # the logger first: what it already sent is still taken in
        await asyncio.to_thread(device.stop)
        server.should_exit = True
        await serving


def _banner(
    services: Services,
    options: BracketDemoOptions,
    reduced: BracketRom,
    *,
    fresh: bool,
    secret: str | None,
    base: str,
    dashboard: bool = False,
) -> Iterator[str]:
    settings, twin, spec = services.settings, options.twin_id, options.spec
    crack = options.crack
    yield ""
    yield (
        f"twinkit demo: a cantilever bracket ({twin}, {spec.length * 1e3:g} mm, rated "
        f"{spec.rated_load / 1e3:g} kN) with a load cell and {len(spec.gauges)} strain gauges "
        f"under a hoist's duty cycle, simulated at {options.speedup:g}x"
    )
    if crack is not None:
        yield (
            f"  fault    a crack near the wall from t={crack.start:g} s: the zone loses "
            f"{crack.severity:.0%} of its stiffness over {crack.growth:g} s"
        )
    yield f"  state    {settings.data_dir} ({'created' if fresh else 'reused'})"
    if dashboard:
        yield f"  dashboard {base}/ui/  (sign in with the admin token)"
    yield f"  API      {base}{API_PREFIX}"
    yield f"  docs     {base}/docs"
    yield f"  stream   ws://{base.removeprefix('http://')}{API_PREFIX}/stream (WebSocket)"
    mqtt = services.connector_state()
    if mqtt is not None:
        supervised = " (supervised mosquitto)" if services.broker is not None else ""
        yield f"  MQTT     {mqtt['url']}{supervised}"
    yield (
        f"  shadow   the ROM (rank {reduced.rom.rank}) turns measured loads into gauge strains, "
        "tip deflection and von Mises stress: residual:<gauge> = measured - simulated"
    )
    token_file = settings.admin_token_file
    if secret is not None:
        yield f"  admin token (shown once, also in {token_file}): {secret}"
    else:
        yield f"  admin token: in {token_file}"
    quoted = shlex.quote(str(token_file))
    yield "try, in another shell:"
    yield f"  export TWINKIT_URL={base} TWINKIT_TOKEN=$(cat {quoted})"
    yield f"  twinkit twin get {twin}"
    yield f'  curl -H "Authorization: Bearer $TWINKIT_TOKEN" {base}{API_PREFIX}/twins/{twin}/shadow'
    yield (
        f"  twinkit series {twin} residual:strainRootTop "
        "--start $(($(date +%s) - 600)) --end $(date +%s) --width 10"
    )
    stop = f"after {options.duration:g} s or on " if options.duration else "on "
    yield f"The demo stops {stop}Ctrl-C (logger, server, connector, broker, store, in that order)."

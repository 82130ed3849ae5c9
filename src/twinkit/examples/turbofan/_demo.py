"""``twinkit demo turbofan``: a turbofan fleet whose twins know how long each engine has left.

One call, :func:`run_turbofan_demo`: read the C-MAPSS files given (or generate a fleet), open
the services on a state folder (store, runtime, a supervised Mosquitto unless an MQTT URL is
given, the MQTT connector), put the Engine and Fleet models and twins in (once), train the
remaining-useful-life model on the training engines unless this state folder already holds it
(then it is reused), register and activate it with an alert limit, replay the test engines as
MQTT devices, serve the API, and wait for Ctrl-C, SIGTERM or ``duration``.

Live, from an engine's fifth cycle on, every cycle gets ``predicted:rul`` with
``predicted:rul_lower`` and ``_upper`` (a 90 % interval) on its twin, and a ``predictionLimit``
alert once per episode when the estimate falls below the threshold. When an engine's history
ends, the demo says its last estimate beside the true remaining life (from ``RUL_FD00x`` or the
generator), and once every replay has ended, the error over the fleet.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

import numpy as np

from twinkit.api import API_PREFIX, Services, Settings
from twinkit.api._serve import ensure_admin_token
from twinkit.core import Event, EventType, Runtime
from twinkit.errors import ConflictError, ValidationError
from twinkit.examples._server import (
    broker_url,
    demo_server,
    listen,
    say_progress,
    shell_path,
    stop_on_signals,
    twinkit_command,
    wait_for_stop,
    wait_started,
)
from twinkit.examples.pumps._mqtt import Broker
from twinkit.examples.turbofan._degradation import FleetSpec
from twinkit.examples.turbofan._engine import ENGINE, FLEET, model_documents
from twinkit.examples.turbofan._replay import FleetReplay, ReplayedEngine
from twinkit.examples.turbofan._rul import (
    RUL_NAME,
    FleetData,
    ModelReady,
    demo_rul_config,
    ensure_rul_model,
    fleet_data,
    serve_every_cycle,
)
from twinkit.predict._rul import RulConfig

__all__ = [
    "DEFAULT_STATE",
    "DEMO_CAUSE",
    "FLEET_TWIN",
    "EngineResult",
    "TurbofanDemoOptions",
    "engine_twin",
    "install_fleet",
    "run_turbofan_demo",
]

logger = logging.getLogger(__name__)

DEFAULT_STATE: Final = Path(".twinkit-turbofan")
DEMO_CAUSE: Final = "system:demo"
FLEET_TWIN: Final = "fleet"
_SETTLE: Final = 10.0
"""Seconds to wait for the last estimate of an engine whose replay ended."""


def engine_twin(unit: int) -> str:
    """The twin id of engine ``unit``."""
    return f"engine-{unit}"


@dataclass(frozen=True, slots=True)
class TurbofanDemoOptions:
    """What the demo runs with. ``data_dir`` is a C-MAPSS folder (None: a generated fleet,
    ``fleet``); ``engines`` how many test engines fly at once (the first ones); ``speedup``
    flight cycles per second; ``threshold`` the remaining life (cycles) under which an engine
    raises an alert; ``rul`` the model's settings (None: :func:`demo_rul_config`)."""

    settings: Settings = field(default_factory=lambda: Settings(data_dir=DEFAULT_STATE))
    data_dir: Path | None = None
    subset: str = "FD001"
    engines: int = 10
    speedup: float = 2.0
    threshold: float = 30.0
    fleet: FleetSpec = field(default_factory=FleetSpec)
    rul: RulConfig | None = None
    dashboard: bool = False  # serve the web dashboard at /ui (once per process)
    duration: float | None = None

    def __post_init__(self) -> None:
        checks = (
            ("engines", self.engines >= 1, "an engine count >= 1"),
            ("speedup", math.isfinite(self.speedup) and self.speedup > 0, "cycles/s > 0"),
            ("threshold", math.isfinite(self.threshold) and self.threshold > 0, "cycles > 0"),
            ("duration", self.duration is None or self.duration > 0, "seconds > 0, or none"),
        )
        for name, ok, expected in checks:
            if not ok:
                raise ValidationError(
                    f"{name} out of range", path=name, expected=expected, got=getattr(self, name)
                )

    def data(self) -> FleetData:
        """The fleet to learn from and replay (reads or generates it)."""
        fleet = self.fleet
        if self.data_dir is None and fleet.test < self.engines:
            fleet = replace(fleet, test=self.engines)
        return fleet_data(self.data_dir, self.subset, fleet=fleet)


@dataclass(frozen=True, slots=True)
class EngineResult:
    """An engine whose replay ended: its last estimate and interval against the truth."""

    twin_id: str
    cycles: int
    estimate: float | None
    lower: float | None
    upper: float | None
    truth: float | None

    def describe(self) -> str:
        if self.estimate is None:
            return f"{self.twin_id}: replay ended at cycle {self.cycles}, no estimate arrived"
        line = (
            f"{self.twin_id}: replay ended at cycle {self.cycles}; RUL estimate "
            f"{self.estimate:.1f} [{self.lower:.1f}, {self.upper:.1f}] cycles"
        )
        if self.truth is not None:
            line += f", true RUL {self.truth:g} (error {self.estimate - self.truth:+.1f})"
        return line


async def install_fleet(runtime: Runtime, units: list[int], *, cause: str = DEMO_CAUSE) -> bool:
    """Put the Engine and Fleet models, the fleet twin, a twin per engine of ``units`` and the
    fleet's ``includes`` relationships in, skipping what is there; True when anything was
    added. A twin of one of those ids with another model is a ConflictError."""
    known = {str(doc["@id"]) for doc in runtime.model_documents()}
    missing = [doc for doc in model_documents() if str(doc["@id"]) not in known]
    if missing:
        await runtime.add_models(missing)
    wanted = [(FLEET_TWIN, FLEET), *((engine_twin(unit), ENGINE) for unit in units)]
    new: list[tuple[str, str, dict[str, object]]] = []
    for twin_id, model in wanted:
        existing = runtime.find(twin_id)
        if existing is None:
            new.append((twin_id, model, {}))
        elif existing.model != model:
            raise ConflictError(
                f"twin {twin_id!r} exists with model {existing.model}, but the turbofan demo "
                f"needs {model}: use another --state folder",
                where=twin_id,
            )
    if new:
        await runtime.create_twins(new, cause=cause)
    edges = runtime.get(FLEET_TWIN).relationships.values()
    linked = {edge.target for edge in edges if edge.name == "includes"}
    added = 0
    for unit in units:
        if engine_twin(unit) not in linked:
            await runtime.add_relationship(FLEET_TWIN, "includes", engine_twin(unit), cause=cause)
            added += 1
    return bool(missing or new or added)


def _replayed(data: FleetData, engines: int) -> list[ReplayedEngine]:
    chosen = list(zip(data.test, data.test_rul.tolist(), strict=True))[:engines]
    return [
        ReplayedEngine(
            engine_twin(int(frame.attrs["unit"])),
            int(frame.attrs["unit"]),
            data.dataset,
            frame,
            float(truth),
        )
        for frame, truth in chosen
    ]


async def run_turbofan_demo(
    options: TurbofanDemoOptions,
    *,
    say: Callable[[str], None],
    stop: asyncio.Event | None = None,
) -> list[EngineResult]:
    """Run the demo until ``stop`` is set, SIGINT/SIGTERM arrives or ``options.duration``
    passes; then stop everything in order. ``say`` prints the lines a user reads. Returns the
    engines whose replay ended, with their last estimates."""
    stop = stop or asyncio.Event()
    data = await asyncio.to_thread(options.data)  # missing or bad files fail before anything
    engines = _replayed(data, options.engines)
    sock = listen(options.settings)  # a taken port fails before anything starts, too
    results: list[EngineResult] = []
    try:
        with stop_on_signals(stop, say):
            services = await Services.open(options.settings)
            try:
                secret = await ensure_admin_token(services)
                serve_every_cycle(services.predictions)
                fresh = await install_fleet(services.runtime, [e.unit for e in engines])
                say(f"RUL model: {RUL_NAME} on {data.description}")
                ready = await ensure_rul_model(
                    services.predictions.registry,
                    data,
                    threshold=options.threshold,
                    cause=DEMO_CAUSE,
                    config=options.rul or demo_rul_config(),
                    progress=say_progress(
                        say, f"training the RUL model on {len(data.train)} engines"
                    ),
                )
                await services.predictions.runner.reload(RUL_NAME)
                if not stop.is_set():
                    run = _Run(services, options, engines, ready, stop, say, results)
                    await run.devices_and_server(sock, secret=secret, fresh=fresh)
            finally:
                await services.close()
                for line in _summary(results):
                    say(line)
                say("twinkit demo stopped")
    finally:
        sock.close()
    return results


def _summary(results: list[EngineResult]) -> Iterator[str]:
    scored = [r for r in results if r.estimate is not None and r.truth is not None]
    if not scored:
        return
    estimate = np.array([r.estimate for r in scored], dtype=np.float64)
    truth = np.array([r.truth for r in scored], dtype=np.float64)
    lower = np.array([r.lower for r in scored], dtype=np.float64)
    upper = np.array([r.upper for r in scored], dtype=np.float64)
    capped = np.minimum(truth, 125.0)
    rmse = float(np.sqrt(np.mean((estimate - truth) ** 2)))
    rmse_capped = float(np.sqrt(np.mean((estimate - capped) ** 2)))
    covered = int(np.sum((lower <= capped) & (capped <= upper)))
    yield (
        f"RUL at the end of {len(scored)} replays: RMSE {rmse:.1f} cycles against the true "
        f"RUL ({rmse_capped:.1f} against it capped at 125); the interval held the capped "
        f"truth for {covered} of {len(scored)}"
    )


@dataclass(slots=True)
class _Run:
    """The live part of one demo run: devices, server, alerts and end-of-replay reports."""

    services: Services
    options: TurbofanDemoOptions
    engines: list[ReplayedEngine]
    ready: ModelReady
    stop: asyncio.Event
    say: Callable[[str], None]
    results: list[EngineResult]

    async def devices_and_server(
        self, sock: socket.socket, *, secret: str | None, fresh: bool
    ) -> None:
        runtime = self.services.runtime
        unsubscribe = runtime.subscribe(
            self._on_alert, models=[ENGINE], types=[EventType.ALERT_RAISED]
        )
        replay = FleetReplay(
            Broker.from_url(broker_url(self.services)),
            self.engines,
            speedup=self.options.speedup,
        )
        await asyncio.to_thread(replay.start)
        server, dashboard = demo_server(self.services, dashboard=self.options.dashboard)
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        watching = asyncio.create_task(self._watch(replay))
        try:
            await wait_started(server, serving)
            host, port = sock.getsockname()[:2]
            base = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
            for line in self._banner(base=base, secret=secret, fresh=fresh, dashboard=dashboard):
                self.say(line)
            await wait_for_stop(self.stop, serving, self.options.duration)
        finally:  # devices first: what they already sent is still taken in
            await asyncio.to_thread(replay.stop)
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)
            unsubscribe()
            server.should_exit = True
            await serving

    def _on_alert(self, event: Event) -> None:
        self.say(f"  alert    {event.twin_id}: {event.data.get('message')}")

    async def _watch(self, replay: FleetReplay) -> None:
        """Report each engine whose replay ended once its last estimate is in."""
        by_id = {engine.twin_id: engine for engine in self.engines}
        reported: set[str] = set()
        waiting: dict[str, float] = {}
        loop = asyncio.get_running_loop()
        while len(reported) < len(self.engines):
            now = loop.time()
            for twin_id, last in replay.finished().items():
                if twin_id in reported:
                    continue
                result = self._result(by_id[twin_id], last)
                if result.estimate is None and now - waiting.setdefault(twin_id, now) < _SETTLE:
                    continue  # the last estimate is not in yet: look again
                reported.add(twin_id)
                self.results.append(result)
                self.say(f"  replay   {result.describe()}")
            await asyncio.sleep(0.1)
        self.say(
            f"every replay has ended; the twins stay up until "
            f"{'the duration ends or ' if self.options.duration else ''}Ctrl-C"
        )

    def _result(self, engine: ReplayedEngine, last: float) -> EngineResult:
        twin = self.services.runtime.find(engine.twin_id)
        derived = {} if twin is None else dict(twin.derived)
        found = derived.get("predicted:rul")
        if found is None or found.time < last:
            return EngineResult(engine.twin_id, engine.cycles, None, None, None, engine.true_rul)
        lower, upper = derived.get("predicted:rul_lower"), derived.get("predicted:rul_upper")
        return EngineResult(
            engine.twin_id,
            engine.cycles,
            float(found.value),
            None if lower is None else float(lower.value),
            None if upper is None else float(upper.value),
            engine.true_rul,
        )

    def _banner(
        self, *, base: str, secret: str | None, fresh: bool, dashboard: bool
    ) -> Iterator[str]:
        settings, options, entry = self.services.settings, self.options, self.ready.entry
        first = self.engines[0].twin_id
        metrics = entry.metrics
        yield ""
        yield (
            f"twinkit demo: a turbofan fleet, {len(self.engines)} engines ({first}.."
            f"{self.engines[-1].twin_id}) replaying {self.engines[0].dataset} test engines "
            f"at {options.speedup:g} cycles/s"
        )
        how = (
            f"trained now in {metrics.get('training_seconds', float('nan')):.1f} s"
            if self.ready.trained
            else "reused from this state folder"
        )
        yield (
            f"  model    {entry.label}, {how}: {metrics.get('train_engines', 0):.0f} engines run "
            f"to failure, out-of-fold RMSE {metrics.get('oof_rmse', float('nan')):.1f} cycles"
        )
        yield (
            f"  live     from an engine's 5th cycle on, every cycle: predicted:rul with a "
            f"90% interval (predicted:rul_lower, _upper); an alert below "
            f"{options.threshold:g} cycles"
        )
        yield f"  state    {settings.data_dir} ({'created' if fresh else 'reused'})"
        if dashboard:
            yield f"  dashboard {base}/ui/  (sign in with the admin token)"
        yield f"  API      {base}{API_PREFIX}"
        mqtt = self.services.connector_state()
        if mqtt is not None:
            supervised = " (supervised mosquitto)" if self.services.broker is not None else ""
            yield f"  MQTT     {mqtt['url']}{supervised}"
        token_file = settings.admin_token_file
        if secret is not None:
            yield f"  admin token (shown once, also in {token_file}): {secret}"
        else:
            yield f"  admin token: in {token_file}"
        twinkit = twinkit_command()
        yield "try, in another shell:"
        yield f"  export TWINKIT_URL={base} TWINKIT_TOKEN=$(cat {shell_path(token_file)})"
        yield f"  {twinkit} predict show {RUL_NAME}"
        yield (
            f'  curl -H "Authorization: Bearer $TWINKIT_TOKEN" '
            f"{base}{API_PREFIX}/twins/{first}/predictions"
        )
        yield (
            f"  {twinkit} series {first} predicted:rul "
            "--start $(($(date +%s) - 600)) --end $(date +%s)"
        )
        stop = f"after {options.duration:g} s or on " if options.duration else "on "
        yield f"The demo stops {stop}Ctrl-C (engines, server, connector, broker, store)."

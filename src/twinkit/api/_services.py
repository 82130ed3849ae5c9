"""The service objects a server runs: store, runtime, broker, connector, opened and closed as one.

The API, the UI and the CLI are faces over one :class:`Services`. Opening order is store →
runtime → broker (unless an MQTT URL is given) → connector → shadow runner (when simulation
bindings are given) → prediction runner (the registry's active models); closing runs in
reverse, and a failure half-way through closes what was already open.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twinkit.api._auth import Authenticator
from twinkit.api._settings import Settings
from twinkit.connect import Mosquitto, MqttConnector, MqttMapping
from twinkit.core import Runtime
from twinkit.predict._service import Predictions
from twinkit.sim._binding import Bindings, SimulationBinding
from twinkit.sim._scenario import Scenarios
from twinkit.sim._shadow import ShadowRunner
from twinkit.store import SQLiteStore

__all__ = ["Services"]

logger = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class Services:
    """Everything a request handler needs; build with :meth:`open` or by hand in tests.

    ``connector`` and ``broker`` are None when the server runs without MQTT (tests, or an
    embedding application that feeds the runtime itself). ``shadow`` runs the simulators of
    ``bindings`` in step with live data once :meth:`start_shadow` ran (``open`` does it);
    ``predictions`` serves the registry's active models once ``predictions.start()`` ran
    (``open`` does it) and trains models with the factories it knows.
    """

    settings: Settings
    store: SQLiteStore
    runtime: Runtime
    mapping: MqttMapping = field(default_factory=MqttMapping)
    connector: MqttConnector | None = None
    broker: Mosquitto | None = None
    clock: Callable[[], float] = time.time
    bindings: Bindings = field(default_factory=Bindings)
    shadow: ShadowRunner | None = None
    auth: Authenticator = field(init=False)
    scenarios: Scenarios = field(init=False)
    predictions: Predictions = field(init=False)
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.auth = Authenticator(self.store, cache_s=self.settings.token_cache_s)
        self.scenarios = Scenarios(
            self.store, self.runtime, bindings=lambda: self.bindings, clock=self.clock
        )
        self.predictions = Predictions(self.store, self.runtime, clock=self.clock)

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        mqtt: bool = True,
        bindings: Iterable[SimulationBinding] = (),
    ) -> Services:
        """Open the store in ``settings.data_dir``, the runtime, (with ``mqtt``) the connector
        and, for ``bindings`` (checked against the stored models), the shadow runner."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        closers: list[Callable[[], Awaitable[None]]] = []
        try:
            store = await SQLiteStore.open(settings.database)
            closers.append(store.close)
            store.start_maintenance()  # rollups and retention, in the background; close() stops it
            runtime = await Runtime.open(store)
            closers.append(runtime.close)
            services = cls(settings, store, runtime, _closers=closers)
            for binding in bindings:
                services.bindings.add(binding, runtime.models)
            if mqtt:
                await services._start_mqtt()
            await services.start_shadow()
            await services.predictions.start()
        except BaseException:
            await _close_all(closers)
            raise
        logger.info("services open on %s", settings.data_dir)
        return services

    async def _start_mqtt(self) -> None:
        url = self.settings.mqtt_url
        if url is None:
            broker = Mosquitto(self.settings.data_dir)
            await broker.start()
            self._closers.append(broker.stop)
            self.broker = broker
            url = broker.url
        connector = MqttConnector(
            self.runtime,
            self.mapping,
            url,
            client_id=self.settings.mqtt_client_id,
            protocol="3.1.1" if self.settings.mqtt_protocol == "3.1.1" else "5",
        )
        await connector.start()
        self._closers.append(connector.stop)
        self.connector = connector
        self.runtime.set_command_transport(connector)

    async def start_shadow(self) -> None:
        """Run the simulators of :attr:`bindings` in step with live data (none: nothing)."""
        if self.shadow is None and len(self.bindings):
            shadow = ShadowRunner(self.runtime, self.bindings)
            await shadow.start()
            self.shadow = shadow

    async def close(self) -> None:
        """Close in reverse order of opening; safe to call twice."""
        await self.scenarios.close()  # runs end before the store they write to
        await self.predictions.close()  # training and serving, before the runtime
        shadow, self.shadow = self.shadow, None
        if shadow is not None:  # before the runtime it writes to
            try:
                await shadow.stop()
            except Exception:
                logger.exception("stopping the shadow runner failed")
        if self.connector is not None:
            self.runtime.set_command_transport(None)
        closers, self._closers = self._closers, []
        await _close_all(closers)
        if not closers:  # built by hand: close what was given
            await self.runtime.close()
            await self.store.close()

    def connector_state(self) -> dict[str, Any] | None:
        """The connector's state and counters for ``/health``; None without a connector."""
        connector = self.connector
        if connector is None:
            return None
        stats = connector.stats()
        return {
            "name": connector.name,
            "connected": stats.connected,
            "url": _without_credentials(connector.url),
            "brokerSupervised": self.broker is not None,
            "received": stats.received,
            "accepted": stats.accepted,
            "deadLettered": stats.dead_lettered,
            "batches": stats.batches,
        }


def _without_credentials(url: str) -> str:
    """``url`` without a user name or password (``/health`` answers anyone)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit(parts._replace(netloc=netloc))


async def _close_all(closers: list[Callable[[], Awaitable[None]]]) -> None:
    for close in reversed(closers):
        try:
            await close()
        except Exception:
            logger.exception("closing %s failed", getattr(close, "__qualname__", close))

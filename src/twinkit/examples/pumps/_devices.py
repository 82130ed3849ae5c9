"""The simulated station's devices on MQTT, and the runner the CLI calls.

:class:`StationDevices` steps a :class:`StationModel` with a fixed step in simulated time,
paced against the wall clock by ``speedup``, and publishes every twin's telemetry each
``publish_interval`` simulated seconds (timestamped with the wall-clock time the sample is due
at, so data arrives "now", ``speedup`` times denser). Properties are published whole on
connect and then whenever they change.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from twinkit.errors import ValidationError
from twinkit.examples.pumps._layout import StationLayout
from twinkit.examples.pumps._mqtt import Broker, DeviceLink
from twinkit.examples.pumps._skab import SkabReplay, skab_runs
from twinkit.examples.pumps._station import StationModel

__all__ = ["DeviceGroup", "StationDevices", "run_devices", "start_devices"]

logger = logging.getLogger(__name__)

_MAX_WAIT: Final = 0.05
"""Longest sleep of the simulation loop, wall seconds: bounds the stop latency."""


class StationDevices:
    """Every twin of a simulated station as its own MQTT device, driven by one physics loop."""

    def __init__(
        self,
        broker: Broker,
        model: StationModel,
        *,
        speedup: float = 1.0,
        dt: float = 0.1,
        publish_interval: float = 1.0,
        prefix: str = "site",
        clock: Callable[[], float] = time.time,
    ) -> None:
        for name, value in (
            ("speedup", speedup),
            ("dt", dt),
            ("publish_interval", publish_interval),
        ):
            if not value > 0:
                raise ValidationError(
                    f"{name} must be positive", path=name, expected="> 0", got=value
                )
        self.model = model
        self.speedup = speedup
        self.dt = dt
        self.publish_interval = publish_interval
        self.links = {tid: DeviceLink(broker, tid, model, prefix=prefix) for tid in model.twin_ids}
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reported: dict[str, dict[str, Any]] = {}

    def start(self) -> None:
        """Connect every device, report its properties, then start the simulation loop."""
        started: list[DeviceLink] = []
        try:
            for link in self.links.values():
                link.start()
                started.append(link)
        except Exception:
            for link in started:
                link.stop()
            raise
        now = self._clock()
        for twin_id, link in self.links.items():
            properties = self.model.properties(twin_id)
            link.publish_properties(properties, ts=now)
            self._reported[twin_id] = properties
        self._thread = threading.Thread(target=self._run, name="pump-station-sim", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop and disconnect every device cleanly."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for link in self.links.values():
            link.stop()

    def _run(self) -> None:
        origin = self._clock()
        steps = 0
        next_publish = self.publish_interval
        try:
            self._publish(origin)
            while True:
                due = int((self._clock() - origin) * self.speedup / self.dt + 1e-9)
                for _ in range(max(0, due - steps)):
                    self.model.step(self.dt)
                    steps += 1
                    if steps * self.dt + 1e-9 >= next_publish:
                        self._publish(origin + steps * self.dt / self.speedup)
                        next_publish += self.publish_interval
                wait = min(_MAX_WAIT, self.dt / self.speedup)
                if self._stop.wait(wait):
                    return
        except Exception:
            logger.exception("the pump-station simulation stopped on an error")

    def _publish(self, ts: float) -> None:
        for twin_id, link in self.links.items():
            link.publish_telemetry(self.model.telemetry(twin_id), ts=ts)
            properties = self.model.properties(twin_id)
            last = self._reported[twin_id]
            changed = {k: v for k, v in properties.items() if last.get(k) != v}
            if changed:
                link.publish_properties(changed, ts=ts)
                self._reported[twin_id] = properties


class DeviceGroup:
    """Devices started together and stopped together (the station and the SKAB replay)."""

    def __init__(self, station: StationDevices, replay: SkabReplay | None = None) -> None:
        self.station = station
        self.replay = replay

    def start(self) -> None:
        self.station.start()
        if self.replay is not None:
            try:
                self.replay.start()
            except Exception:
                self.station.stop()
                raise

    def stop(self) -> None:
        if self.replay is not None:
            self.replay.stop()
        self.station.stop()

    def __enter__(self) -> DeviceGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_devices(
    mqtt_url: str,
    layout: StationLayout,
    *,
    speedup: float = 1.0,
    seed: int = 0,
    skab_dir: Path | str | None = None,
    wear_rate: float = 1.0 / 1800.0,
    publish_interval: float = 1.0,
) -> DeviceGroup:
    """Connect the simulated station (and, with ``skab_dir``, the SKAB replay) and return them
    running; call ``stop()`` (or use ``with``) to disconnect them."""
    broker = Broker.from_url(mqtt_url)
    replay = None
    if skab_dir is not None:
        if layout.replay_twin is None:
            raise ValidationError(
                "a SKAB folder was given but the layout has no replay pump",
                path="layout.replay_twin",
                expected="a layout made with replay_pump=True",
                got=None,
            )
        replay = SkabReplay(broker, layout.replay_twin, skab_runs(skab_dir), speedup=speedup)
    elif layout.replay_twin is not None:
        logger.info("no SKAB folder given: twin %s gets no data", layout.replay_twin)
    model = StationModel(layout, seed=seed, wear_rate=wear_rate)
    station = StationDevices(broker, model, speedup=speedup, publish_interval=publish_interval)
    group = DeviceGroup(station, replay)
    group.start()
    return group


def run_devices(
    mqtt_url: str,
    layout: StationLayout,
    *,
    speedup: float = 1.0,
    seed: int = 0,
    skab_dir: Path | str | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run the station's devices until ``stop`` is set or the process is interrupted (Ctrl-C).

    Raises ConnectorError when the broker cannot be reached and ValidationError for a layout
    the simulator cannot build or a bad URL, and NotFoundError for a missing SKAB folder.
    """
    stop = stop or threading.Event()
    with start_devices(mqtt_url, layout, speedup=speedup, seed=seed, skab_dir=skab_dir):
        logger.info("pump-station devices running on %s (speedup %g)", mqtt_url, speedup)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            logger.info("interrupted: disconnecting the devices")

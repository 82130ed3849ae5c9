"""The simulated bracket on MQTT: a load cell and strain gauges, read from the full FE model.

:class:`GaugeModel` is the real bracket's physics: the strains its gauges read under a load,
from the full finite element model (not the reduced one the twin runs), with the crack zone at
any stiffness. The gauges are linear in the loads at a given stiffness, so each stiffness costs
one factorization and one back-substitution per load component, once; a reading is then a
small matrix product.

:class:`BracketDevice` is the data logger: every ``publish_interval`` seconds of plant time it
reads the load cell (the duty cycle's load plus noise) and the gauges (the model's strains under
the true load, with the crack as it stands, plus noise) and publishes them together on
``site/<twin>/telemetry``, timestamped with the wall-clock time the sample is due at (plant time
runs ``speedup`` times faster). It speaks MQTT only, as a real logger would (see
``twinkit.examples.pumps._mqtt``); it has no writable property and no command.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from twinkit.errors import ValidationError
from twinkit.examples.bracket._loads import Crack, HoistDutyCycle
from twinkit.examples.bracket._spec import CRACK, LOADS, BracketSpec, elastic_problem
from twinkit.examples.pumps._mqtt import Broker, DeviceLink
from twinkit.examples.pumps._station import Reply
from twinkit.sim._fem_elastic import ElasticSystem

__all__ = ["BracketDevice", "GaugeModel", "start_device"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
_MAX_WAIT: Final = 0.05
"""Longest sleep of the logger's loop, wall seconds: bounds the stop latency."""
_KEPT: Final = 64
"""Gauge matrices kept (one per crack stiffness seen)."""


class GaugeModel:
    """Exact gauge strains (microstrain) of the full FE model; see the module docstring."""

    def __init__(self, system: ElasticSystem, gauges: Sequence[str]) -> None:
        unknown = [g for g in gauges if g not in system.functionals]
        if unknown:
            raise ValidationError(
                "the model has no such gauge",
                path=f"gauges/{unknown[0]}",
                expected=f"one of {sorted(system.functionals)}",
                got=unknown,
            )
        self.system = system
        self.gauges = tuple(gauges)
        self._matrices: dict[float, FloatArray] = {}

    @classmethod
    def of(cls, spec: BracketSpec) -> GaugeModel:
        """Assemble the full model of ``spec`` (a fraction of a second on the demo's mesh)."""
        return cls(ElasticSystem(elastic_problem(spec)), spec.gauge_names)

    def matrix(self, stiffness: float = 1.0) -> FloatArray:
        """Strain of each gauge per newton of each load component: ``(gauges, loads)``."""
        found = self._matrices.get(stiffness)
        if found is not None:
            return found
        system = self.system
        units = np.column_stack([system.loads[name] for name in LOADS])[system.free]
        solved = system.factorization({CRACK: stiffness}).solve(np.asfortranarray(units))
        functionals = np.vstack([system.functionals[g][system.free] for g in self.gauges])
        found = np.asarray(functionals @ solved, dtype=np.float64)
        if len(self._matrices) >= _KEPT:
            self._matrices.pop(next(iter(self._matrices)))
        self._matrices[stiffness] = found
        return found

    def strains(self, loads: Mapping[str, float], stiffness: float = 1.0) -> dict[str, float]:
        """Gauge readings (microstrain, noiseless) under ``loads`` (N by component)."""
        vector = np.array([float(loads.get(name, 0.0)) for name in LOADS])
        values = self.matrix(stiffness) @ vector
        return dict(zip(self.gauges, values.tolist(), strict=True))


class _NoControl:
    """The logger has nothing to set and no command: it says so to whatever is sent."""

    def set_desired(self, twin_id: str, name: str, value: Any) -> Reply:
        return Reply(404, description=f"the bracket has no writable property {name!r}")

    def command(self, twin_id: str, name: str, request: Any) -> Reply:
        return Reply(404, description=f"the bracket has no command {name!r}")


class BracketDevice:
    """A bracket's data logger on MQTT; see the module docstring.

    ``load_noise`` (N) and ``gauge_noise`` (microstrain) are standard deviations of white
    noise on each reading; ``crack`` the fault (None: a healthy bracket).
    """

    def __init__(
        self,
        broker: Broker,
        twin_id: str,
        gauges: GaugeModel,
        *,
        duty_cycle: HoistDutyCycle | None = None,
        crack: Crack | None = None,
        speedup: float = 1.0,
        publish_interval: float = 0.2,
        load_noise: float = 10.0,
        gauge_noise: float = 1.0,
        seed: int = 0,
        prefix: str = "site",
        clock: Callable[[], float] = time.time,
    ) -> None:
        for name, value, positive in (
            ("speedup", speedup, True),
            ("publish_interval", publish_interval, True),
            ("load_noise", load_noise, False),
            ("gauge_noise", gauge_noise, False),
        ):
            if not (math.isfinite(value) and (value > 0 if positive else value >= 0)):
                raise ValidationError(
                    f"invalid {name}", path=name, expected="> 0" if positive else ">= 0", got=value
                )
        self.twin_id = twin_id
        self.gauges = gauges
        self.duty_cycle = duty_cycle or HoistDutyCycle(seed=seed)
        self.crack = crack
        self.speedup = speedup
        self.publish_interval = publish_interval
        self.load_noise = load_noise
        self.gauge_noise = gauge_noise
        self.link = DeviceLink(broker, twin_id, _NoControl(), prefix=prefix)
        self.published = 0
        self._rng = np.random.default_rng([seed, 1])
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def stiffness(self, t: float) -> float:
        """The crack zone's stiffness factor at plant time ``t``."""
        return 1.0 if self.crack is None else self.crack.stiffness(t)

    def sample(self, t: float, *, noise: bool = True) -> dict[str, float]:
        """What the logger reads at plant time ``t``: loads (N) and strains (microstrain)."""
        true_loads = self.duty_cycle.at(t)._asdict()
        strains = self.gauges.strains(true_loads, self.stiffness(t))
        if not noise:
            return {**true_loads, **strains}
        loads = self._rng.normal(list(true_loads.values()), self.load_noise)
        read = self._rng.normal(list(strains.values()), self.gauge_noise)
        return {
            **{name: round(float(v), 1) for name, v in zip(true_loads, loads, strict=True)},
            **{name: round(float(v), 2) for name, v in zip(strains, read, strict=True)},
        }

    def start(self) -> None:
        """Connect, then start publishing."""
        self.link.start()
        self._thread = threading.Thread(target=self._run, name="bracket-logger", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop publishing and disconnect cleanly."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.link.stop()

    def _run(self) -> None:
        origin = self._clock()
        try:
            while True:
                due = self.published * self.publish_interval  # plant time of the next sample
                wait = origin + due / self.speedup - self._clock()
                if wait > 0:
                    if self._stop.wait(min(wait, _MAX_WAIT)):
                        return
                    continue
                values = self.sample(due)
                self.link.publish_telemetry(values, ts=origin + due / self.speedup)
                self.published += 1
                if self._stop.is_set():
                    return
        except Exception:
            logger.exception("the bracket's logger stopped on an error")


def start_device(
    mqtt_url: str,
    spec: BracketSpec,
    *,
    twin_id: str = "bracket-1",
    crack: Crack | None = None,
    speedup: float = 1.0,
    publish_interval: float = 0.2,
    seed: int = 0,
    gauges: GaugeModel | None = None,
) -> BracketDevice:
    """Build the bracket's full model (unless ``gauges`` is given), connect its logger to the
    broker at ``mqtt_url`` and start it; ``stop()`` it when done."""
    model = gauges or GaugeModel.of(spec)
    device = BracketDevice(
        Broker.from_url(mqtt_url),
        twin_id,
        model,
        duty_cycle=HoistDutyCycle(rated_load=spec.rated_load, seed=seed),
        crack=crack,
        speedup=speedup,
        publish_interval=publish_interval,
        seed=seed,
    )
    device.start()
    logger.info(
        "bracket logger %s publishing on %s every %g s", twin_id, mqtt_url, publish_interval
    )
    return device

"""Run-to-failure histories of a turbofan fleet, generated in the style of C-MAPSS.

For a fresh checkout without NASA's files: :func:`generate_fleet` gives a
:class:`~twinkit.predict.CmapssSubset` (training engines run to failure, test engines cut some
cycles before it, and the true remaining life of each) whose frames have the C-MAPSS columns,
so everything downstream reads it as it reads ``load_cmapss``. It follows how C-MAPSS itself was
made (Saxena et al., 2008, "Damage propagation modeling for aircraft engine run-to-failure
simulation"):

- **Health.** Each engine starts with some wear ``d0`` (manufacturing and earlier use,
  uniform up to ``FleetSpec.initial_wear``) and loses health exponentially:
  ``health(t) = 1 - d0 - (exp(a * t**b) - 1)``; it fails when health reaches 0. The exponent
  ``b`` is drawn per engine (slow onset then acceleration, as in C-MAPSS); ``a`` follows
  from the engine's life, drawn from a log-normal of mean ``life_mean`` cycles.
- **Sensors** are functions of wear (``1 - health``) and of the flight's operating condition:
  ``value = base(condition) * (1 + variation) + shift * sensitivity * wear(t) + noise``. Each
  sensor has a healthy level at sea level, a shift at failure, a measurement noise (all close
  to FD001's), and a sensitivity to altitude and throttle. Per engine, every sensor gets its
  own manufacturing variation of its level (a fraction of its noise) and its own sensitivity
  to wear (core speeds vary most between engines, as in C-MAPSS).
- **Flight conditions.** One condition at sea level with small jitter in the settings (FD001
  and FD003), or the six conditions of FD002 and FD004 drawn at random for every cycle.
- The seven C-MAPSS sensors that carry no wear are there too, constant per condition.

It is a statistical generator in the C-MAPSS style, not a thermodynamic engine model: the
numbers are plausible, the trends and noise levels those of FD001, the physics not solved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from twinkit.errors import ValidationError
from twinkit.predict._cmapss import CMAPSS_COLUMNS, CmapssSubset, engine_frames

__all__ = [
    "CONDITIONS",
    "SENSORS",
    "EngineLife",
    "FleetSpec",
    "SensorSpec",
    "engine_life",
    "generate_fleet",
]

Array = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """One sensor: healthy ``level`` at sea level, ``shift`` at failure (wear 1), measurement
    ``noise`` (standard deviation), relative change at 42,000 ft (``altitude``) and at a
    throttle angle of 60 instead of 100 (``throttle``), spread of its wear sensitivity across
    engines (``spread``) and the decimals it is reported with."""

    column: str
    level: float
    shift: float
    noise: float
    altitude: float
    throttle: float
    spread: float = 0.15
    decimals: int = 2


SENSORS: Final = (
    SensorSpec("s2", 642.2, 1.6, 0.40, -0.145, -0.02),
    SensorSpec("s3", 1584.0, 16.0, 5.0, -0.150, -0.05),
    SensorSpec("s4", 1399.0, 30.0, 6.5, -0.200, -0.08),
    SensorSpec("s7", 554.6, -3.2, 0.75, -0.750, -0.35),
    SensorSpec("s8", 2388.03, 0.25, 0.06, -0.075, -0.01),
    SensorSpec("s9", 9050.0, 40.0, 14.0, -0.085, -0.03, spread=0.6),
    SensorSpec("s11", 47.25, 1.05, 0.20, -0.750, -0.35),
    SensorSpec("s12", 522.3, -2.9, 0.60, -0.750, -0.35),
    SensorSpec("s13", 2388.03, 0.25, 0.06, -0.075, -0.01),
    SensorSpec("s14", 8137.0, 32.0, 12.0, -0.085, -0.03, spread=0.6),
    SensorSpec("s15", 8.405, 0.12, 0.030, 0.040, 0.05, decimals=4),
    SensorSpec("s17", 391.5, 6.0, 1.3, -0.145, -0.04, decimals=0),
    SensorSpec("s20", 39.0, -0.65, 0.16, -0.750, -0.35),
    SensorSpec("s21", 23.40, -0.40, 0.10, -0.750, -0.35, decimals=4),
)
"""The 14 sensors that carry wear, levels and trends close to FD001's."""

_CONSTANT: Final = {
    "s1": (518.67, -0.16),
    "s5": (14.62, -0.70),
    "s6": (21.61, -0.70),
    "s10": (1.30, -0.20),
    "s16": (0.03, -0.35),
    "s18": (2388.0, -0.075),
    "s19": (100.0, -0.15),
}
"""Sensors without wear: level at sea level, relative change at 42,000 ft."""

CONDITIONS: Final = (
    (0.0, 0.0, 100.0),
    (10.0, 0.25, 100.0),
    (20.0, 0.70, 100.0),
    (25.0, 0.62, 60.0),
    (35.0, 0.84, 100.0),
    (42.0, 0.84, 100.0),
)
"""The six flight conditions of FD002/FD004: altitude (kft), Mach number, throttle angle."""
_JITTER: Final = (0.0022, 0.0003, 0.0)
"""Standard deviation of each setting about its condition (FD001's)."""


@dataclass(frozen=True, slots=True)
class FleetSpec:
    """What :func:`generate_fleet` makes: ``train`` engines run to failure and ``test``
    engines cut ``min_rul``-``max_rul`` cycles before failure (never before cycle
    ``min_cut``), flying in ``conditions`` (1 or 6) flight conditions; lives are log-normal
    with mean ``life_mean`` and standard deviation ``life_std`` cycles, at least ``min_life``;
    ``noise`` scales every sensor's noise; ``seed`` makes it reproducible."""

    train: int = 50
    test: int = 20
    conditions: int = 1
    life_mean: float = 206.0
    life_std: float = 46.0
    min_life: int = 128
    initial_wear: float = 0.1
    min_rul: int = 7
    max_rul: int = 145
    min_cut: int = 31
    noise: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        checks = (
            ("train", self.train >= 0, ">= 0"),
            ("test", self.test >= 0, ">= 0"),
            ("conditions", self.conditions in (1, len(CONDITIONS)), f"1 or {len(CONDITIONS)}"),
            ("life_mean", self.life_mean > 0, "> 0"),
            ("life_std", self.life_std >= 0, ">= 0"),
            ("min_life", self.min_life >= 2, ">= 2"),
            ("initial_wear", 0 <= self.initial_wear < 0.5, "0 <= initial_wear < 0.5"),
            ("min_rul", 0 <= self.min_rul <= self.max_rul, "0 <= min_rul <= max_rul"),
            ("min_cut", 1 <= self.min_cut < self.min_life, "1 <= min_cut < min_life"),
            ("noise", self.noise >= 0, ">= 0"),
        )
        for name, ok, expected in checks:
            if not ok:
                raise ValidationError(
                    f"fleet setting {name} out of range",
                    path=f"fleet/{name}",
                    expected=expected,
                    got=getattr(self, name),
                )


@dataclass(frozen=True, slots=True)
class EngineLife:
    """One engine's degradation: ``health(t) = 1 - d0 - (exp(a * t**b) - 1)``, failing at
    cycle ``life`` (health 0 there)."""

    life: int
    initial_wear: float
    exponent: float

    @property
    def rate(self) -> float:
        """``a``: health reaches exactly 0 at ``life``."""
        return math.log(2.0 - self.initial_wear) / math.pow(self.life, self.exponent)

    def health(self, cycles: Array) -> Array:
        """Health at each cycle, 1 - d0 at cycle 0 falling to 0 at ``life``."""
        decline = np.expm1(self.rate * np.asarray(cycles, dtype=np.float64) ** self.exponent)
        result: Array = 1.0 - self.initial_wear - decline
        return result


def engine_life(spec: FleetSpec, rng: np.random.Generator) -> EngineLife:
    """Draw one engine's life, initial wear and exponent."""
    sigma = math.sqrt(math.log1p((spec.life_std / spec.life_mean) ** 2))
    mu = math.log(spec.life_mean) - sigma**2 / 2
    life = max(spec.min_life, round(float(rng.lognormal(mu, sigma))))
    return EngineLife(
        life=int(life),
        initial_wear=float(rng.uniform(0.0, spec.initial_wear)),
        exponent=float(rng.uniform(1.5, 2.5)),
    )


def _settings(spec: FleetSpec, cycles: int, rng: np.random.Generator) -> tuple[Array, Array]:
    """The operating settings of each cycle: its condition, and the condition jittered."""
    table = np.array(CONDITIONS, dtype=np.float64)
    if spec.conditions == 1:
        chosen = np.zeros(cycles, dtype=np.intp)
    else:
        chosen = rng.integers(0, len(CONDITIONS), size=cycles)
    nominal: Array = table[chosen]
    jittered: Array = nominal + rng.normal(0.0, 1.0, (cycles, 3)) * np.array(_JITTER)
    for column, decimals in enumerate((4, 4, 1)):
        jittered[:, column] = np.round(jittered[:, column], decimals)
    return nominal, jittered


def _condition_factor(settings: Array, altitude: float, throttle: float) -> Array:
    """Relative change of a level with the flight's altitude and throttle angle."""
    factor: Array = (
        1.0 + altitude * settings[:, 0] / 42.0 + throttle * (100.0 - settings[:, 2]) / 40.0
    )
    return factor


def _engine_table(
    spec: FleetSpec, unit: int, life: EngineLife, cycles: int, rng: np.random.Generator
) -> Array:
    """The first ``cycles`` cycles of one engine as rows of the 26 C-MAPSS columns."""
    t = np.arange(1, cycles + 1, dtype=np.float64)
    wear = 1.0 - life.health(t)
    nominal, settings = _settings(spec, cycles, rng)
    columns: dict[str, Array] = {
        "unit": np.full(cycles, float(unit)),
        "cycle": t,
        "setting1": settings[:, 0],
        "setting2": settings[:, 1],
        "setting3": settings[:, 2],
    }
    for name, (level, altitude) in _CONSTANT.items():
        columns[name] = np.round(level * _condition_factor(nominal, altitude, 0.0), 2)
    for sensor in SENSORS:
        factor = _condition_factor(settings, sensor.altitude, sensor.throttle)
        variation = rng.normal(0.0, 0.3 * sensor.noise) / sensor.level
        sensitivity = max(0.05, 1.0 + rng.normal(0.0, sensor.spread))
        noise = rng.normal(0.0, sensor.noise * spec.noise, cycles)
        value = factor * (sensor.level * (1.0 + variation) + sensor.shift * sensitivity * wear)
        columns[sensor.column] = np.round(value + factor * noise, sensor.decimals)
    return np.column_stack([columns[name] for name in CMAPSS_COLUMNS])


def _table(rows: list[Array]) -> pd.DataFrame:
    frame = pd.DataFrame(np.vstack(rows), columns=list(CMAPSS_COLUMNS))
    return frame.astype({"unit": np.int64, "cycle": np.int64})


def generate_fleet(spec: FleetSpec | None = None) -> CmapssSubset:
    """Training engines run to failure, test engines cut before it, and the test engines' true
    remaining lives, as :func:`~twinkit.predict.load_cmapss` gives them (subset name
    ``generated``); see the module docstring for the model."""
    spec = spec or FleetSpec()
    rng = np.random.default_rng([spec.seed, 20080101])
    train = []
    for unit in range(1, spec.train + 1):
        life = engine_life(spec, rng)
        train.append(_engine_table(spec, unit, life, life.life, rng))
    test, truth = [], []
    for unit in range(1, spec.test + 1):
        life = engine_life(spec, rng)
        longest = min(spec.max_rul, life.life - spec.min_cut)
        remaining = int(rng.integers(min(spec.min_rul, longest), longest + 1))
        test.append(_engine_table(spec, unit, life, life.life - remaining, rng))
        truth.append(float(remaining))
    return CmapssSubset(
        "generated",
        tuple(engine_frames(_table(train))) if train else (),
        tuple(engine_frames(_table(test))) if test else (),
        np.array(truth, dtype=np.float64),
    )

"""The ROM in shadow mode beside the simulated bracket: residuals stay at the noise on a healthy
bracket and leave it, on the gauge over the crack, on a cracked one.

Readings are what the device's logger reads (the full FE model's gauges under the duty cycle's
or a proof test's loads, with the load cell's and the gauges' noise), ingested into a real
runtime with the ROM bound to the Bracket model.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
from bracket_helpers import SMALL, shadow_run

from twinkit.examples.bracket import BracketDevice, BracketRom, Crack, GaugeModel
from twinkit.examples.pumps import Broker

T0 = 1_700_000_000.0
HOLD = 3  # readings per load level
# a proof-load test: the hook loaded in steps up to 1.25 x the rated load, each step held
LEVELS = [0.0, 2500.0, 5000.0, 7500.0, 10_000.0, 12_500.0, 6000.0, 0.0]
SIDE = [0.0, 200.0, -300.0, 400.0, 0.0, -500.0, 300.0, 0.0]


def logger(gauges: GaugeModel, crack: Crack | None = None) -> BracketDevice:
    return BracketDevice(Broker("127.0.0.1", 1), "bracket-1", gauges, crack=crack, seed=5)


def proof_test(device: BracketDevice) -> Iterator[tuple[float, Mapping[str, float]]]:
    """Each level held for HOLD readings, 0.2 s apart; the logger's noise on every reading."""
    rng = np.random.default_rng(11)
    for index, (vertical, side) in enumerate(zip(LEVELS, SIDE, strict=True)):
        for repeat in range(HOLD):
            t = (index * HOLD + repeat) * 0.2
            loads = {"loadVertical": vertical, "loadLateral": side, "loadAxial": 0.0}
            strains = device.gauges.strains(loads, device.stiffness(t))
            measured = {k: v + rng.normal(0, device.load_noise) for k, v in loads.items()}
            read = {k: v + rng.normal(0, device.gauge_noise) for k, v in strains.items()}
            yield T0 + t, {**measured, **read}


def settled(statuses: list) -> list[dict[str, float]]:  # type: ignore[type-arg]
    """Residuals of the readings that are not the first of their load level.

    The shadow holds a reading's loads until the next one (zero-order hold, as for dynamic
    models), so the first reading after a step is compared with the model at the step before.
    """
    return [dict(s.residuals) for i, s in enumerate(statuses) if i % HOLD]


def test_a_healthy_bracket_gives_residuals_within_the_noise(
    tmp_path: Path, small_rom: BracketRom, small_gauges: GaugeModel
) -> None:
    statuses = shadow_run(tmp_path, small_rom, proof_test(logger(small_gauges)))
    residuals = settled(statuses)
    assert all(set(r) == set(SMALL.gauge_names) for r in residuals)
    worst = {g: max(abs(r[g]) for r in residuals) for g in SMALL.gauge_names}
    # gauge noise 1 µε plus the load cell's 10 N through the model: a few µε at most
    assert max(worst.values()) < 6.0, worst
    last = statuses[-1]
    assert last.state.value == "running" and last.failures == 0 and last.reseeds == 0
    assert last.updates == len(LEVELS) * HOLD
    assert set(last.simulated) >= {"tipDeflection", "maxVonMises", "utilisation"}
    at_proof = statuses[5 * HOLD + 1].simulated  # 12.5 kN hanging
    assert 0.8 < at_proof["tipDeflection"] < 1.6  # mm, down
    assert 0.1 < at_proof["utilisation"] < 0.5
    assert small_rom.timing.summary().count >= len(residuals)


def test_a_crack_shows_on_the_gauge_over_it(
    tmp_path: Path, small_rom: BracketRom, small_gauges: GaugeModel
) -> None:
    crack = Crack(start=0.0, severity=0.6, growth=0.0)  # grown before the test
    statuses = shadow_run(tmp_path, small_rom, proof_test(logger(small_gauges, crack)))
    residuals = settled(statuses)
    at_rated = residuals[2 * 4]  # the 10 kN level (two settled readings per level)
    assert at_rated["strainRootTop"] > 100.0  # µε: measured strain far above the healthy model
    assert abs(at_rated["strainMidTop"]) < 6.0  # far from the crack: still the healthy bar
    assert at_rated["strainRootTop"] > 3 * max(
        abs(at_rated[g]) for g in SMALL.gauge_names if g != "strainRootTop"
    )
    unloaded = residuals[0]
    assert max(abs(v) for v in unloaded.values()) < 6.0  # a crack needs load to show


def test_residuals_stay_within_the_noise_through_a_live_duty_cycle(
    tmp_path: Path, small_rom: BracketRom, small_gauges: GaugeModel
) -> None:
    device = logger(small_gauges)
    times = [float(t) for t in np.arange(8.0, 20.0, 0.2)]  # a lift: ramp, bounce, swing
    statuses = shadow_run(tmp_path, small_rom, [(T0 + t, device.sample(t)) for t in times])
    assert all(s.failures == 0 for s in statuses)
    worst = max(abs(v) for s in statuses for v in s.residuals.values())
    assert worst < 8.0  # µε; 28 µε when a reading was compared with the previous loads

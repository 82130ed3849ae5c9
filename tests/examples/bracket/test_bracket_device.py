"""The simulated bracket: its gauges are the full FE model's, its loads a hoist's, its MQTT real."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from bracket_helpers import SMALL, Listener

from twinkit.errors import ValidationError
from twinkit.examples.bracket import (
    CRACK,
    LOADS,
    BracketDevice,
    Crack,
    GaugeModel,
    HoistDutyCycle,
    start_device,
)
from twinkit.examples.pumps import Broker


def device(gauges: GaugeModel, **options: object) -> BracketDevice:
    """A device that is never started (no broker needed to sample it)."""
    return BracketDevice(Broker("127.0.0.1", 1), "bracket-1", gauges, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("stiffness", [1.0, 0.45])
def test_gauges_equal_the_full_fe_model_for_a_known_load(
    small_gauges: GaugeModel, stiffness: float
) -> None:
    loads = {"loadVertical": 8000.0, "loadLateral": 300.0, "loadAxial": -200.0}
    read = small_gauges.strains(loads, stiffness)
    solved = small_gauges.system.solve(loads, {CRACK: stiffness}).outputs()
    assert set(read) == set(SMALL.gauge_names)
    for gauge, value in read.items():
        assert value == pytest.approx(solved[gauge], rel=1e-9, abs=1e-9)


def test_a_hanging_load_bends_the_bar_as_beam_theory_says(small_gauges: GaugeModel) -> None:
    """Far enough from the clamp, the top gauge reads M c / (E I) (Euler-Bernoulli)."""
    force = 10_000.0
    read = small_gauges.strains({"loadVertical": force})
    inertia = SMALL.width * SMALL.height**3 / 12
    for gauge in ("strainRootTop", "strainMidTop"):
        x = next(g.x for g in SMALL.gauges if g.name == gauge)
        beam = force * (SMALL.length - x) * (SMALL.height / 2) / (SMALL.youngs_modulus * inertia)
        assert read[gauge] == pytest.approx(1e6 * beam, rel=0.02)
    assert read["strainRootBottom"] == pytest.approx(-read["strainRootTop"], rel=1e-6)
    assert abs(read["strainRootSide"]) < 1e-6  # on the neutral axis of vertical bending
    sideways = small_gauges.strains({"loadLateral": 500.0})
    assert sideways["strainRootSide"] < -10  # the +y face shortens under a +y load


def test_a_crack_changes_the_gauges_near_it_and_not_the_far_one(
    small_gauges: GaugeModel,
) -> None:
    loads = {"loadVertical": 10_000.0}
    healthy, cracked = small_gauges.strains(loads), small_gauges.strains(loads, 0.4)
    assert cracked["strainRootTop"] > 1.5 * healthy["strainRootTop"]
    assert cracked["strainMidTop"] == pytest.approx(healthy["strainMidTop"], rel=1e-3)


def test_a_device_sample_is_the_duty_cycle_s_load_and_the_model_s_strains(
    small_gauges: GaugeModel,
) -> None:
    crack = Crack(start=30.0, severity=0.5, growth=0.0)
    logger = device(small_gauges, crack=crack, seed=3)
    for t in (5.0, 25.0, 75.0):
        exact = logger.sample(t, noise=False)
        hook = logger.duty_cycle.at(t)._asdict()
        assert {k: exact[k] for k in LOADS} == hook
        strains = small_gauges.strains(hook, 1.0 if t < 30 else 0.5)
        assert {k: exact[k] for k in SMALL.gauge_names} == strains
    columns = (*LOADS, "strainRootTop")
    noisy = np.array([[logger.sample(25.0)[k] for k in columns] for _ in range(400)])
    exact = logger.sample(25.0, noise=False)
    spread = noisy.std(axis=0)
    assert spread[:3] == pytest.approx([logger.load_noise] * 3, rel=0.2)
    # the gauges read the true load: their noise is their own, not the load cell's
    assert spread[3] == pytest.approx(logger.gauge_noise, rel=0.2)
    assert noisy.mean(axis=0)[3] == pytest.approx(exact["strainRootTop"], abs=0.3)


def test_the_duty_cycle_lifts_holds_swings_and_sets_down() -> None:
    cycle = HoistDutyCycle(seed=7)
    times = np.arange(0.0, 3 * cycle.period, 0.05)
    loads = np.array([cycle.at(float(t)) for t in times])
    vertical, lateral = loads[:, 0], loads[:, 1]
    tau = times % cycle.period
    idle = (tau < cycle.lift_at) | (tau > cycle.lower_at + cycle.ramp)
    assert np.all(vertical[idle] == cycle.hook_weight) and np.all(lateral[idle] == 0)
    limit = cycle.hook_weight + cycle.rated_load * cycle.payload[1] * (1 + cycle.dynamic_factor)
    assert vertical.min() >= cycle.hook_weight - 1e-9 and vertical.max() <= limit
    payloads = [cycle.lift(i).payload for i in range(3)]
    assert len(set(payloads)) == 3  # each lift its own load, within the range
    assert all(0.2 * cycle.rated_load <= p <= cycle.rated_load for p in payloads)
    hanging = (tau > cycle.lift_at + cycle.ramp + 2) & (tau < cycle.lower_at) & (times < 60)
    crossings = np.flatnonzero(np.diff(np.sign(lateral[hanging])) != 0)
    period = 2 * float(np.mean(np.diff(times[hanging][crossings])))
    assert period == pytest.approx(2 * math.pi * math.sqrt(cycle.rope_length / 9.81), rel=0.05)
    assert cycle.at(12.3) == HoistDutyCycle(seed=7).at(12.3)  # a pure function of time
    assert cycle.at(12.3) != HoistDutyCycle(seed=8).at(12.3)


def test_a_crack_grows_in_steps_to_its_severity() -> None:
    crack = Crack(start=100.0, severity=0.6, growth=120.0)
    assert crack.stiffness(99.9) == 1.0
    assert crack.stiffness(130.0) == pytest.approx(0.85)
    assert crack.stiffness(500.0) == pytest.approx(0.4)
    values = [crack.stiffness(t) for t in np.arange(90.0, 300.0, 0.5)]
    assert values == sorted(values, reverse=True) and len(set(values)) == 13
    with pytest.raises(ValidationError, match="severity"):
        Crack(start=0.0, severity=1.0)
    with pytest.raises(ValidationError, match="lower_at"):
        HoistDutyCycle(lower_at=5.0)


@pytest.mark.integration
def test_the_device_publishes_loads_and_strains_over_mqtt(
    mosquitto: object, small_gauges: GaugeModel
) -> None:
    url = mosquitto.url  # type: ignore[attr-defined]
    listener = Listener(url)
    logger = start_device(
        url, SMALL, gauges=small_gauges, speedup=10.0, publish_interval=0.2, seed=1
    )
    try:
        telemetry = listener.wait_for(lambda t, _: t == "site/bracket-1/telemetry", count=10)
        listener.publish("site/bracket-1/desired", {"length": 5.0, "$version": 1})
        (ack,) = listener.wait_for(lambda t, _: t == "site/bracket-1/properties")
    finally:
        logger.stop()
    listener.wait_for(lambda t, p: t == "site/bracket-1/status" and p == b"offline")  # clean
    listener.close()
    payloads = [json.loads(p) for _, p in telemetry]
    assert all(set(p["values"]) == {*LOADS, *SMALL.gauge_names} for p in payloads)
    stamps = np.diff([p["ts"] for p in payloads])
    assert stamps == pytest.approx(np.full(len(stamps), 0.02), abs=1e-6)  # 0.2 plant s at 10x
    first = payloads[0]["values"]
    assert first["loadVertical"] == pytest.approx(250.0, abs=60)  # the empty hook, with noise
    refused = json.loads(ack[1])["values"]["length"]
    assert refused["ac"] == 404 and "no writable property" in refused["ad"]

"""The bracket's ROM: within 1 % of the full FE model on unseen loads, cached, timed, simulated."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from bracket_helpers import SMALL

from twinkit.errors import SimulationError, ValidationError
from twinkit.examples.bracket import (
    CRACK,
    BracketRom,
    BracketSimulator,
    BracketSpec,
    Gauge,
    GaugeModel,
    RomTiming,
    bracket_rom,
    rom_cache_dir,
)
from twinkit.sim import Simulator
from twinkit.sim._fem_elastic_problem import MAX_VON_MISES
from twinkit.sim._rom_train import sample_cases, validate_rom

RATED = SMALL.rated_load


def test_outputs_match_full_solves_within_one_percent_on_unseen_loads(
    small_rom: BracketRom, small_gauges: GaugeModel
) -> None:
    """Random load combinations and crack stiffnesses that training never saw."""
    unseen = sample_cases(
        {
            "loadVertical": (0.0, 1.5 * RATED),
            "loadLateral": (-0.2 * RATED, 0.2 * RATED),
            "loadAxial": (-0.2 * RATED, 0.2 * RATED),
        },
        {CRACK: SMALL.crack_range},
        count=8,
        seed=2024,
    )
    checked = validate_rom(small_rom.rom, small_gauges.system, unseen)
    assert checked.cases == 8
    assert set(checked.max_output_error) == {*SMALL.gauge_names, "tipZ", MAX_VON_MISES}
    assert max(checked.max_output_error.values()) < 0.01, checked.max_output_error
    assert checked.max_field_error < 0.01
    assert small_rom.rom.rank < small_gauges.system.ndof / 100  # a real reduction


def test_the_simulator_speaks_the_model_s_names_and_units(
    small_rom: BracketRom, small_gauges: GaugeModel
) -> None:
    simulator = small_rom.simulator()
    assert isinstance(simulator, Simulator)
    names = {v.name: v.causality.value for v in simulator.variables}
    assert {n for n, c in names.items() if c == "input"} == {
        "loadVertical",
        "loadLateral",
        "loadAxial",
    }
    assert {n for n, c in names.items() if c == "parameter"} == {CRACK, "yieldStrength"}
    simulator.initialize(0.0, {"yieldStrength": 250e6})
    loads = {"loadVertical": 8000.0, "loadLateral": -600.0, "loadAxial": 300.0}
    out = simulator.step(0.0, 1.0, loads)
    full = small_gauges.system.solve(loads).outputs()
    assert out["tipDeflection"] == pytest.approx(-1e3 * full["tipZ"], rel=1e-3)  # mm, down
    assert out["tipDeflection"] > 0.5
    assert out["maxVonMises"] == pytest.approx(full[MAX_VON_MISES], rel=0.01)
    assert out["utilisation"] == pytest.approx(out["maxVonMises"] / 250e6)
    for gauge in SMALL.gauge_names:
        assert out[gauge] == pytest.approx(full[gauge], rel=0.01, abs=0.05)
    assert 0 <= out["romErrorBound"] < 0.01
    cracked = small_rom.simulator()
    cracked.initialize(0.0, {CRACK: 0.4})
    assert cracked.step(0.0, 1.0, loads)["strainRootTop"] > 1.3 * out["strainRootTop"]


def test_simulator_state_round_trips_and_bad_parameters_are_refused(
    small_rom: BracketRom,
) -> None:
    simulator = small_rom.simulator()
    simulator.initialize(0.0, {CRACK: 0.7})
    saved = simulator.get_state()
    first = simulator.step(0.0, 1.0, {"loadVertical": 5000.0})
    simulator.set_state(saved)
    assert simulator.step(0.0, 1.0, {"loadVertical": 5000.0}) == first
    with pytest.raises(ValidationError, match="outside the range"):
        simulator.initialize(0.0, {CRACK: 0.05})
    with pytest.raises(SimulationError, match="yield strength"):
        simulator.initialize(0.0, {"yieldStrength": -1.0})
    with pytest.raises(ValidationError, match="not a state"):
        simulator.set_state("yesterday")


def test_a_rom_of_another_structure_is_refused() -> None:
    from twinkit.sim._fem_elastic import ElasticSystem
    from twinkit.sim._fem_elastic_problem import STEEL, ElasticProblem, SurfaceForce
    from twinkit.sim._fem_mesh import box_mesh
    from twinkit.sim._rom_train import train_rom

    beam = ElasticProblem(
        mesh=box_mesh((1.0, 0.1, 0.1), divisions=(4, 1, 1)),
        material=STEEL,
        supports={"fixed": "xyz"},
        loads={"F": SurfaceForce("tip", (0.0, 0.0, 1.0))},
    )
    other = train_rom(ElasticSystem(beam), samples=1)
    with pytest.raises(ValidationError, match="not a ROM of a bracket") as raised:
        BracketSimulator(other, yield_strength=355e6)
    assert raised.value.where == "rom"


def test_the_rom_is_trained_once_then_loaded_from_the_cache(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[float] = []
    first = bracket_rom(SMALL, cache_dir=tmp_path, progress=seen.append)
    assert first.trained and first.path == tmp_path / f"bracket-{SMALL.key()}.npz"
    assert seen[0] == 0.0 and seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    assert first.rom.validation is not None and first.rom.meta["bracket"]["key"] == SMALL.key()
    calls = len(seen)
    again = bracket_rom(SMALL, cache_dir=tmp_path, progress=seen.append)
    assert not again.trained and again.path == first.path
    assert len(seen) == calls  # loaded: no training, no progress
    loads = {"loadVertical": 4321.0, "loadLateral": 55.0}
    assert again.rom.evaluate(loads).outputs == first.rom.evaluate(loads).outputs
    assert "trained in" in next(first.describe()) and "loaded in" in next(again.describe())
    assert list(tmp_path.iterdir()) == [first.path]  # no partial file left behind

    assert first.path is not None
    first.path.write_bytes(b"not a ROM")
    with caplog.at_level(logging.WARNING):
        retrained = bracket_rom(SMALL, cache_dir=tmp_path)
    assert retrained.trained and "training it again" in caplog.text


def test_another_design_is_another_cache_entry(small_rom: BracketRom, rom_cache: Path) -> None:
    taller = replace(SMALL, height=0.15)
    renamed = replace(SMALL, serial_number="BR-9999")  # the nameplate is not the model
    assert taller.key() != SMALL.key() and renamed.key() == SMALL.key()
    assert small_rom.path is not None and small_rom.path.parent == rom_cache


def test_an_unwritable_cache_is_only_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    with caplog.at_level(logging.WARNING):
        reduced = bracket_rom(SMALL, cache_dir=blocker)
    assert reduced.trained and reduced.path is None
    assert "could not cache" in caplog.text
    assert "(not cached)" in next(reduced.describe())


def test_the_cache_folder_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWINKIT_CACHE_DIR", str(tmp_path / "env"))
    assert rom_cache_dir() == tmp_path / "env"
    assert rom_cache_dir(tmp_path / "given") == tmp_path / "given"
    monkeypatch.delenv("TWINKIT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert rom_cache_dir() == tmp_path / "xdg" / "twinkit"


def test_each_evaluation_is_timed_far_below_the_publish_interval(small_rom: BracketRom) -> None:
    timing = RomTiming()
    simulator = BracketSimulator(small_rom.rom, yield_strength=355e6, timing=timing)
    simulator.initialize(0.0)
    rng = np.random.default_rng(0)
    for step in range(500):
        loads = {"loadVertical": float(rng.uniform(0, RATED)), "loadLateral": 100.0}
        simulator.step(float(step), 1.0, loads)
    summary = timing.summary()
    assert summary.count == 500
    assert 0 < summary.median <= summary.p99 <= summary.max
    assert summary.median < 0.2 / 100  # a hundredth of the demo's publish interval at least
    line = summary.describe(0.2)
    assert "500 load updates" in line and "below the 0.2 s publish interval" in line


def test_a_bracket_spec_says_what_is_wrong() -> None:
    for changes, where in (
        ({"length": -1.0}, "bracket/length"),
        ({"divisions": (4, 0, 1)}, "bracket/divisions"),
        ({"crack_x": (0.5, 0.2)}, "bracket/crack_x"),
        ({"crack_range": (0.0, 1.0)}, "bracket/crack_range"),
        ({"gauges": (Gauge("a", 0.1, "top"), Gauge("a", 0.2, "top"))}, "bracket/gauges"),
        ({"gauges": (Gauge("far", 2.0, "top"),)}, "bracket/gauges/far"),
    ):
        with pytest.raises(ValidationError) as raised:
            BracketSpec(**changes)  # type: ignore[arg-type]
        assert raised.value.where == where


def test_timing_keeps_a_window_and_logs_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    timing = RomTiming(window=100, log_every=60.0, monotonic=lambda: now[0])
    assert timing.summary().describe() == "ROM: no load update yet"
    with caplog.at_level(logging.INFO, logger="twinkit.examples.bracket._simulator"):
        for micro in range(1, 201):  # 1 .. 200 µs; the window keeps 101 .. 200
            timing.record(micro * 1e-6)
        assert "load updates" not in caplog.text
        now[0] = 61.0
        timing.record(300e-6)
    assert "bracket ROM: 201 load updates" in caplog.text
    summary = timing.summary()
    assert summary.count == 201
    assert summary.median == pytest.approx(152e-6)  # of 102 .. 200 and 300
    assert summary.p99 == pytest.approx(200e-6) and summary.max == pytest.approx(300e-6)

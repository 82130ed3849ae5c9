"""POD reduced-order models: accuracy on held-out cases, the error bound, storage, Simulator."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from fem_models import bracket_system

from twinkit.errors import SimulationError, ValidationError
from twinkit.sim._engine import simulate
from twinkit.sim._fem import FemSimulator
from twinkit.sim._fem_elastic import ElasticSystem
from twinkit.sim._fem_elastic_problem import MAX_VON_MISES
from twinkit.sim._protocol import Simulator
from twinkit.sim._rom import ROM_ERROR_BOUND, Rom, RomSimulator
from twinkit.sim._rom_train import RomCase, sample_cases, train_rom, validate_rom

RANGES = {"root_stiffness": (0.5, 1.0)}
LOAD_RANGES = {
    "Fz": (-2000.0, 2000.0),
    "Fy": (-1000.0, 1000.0),
    "Fx": (-5e4, 5e4),
    "weight": (0.0, 1.0),
}


@pytest.fixture(scope="module")
def system() -> ElasticSystem:
    return bracket_system((20, 2, 2))


@pytest.fixture(scope="module")
def held_out() -> list[RomCase]:
    return sample_cases(LOAD_RANGES, RANGES, count=6, seed=7)


@pytest.fixture(scope="module")
def rom(system: ElasticSystem, held_out: list[RomCase]) -> Rom:
    return train_rom(system, ranges=RANGES, samples=4, validation=held_out)


def test_held_out_cases_are_within_one_percent(rom: Rom, held_out: list[RomCase]) -> None:
    assert all(0.5 <= c.parameters["root_stiffness"] <= 1.0 for c in held_out)
    checked = rom.validation
    assert checked is not None and checked.cases == len(held_out)
    assert checked.max_field_error < 0.01
    assert checked.max_output_error["tip_z"] < 0.01
    assert checked.max_output_error[MAX_VON_MISES] < 0.01
    assert max(checked.max_output_error.values()) < 0.01
    assert rom.rank < 4 * 4  # the snapshots were compressed
    assert rom.meta["training_solves"] == 16 and rom.meta["training_factorizations"] == 4


def test_error_bound_holds_and_is_sharp(rom: Rom) -> None:
    """The bound is above the true energy error and within sqrt(max θ / θ_low) of it."""
    checked = rom.validation
    assert checked is not None
    assert checked.min_effectivity >= 1.0 - 1e-6
    assert checked.max_effectivity <= math.sqrt(1.0 / 0.5) + 1e-6


def test_output_bounds_cover_the_output_errors(rom: Rom, system: ElasticSystem) -> None:
    loads, parameters = {"Fz": -1500.0, "Fx": 2e4}, {"root_stiffness": 0.62}
    full = system.solve(loads, parameters).outputs()
    evaluation = rom.evaluate(loads, parameters)
    for name, bound in evaluation.output_bounds.items():
        assert abs(evaluation.outputs[name] - full[name]) <= bound * (1 + 1e-6) + 1e-15
    assert evaluation.relative_error_bound < 0.05


def test_fields_are_reconstructed_for_display(rom: Rom, system: ElasticSystem) -> None:
    loads, parameters = {"Fz": -1000.0, "Fy": 300.0}, {"root_stiffness": 0.8}
    full = system.solve(loads, parameters)
    evaluation = rom.evaluate(loads, parameters)
    field = rom.reconstruct(evaluation)
    assert np.linalg.norm(field - full.displacement) < 0.01 * np.linalg.norm(full.displacement)
    np.testing.assert_allclose(
        rom.vertex_displacement(evaluation),
        full.vertex_displacement,
        atol=0.01 * np.abs(full.displacement).max(),
    )
    stress = rom.surface_field(evaluation, "von_mises")
    exact = full.von_mises()[rom.surface_nodes]
    assert np.abs(stress.values - exact).max() < 0.01 * exact.max()
    moved = rom.surface_field(evaluation, "displacement")
    assert moved.points.shape == (len(moved.values), 3) and moved.triangles.max() < len(
        moved.values
    )
    with pytest.raises(ValidationError, match="quantity"):
        rom.surface_field(evaluation, "strain")


def test_save_and_load_give_the_same_model(rom: Rom, tmp_path: Path) -> None:
    path = rom.save(tmp_path / "bracket.npz")
    loaded = Rom.load(path)
    assert loaded.validation == rom.validation and loaded.meta == rom.meta
    a = rom.evaluate({"Fz": -700.0}, {"root_stiffness": 0.9})
    b = loaded.evaluate({"Fz": -700.0}, {"root_stiffness": 0.9})
    assert a.outputs == b.outputs and a.error_bound == b.error_bound
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValidationError, match="not a twinkit ROM"):
        Rom.load(tmp_path / "junk.npz")


def test_rom_simulator_tracks_the_full_model(rom: Rom) -> None:
    sim = RomSimulator(rom)
    assert isinstance(sim, Simulator)
    full = FemSimulator(bracket_system((20, 2, 2)))
    inputs = lambda t: {"Fz": -1000.0 * np.sin(t), "Fy": 200.0}  # noqa: E731
    reduced = simulate(sim, stop=3.0, dt=0.5, inputs=inputs, parameters={"root_stiffness": 0.7})
    exact = simulate(full, stop=3.0, dt=0.5, inputs=inputs, parameters={"root_stiffness": 0.7})
    scale = np.abs(exact.outputs["tip_z"]).max()
    np.testing.assert_allclose(reduced.outputs["tip_z"], exact.outputs["tip_z"], atol=0.01 * scale)
    assert np.all(reduced.outputs[ROM_ERROR_BOUND] < 0.05)
    saved = sim.get_state()
    again = sim.step(3.0, 0.5, {"Fz": 10.0})
    sim.set_state(saved)
    assert sim.step(3.0, 0.5, {"Fz": 10.0}) == again
    with pytest.raises(ValidationError, match="outside the range"):
        sim.initialize(0.0, {"root_stiffness": 0.2})
    with pytest.raises(SimulationError, match="model is at"):
        sim.step(99.0, 1.0, {})


def test_without_stiffness_parameters_the_rom_is_exact() -> None:
    system = bracket_system((10, 1, 1))
    rom = train_rom(system, samples=3)
    assert rom.rank <= len(system.loads)
    case = {"Fz": 123.0, "Fx": -4e3, "weight": 1.0}
    full = system.solve(case).displacement
    assert np.linalg.norm(rom.reconstruct(rom.evaluate(case)) - full) < 1e-8 * np.linalg.norm(full)


def test_training_reports_progress_and_checks_settings(system: ElasticSystem) -> None:
    seen: list[float] = []
    train_rom(system, ranges=RANGES, samples=2, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    with pytest.raises(ValidationError, match="range"):
        train_rom(system, ranges={"root_stiffness": (0.0, 1.0)})
    with pytest.raises(ValidationError, match="unknown parameter"):
        train_rom(system, ranges={"tip_stiffness": (0.5, 1.0)})
    with pytest.raises(ValidationError, match="settings"):
        train_rom(system, tolerance=2.0)


def test_validation_compares_with_full_solves(rom: Rom, system: ElasticSystem) -> None:
    result = validate_rom(rom, system, [RomCase({"Fz": -1000.0}, {"root_stiffness": 0.55})])
    assert result.cases == 1 and result.max_field_error < 0.01
    with pytest.raises(ValidationError, match="unknown ROM load"):
        rom.evaluate({"Fq": 1.0})

"""Fixtures of the bracket tests: a small bracket, its ROM and full model, built once per worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from bracket_helpers import SMALL

from twinkit.examples.bracket import BracketRom, GaugeModel, bracket_rom


@pytest.fixture(scope="session")
def rom_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ROM cache folder shared by the tests of one worker."""
    return tmp_path_factory.mktemp("rom-cache")


@pytest.fixture(scope="session")
def small_rom(rom_cache: Path) -> BracketRom:
    """The small bracket's ROM: a coarse mesh, four crack stiffness samples (under a second)."""
    return bracket_rom(SMALL, cache_dir=rom_cache)


@pytest.fixture(scope="session")
def small_gauges() -> GaugeModel:
    """The small bracket's full FE model, as the simulated device reads its gauges from it."""
    return GaugeModel.of(SMALL)


@pytest.fixture(scope="session")
def default_rom_cache(rom_cache: Path) -> Path:
    """The cache with the demo bracket's ROM in it (trained once per worker: a few seconds)."""
    bracket_rom(cache_dir=rom_cache)
    return rom_cache

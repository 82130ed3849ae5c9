"""Fixtures of the simulation tests: the test FMUs, built once per test session (worker)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fmus.builders import build_ball, build_oscillator, compiler


@pytest.fixture(scope="session")
def fmu_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fmus")


@pytest.fixture(scope="session")
def oscillator_fmu(fmu_dir: Path) -> Path:
    """pythonfmu's FMI 2.0 co-simulation oscillator (Python inside the FMU)."""
    return build_oscillator(fmu_dir)


@pytest.fixture(scope="session", params=[2, 3], ids=["fmi2", "fmi3"])
def ball_fmu(request: pytest.FixtureRequest, fmu_dir: Path) -> Path:
    """The C bouncing ball, model exchange and co-simulation, for FMI 2.0 and 3.0."""
    return _ball(request.param, fmu_dir, state=True)


@pytest.fixture(scope="session")
def ball2_fmu(fmu_dir: Path) -> Path:
    return _ball(2, fmu_dir, state=True)


@pytest.fixture(scope="session")
def stateless_ball_fmu(fmu_dir: Path) -> Path:
    """The FMI 2.0 ball whose description says it cannot get and set its state."""
    return _ball(2, fmu_dir, state=False)


@pytest.fixture(scope="session")
def unserializable_ball_fmu(fmu_dir: Path) -> Path:
    """The FMI 3.0 ball that can get and set its state but not serialize it."""
    return _ball(3, fmu_dir, state=True, serialize=False)


def _ball(version: int, dest: Path, *, state: bool, serialize: bool = True) -> Path:
    if compiler() is None:
        pytest.fail("no C compiler to build the test FMUs with (./run.sh installs gcc)")
    suffix = ("" if state else "-stateless") + ("" if serialize else "-unserializable")
    name = dest / f"ball{version}{suffix}.fmu"
    return name if name.exists() else build_ball(version, dest, state=state, serialize=serialize)

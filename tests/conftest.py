"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder (DTDL samples, C-MAPSS, SKAB) next to the repository.

    A missing folder fails the test: the data is part of the test set-up, not optional.
    """
    if not SHARED_DATA.is_dir():
        pytest.fail(
            f"shared data folder not found at {SHARED_DATA}: the tests expect the project's "
            "shared/data checkout next to the repository (../shared/data)",
            pytrace=False,
        )
    return SHARED_DATA

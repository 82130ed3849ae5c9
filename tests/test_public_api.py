"""The public API is what ``__all__`` lists, and the installed command reports the version."""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

import twinkit
from twinkit.cli import cli


def public_modules() -> list[ModuleType]:
    """twinkit, and the layers with a public API of their own."""
    modules = [twinkit]
    for name in ("twinkit.model", "twinkit.sim", "twinkit.predict"):
        if importlib.util.find_spec(name) is not None:
            modules.append(importlib.import_module(name))
    return modules


@pytest.mark.parametrize("module", public_modules(), ids=lambda m: m.__name__)
def test_all_lists_existing_names(module: ModuleType) -> None:
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, f"{module.__name__}.__all__ lists names it does not define: {missing}"


@pytest.mark.parametrize("module", public_modules(), ids=lambda m: m.__name__)
def test_all_is_sorted_and_unique(module: ModuleType) -> None:
    names = list(module.__all__)
    assert names == sorted(set(names)), f"{module.__name__}.__all__ must be sorted and unique"


def test_root_error_is_public() -> None:
    assert issubclass(twinkit.TwinkitError, Exception)


def test_version_matches_installed_metadata() -> None:
    from importlib.metadata import version

    assert twinkit.__version__ == version("twinkit")


def test_cli_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"twinkit, version {twinkit.__version__}"


def test_installed_console_script_version() -> None:
    script = Path(sys.executable).parent / "twinkit"
    if not script.exists():  # not a venv layout: fall back to PATH
        found = shutil.which("twinkit")
        assert found, "the twinkit console script is not installed (pip install -e .)"
        script = Path(found)
    completed = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == f"twinkit, version {twinkit.__version__}"


def test_cli_help_lists_models_group() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    assert "models" in result.output

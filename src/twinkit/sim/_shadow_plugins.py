"""Simulator plug-ins: the bindings a server runs, from ``twinkit serve --simulators MODULE[:ATTR]``.

The contract (docs/simulation.md, "Shadow mode"): ``MODULE`` is an importable Python module
(on ``sys.path``; the current directory is searched too), ``ATTR`` (default ``bindings``) a
function of no arguments that returns :class:`~twinkit.sim.SimulationBinding` objects (a list,
or any iterable). The server checks each against the loaded models at start and refuses to
start when one does not fit, naming it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from pathlib import Path

from twinkit.errors import ValidationError
from twinkit.sim._binding import SimulationBinding

__all__ = ["DEFAULT_ATTRIBUTE", "load_bindings"]

DEFAULT_ATTRIBUTE = "bindings"


def load_bindings(spec: str) -> list[SimulationBinding]:
    """Import ``MODULE[:ATTR]`` and return the bindings its function gives."""
    module_name, _, attribute = spec.partition(":")
    attribute = attribute or DEFAULT_ATTRIBUTE
    where = f"--simulators {spec}"
    if not module_name or not all(part.isidentifier() for part in module_name.split(".")):
        raise ValidationError(
            "bad simulator plug-in",
            path=where,
            expected="MODULE[:ATTR], e.g. mysite.physics:bindings",
            got=spec,
        )
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.append(cwd)  # `twinkit serve --simulators physics` next to physics.py
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValidationError(
            f"simulator plug-in module {module_name!r} cannot be imported: {err}",
            path=where,
            expected="an importable module (on PYTHONPATH or in the current directory)",
            got=module_name,
        ) from err
    provider = getattr(module, attribute, None)
    if not callable(provider):
        raise ValidationError(
            f"simulator plug-in {module_name!r} has no function {attribute!r}",
            path=where,
            expected=f"a function {attribute}() returning SimulationBinding objects",
            got=type(provider).__name__ if provider is not None else None,
        )
    try:
        given = provider()
    except Exception as err:
        raise ValidationError(
            f"simulator plug-in {spec} failed: {type(err).__name__}: {err}",
            path=where,
            expected=f"{attribute}() to return SimulationBinding objects",
            got=type(err).__name__,
        ) from err
    return _bindings(given, where)


def _bindings(given: object, where: str) -> list[SimulationBinding]:
    if isinstance(given, SimulationBinding) or not isinstance(given, Iterable):
        raise ValidationError(
            "simulator plug-in returned no list of bindings",
            path=where,
            expected="a list (or iterable) of SimulationBinding objects",
            got=type(given).__name__,
        )
    found = list(given)
    for index, item in enumerate(found):
        if not isinstance(item, SimulationBinding):
            raise ValidationError(
                "simulator plug-in returned something that is not a binding",
                path=f"{where}[{index}]",
                expected="a SimulationBinding",
                got=type(item).__name__,
            )
    return found

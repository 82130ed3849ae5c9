"""The structural reference twin: a cantilever bracket with strain gauges and a measured load.

A steel bar clamped to a wall carries a hoist at its end. A three-axis load cell at the hook
and four strain gauges report over MQTT; the twin runs a reduced-order model (POD, trained once
from full finite element solves and cached) in shadow mode: live loads in, gauge strains, tip
deflection and von Mises stress out in microseconds, and per gauge a residual (measured -
simulated) that leaves zero when a crack near the wall softens the bar under the root gauges.

Three levels, as elsewhere in twinkit:

- one call: ``twinkit demo bracket`` (:func:`run_bracket_demo`), or
  ``twinkit serve --simulators twinkit.examples.bracket:bindings`` (:func:`bindings`) for a
  server whose devices are real;
- reusable pieces: :func:`bracket_rom` (a :class:`BracketRom`: the cached ROM, its simulator,
  binding and fields), :class:`BracketDevice` (the data logger on MQTT, reading its gauges from
  the full FE model through a :class:`GaugeModel`), :class:`HoistDutyCycle` and :class:`Crack`;
- the design: :class:`BracketSpec` (geometry, material, gauges, crack zone, mesh) and
  :func:`elastic_problem`, the bracket as a ``twinkit.sim`` elastic problem.

Fields for display: :func:`twin_field` gives a twin's latest stress and displacement field on
the bar's surface (from the ROM's reduced coordinates, in microseconds), :func:`field_json`
what a three.js viewer takes, :func:`write_field_vtu` a file for ParaView.
"""

from __future__ import annotations

from twinkit.examples.bracket._demo import (
    DEFAULT_STATE,
    BracketDemoOptions,
    install_bracket,
    run_bracket_demo,
)
from twinkit.examples.bracket._device import BracketDevice, GaugeModel, start_device
from twinkit.examples.bracket._field import (
    FIELD_FORMAT,
    BracketField,
    evaluate_field,
    field_json,
    twin_field,
    write_field_vtu,
)
from twinkit.examples.bracket._loads import Crack, HoistDutyCycle, HookLoad
from twinkit.examples.bracket._reduced import (
    BINDING_NAME,
    CACHE_ENV,
    BracketRom,
    bracket_rom,
    rom_cache_dir,
)
from twinkit.examples.bracket._simulator import BracketSimulator, RomTiming, TimingSummary
from twinkit.examples.bracket._spec import (
    BRACKET,
    CRACK,
    LOADS,
    BracketSpec,
    Gauge,
    elastic_problem,
    load_models,
    model_files,
)
from twinkit.sim._binding import SimulationBinding

__all__ = [
    "BINDING_NAME",
    "BRACKET",
    "CACHE_ENV",
    "CRACK",
    "DEFAULT_STATE",
    "FIELD_FORMAT",
    "LOADS",
    "BracketDemoOptions",
    "BracketDevice",
    "BracketField",
    "BracketRom",
    "BracketSimulator",
    "BracketSpec",
    "Crack",
    "Gauge",
    "GaugeModel",
    "HoistDutyCycle",
    "HookLoad",
    "RomTiming",
    "TimingSummary",
    "bindings",
    "bracket_rom",
    "elastic_problem",
    "evaluate_field",
    "field_json",
    "install_bracket",
    "load_models",
    "model_files",
    "rom_cache_dir",
    "run_bracket_demo",
    "start_device",
    "twin_field",
    "write_field_vtu",
]


def bindings() -> list[SimulationBinding]:
    """The plug-in of ``twinkit serve --simulators twinkit.examples.bracket:bindings``.

    The demo bracket's ROM bound to the Bracket model; trained on first use (a few seconds,
    logged) and cached in :func:`rom_cache_dir` (``$TWINKIT_CACHE_DIR`` to choose it).
    """
    return [bracket_rom().binding()]

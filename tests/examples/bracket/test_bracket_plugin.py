"""The Bracket model, its binding, and the plug-in ``twinkit serve --simulators`` loads."""

from __future__ import annotations

from pathlib import Path

import pytest
from bracket_helpers import SMALL

from twinkit.errors import ValidationError
from twinkit.examples.bracket import (
    BINDING_NAME,
    BRACKET,
    LOADS,
    BracketRom,
    BracketSimulator,
    bracket_rom,
    load_models,
)
from twinkit.model import compile_validator
from twinkit.sim import Bindings
from twinkit.sim._shadow_plugins import load_bindings


def test_the_model_has_the_loads_gauges_and_derived_quantities() -> None:
    models = load_models()
    contents = models.contents(BRACKET)
    for name in (*LOADS, *SMALL.gauge_names, "tipDeflection", "maxVonMises", "utilisation"):
        assert name in contents
    validator = compile_validator(models, BRACKET)
    assert validator.property_batch(SMALL.properties())  # the nameplate fits the model


def test_the_binding_fits_the_model_and_maps_loads_in_and_gauges_out(
    small_rom: BracketRom,
) -> None:
    binding = small_rom.binding()
    bindings = Bindings()
    bindings.add(binding, load_models())  # checked: every name on both sides
    assert binding.model == BRACKET and binding.name == BINDING_NAME
    assert dict(binding.inputs) == {name: name for name in LOADS}
    assert set(SMALL.gauge_names) <= set(binding.outputs)
    assert binding.parameters == {"yieldStrength": "yieldStrength"}
    assert isinstance(binding.factory(), BracketSimulator)


def test_a_bracket_whose_gauges_the_model_lacks_is_refused(tmp_path: Path) -> None:
    from dataclasses import replace

    from twinkit.examples.bracket import Gauge

    odd = replace(SMALL, gauges=(Gauge("strainTipTop", 0.7, "top"),))
    binding = bracket_rom(odd, cache_dir=tmp_path).binding()
    with pytest.raises(ValidationError, match="model has no content 'strainTipTop'"):
        Bindings().add(binding, load_models())


@pytest.mark.slow
def test_serve_loads_the_plug_in(default_rom_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWINKIT_CACHE_DIR", str(default_rom_cache))
    (binding,) = load_bindings("twinkit.examples.bracket:bindings")
    Bindings().add(binding, load_models())
    simulator = binding.factory()
    simulator.initialize(0.0)
    out = simulator.step(0.0, 1.0, {"loadVertical": 10_000.0})
    assert out["strainRootTop"] == pytest.approx(231.5, rel=0.01)  # the demo bracket, M c / E I
    assert out["utilisation"] < 0.5

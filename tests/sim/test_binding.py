"""Bindings check their maps against the model and the simulator, and read values off twins."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sim_models import Tank

from twinkit.core import Reading, Runtime
from twinkit.errors import ValidationError
from twinkit.model.dtdl import parse
from twinkit.sim import Bindings, Related, SimulationBinding, twin_value
from twinkit.store import SQLiteStore

TANK = "dtmi:test:sim:Tank;1"
BIG_TANK = "dtmi:test:sim:BigTank;1"
SOURCE = "dtmi:test:sim:Source;1"
DOCS: list[dict[str, Any]] = [
    {
        "@context": "dtmi:dtdl:context;3",
        "@id": TANK,
        "@type": "Interface",
        "contents": [
            {"@type": "Property", "name": "area", "schema": "double"},
            {"@type": "Property", "name": "label", "schema": "string"},
            {"@type": "Telemetry", "name": "level", "schema": "double"},
            {"@type": "Telemetry", "name": "inflow", "schema": "double"},
            {"@type": "Relationship", "name": "fedBy", "target": SOURCE},
        ],
    },
    {"@context": "dtmi:dtdl:context;3", "@id": BIG_TANK, "@type": "Interface", "extends": TANK},
    {
        "@context": "dtmi:dtdl:context;3",
        "@id": SOURCE,
        "@type": "Interface",
        "contents": [{"@type": "Telemetry", "name": "flow", "schema": "double"}],
    },
]
MODELS = parse(DOCS)


def binding(**maps: Any) -> SimulationBinding:
    defaults: dict[str, Any] = {
        "parameters": {"area": "area"},
        "inputs": {"q_in": "inflow"},
        "states": {"level": "level"},
        "outputs": {"level_out": "level"},
    }
    return SimulationBinding(model=TANK, factory=Tank, dt=1.0, **{**defaults, **maps})


def test_a_good_binding_checks() -> None:
    binding().check(MODELS)


@pytest.mark.parametrize(
    ("maps", "message"),
    [
        ({"parameters": {"volume": "area"}}, "simulator has no parameter 'volume'"),
        ({"inputs": {"level_out": "inflow"}}, "simulator has no input 'level_out'"),
        ({"outputs": {"level_out": "height"}}, "model has no content 'height'"),
        ({"inputs": {"q_in": Related("feeds", "flow")}}, "model has no content 'feeds'"),
    ],
)
def test_a_bad_map_names_what_is_wrong(maps: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        binding(**maps).check(MODELS)
    assert "binding 'physics' of dtmi:test:sim:Tank;1" in str(info.value)


def test_unknown_model_and_bad_step_are_refused() -> None:
    with pytest.raises(ValidationError, match="is not loaded"):
        SimulationBinding(model="dtmi:test:sim:Nope;1", factory=Tank, dt=1.0).check(MODELS)
    with pytest.raises(ValidationError, match="step must be positive"):
        SimulationBinding(model=TANK, factory=Tank, dt=0.0).check(MODELS)


def test_unknown_aggregate_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown aggregate"):
        Related("fedBy", "flow", aggregate="median")  # type: ignore[arg-type]


def test_bindings_apply_to_extending_models() -> None:
    bindings = Bindings()
    bindings.add(binding(), MODELS)
    bindings.add(binding(name="other"), MODELS)
    bindings.add(binding(), MODELS)  # same name: replaces
    assert len(bindings) == 2
    assert [b.name for b in bindings.for_model(BIG_TANK, MODELS)] == ["physics", "other"]
    assert bindings.for_model(SOURCE, MODELS) == []
    assert bindings.for_model("dtmi:test:sim:Unknown;1", MODELS) == []


def test_values_come_from_reported_properties_and_latest_telemetry(tmp_path: Any) -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(tmp_path / "db.sqlite") as store:
            runtime = await Runtime.open(store)
            await runtime.add_models(DOCS)
            await runtime.create_twin("s1", SOURCE, cause="system")
            await runtime.create_twin("s2", SOURCE, cause="system")
            await runtime.create_twin("t", TANK, {"area": 3.0, "label": "x"}, cause="system")
            for source in ("s1", "s2"):
                await runtime.add_relationship("t", "fedBy", source, cause="system")
            await runtime.ingest(
                [
                    [Reading("t", {"level": 1.5, "inflow": 0.2}, 10.0)],
                    [Reading("s1", {"flow": 0.5}, 10.0)],
                    [Reading("s2", {"flow": 0.25}, 10.0)],
                ],
                cause="connector:test",
            )
            twin = runtime.get("t")
            b = binding(inputs={"q_in": Related("fedBy", "flow"), "other": "inflow"})
            assert b.parameters_of(twin) == {"area": 3.0}
            assert b.state_of(twin) == {"level": 1.5}
            assert twin_value(twin, "label") is None  # a string is no simulator value
            assert twin_value(twin, "missing") is None

            def related(of: Any, source: Related) -> list[float]:
                targets = [
                    e.target for e in runtime.outgoing(of.id) if e.name == source.relationship
                ]
                values = [twin_value(runtime.get(t), source.content) for t in targets]
                return [v for v in values if v is not None]

            assert b.inputs_of(twin, related) == {"q_in": 0.75, "other": 0.2}
            assert b.inputs_of(twin) == {"other": 0.2}
            assert b.residuals(twin, {"level_out": 1.0}) == {"level": (1.5, 1.0)}
            await runtime.close()

    asyncio.run(scenario())

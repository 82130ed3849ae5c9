"""The pump-station models parse, and the demo layout fits them."""

from __future__ import annotations

import pytest

from twinkit.errors import NotFoundError, ValidationError
from twinkit.examples.pumps import (
    EQUIPMENT,
    PIPE,
    PUMP,
    STATION,
    TANK,
    VALVE,
    load_models,
    model_files,
    station_layout,
)
from twinkit.model import Command, Property, Relationship, Telemetry, compile_validator
from twinkit.model.dtdl import parse


def test_every_model_file_parses_with_no_error() -> None:
    files = model_files()
    assert {f.name for f in files} == {
        "equipment.json",
        "pipe.json",
        "pump.json",
        "station.json",
        "tank.json",
        "valve.json",
    }
    models = parse(files)
    assert set(map(str, models)) == {EQUIPMENT, STATION, PUMP, TANK, VALVE, PIPE}
    for model in (PUMP, TANK, VALVE, PIPE):
        assert models.is_a(model, EQUIPMENT)


def test_pump_model_has_the_contents_the_devices_use() -> None:
    contents = load_models().contents(PUMP)
    telemetry = {n for n, c in contents.items() if isinstance(c, Telemetry)}
    assert telemetry >= {
        "flow",
        "head",
        "dischargePressure",
        "motorPower",
        "motorCurrent",
        "voltage",
        "bearingTemperature",
        "fluidTemperature",
        "vibration1",
        "vibration2",
    }
    flow = contents["flow"]
    assert isinstance(flow, Telemetry) and flow.unit == "litrePerSecond"
    writable = {n for n, c in contents.items() if isinstance(c, Property) and c.writable}
    assert writable == {"speedSetpoint", "enabled"}
    commands = {n for n, c in contents.items() if isinstance(c, Command)}
    assert commands == {"start", "stop", "resetAlarm"}
    assert isinstance(contents["manufacturer"], Property)  # inherited from Equipment


def test_layout_twins_and_relationships_are_valid_against_the_models() -> None:
    models = load_models()
    layout = station_layout(3)
    assert len(layout.of_model(PUMP)) == 4  # three hydraulic pumps and the SKAB replay
    assert layout.replay_twin == "pump-skab"
    for twin in layout:
        compile_validator(models, twin.model).property_batch(dict(twin.properties))
    for edge in layout.relationships:
        source, target = layout.twin(edge.source), layout.twin(edge.target)
        content = models.contents(source.model)[edge.name]
        assert isinstance(content, Relationship), edge
        assert content.target is None or models.is_a(target.model, content.target), edge
    pairs = {(r.source, r.name, r.target) for r in layout.relationships}
    assert ("pump-2", "feeds", "pipe-2") in pairs
    assert ("pipe-2", "connectsTo", "tank-1") in pairs
    assert ("valve-1", "drains", "tank-1") in pairs
    assert ("station-1", "contains", "valve-1") in pairs
    assert len({r.id for r in layout.relationships}) == len(layout.relationships)


def test_layout_size_follows_n_pumps_and_rejects_nonsense() -> None:
    layout = station_layout(5, replay_pump=False)
    assert [t.id for t in layout.of_model(PUMP)] == [f"pump-{i}" for i in range(1, 6)]
    assert layout.replay_twin is None
    with pytest.raises(ValidationError, match="between 1 and 99"):
        station_layout(0)
    with pytest.raises(NotFoundError, match="pump-9"):
        layout.twin("pump-9")

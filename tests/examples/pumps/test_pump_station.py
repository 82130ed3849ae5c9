"""The station model as the devices see it: telemetry, properties, setpoints and commands."""

from __future__ import annotations

import dataclasses

import pytest

from twinkit.errors import ValidationError
from twinkit.examples.pumps import StationModel, load_models, station_layout
from twinkit.examples.pumps._layout import RelationshipSpec
from twinkit.examples.pumps._physics import Alarm
from twinkit.model import compile_validator


def run(model: StationModel, seconds: float, dt: float = 0.1) -> None:
    for _ in range(round(seconds / dt)):
        model.step(dt)


def test_telemetry_and_properties_of_every_twin_validate_against_its_model() -> None:
    models = load_models()
    model = StationModel(station_layout(3))
    run(model, 5.0)
    assert set(model.twin_ids) == {
        "station-1",
        "pump-1",
        "pump-2",
        "pump-3",
        "pipe-1",
        "pipe-2",
        "pipe-3",
        "tank-1",
        "valve-1",
    }  # the SKAB replay pump is not simulated
    for twin_id in model.twin_ids:
        validator = compile_validator(models, model.layout.twin(twin_id).model)
        telemetry = model.telemetry(twin_id)
        assert validator.telemetry_batch(telemetry) == telemetry
        validator.property_batch(model.properties(twin_id))
    assert model.telemetry("station-1")["runningPumps"] == 3


def test_noise_is_reproducible_with_the_seed() -> None:
    def sample(seed: int) -> list[float]:
        model = StationModel(station_layout(2), seed=seed)
        run(model, 2.0)
        return [model.telemetry("pump-1")["flow"], model.telemetry("tank-1")["level"]]

    assert sample(7) == sample(7)
    assert sample(7) != sample(8)


def test_speed_setpoint_changes_flow_and_tank_trend_within_seconds() -> None:
    model = StationModel(station_layout(3))
    run(model, 10.0)
    flow_before = model.pump_states["pump-1"].flow
    level_before = model.tank_state.level
    run(model, 5.0)
    trend_before = model.tank_state.level - level_before
    reply = model.set_desired("pump-1", "speedSetpoint", 1100.0)
    assert (reply.code, reply.value) == (200, 1100.0)
    run(model, 3.0)
    assert model.pump_states["pump-1"].flow < 0.6 * flow_before
    level_mid = model.tank_state.level
    run(model, 5.0)
    assert model.tank_state.level - level_mid < trend_before - 0.005  # falls faster now
    assert model.properties("pump-1")["speedSetpoint"] == 1100.0


def test_station_tank_keeps_mass_balance() -> None:
    model = StationModel(station_layout(3), level=1.0)
    volume = model.tank_state.level * model.tank.area
    net = 0.0
    for _ in range(600):
        model.step(0.1)
        net += (model.tank_state.inflow - model.tank_state.outflow) * 0.1
    assert model.tank_state.level * model.tank.area == pytest.approx(volume + net, abs=1e-9)
    inflow = sum(state.flow for state in model.pump_states.values())
    assert model.tank_state.inflow == pytest.approx(inflow)


@pytest.mark.parametrize(
    ("twin", "name", "value", "reason"),
    [
        ("pump-1", "speedSetpoint", 99999.0, "out of range"),
        ("pump-1", "speedSetpoint", "fast", "expected a number"),
        ("pump-1", "enabled", 1, "expected true or false"),
        ("pump-1", "ratedSpeed", 1000.0, "not a writable property"),
        ("pump-1", "colour", "red", "not a writable property"),
        ("valve-1", "openingSetpoint", 120.0, "out of range"),
        ("tank-1", "lowLevelAlarm", 3.9, "out of range"),  # above the high alarm
    ],
)
def test_bad_desired_values_are_refused_with_a_reason(
    twin: str, name: str, value: object, reason: str
) -> None:
    model = StationModel(station_layout(1))
    before = model.properties(twin).get(name)
    reply = model.set_desired(twin, name, value)
    assert reply.code == 400
    assert reason in reply.description
    assert reply.value == before
    assert model.properties(twin).get(name) == before


def test_desired_values_apply() -> None:
    model = StationModel(station_layout(1))
    assert model.set_desired("valve-1", "openingSetpoint", 30.0).ok
    assert model.set_desired("tank-1", "highLevelAlarm", 3.0).ok
    run(model, 1.0)
    assert model.valve_state.opening == pytest.approx(58.0)  # 2 %/s toward 30 %
    assert model.properties("tank-1")["highLevelAlarm"] == 3.0
    assert model.set_desired("pump-1", "enabled", False).ok
    run(model, 10.0)
    assert model.pump_states["pump-1"].speed == 0.0
    assert model.properties("pump-1")["running"] is False


def test_pump_commands() -> None:
    models = load_models()
    validator = compile_validator(models, "dtmi:twinkit:pumps:Pump;1")
    model = StationModel(station_layout(1))
    stopped = model.command("pump-1", "stop", None)
    assert stopped.code == 200
    validator.command_response("stop", stopped.value)
    run(model, 10.0)
    assert model.pump_states["pump-1"].flow == 0.0
    started = model.command("pump-1", "start", 1200.0)
    assert (started.code, started.value) == (200, {"running": True, "speedSetpoint": 1200.0})
    validator.command_response("start", started.value)
    run(model, 10.0)
    assert model.pump_states["pump-1"].speed == pytest.approx(1200.0)
    assert model.command("pump-1", "start", 5000.0).code == 400
    assert model.command("pump-1", "stop", {"now": True}).code == 400
    assert model.command("pump-1", "explode", None).code == 404
    assert model.command("tank-1", "start", None).code == 404
    reset = model.command("pump-1", "resetAlarm", None)
    assert reset.value == {"cleared": "none", "alarm": "none"}
    model.set_desired("pump-1", "enabled", False)
    refused = model.command("pump-1", "start", None)
    assert refused.code == 409 and "disabled" in refused.description


def test_reset_alarm_is_refused_while_the_cause_persists() -> None:
    model = StationModel(station_layout(1))
    state = model.pump_states["pump-1"]
    model.pump_states["pump-1"] = dataclasses.replace(
        state, alarm=Alarm.HIGH_BEARING_TEMPERATURE, running=False, bearing_temperature=95.0
    )
    assert model.command("pump-1", "start", None).code == 409
    refused = model.command("pump-1", "resetAlarm", None)
    assert refused.code == 409 and "persists" in refused.description
    run(model, 600.0, dt=1.0)  # stopped: the bearing cools
    cleared = model.command("pump-1", "resetAlarm", None)
    assert cleared.value == {"cleared": "highBearingTemperature", "alarm": "none"}
    assert model.command("pump-1", "start", None).ok


def test_a_layout_the_simulator_cannot_build_is_rejected() -> None:
    layout = station_layout(2, replay_pump=False)
    broken = dataclasses.replace(
        layout,
        relationships=tuple(
            r for r in layout.relationships if r != RelationshipSpec("pump-2", "feeds", "pipe-2")
        ),
    )
    with pytest.raises(ValidationError, match="pump 'pump-2' must feed exactly one pipe") as err:
        StationModel(broken)
    assert err.value.path == "pump-2/feeds"

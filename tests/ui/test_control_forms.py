"""The Control page's data shaping: typed fields, sync states, checks and outcomes."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

from twinkit.core import CommandResult, PropertyState, Twin
from twinkit.errors import ValidationError
from twinkit.examples.pumps._layout import PUMP, TANK, load_models
from twinkit.model import EnumSchema, EnumValue, ObjectSchema, PrimitiveSchema
from twinkit.ui._control_forms import (
    FieldSpec,
    SyncState,
    check_desired,
    check_request,
    command_forms,
    command_outcome,
    confirmation_text,
    desired_outcome,
    error_text,
    field_for,
    format_value,
    parse_field,
    property_rows,
    sync_state,
)


def _pump(**properties: PropertyState) -> Twin:
    return Twin("pump-1", PUMP, 3, 0.0, 0.0, properties=MappingProxyType(dict(properties)))


ALARM = EnumSchema(
    value_schema=PrimitiveSchema.INTEGER,
    enum_values=(EnumValue(name="none", enum_value=0), EnumValue(name="trip", enum_value=2)),
)


@pytest.mark.parametrize(
    ("schema", "kind"),
    [
        (PrimitiveSchema.DOUBLE, "number"),
        (PrimitiveSchema.FLOAT, "number"),
        (PrimitiveSchema.INTEGER, "integer"),
        (PrimitiveSchema.BOOLEAN, "boolean"),
        (PrimitiveSchema.STRING, "string"),
        (PrimitiveSchema.DATE_TIME, "string"),
        (ObjectSchema(fields=()), "json"),
    ],
)
def test_field_kind_follows_the_schema(schema: Any, kind: str) -> None:
    assert field_for(schema).kind == kind


def test_an_enum_offers_its_members() -> None:
    spec = field_for(ALARM)
    assert spec.kind == "enum"
    assert spec.options == (("none (0)", 0), ("trip (2)", 2))
    assert parse_field(spec, 2, "alarm") == 2
    assert parse_field(spec, "trip (2)", "alarm") == 2
    with pytest.raises(ValidationError) as caught:
        parse_field(spec, 7, "alarm")
    assert caught.value.path == "alarm"
    assert "trip (2)" in str(caught.value.expected)


def test_numbers_are_parsed_from_text_with_where_they_failed() -> None:
    number = field_for(PrimitiveSchema.DOUBLE, unit="revolutionPerMinute")
    assert parse_field(number, " 1450.5 ", "speedSetpoint") == 1450.5
    with pytest.raises(ValidationError) as caught:
        parse_field(number, "fast", "speedSetpoint")
    assert caught.value.path == "speedSetpoint"
    assert caught.value.got == "fast"
    assert "double" in str(caught.value.expected)
    with pytest.raises(ValidationError, match="finite"):
        parse_field(number, "nan", "speedSetpoint")
    integer = field_for(PrimitiveSchema.INTEGER)
    assert parse_field(integer, "12", "n") == 12
    with pytest.raises(ValidationError, match="not an integer"):
        parse_field(integer, "1.5", "n")


def test_blank_is_null_only_where_null_is_allowed() -> None:
    with pytest.raises(ValidationError, match="a value is needed"):
        parse_field(field_for(PrimitiveSchema.DOUBLE), "", "x")
    assert parse_field(field_for(PrimitiveSchema.DOUBLE, nullable=True), " ", "x") is None
    assert parse_field(field_for(PrimitiveSchema.STRING), "", "x") == ""


def test_booleans_and_json() -> None:
    assert parse_field(field_for(PrimitiveSchema.BOOLEAN), True, "enabled") is True
    assert parse_field(field_for(PrimitiveSchema.BOOLEAN), "false", "enabled") is False
    as_json = FieldSpec("json", "Object")
    assert parse_field(as_json, '{"a": [1, 2]}', "request") == {"a": [1, 2]}
    with pytest.raises(ValidationError) as caught:
        parse_field(as_json, '{"a": ', "request")
    assert caught.value.path == "request"
    assert "line 1" in caught.value.message


def test_sync_states() -> None:
    assert sync_state(PropertyState()) is SyncState.NONE
    pending = PropertyState(desired=1200.0, desired_version=2, ack_version=1, ack_code=200)
    assert sync_state(pending) is SyncState.PENDING
    done = PropertyState(
        reported=1200.0,
        has_reported=True,
        desired=1200.0,
        desired_version=2,
        ack_version=2,
        ack_code=200,
    )
    assert sync_state(done) is SyncState.IN_SYNC
    rejected = PropertyState(desired=9e9, desired_version=2, ack_version=2, ack_code=400)
    assert sync_state(rejected) is SyncState.REJECTED


def test_rows_list_the_writable_properties_only() -> None:
    twin = _pump(
        speedSetpoint=PropertyState(reported=1450.0, has_reported=True),
        manufacturer=PropertyState(reported="KSB", has_reported=True),
    )
    rows = property_rows(load_models(), twin)
    assert [row.name for row in rows] == ["enabled", "speedSetpoint"]
    speed = rows[1]
    assert speed.field.kind == "number"
    assert speed.field.unit == "revolutionPerMinute"
    assert speed.to_json() == {
        "name": "speedSetpoint",
        "reported": "1450 revolutionPerMinute",
        "desired": "-",
        "version": "-",
        "sync": "no desired value",
    }
    assert rows[0].field.kind == "boolean"


def test_a_rejection_shows_its_code_and_reason() -> None:
    state = PropertyState(
        desired=9e9, desired_version=1, ack_version=1, ack_code=400, ack_description="too fast"
    )
    row = property_rows(load_models(), _pump(speedSetpoint=state))[1]
    assert row.to_json()["sync"] == "rejected (400: too fast)"


def test_desired_values_are_checked_by_the_model() -> None:
    models, twin = load_models(), _pump()
    assert check_desired(models, twin, "speedSetpoint", 1200) == 1200.0
    with pytest.raises(ValidationError) as caught:
        check_desired(models, twin, "speedSetpoint", "fast")
    assert caught.value.model == PUMP
    with pytest.raises(ValidationError, match="not writable"):
        check_desired(models, twin, "manufacturer", "ACME")
    assert "expected" in error_text(caught.value)


def test_commands_are_typed_from_the_schema() -> None:
    forms = {form.name: form for form in command_forms(load_models(), PUMP)}
    assert sorted(forms) == ["resetAlarm", "start", "stop"]
    start = forms["start"]
    assert start.request is not None
    assert (start.request_name, start.request.kind, start.request.nullable) == (
        "speed",
        "number",
        True,
    )
    assert forms["stop"].request is None
    assert forms["stop"].response_schema == "Object"
    assert check_request(load_models(), _pump(), "start", 1200) == 1200.0
    with pytest.raises(ValidationError):
        check_request(load_models(), _pump(), "start", "fast")
    assert command_forms(load_models(), TANK) == []


def test_the_confirmation_names_twin_property_old_and_new() -> None:
    row = property_rows(
        load_models(), _pump(speedSetpoint=PropertyState(reported=1450.0, has_reported=True))
    )[1]
    text = confirmation_text("pump-1", "speedSetpoint", row, 1200.0, "rpm")
    assert text == "Set speedSetpoint of pump-1 from 1450 rpm (reported) to 1200 rpm?"
    assert "from none to true" in confirmation_text("pump-1", "enabled", None, True)


def test_desired_outcomes() -> None:
    waiting = PropertyState(desired=1.0, desired_version=3, ack_version=2, ack_code=200)
    assert desired_outcome(waiting, 3).state == "waiting"
    assert "not yet acknowledged" in desired_outcome(waiting, 3).text
    acked = PropertyState(
        reported=1.0, has_reported=True, desired=1.0, desired_version=3, ack_version=3, ack_code=200
    )
    assert desired_outcome(acked, 3).state == "done"
    assert "acknowledged by the device" in desired_outcome(acked, 3).text
    rejected = PropertyState(
        desired=1.0, desired_version=3, ack_version=3, ack_code=409, ack_description="locked"
    )
    assert desired_outcome(rejected, 3).state == "failed"
    assert "rejected by the device (409: locked)" in desired_outcome(rejected, 3).text
    assert desired_outcome(waiting, 2).text == "replaced by version 3"
    assert desired_outcome(None, 1).state == "failed"


def test_command_outcomes_say_why_they_failed() -> None:
    ok = CommandResult("c1", "pump-1", "stop", 200, {"running": False})
    assert command_outcome(ok, 10).state == "done"
    assert '"running": false' in command_outcome(ok, 10).text
    offline = CommandResult("c2", "pump-1", "stop", 503, None, "device pump-1 is offline")
    assert command_outcome(offline, 10).text == "device offline: device pump-1 is offline"
    late = CommandResult("c3", "pump-1", "stop", 504, None, "no answer")
    assert command_outcome(late, 2.5).text.startswith("no answer within 2.5 s")
    refused = CommandResult("c4", "pump-1", "start", 409, None, "interlock")
    assert command_outcome(refused, 10).text == "start failed with status 409: interlock"


def test_values_are_shown_short() -> None:
    assert format_value(1450.123456789) == "1450.12"
    assert format_value(True) == "true"
    assert format_value(None) == "null"
    assert format_value({"a": 1}) == '{"a": 1}'

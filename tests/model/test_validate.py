"""The compiled model validator: every schema's accept/reject/coercion rules and error paths."""

from __future__ import annotations

import math
import pickle
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twinkit.errors import ValidationError
from twinkit.model import (
    ArraySchema,
    BatchValidationError,
    Command,
    CommandPayload,
    Component,
    Dtmi,
    EnumSchema,
    EnumValue,
    Field,
    GeospatialSchema,
    Interface,
    MapKey,
    MapSchema,
    MapValue,
    ModelSet,
    ModelValidator,
    ObjectSchema,
    Property,
    Relationship,
    Telemetry,
    compile_validator,
)
from twinkit.model import (
    PrimitiveSchema as P,
)
from twinkit.model._checkers import INTEGER_RANGES

PUMP = "dtmi:example:Pump;1"
MOTOR = "dtmi:example:Motor;1"
DEVICE = "dtmi:example:Device;1"

MODE = EnumSchema(
    value_schema=P.INTEGER,
    enum_values=(EnumValue(name="off", enum_value=0), EnumValue(name="on", enum_value=1)),
)
COLOUR = EnumSchema(
    value_schema=P.STRING,
    enum_values=(EnumValue(name="red", enum_value="R"), EnumValue(name="green", enum_value="G")),
)
LIMITS = ObjectSchema(
    fields=(
        Field(name="min", schema=P.DOUBLE),
        Field(name="max", schema=P.DOUBLE),
    )
)
SETTINGS = ObjectSchema(
    fields=(
        Field(name="limits", schema=LIMITS),
        Field(name="mode", schema=MODE),
        Field(name="tags", schema=ArraySchema(element_schema=P.STRING)),
    )
)
GAINS = MapSchema(
    map_key=MapKey(name="loop"),
    map_value=MapValue(name="gain", schema=ArraySchema(element_schema=P.DOUBLE)),
)


def _model_set() -> ModelSet:
    primitives = tuple(Property(name=f"p_{schema.value}", schema=schema) for schema in P)
    device = Interface(
        id=Dtmi(DEVICE),
        contents=(Property(name="serial", schema=P.STRING),),
    )
    motor = Interface(
        id=Dtmi(MOTOR),
        contents=(
            Property(name="speed", schema=P.DOUBLE, unit="revolutionPerMinute", writable=True),
            Property(name="poles", schema=P.INTEGER),
            Telemetry(name="current", schema=P.DOUBLE, unit="ampere"),
        ),
    )
    pump = Interface(
        id=Dtmi(PUMP),
        extends=(Dtmi(DEVICE),),
        contents=(
            Telemetry(
                name="temperature",
                schema=P.DOUBLE,
                unit="degreeCelsius",
                semantic_type="Temperature",
            ),
            Telemetry(name="pressure", schema=P.DOUBLE, unit="bar", semantic_type="Pressure"),
            Telemetry(name="count", schema=P.LONG),
            Telemetry(name="level", schema=P.INTEGER, unit="degreeCelsius"),
            Telemetry(name="ratio", schema=P.FLOAT),
            Telemetry(name="running", schema=P.BOOLEAN),
            Telemetry(name="mode", schema=MODE),
            Telemetry(name="location", schema=GeospatialSchema.POINT),
            Telemetry(name="route", schema=GeospatialSchema.LINE_STRING),
            Telemetry(name="area", schema=GeospatialSchema.POLYGON),
            Telemetry(name="label", schema=P.STRING),
            Property(name="settings", schema=SETTINGS, writable=True),
            Property(name="gains", schema=GAINS),
            Property(name="colour", schema=COLOUR),
            Property(name="speed", schema=P.DOUBLE, writable=True),
            *primitives,
            Command(
                name="start",
                request=CommandPayload(name="delay", schema=P.DURATION),
                response=CommandPayload(name="ok", schema=P.BOOLEAN, nullable=True),
            ),
            Command(name="stop"),
            Relationship(
                name="feeds",
                properties=(Property(name="flow", schema=P.DOUBLE),),
            ),
            Component(name="motor", schema=Dtmi(MOTOR)),
        ),
    )
    return ModelSet([device, motor, pump])


@pytest.fixture(scope="module")
def v() -> ModelValidator:
    return ModelValidator(_model_set(), PUMP)


def error_of(call: object, *args: object, **kwargs: object) -> ValidationError:
    assert callable(call)
    with pytest.raises(ValidationError) as info:
        call(*args, **kwargs)
    return info.value


# --- numbers ---------------------------------------------------------------------------------


def test_double_accepts_floats_and_ints_losslessly(v: ModelValidator) -> None:
    assert v.telemetry("temperature", 21.5) == 21.5
    value = v.property("speed", 1450)
    assert value == 1450.0 and type(value) is float
    assert v.telemetry("temperature", np.float32(0.5)) == 0.5
    assert type(v.telemetry("temperature", np.int64(3))) is float


@pytest.mark.parametrize(
    "bad",
    [
        True,
        False,
        "21.5",
        None,
        [1.0],
        float("nan"),
        float("inf"),
        -float("inf"),
        2**53 + 1,
        Decimal("1.5"),
        10**400,
    ],
)
def test_double_rejects(v: ModelValidator, bad: object) -> None:
    error = error_of(v.telemetry, "temperature", bad)
    assert error.model == PUMP
    assert error.path == "temperature"
    assert error.expected is not None and "double" in error.expected
    assert error.has_got


def test_nan_error_says_so(v: ModelValidator) -> None:
    assert "NaN" in str(error_of(v.telemetry, "temperature", math.nan))
    assert "infinity" in str(error_of(v.telemetry, "temperature", math.inf))


def test_float_is_32_bit_range(v: ModelValidator) -> None:
    assert v.telemetry("ratio", 3.0e38) == 3.0e38
    assert "out of range" in str(error_of(v.telemetry, "ratio", 3.5e38))


@pytest.mark.parametrize("schema", list(INTEGER_RANGES))
def test_integer_ranges(v: ModelValidator, schema: P) -> None:
    low, high = INTEGER_RANGES[schema]
    name = f"p_{schema.value}"
    assert v.property(name, low) == low
    assert v.property(name, high) == high
    for bad in (low - 1, high + 1):
        error = error_of(v.property, name, bad)
        assert "out of range" in error.message and str(high) in str(error.expected)


def test_integer_bounds_are_the_dtdl_ones() -> None:
    assert INTEGER_RANGES[P.INTEGER] == (-(2**31), 2**31 - 1)
    assert INTEGER_RANGES[P.LONG] == (-(2**63), 2**63 - 1)
    assert INTEGER_RANGES[P.UNSIGNED_BYTE] == (0, 255)
    assert INTEGER_RANGES[P.SHORT] == (-32768, 32767)


@given(st.integers(min_value=-(2**31), max_value=2**31 - 1))
def test_integers_in_range_round_trip(number: int) -> None:
    validator = _VALIDATOR
    assert validator.property("p_integer", number) == number
    assert validator.property("p_integer", float(number)) == number
    assert type(validator.property("p_integer", float(number))) is int


@given(st.integers(min_value=2**63, max_value=2**80) | st.integers(max_value=-(2**63) - 1))
def test_longs_out_of_range_rejected(number: int) -> None:
    with pytest.raises(ValidationError):
        _VALIDATOR.telemetry("count", number)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_finite_doubles_round_trip(number: float) -> None:
    assert _VALIDATOR.telemetry("temperature", number) == number


def test_integer_coercion_rules(v: ModelValidator) -> None:
    assert v.telemetry("count", 7.0) == 7
    assert "not a whole number" in str(error_of(v.telemetry, "count", 7.5))
    assert "boolean" in str(error_of(v.telemetry, "count", True))
    error_of(v.telemetry, "count", "7")
    error_of(v.telemetry, "count", math.nan)
    assert v.telemetry("count", np.int32(5)) == 5


def test_decimal(v: ModelValidator) -> None:
    assert v.property("p_decimal", "12.345678901234567890") == Decimal("12.345678901234567890")
    assert v.property("p_decimal", 0.1) == Decimal("0.1")
    assert v.property("p_decimal", 3) == Decimal(3)
    for bad in ("NaN", "Infinity", "abc", True, None):
        error_of(v.property, "p_decimal", bad)


# --- other primitives ------------------------------------------------------------------------


def test_boolean_is_not_a_number(v: ModelValidator) -> None:
    assert v.telemetry("running", True) is True
    assert v.telemetry("running", np.bool_(False)) is False
    for bad in (1, 0, "true", None):
        error_of(v.telemetry, "running", bad)


def test_string(v: ModelValidator) -> None:
    assert v.telemetry("label", "ok") == "ok"
    error_of(v.telemetry, "label", 5)


def test_date_time_needs_an_offset(v: ModelValidator) -> None:
    assert v.property("p_dateTime", "2024-05-17T08:30:00Z") == datetime(
        2024, 5, 17, 8, 30, tzinfo=UTC
    )
    assert v.property("p_dateTime", "2024-05-17T08:30:00.5+02:00").utcoffset() == timedelta(hours=2)
    assert "UTC offset" in str(error_of(v.property, "p_dateTime", "2024-05-17T08:30:00"))
    error_of(v.property, "p_dateTime", "17/05/2024")
    error_of(v.property, "p_dateTime", 1715934600)


def test_date_and_time(v: ModelValidator) -> None:
    assert v.property("p_date", "2024-05-17") == date(2024, 5, 17)
    error_of(v.property, "p_date", "2024-13-01")
    error_of(v.property, "p_date", datetime(2024, 1, 1, tzinfo=UTC))
    assert v.property("p_time", "08:30:15") == time(8, 30, 15)
    assert v.property("p_time", "08:30:15+01:00").tzinfo == timezone(timedelta(hours=1))
    error_of(v.property, "p_time", "25:00:00")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("P2DT4H", timedelta(days=2, hours=4)),
        ("P1W", timedelta(weeks=1)),
        ("PT0.5S", timedelta(seconds=0.5)),
        ("PT1,5S", timedelta(seconds=1.5)),
        ("-P1D", timedelta(days=-1)),
        ("P0Y0M3D", timedelta(days=3)),
    ],
)
def test_duration_parses_iso_8601(v: ModelValidator, text: str, expected: timedelta) -> None:
    assert v.property("p_duration", text) == expected


@pytest.mark.parametrize("bad", ["P", "PT", "P1Y", "P2M", "1H", "PT1H2", "P1DT", 3600])
def test_duration_rejects(v: ModelValidator, bad: object) -> None:
    error_of(v.property, "p_duration", bad)


def test_uuid_and_bytes(v: ModelValidator) -> None:
    ident = uuid.uuid4()
    assert v.property("p_uuid", str(ident)) == ident
    error_of(v.property, "p_uuid", "not-a-uuid")
    assert v.property("p_bytes", "aGVsbG8=") == b"hello"
    error_of(v.property, "p_bytes", "not base64!")
    error_of(v.property, "p_bytes", 5)


# --- geospatial ------------------------------------------------------------------------------


def test_point(v: ModelValidator) -> None:
    point = {"type": "Point", "coordinates": [-122.1, 47.6]}
    assert v.telemetry("location", point) == point
    assert v.telemetry("location", {"type": "Point", "coordinates": (1, 2, 3)}) == {
        "type": "Point",
        "coordinates": [1.0, 2.0, 3.0],
    }
    assert (
        error_of(v.telemetry, "location", {"type": "LineString", "coordinates": [1, 2]}).path
        == "location/type"
    )
    assert (
        error_of(v.telemetry, "location", {"type": "Point", "coordinates": [1, "x"]}).path
        == "location/coordinates/1"
    )
    error_of(v.telemetry, "location", {"type": "Point", "coordinates": [1]})
    error_of(v.telemetry, "location", {"type": "Point", "coordinates": [1, 2], "extra": 1})


def test_line_string_and_polygon(v: ModelValidator) -> None:
    assert v.telemetry("route", {"type": "LineString", "coordinates": [[0, 0], [1, 1]]})
    error_of(v.telemetry, "route", {"type": "LineString", "coordinates": [[0, 0]]})
    ring = [[0, 0], [1, 0], [1, 1], [0, 0]]
    assert v.telemetry("area", {"type": "Polygon", "coordinates": [ring]})
    error = error_of(v.telemetry, "area", {"type": "Polygon", "coordinates": [[*ring[:3], [5, 5]]]})
    assert "ring" in error.message
    error = error_of(v.telemetry, "area", {"type": "Polygon", "coordinates": [ring[:3]]})
    assert error.path == "area/coordinates/0"


# --- complex schemas -------------------------------------------------------------------------


def test_enum_accepts_values_and_names(v: ModelValidator) -> None:
    assert v.telemetry("mode", 1) == 1
    assert v.telemetry("mode", "on") == 1
    assert v.property("colour", "G") == "G"
    assert v.property("colour", "red") == "R"
    error = error_of(v.telemetry, "mode", 2)
    assert "0 (off)" in str(error.expected) and error.got == 2
    error_of(v.telemetry, "mode", True)
    error_of(v.property, "colour", "blue")
    error_of(v.telemetry, "mode", [1])


def test_nested_object_paths(v: ModelValidator) -> None:
    settings = {"limits": {"min": 1, "max": 2.5}, "mode": "off", "tags": ["a", "b"]}
    assert v.property("settings", settings) == {
        "limits": {"min": 1.0, "max": 2.5},
        "mode": 0,
        "tags": ["a", "b"],
    }
    assert v.property("settings", {"limits": {"max": 3}}) == {"limits": {"max": 3.0}}
    error = error_of(v.property, "settings", {"limits": {"max": "high"}})
    assert error.path == "settings/limits/max"
    assert error.got == "high" and error.model == PUMP
    error = error_of(v.property, "settings", {"limits": {"maximum": 1}})
    assert error.path == "settings/limits/maximum" and "unknown field" in error.message
    assert error_of(v.property, "settings", {"tags": ["a", 3]}).path == "settings/tags/1"
    error_of(v.property, "settings", [1, 2])


def test_map_keys_and_values(v: ModelValidator) -> None:
    assert v.property("gains", {"flow": [1, 2.5]}) == {"flow": [1.0, 2.5]}
    assert error_of(v.property, "gains", {"flow": [1, math.nan]}).path == "gains/flow/1"
    error_of(v.property, "gains", {"": [1.0]})
    error_of(v.property, "gains", {1: [1.0]})
    error_of(v.property, "gains", [("flow", [1.0])])


def test_component_properties(v: ModelValidator) -> None:
    assert v.property("motor/speed", 1450) == 1450.0
    assert v.property("motor", {"__t": "c", "speed": 1450, "poles": 4}) == {
        "speed": 1450.0,
        "poles": 4,
    }
    error = error_of(v.property, "motor", {"speed": "fast"})
    assert error.path == "motor/speed"
    assert error_of(v.property, "motor", {"torque": 1}).path == "motor/torque"
    assert v.telemetry("motor/current", 3) == 3.0


def test_inherited_property(v: ModelValidator) -> None:
    assert v.property("serial", "A-1") == "A-1"


def test_relationship_properties(v: ModelValidator) -> None:
    assert v.relationship_properties("feeds", {"flow": 2}) == {"flow": 2.0}
    error = error_of(v.relationship_properties, "feeds", {"flow": "x", "size": 1})
    assert isinstance(error, BatchValidationError)
    assert [e.path for e in error.errors] == ["feeds/flow", "feeds/size"]
    error_of(v.relationship_properties, "drains", {})


def test_commands(v: ModelValidator) -> None:
    assert v.command_request("start", "PT5S") == timedelta(seconds=5)
    assert v.command_response("start", None) is None
    assert v.command_response("start", True) is True
    error = error_of(v.command_request, "start", None)
    assert error.path == "start"
    assert v.command_request("stop", None) is None
    assert "no request" in error_of(v.command_request, "stop", {"now": True}).message
    error_of(v.command_request, "jump", None)


def test_unknown_content_names_the_known_ones(v: ModelValidator) -> None:
    error = error_of(v.telemetry, "temprature", 1.0)
    assert error.got == "temprature"
    assert "temperature" in str(error.expected) and "pressure" in str(error.expected)
    assert error_of(v.property, "temperature", 1.0).path == "temperature"


def test_desired_needs_writable(v: ModelValidator) -> None:
    assert v.property("speed", 5, desired=True) == 5.0
    assert "not writable" in error_of(v.property, "colour", "R", desired=True).message


# --- units -----------------------------------------------------------------------------------


def test_unit_conversion(v: ModelValidator) -> None:
    assert v.telemetry("temperature", 70.7, unit="degreeFahrenheit") == pytest.approx(21.5)
    assert v.telemetry("temperature", 70.7, unit="degF") == pytest.approx(21.5)
    assert v.telemetry("temperature", 21.5, unit="degreeCelsius") == 21.5
    assert v.telemetry("pressure", 250, unit="kPa") == pytest.approx(2.5)
    assert v.property("motor/speed", 1.0, unit="radian / second") == pytest.approx(
        60 / (2 * math.pi)
    )
    assert v.property("motor/speed", 25, unit="revolutionPerSecond") == pytest.approx(1500)


def test_unit_conversion_errors(v: ModelValidator) -> None:
    error = error_of(v.telemetry, "temperature", 1.0, unit="metre")
    assert error.path == "temperature" and error.got == "metre" and error.model == PUMP
    assert "no unit" in error_of(v.telemetry, "count", 1, unit="bar").message
    error_of(v.telemetry, "temperature", math.nan, unit="degF")
    error_of(v.telemetry, "temperature", "70", unit="degF")


def test_integer_schema_conversion_rounds_only_float_noise(v: ModelValidator) -> None:
    assert v.telemetry("level", 50, unit="degF") == 10
    assert type(v.telemetry("level", 50, unit="degF")) is int
    assert "whole number" in str(error_of(v.telemetry, "level", 51, unit="degF"))


# --- batches ---------------------------------------------------------------------------------


def test_batch_returns_typed_values(v: ModelValidator) -> None:
    assert v.telemetry_batch({"temperature": 21.5, "pressure": 3, "count": 4.0}) == {
        "temperature": 21.5,
        "pressure": 3.0,
        "count": 4,
    }


def test_batch_reports_every_bad_entry(v: ModelValidator) -> None:
    payload = {"temperature": math.nan, "pressure": 1.0, "count": "x", "bogus": 1, "mode": 9}
    error = error_of(v.telemetry_batch, payload)
    assert isinstance(error, BatchValidationError)
    assert [e.path for e in error.errors] == ["temperature", "count", "bogus", "mode"]
    assert all(e.model == PUMP for e in error.errors)
    assert "4 of 5" in error.message
    assert error.errors[0].got is not None and math.isnan(float(error.errors[0].got))  # type: ignore[arg-type]
    text = str(error)
    assert "bogus" in text and "mode" in text


def test_batch_with_units(v: ModelValidator) -> None:
    result = v.telemetry_batch(
        {"temperature": 212.0, "pressure": 100}, units={"temperature": "degF", "pressure": "kPa"}
    )
    assert result == pytest.approx({"temperature": 100.0, "pressure": 1.0})


def test_property_batch(v: ModelValidator) -> None:
    assert v.property_batch({"speed": 1, "colour": "red"}) == {"speed": 1.0, "colour": "R"}
    error = error_of(v.property_batch, {"speed": "x", "colour": "R"}, desired=True)
    assert isinstance(error, BatchValidationError)
    assert sorted(e.path for e in error.errors if e.path) == ["colour", "speed"]


def test_batch_error_pickles(v: ModelValidator) -> None:
    error = error_of(v.telemetry_batch, {"temperature": "hot", "pressure": None})
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, BatchValidationError)
    assert [e.path for e in copy.errors] == ["temperature", "pressure"]


# --- columns ---------------------------------------------------------------------------------


def test_column_of_doubles(v: ModelValidator) -> None:
    column = v.telemetry_column("temperature", np.array([1, 2, 3], dtype=np.int32))
    assert column.dtype == np.float64 and column.tolist() == [1.0, 2.0, 3.0]
    converted = v.telemetry_column("temperature", np.array([32.0, 212.0]), unit="degF")
    assert converted == pytest.approx([0.0, 100.0])


def test_column_reports_every_bad_index(v: ModelValidator) -> None:
    error = error_of(v.telemetry_column, "temperature", np.array([1.0, np.nan, 2.0, np.inf]))
    assert isinstance(error, BatchValidationError)
    assert [e.path for e in error.errors] == ["temperature/1", "temperature/3"]


def test_column_of_integers(v: ModelValidator) -> None:
    column = v.telemetry_column("count", np.array([1.0, 2.0]))
    assert column.dtype == np.int64 and column.tolist() == [1, 2]
    error = error_of(v.telemetry_column, "count", np.array([1.0, 2.5, np.nan]))
    assert [e.path for e in error.errors] == ["count/1", "count/2"]  # type: ignore[attr-defined]
    error = error_of(v.telemetry_column, "level", np.array([0, 2**40]))
    assert [e.path for e in error.errors] == ["level/1"]  # type: ignore[attr-defined]
    assert v.telemetry_column("level", np.array([50.0, 212.0]), unit="degF").tolist() == [10, 100]


def test_column_of_other_schemas_checks_each_value(v: ModelValidator) -> None:
    assert v.telemetry_column("mode", ["on", 0]).tolist() == [1, 0]
    assert v.telemetry_column("running", np.array([True, False])).dtype == np.bool_
    error = error_of(v.telemetry_column, "temperature", [1.0, None])
    assert [e.path for e in error.errors] == ["temperature/1"]  # type: ignore[attr-defined]
    error_of(v.telemetry_column, "temperature", np.zeros((2, 2)))


def test_compile_validator_alias() -> None:
    assert compile_validator(_model_set(), PUMP).telemetry("temperature", 1) == 1.0


_VALIDATOR = ModelValidator(_model_set(), PUMP)

"""DTDL parsing: what comes out for valid models and what errors say for broken ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from twinkit.model import (
    ArraySchema,
    Command,
    Component,
    Dtmi,
    EnumSchema,
    GeospatialSchema,
    Interface,
    LangString,
    MapSchema,
    ObjectSchema,
    PrimitiveSchema,
    Property,
    Relationship,
    Telemetry,
)
from twinkit.model.dtdl import ParsingError, parse

PUMP_V3 = {
    "@context": ["dtmi:dtdl:context;3", "dtmi:dtdl:extension:quantitativeTypes;1"],
    "@id": "dtmi:example:Pump;1",
    "@type": "Interface",
    "displayName": {"en": "Pump", "de": "Pumpe"},
    "extends": "dtmi:example:Equipment;1",
    "contents": [
        {
            "@type": ["Telemetry", "Temperature"],
            "name": "temperature",
            "schema": "double",
            "unit": "degreeCelsius",
        },
        {"@type": "Property", "name": "speed", "schema": "double", "writable": True},
        {
            "@type": "Property",
            "name": "mode",
            "schema": {
                "@type": "Enum",
                "valueSchema": "string",
                "enumValues": [
                    {"name": "auto", "enumValue": "auto"},
                    {"name": "manual", "enumValue": "manual"},
                ],
            },
        },
        {
            "@type": "Telemetry",
            "name": "spectrum",
            "schema": {"@type": "Array", "elementSchema": "float"},
        },
        {"@type": "Telemetry", "name": "location", "schema": "point"},
        {
            "@type": "Property",
            "name": "limits",
            "schema": {
                "@type": "Map",
                "mapKey": {"name": "sensor", "schema": "string"},
                "mapValue": {"name": "limit", "schema": "dtmi:example:Limit;1"},
            },
        },
        {
            "@type": "Command",
            "name": "start",
            "request": {"name": "rpm", "schema": "double"},
            "response": {"name": "ok", "schema": "boolean"},
        },
        {
            "@type": "Relationship",
            "name": "feeds",
            "target": "dtmi:example:Tank;1",
            "maxMultiplicity": 1,
            "properties": [{"@type": "Property", "name": "since", "schema": "dateTime"}],
        },
        {"@type": "Component", "name": "motor", "schema": "dtmi:example:Motor;1"},
    ],
    "schemas": [
        {
            "@id": "dtmi:example:Limit;1",
            "@type": "Object",
            "fields": [{"name": "low", "schema": "double"}, {"name": "high", "schema": "double"}],
        }
    ],
}
EQUIPMENT = {
    "@context": "dtmi:dtdl:context;3",
    "@id": "dtmi:example:Equipment;1",
    "@type": "Interface",
    "contents": [{"@type": "Property", "name": "serial", "schema": "string"}],
}
MOTOR = {
    "@context": "dtmi:dtdl:context;3",
    "@id": "dtmi:example:Motor;1",
    "@type": "Interface",
    "contents": [{"@type": "Telemetry", "name": "current", "schema": "double"}],
}


def parse_pump() -> dict[str, object]:
    model_set = parse([PUMP_V3, EQUIPMENT, MOTOR])
    return {"set": model_set, "pump": model_set["dtmi:example:Pump;1"]}


def test_every_element_kind_becomes_metamodel() -> None:
    parsed = parse_pump()
    pump = parsed["pump"]
    assert isinstance(pump, Interface)
    assert pump.display_name == LangString({"en": "Pump", "de": "Pumpe"})
    assert pump.extends == (Dtmi("dtmi:example:Equipment;1"),)
    temperature = pump.content("temperature")
    assert isinstance(temperature, Telemetry)
    assert temperature.schema is PrimitiveSchema.DOUBLE
    assert (temperature.semantic_type, temperature.unit) == ("Temperature", "degreeCelsius")
    speed = pump.content("speed")
    assert isinstance(speed, Property) and speed.writable
    mode = pump.content("mode")
    assert isinstance(mode, Property) and isinstance(mode.schema, EnumSchema)
    assert mode.schema.value_of("manual") == "manual"
    spectrum = pump.content("spectrum")
    assert isinstance(spectrum, Telemetry) and isinstance(spectrum.schema, ArraySchema)
    assert spectrum.schema.element_schema is PrimitiveSchema.FLOAT
    location = pump.content("location")
    assert isinstance(location, Telemetry) and location.schema is GeospatialSchema.POINT
    limits = pump.content("limits")
    assert isinstance(limits, Property) and isinstance(limits.schema, MapSchema)
    limit = limits.schema.map_value.schema
    assert isinstance(limit, ObjectSchema) and limit.id == "dtmi:example:Limit;1"
    assert [f.name for f in limit.fields] == ["low", "high"]
    assert limit == pump.schemas[0]  # a reference resolves to the very schema defined
    start = pump.content("start")
    assert isinstance(start, Command) and start.request is not None and start.response is not None
    assert start.request.schema is PrimitiveSchema.DOUBLE
    feeds = pump.content("feeds")
    assert isinstance(feeds, Relationship)
    assert feeds.target == "dtmi:example:Tank;1" and feeds.max_multiplicity == 1
    assert feeds.properties[0].schema is PrimitiveSchema.DATE_TIME
    motor = pump.content("motor")
    assert isinstance(motor, Component) and motor.schema == "dtmi:example:Motor;1"


def test_inheritance_is_resolved_by_the_model_set() -> None:
    model_set = parse_pump()["set"]
    assert set(model_set) == {
        "dtmi:example:Pump;1",
        "dtmi:example:Equipment;1",
        "dtmi:example:Motor;1",
    }
    contents = model_set.contents("dtmi:example:Pump;1")  # type: ignore[attr-defined]
    assert next(iter(contents)) == "serial"  # inherited first
    assert model_set.is_a("dtmi:example:Pump;1", "dtmi:example:Equipment;1")  # type: ignore[attr-defined]


def test_inputs_may_be_text_dicts_paths_or_one_document(tmp_path: Path) -> None:
    file = tmp_path / "motor.json"
    file.write_text(json.dumps(MOTOR))
    as_text = parse([json.dumps(MOTOR)])
    assert parse([MOTOR]) == as_text
    assert parse([file]) == as_text
    assert parse([str(file)]) == as_text
    assert parse(MOTOR) == as_text
    assert parse([[MOTOR, EQUIPMENT]]).keys() == {
        "dtmi:example:Motor;1",
        "dtmi:example:Equipment;1",
    }


def test_dtdl_v2_semantic_types_and_units() -> None:
    doc = {
        "@context": "dtmi:dtdl:context;2",
        "@id": "dtmi:example:Sensor;1",
        "@type": "Interface",
        "contents": [
            {
                "@type": ["Telemetry", "Pressure"],
                "name": "p",
                "schema": "float",
                "unit": "kilopascal",
            }
        ],
    }
    sensor = parse([doc])["dtmi:example:Sensor;1"]
    assert sensor.dtdl_version == 2
    assert sensor.content("p").unit == "kilopascal"  # type: ignore[union-attr]


def errors_of(*documents: object, **options: bool) -> ParsingError:
    with pytest.raises(ParsingError) as info:
        parse(list(documents), **options)
    return info.value


def test_errors_name_document_element_rule_and_what_was_found(tmp_path: Path) -> None:
    broken = {
        "@context": "dtmi:dtdl:context;3",
        "@id": "dtmi:example:Broken;1",
        "@type": "Interface",
        "contents": [
            {"@type": "Telemetry", "name": "temp", "schema": "dubble"},
            {"@type": "Property", "name": "speed rpm", "schema": "double"},
        ],
    }
    file = tmp_path / "broken.json"
    file.write_text(json.dumps(broken))
    err = errors_of(file)
    assert len(err.errors) == 2  # every problem, not just the first
    first, second = err.errors
    assert first.document == str(file)
    assert first.element == "/contents/0 (temp)"
    assert first.rule == "schema-value"
    assert "'dubble'" in first.message and "'double'" in first.message
    assert second.rule == "name-value" and "'speed rpm'" in second.message
    assert str(file) in str(err) and "dubble" in str(err)


def test_json_syntax_errors_give_line_and_column(tmp_path: Path) -> None:
    file = tmp_path / "bad.json"
    file.write_text('{"@context": "dtmi:dtdl:context;3",\n "@id": "dtmi:ex:X;1",,\n}')
    (issue,) = errors_of(file).errors
    assert issue.rule == "json"
    assert issue.element == "line 2 column 23"


def test_unresolved_references_are_named() -> None:
    doc = {
        "@context": "dtmi:dtdl:context;3",
        "@id": "dtmi:example:A;1",
        "@type": "Interface",
        "extends": "dtmi:example:Missing;1",
        "contents": [{"@type": "Component", "name": "c", "schema": "dtmi:example:Gone;1"}],
    }
    err = errors_of(doc)
    assert set(err.unresolved_identifiers) == {"dtmi:example:Missing;1", "dtmi:example:Gone;1"}
    assert all(i.rule == "unresolved-reference" for i in err.errors)


def test_unknown_contexts_need_permission() -> None:
    doc = {
        "@context": ["dtmi:dtdl:context;3", "dtmi:com:acme:context;1"],
        "@id": "dtmi:example:A;1",
        "@type": "Interface",
    }
    assert errors_of(doc).errors[0].rule == "undefined-extension"
    assert "dtmi:example:A;1" in parse([doc], allow_undefined_extensions=True)


@pytest.mark.parametrize(
    ("context", "rule"),
    [
        ("dtmi:dtdl:context;4", "context-version"),
        ("http://example.com/context", "context-dtmi"),
        (["dtmi:dtdl:extension:quantitativeTypes;1"], "context-dtdl"),
    ],
)
def test_bad_contexts(context: object, rule: str) -> None:
    doc = {"@context": context, "@id": "dtmi:example:A;1", "@type": "Interface"}
    assert errors_of(doc).errors[0].rule == rule


def test_inheritance_cycles_and_duplicate_names_are_rejected() -> None:
    a = {
        "@context": "dtmi:dtdl:context;3",
        "@id": "dtmi:ex:A;1",
        "@type": "Interface",
        "extends": "dtmi:ex:B;1",
    }
    b = {
        "@context": "dtmi:dtdl:context;3",
        "@id": "dtmi:ex:B;1",
        "@type": "Interface",
        "extends": "dtmi:ex:A;1",
    }
    assert errors_of(a, b).errors[0].rule == "extends-cycle"
    base = {
        "@context": "dtmi:dtdl:context;3",
        "@id": "dtmi:ex:Base;1",
        "@type": "Interface",
        "contents": [{"@type": "Property", "name": "x", "schema": "double"}],
    }
    child = {**base, "@id": "dtmi:ex:Child;1", "extends": "dtmi:ex:Base;1"}
    err = errors_of(base, child)
    assert err.errors[0].rule == "name-duplicate"
    assert "'x'" in err.errors[0].message and "inherited" in err.errors[0].message


def test_v2_limits_differ_from_v3() -> None:
    name = "n" * 100
    v3 = {
        "@context": "dtmi:dtdl:context;3",
        "@id": "dtmi:ex:A;1",
        "@type": "Interface",
        "contents": [{"@type": "Property", "name": name, "schema": "double"}],
    }
    assert "dtmi:ex:A;1" in parse([v3])
    v2 = {**v3, "@context": "dtmi:dtdl:context;2"}
    assert "at most 64 characters" in errors_of(v2).errors[0].message

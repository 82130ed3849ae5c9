"""Python model classes: the metamodel they produce, type mappings, errors, DTDL round trips."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum, IntEnum
from typing import Any, ClassVar, Optional, TypedDict

import pytest

from twinkit.errors import ValidationError
from twinkit.model import (
    ArraySchema,
    Command,
    CommandPayload,
    Component,
    Dtmi,
    EnumSchema,
    EnumValue,
    Field,
    GeospatialSchema,
    Interface,
    LangString,
    MapKey,
    MapSchema,
    MapValue,
    ModelSet,
    ObjectSchema,
    PrimitiveSchema,
    Property,
    Relationship,
    Telemetry,
    TwinModel,
    command,
    component,
    model_set,
    prop,
    relationship,
    telemetry,
)
from twinkit.model.dtdl import dumps

P = PrimitiveSchema


def parse(text: str) -> ModelSet:
    from twinkit.model.dtdl import parse as dtdl_parse  # the parser is a separate piece

    return dtdl_parse(text)


# --- the example model (module level, as users write them) ----------------------------------


class Mode(Enum):
    AUTO = "auto"
    MANUAL = "manual"


class Level(IntEnum):
    LOW = 1
    HIGH = 2


@dataclass
class Point3:
    x: float
    y: float
    z: float


@dataclass
class Sample:
    at: datetime
    where: Point3
    tags: list[str]
    note: Optional[str] = None  # noqa: UP045 - the old spelling must work too


class Limits(TypedDict):
    low: float
    high: float


class Equipment(TwinModel, dtmi="dtmi:example:Equipment;1"):
    serial: str = prop(description="Serial number")


class Motor(TwinModel, dtmi="dtmi:example:Motor;1"):
    power: float = telemetry(semantic_type="Power", unit="kilowatt")


class Pump(Equipment, dtmi="dtmi:example:Pump;1", display_name="Pump"):
    """A centrifugal pump.

    Details that stay out of the DTDL description.
    """

    temperature: float = telemetry(unit="degreeCelsius", semantic_type="Temperature")
    speed: float = prop(writable=True, unit="revolutionPerMinute")
    mode: Mode = prop(writable=True)
    vibration: list[float] = telemetry()
    tags: dict[str, str] = prop()
    feeds: Tank = relationship(max_multiplicity=1)  # defined below: a forward reference
    motor: Motor = component()
    start = command(request=("rpm", float), response=("ok", bool))


class Tank(TwinModel, dtmi="dtmi:example:Tank;1"):
    level: float = telemetry(semantic_type="Length", unit="metre")
    limits: Limits
    last: Sample = prop()


def test_pump_produces_exactly_this_interface() -> None:
    mode = EnumSchema(
        value_schema=P.STRING,
        enum_values=(
            EnumValue(name="AUTO", enum_value="auto"),
            EnumValue(name="MANUAL", enum_value="manual"),
        ),
    )
    tags = MapSchema(
        map_key=MapKey(name="key", schema=P.STRING),
        map_value=MapValue(name="value", schema=P.STRING),
    )
    assert Pump.interface == Interface(
        id=Dtmi("dtmi:example:Pump;1"),
        display_name=LangString("Pump"),
        description=LangString("A centrifugal pump."),
        extends=(Dtmi("dtmi:example:Equipment;1"),),
        contents=(
            Telemetry(
                name="temperature",
                schema=P.DOUBLE,
                semantic_type="Temperature",
                unit="degreeCelsius",
            ),
            Property(
                name="speed",
                schema=P.DOUBLE,
                writable=True,
                semantic_type="AngularVelocity",  # the one semantic type of revolutionPerMinute
                unit="revolutionPerMinute",
            ),
            Property(name="mode", schema=mode, writable=True),
            Telemetry(name="vibration", schema=ArraySchema(element_schema=P.DOUBLE)),
            Property(name="tags", schema=tags),
            Relationship(name="feeds", target=Dtmi("dtmi:example:Tank;1"), max_multiplicity=1),
            Component(name="motor", schema=Dtmi("dtmi:example:Motor;1")),
            Command(
                name="start",
                request=CommandPayload(name="rpm", schema=P.DOUBLE),
                response=CommandPayload(name="ok", schema=P.BOOLEAN),
            ),
        ),
    )
    assert Pump.dtmi == "dtmi:example:Pump;1"
    assert Equipment.interface.contents == (
        Property(name="serial", schema=P.STRING, description=LangString("Serial number")),
    )


def test_bare_annotations_are_properties_and_objects_nest() -> None:
    point = ObjectSchema(
        fields=tuple(Field(name=axis, schema=P.DOUBLE) for axis in ("x", "y", "z"))
    )
    sample = ObjectSchema(
        fields=(
            Field(name="at", schema=P.DATE_TIME),
            Field(name="where", schema=point),
            Field(name="tags", schema=ArraySchema(element_schema=P.STRING)),
            Field(name="note", schema=P.STRING),
        )
    )
    limits = ObjectSchema(
        fields=(Field(name="low", schema=P.DOUBLE), Field(name="high", schema=P.DOUBLE))
    )
    assert Tank.interface.contents == (
        Telemetry(name="level", schema=P.DOUBLE, semantic_type="Length", unit="metre"),
        Property(name="limits", schema=limits),
        Property(name="last", schema=sample),
    )


def test_model_set_gathers_bases_components_and_targets() -> None:
    models = model_set(Pump)
    assert list(models) == [
        "dtmi:example:Equipment;1",
        "dtmi:example:Motor;1",
        "dtmi:example:Pump;1",
        "dtmi:example:Tank;1",
    ]
    assert models["dtmi:example:Pump;1"] is Pump.interface
    assert set(models.contents("dtmi:example:Pump;1")) >= {"serial", "temperature", "start"}
    assert model_set(Pump, Tank, Pump) == models


def test_round_trip_through_dtdl() -> None:
    models = model_set(Pump)
    assert parse(dumps(models)) == models


# --- type mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "schema"),
    [
        (bool, P.BOOLEAN),
        (int, P.LONG),
        (float, P.DOUBLE),
        (str, P.STRING),
        (datetime, P.DATE_TIME),
        (date, P.DATE),
        (time, P.TIME),
        (timedelta, P.DURATION),
        (uuid.UUID, P.UUID),
        (bytes, P.BYTES),
        (Decimal, P.DECIMAL),
        (float | None, P.DOUBLE),
        (list[int], ArraySchema(element_schema=P.LONG)),
        (tuple[str, ...], ArraySchema(element_schema=P.STRING)),
        (Sequence[list[bool]], ArraySchema(element_schema=ArraySchema(element_schema=P.BOOLEAN))),
        (
            dict[str, float],
            MapSchema(
                map_key=MapKey(name="key"), map_value=MapValue(name="value", schema=P.DOUBLE)
            ),
        ),
        (
            Level,
            EnumSchema(
                value_schema=P.INTEGER,
                enum_values=(
                    EnumValue(name="LOW", enum_value=1),
                    EnumValue(name="HIGH", enum_value=2),
                ),
            ),
        ),
    ],
    ids=repr,
)
def test_python_types_map_to_schemas(annotation: Any, schema: Any) -> None:
    namespace: dict[str, Any] = {"__annotations__": {"value": annotation}}
    namespace["value"] = prop()
    cls = type(TwinModel)(
        "Mapped",
        (TwinModel,),
        namespace,
        dtmi=f"dtmi:example:mapped:M{abs(hash(repr(annotation)))};1",
    )
    assert cls.interface.contents[0] == Property(name="value", schema=schema)


@pytest.mark.parametrize(
    ("explicit", "schema"),
    [
        ("integer", P.INTEGER),
        ("float", P.FLOAT),  # a term, not Python's float
        ("point", GeospatialSchema.POINT),
        (P.SHORT, P.SHORT),
        (int, P.LONG),
        (ArraySchema(element_schema=P.BYTE), ArraySchema(element_schema=P.BYTE)),
    ],
    ids=repr,
)
def test_explicit_schema_overrides_the_annotation(explicit: Any, schema: Any) -> None:
    class Explicit(TwinModel, dtmi="dtmi:example:Explicit;1"):
        value: str = prop(schema=explicit)

    assert Explicit.interface.contents[0].schema == schema  # type: ignore[union-attr]


def test_element_options_and_payloads() -> None:
    class Valve(TwinModel, dtmi="dtmi:example:Valve;1", description="Explicit.", comment="c"):
        """Docstring that the description keyword overrides."""

        opening: float = prop(
            name="openingPercent",
            display_name={"en": "Opening", "de": "Öffnung"},
            semantic_type="RelativeHumidity",
            unit="percent",
            cotypes=("Historized",),
            id="dtmi:example:Valve:opening;1",
        )
        move = command(
            request=("target", float | None),
            response=CommandPayload(name="reached", schema=P.BOOLEAN),
            description="Move to a position",
        )
        peers = relationship(
            "dtmi:example:Valve;1",
            min_multiplicity=0,
            writable=True,
            properties={"since": datetime, "weight": prop(schema="float", writable=True)},
        )
        _private: int
        registry: ClassVar[dict[str, int]] = {}

    opening, move, peers = Valve.interface.contents
    assert Valve.interface.description == LangString("Explicit.")
    assert Valve.interface.comment == "c"
    assert opening == Property(
        id=Dtmi("dtmi:example:Valve:opening;1"),
        name="openingPercent",
        display_name=LangString({"en": "Opening", "de": "Öffnung"}),
        cotypes=("Historized",),
        schema=P.DOUBLE,
        semantic_type="RelativeHumidity",
        unit="percent",
    )
    assert move == Command(
        name="move",
        description=LangString("Move to a position"),
        request=CommandPayload(name="target", schema=P.DOUBLE, nullable=True),
        response=CommandPayload(name="reached", schema=P.BOOLEAN),
    )
    assert peers == Relationship(
        name="peers",
        target=Dtmi("dtmi:example:Valve;1"),
        min_multiplicity=0,
        writable=True,
        properties=(
            Property(name="since", schema=P.DATE_TIME),
            Property(name="weight", schema=P.FLOAT, writable=True),
        ),
    )


# --- inheritance and references -------------------------------------------------------------


def test_multiple_inheritance_gives_extends_and_only_own_contents() -> None:
    class Named(TwinModel, dtmi="dtmi:example:inh:Named;1"):
        label: str

    class Located(TwinModel, dtmi="dtmi:example:inh:Located;1"):
        where: str = prop(schema="point")

    class Mixin:
        def describe(self) -> str:
            return "behaviour, no contents"

    class Site(Named, Mixin, Located, dtmi="dtmi:example:inh:Site;1"):
        area: float

    assert Site.interface.extends == ("dtmi:example:inh:Named;1", "dtmi:example:inh:Located;1")
    assert [c.name for c in Site.interface.contents] == ["area"]
    models = model_set(Site)
    assert set(models.contents("dtmi:example:inh:Site;1")) == {"label", "where", "area"}
    assert parse(dumps(models)) == models


def test_forward_references_inside_a_function() -> None:
    class Line(TwinModel, dtmi="dtmi:example:fwd:Line;1"):
        stations: list[Station] = relationship()
        next: Line | None = relationship(max_multiplicity=1)
        anything = relationship()
        typed_any: TwinModel = relationship()

    class Station(TwinModel, dtmi="dtmi:example:fwd:Station;1"):
        name: str

    stations, nxt, anything, typed_any = Line.interface.contents
    assert stations == Relationship(name="stations", target=Dtmi("dtmi:example:fwd:Station;1"))
    assert nxt == Relationship(
        name="next", target=Dtmi("dtmi:example:fwd:Line;1"), max_multiplicity=1
    )
    assert anything == Relationship(name="anything")
    assert typed_any == Relationship(name="typed_any")
    assert set(model_set(Line)) == {"dtmi:example:fwd:Line;1", "dtmi:example:fwd:Station;1"}


def test_local_enum_and_dataclass_resolve() -> None:
    class Colour(Enum):
        RED = "red"

    @dataclass
    class Pair:
        left: Colour
        right: int

    class Painted(TwinModel, dtmi="dtmi:example:Painted;1"):
        pair: Pair

    [pair] = Painted.interface.contents
    assert isinstance(pair, Property) and isinstance(pair.schema, ObjectSchema)
    assert pair.schema.field("right").schema == P.LONG
    assert isinstance(pair.schema.field("left").schema, EnumSchema)


def test_contents_keep_declaration_order() -> None:
    class Ordered(TwinModel, dtmi="dtmi:example:Ordered;1"):
        a: int
        b = command()
        c: float = telemetry()
        d: str

    assert [c.name for c in Ordered.interface.contents] == ["a", "b", "c", "d"]


# --- errors ---------------------------------------------------------------------------------


def error_text(excinfo: pytest.ExceptionInfo[ValidationError]) -> str:
    return str(excinfo.value)


def test_missing_dtmi() -> None:
    with pytest.raises(ValidationError) as excinfo:

        class NoId(TwinModel):
            x: int

    assert "NoId" in error_text(excinfo) and "DTMI" in error_text(excinfo)


def test_invalid_dtmi() -> None:
    with pytest.raises(ValidationError) as excinfo:

        class BadId(TwinModel, dtmi="example:BadId"):
            x: int

    assert "BadId" in error_text(excinfo)
    assert "'example:BadId'" in error_text(excinfo)


def test_unsupported_annotation_names_the_attribute() -> None:
    with pytest.raises(ValidationError) as excinfo:

        class Weird(TwinModel, dtmi="dtmi:example:Weird;1"):
            ok: int
            z: complex = telemetry()

    text = error_text(excinfo)
    assert "Weird.z" in text and "unsupported type" in text and "complex" in text
    assert excinfo.value.path == "Weird.z"
    assert excinfo.value.model == "dtmi:example:Weird;1"


@pytest.mark.parametrize(
    ("body", "attribute", "words"),
    [
        ("x: dict[int, str]", "x", "map keys must be strings"),
        ("x: int | str", "x", "unsupported type"),
        ("x: float = prop(unit='lux', semantic_type='Temperature')", "x", "does not fit"),
        ("x: float = prop(unit='percent')", "x", "several semantic types"),
        ("x: float = prop(unit='furlong')", "x", "unknown unit"),
        ("x: str = prop(semantic_type='Temperature')", "x", "numeric schema"),
        ("x: int = prop(schema='quadruple')", "x", "unknown schema term"),
        ("x: int = prop(name='has space')", "x", "invalid content name"),
        ("x: int\n    y: int = prop(name='x')", "y", "duplicate content name"),
        ("x: int = relationship()", "x", "must be a model class"),
        ("x: Mode = relationship()", "x", "must be a model class"),
        ("x: str = component()", "x", "must be a model class"),
        ("x = component()", "x", "needs a model"),
        ("x: Motor", "x", "component() or relationship()"),
        ("x = command(request=('rpm',))", "x", "(name, schema) pair"),
        ("x = relationship(max_multiplicity=0)", "x", "at least 1"),
        ("interface: int", "interface", "reserved"),
    ],
)
def test_bad_declarations(body: str, attribute: str, words: str) -> None:
    source = f"class Bad(TwinModel, dtmi='dtmi:example:Bad;1'):\n    {body}\n"
    with pytest.raises(ValidationError) as excinfo:
        exec(source, globals(), {})
    text = error_text(excinfo)
    assert f"Bad.{attribute}" in text, text
    assert words in text, text


def test_inherited_name_cannot_be_redeclared() -> None:
    with pytest.raises(ValidationError, match=r"Sub\.serial: duplicate content name"):

        class Sub(Equipment, dtmi="dtmi:example:Sub;1"):
            serial: int


def test_enum_with_mixed_values() -> None:
    class Mixed(Enum):
        A = 1
        B = "b"

    with pytest.raises(ValidationError, match=r"Holder\.m: values of .*Mixed mix types"):

        class Holder(TwinModel, dtmi="dtmi:example:Holder;1"):
            m: Mixed


def test_unresolved_forward_reference_fails_when_read() -> None:
    class Dangling(TwinModel, dtmi="dtmi:example:Dangling;1"):
        to: NowhereToBeFound = relationship()  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(ValidationError) as excinfo:
        _ = Dangling.interface
    assert "Dangling.to" in error_text(excinfo)
    assert "NowhereToBeFound" in error_text(excinfo)


def test_recursive_dataclass_is_refused() -> None:
    @dataclass
    class Node:
        children: list[Node]

    with pytest.raises(ValidationError, match=r"Tree\.root: recursive schema"):

        class Tree(TwinModel, dtmi="dtmi:example:Tree;1"):
            root: Node


def test_model_set_refuses_other_things() -> None:
    with pytest.raises(ValidationError, match="TwinModel subclasses"):
        model_set(Mode)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        _ = TwinModel.interface


def test_dataclass_fields_only_not_classvars() -> None:
    @dataclass
    class WithClassVar:
        value: float
        unit: ClassVar[str] = "m"

    class Holder2(TwinModel, dtmi="dtmi:example:Holder2;1"):
        w: WithClassVar

    [w] = Holder2.interface.contents
    assert isinstance(w, Property)
    assert w.schema == ObjectSchema(fields=(Field(name="value", schema=P.DOUBLE),))
    assert [f.name for f in dataclasses.fields(WithClassVar)] == ["value"]

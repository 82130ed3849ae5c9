"""The DTDL vocabulary: classes, their properties and limits, and the terms of each context.

This is the table the parser is driven by. It encodes the DTDL v2 and v3 specifications
(plus the QuantitativeTypes v3 extension and the IoT Central v2 partner extension) as data;
the parser holds no per-class code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from typing import Any, Final

__all__ = [
    "ClassSpec",
    "Kind",
    "PropSpec",
    "Vocabulary",
    "vocabulary",
]

DTDL_CONTEXTS: Final = {"dtmi:dtdl:context;2": 2, "dtmi:dtdl:context;3": 3}
"""The DTDL language contexts twinkit reads, with their version."""

QUANTITATIVE_TYPES: Final = "dtmi:dtdl:extension:quantitativeTypes;1"
IOT_CENTRAL: Final = "dtmi:iotcentral:context;2"
EXTENSION_CONTEXTS: Final = {QUANTITATIVE_TYPES: 3, IOT_CENTRAL: 2}
"""Known extension contexts and the one DTDL version each may be used with."""

NAME_PATTERN: Final = r"[a-zA-Z](?:[a-zA-Z0-9_]*[a-zA-Z0-9])?"


class Kind(Enum):
    """How a property's value is read."""

    STRING = "string"  # a string literal
    LANG = "langstring"  # a localizable string
    BOOL = "boolean"
    INT = "integer"
    ENUM_VALUE = "integer or string"
    DTMI = "DTMI"  # an identifier literal (Relationship.target)
    ELEMENTS = "elements"  # nested elements, references by DTMI, or instance terms
    INSTANCE = "instance"  # one of a closed set of terms (valueSchema, commandType, unit)


@dataclass(frozen=True, slots=True)
class PropSpec:
    """One property of a DTDL class."""

    name: str
    kind: Kind
    required: bool = False
    multi: bool = False
    min_count: int = 0
    max_count: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    min_value: int | None = None
    max_value: int | None = None
    classes: tuple[str, ...] = ()  # ELEMENTS: material classes allowed inline or by reference
    instances: str | None = None  # ELEMENTS/INSTANCE: which instance table values may come from
    implicit: str | None = None  # ELEMENTS: class of an inline element that has no @type


@dataclass(frozen=True, slots=True)
class ClassSpec:
    """A material DTDL class and the properties it takes in one DTDL version."""

    name: str
    props: Mapping[str, PropSpec]
    semantic: bool = False  # may carry a semantic type and a unit
    id_max_length: int = 2048


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """Everything the parser needs to know about one DTDL version."""

    version: int
    classes: Mapping[str, ClassSpec]
    abstract_classes: frozenset[str]
    primitive_schemas: frozenset[str]
    geospatial_schemas: frozenset[str]
    command_types: frozenset[str]
    other_terms: frozenset[str] = field(default=frozenset())

    def class_dtmi(self, name: str) -> str:
        return f"dtmi:dtdl:class:{name};{self.version}"

    def property_dtmi(self, name: str) -> str:
        return f"dtmi:dtdl:property:{name};{self.version}"

    @property
    def schema_instance_dtmis(self) -> Mapping[str, str]:
        """DTMI spelling of each schema instance term, to the term."""
        v = self.version
        out = {f"dtmi:dtdl:instance:Schema:{t};{v}": t for t in self.primitive_schemas}
        out.update({f"dtmi:standard:schema:geospatial:{t};{v}": t for t in self.geospatial_schemas})
        return out

    @property
    def command_type_dtmis(self) -> Mapping[str, str]:
        v = self.version
        return {f"dtmi:dtdl:instance:CommandType:{t};{v}": t for t in self.command_types}

    @property
    def core_terms(self) -> frozenset[str]:
        """Every term the DTDL context itself defines (classes, properties, instances)."""
        props = {p for spec in self.classes.values() for p in spec.props}
        return frozenset(
            {*self.classes, *self.abstract_classes, *props, *self.primitive_schemas}
            | self.geospatial_schemas
            | self.command_types
            | self.other_terms
        )


_PRIMITIVES_V2: Final = frozenset(
    {
        "boolean",
        "date",
        "dateTime",
        "double",
        "duration",
        "float",
        "integer",
        "long",
        "string",
        "time",
    }
)
_PRIMITIVES_V3: Final = _PRIMITIVES_V2 | {
    "byte",
    "bytes",
    "decimal",
    "short",
    "uuid",
    "unsignedByte",
    "unsignedShort",
    "unsignedInteger",
    "unsignedLong",
}
_GEOSPATIAL: Final = frozenset(
    {"point", "lineString", "polygon", "multiPoint", "multiLineString", "multiPolygon"}
)
_COMPLEX: Final = ("Array", "Enum", "Map", "Object")
_CONTENTS: Final = ("Telemetry", "Property", "Command", "Relationship", "Component")


def _common(version: int) -> dict[str, PropSpec]:
    return {
        "comment": PropSpec("comment", Kind.STRING, max_length=512),
        "description": PropSpec("description", Kind.LANG, max_length=512),
        "displayName": PropSpec("displayName", Kind.LANG, max_length=64 if version == 2 else 512),
    }


def _name(version: int) -> PropSpec:
    return PropSpec(
        "name",
        Kind.STRING,
        required=True,
        max_length=64 if version == 2 else 512,
        pattern=NAME_PATTERN,
    )


def _schema(required: bool = True) -> PropSpec:
    return PropSpec(
        "schema", Kind.ELEMENTS, required=required, classes=_COMPLEX, instances="schema"
    )


def _class(
    version: int, name: str, *props: PropSpec, semantic: bool = False, id_max: int = 2048
) -> ClassSpec:
    table = _common(version)
    table.update((p.name, p) for p in props)
    return ClassSpec(name, table, semantic=semantic, id_max_length=id_max)


def _multi(name: str, classes: tuple[str, ...], v2_max: int | None, **extra: Any) -> PropSpec:
    """A many-valued element property; ``v2_max`` is its DTDL v2 count limit."""
    return PropSpec(name, Kind.ELEMENTS, multi=True, classes=classes, max_count=v2_max, **extra)


def _content_classes(v: int) -> list[ClassSpec]:
    """Interface and the five kinds of content, with Command payloads."""
    v2 = v == 2
    request = "CommandPayload" if v2 else "CommandRequest"
    response = "CommandPayload" if v2 else "CommandResponse"
    out = [
        _class(
            v,
            "Interface",
            _multi("contents", _CONTENTS, 300 if v2 else None),
            _multi("extends", ("Interface",), 2 if v2 else None),
            _multi("schemas", _COMPLEX, None),
            id_max=128,
        ),
        _class(v, "Telemetry", _name(v), _schema(), semantic=True),
        _class(v, "Property", _name(v), _schema(), PropSpec("writable", Kind.BOOL), semantic=True),
        _class(
            v,
            "Command",
            _name(v),
            PropSpec("commandType", Kind.INSTANCE, instances="commandType"),
            PropSpec("request", Kind.ELEMENTS, classes=(request,), implicit=request),
            PropSpec("response", Kind.ELEMENTS, classes=(response,), implicit=response),
        ),
        _class(
            v,
            "Relationship",
            _name(v),
            PropSpec("target", Kind.DTMI),
            PropSpec("minMultiplicity", Kind.INT, min_value=0, max_value=0),
            PropSpec("maxMultiplicity", Kind.INT, min_value=1, max_value=500 if v2 else None),
            PropSpec("writable", Kind.BOOL),
            _multi("properties", ("Property",), 300 if v2 else None, implicit="Property"),
        ),
        _class(
            v,
            "Component",
            _name(v),
            PropSpec("schema", Kind.ELEMENTS, required=True, classes=("Interface",)),
        ),
    ]
    if v2:
        out.append(_class(v, "CommandPayload", _name(v), _schema()))
    else:
        nullable = PropSpec("nullable", Kind.BOOL)
        out.append(_class(v, "CommandRequest", _name(v), _schema(), nullable, semantic=True))
        out.append(_class(v, "CommandResponse", _name(v), _schema(), nullable, semantic=True))
    return out


def _schema_classes(v: int) -> list[ClassSpec]:
    """The complex schemas and their parts."""
    v2 = v == 2

    def part(name: str, cls: str) -> PropSpec:
        return PropSpec(name, Kind.ELEMENTS, required=True, classes=(cls,), implicit=cls)

    return [
        _class(
            v,
            "Array",
            PropSpec(
                "elementSchema", Kind.ELEMENTS, required=True, classes=_COMPLEX, instances="schema"
            ),
        ),
        _class(
            v,
            "Enum",
            PropSpec("valueSchema", Kind.INSTANCE, required=True, instances="enumSchema"),
            _multi(
                "enumValues",
                ("EnumValue",),
                100 if v2 else None,
                required=v2,
                min_count=int(v2),
                implicit="EnumValue",
            ),
        ),
        _class(v, "EnumValue", _name(v), PropSpec("enumValue", Kind.ENUM_VALUE, required=True)),
        _class(v, "Map", part("mapKey", "MapKey"), part("mapValue", "MapValue")),
        _class(
            v,
            "MapKey",
            _name(v),
            PropSpec("schema", Kind.INSTANCE, required=True, instances="mapKey"),
        ),
        _class(v, "MapValue", _name(v), _schema(), semantic=not v2),
        _class(
            v,
            "Object",
            _multi(
                "fields",
                ("Field",),
                30 if v2 else None,
                required=v2,
                min_count=int(v2),
                implicit="Field",
            ),
        ),
        _class(v, "Field", _name(v), _schema(), semantic=not v2),
    ]


def _classes(version: int) -> dict[str, ClassSpec]:
    specs = [*_content_classes(version), *_schema_classes(version)]
    return {spec.name: spec for spec in specs}


_ABSTRACT: Final = frozenset(
    {
        "Entity",
        "NamedEntity",
        "Schema",
        "ComplexSchema",
        "PrimitiveSchema",
        "Content",
        "SchemaField",
        "CommandType",
        "Boolean",
        "Date",
        "DateTime",
        "Double",
        "Duration",
        "Float",
        "Integer",
        "Long",
        "String",
        "Time",
        "NumericSchema",
        "TemporalSchema",
        "Unit",
        "UnitAttribute",
        "SemanticType",
        "QuantitativeType",
        "LatentType",
        "NamedLatentType",
    }
)


@cache
def vocabulary(version: int) -> Vocabulary:
    """The vocabulary of DTDL ``version`` (2 or 3)."""
    return Vocabulary(
        version=version,
        classes=_classes(version),
        abstract_classes=_ABSTRACT,
        primitive_schemas=_PRIMITIVES_V2 if version == 2 else _PRIMITIVES_V3,
        geospatial_schemas=_GEOSPATIAL,
        command_types=frozenset({"synchronous", "asynchronous"}),
        other_terms=frozenset({"languageMajorVersion", "languageVersion"}),
    )

"""DTDL schemas: primitive, geospatial, Array, Enum, Map and Object.

Every schema object is frozen and hashable. Complex schemas hold their nested schemas as
objects (not ids), so a validator can walk them without a lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

from twinkit.model._dtmi import Dtmi
from twinkit.model._langstring import EMPTY, LangString

__all__ = [
    "ArraySchema",
    "ComplexSchema",
    "Element",
    "EnumSchema",
    "EnumValue",
    "Field",
    "GeospatialSchema",
    "MapKey",
    "MapSchema",
    "MapValue",
    "ObjectSchema",
    "PrimitiveSchema",
    "Schema",
]


class PrimitiveSchema(StrEnum):
    """DTDL primitive schemas. The ``V3_ONLY`` ones are not part of DTDL v2."""

    BOOLEAN = "boolean"
    BYTE = "byte"
    BYTES = "bytes"
    DATE = "date"
    DATE_TIME = "dateTime"
    DECIMAL = "decimal"
    DOUBLE = "double"
    DURATION = "duration"
    FLOAT = "float"
    INTEGER = "integer"
    LONG = "long"
    SHORT = "short"
    STRING = "string"
    TIME = "time"
    UNSIGNED_BYTE = "unsignedByte"
    UNSIGNED_INTEGER = "unsignedInteger"
    UNSIGNED_LONG = "unsignedLong"
    UNSIGNED_SHORT = "unsignedShort"
    UUID = "uuid"

    @property
    def is_numeric(self) -> bool:
        return self in _NUMERIC

    @property
    def in_v2(self) -> bool:
        return self not in V3_ONLY_PRIMITIVES


_NUMERIC = frozenset(
    {
        PrimitiveSchema.BYTE,
        PrimitiveSchema.DECIMAL,
        PrimitiveSchema.DOUBLE,
        PrimitiveSchema.FLOAT,
        PrimitiveSchema.INTEGER,
        PrimitiveSchema.LONG,
        PrimitiveSchema.SHORT,
        PrimitiveSchema.UNSIGNED_BYTE,
        PrimitiveSchema.UNSIGNED_INTEGER,
        PrimitiveSchema.UNSIGNED_LONG,
        PrimitiveSchema.UNSIGNED_SHORT,
    }
)

V3_ONLY_PRIMITIVES = frozenset(
    {
        PrimitiveSchema.BYTE,
        PrimitiveSchema.BYTES,
        PrimitiveSchema.DECIMAL,
        PrimitiveSchema.SHORT,
        PrimitiveSchema.UNSIGNED_BYTE,
        PrimitiveSchema.UNSIGNED_INTEGER,
        PrimitiveSchema.UNSIGNED_LONG,
        PrimitiveSchema.UNSIGNED_SHORT,
        PrimitiveSchema.UUID,
    }
)


class GeospatialSchema(StrEnum):
    """The GeoJSON geometries DTDL predefines as standard schemas."""

    POINT = "point"
    LINE_STRING = "lineString"
    POLYGON = "polygon"
    MULTI_POINT = "multiPoint"
    MULTI_LINE_STRING = "multiLineString"
    MULTI_POLYGON = "multiPolygon"

    @property
    def geojson_type(self) -> str:
        """The GeoJSON ``type`` member a value of this schema carries (``"Point"``...)."""
        return self.value[0].upper() + self.value[1:]


@dataclass(frozen=True, slots=True, kw_only=True)
class Element:
    """What every DTDL element has: an optional id and human-readable texts.

    ``cotypes`` lists any further ``@type`` values the element carries beyond its own class
    and semantic type (for example extension types such as ``Historized``).
    """

    id: Dtmi | None = None
    display_name: LangString = EMPTY
    description: LangString = EMPTY
    comment: str | None = None
    cotypes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ArraySchema(Element):
    element_schema: Schema


@dataclass(frozen=True, slots=True, kw_only=True)
class EnumValue(Element):
    name: str
    enum_value: int | str


@dataclass(frozen=True, slots=True, kw_only=True)
class EnumSchema(Element):
    value_schema: PrimitiveSchema
    enum_values: tuple[EnumValue, ...]

    def value_of(self, name: str) -> int | str:
        """The value of the enum member called ``name``."""
        for member in self.enum_values:
            if member.name == name:
                return member.enum_value
        raise KeyError(name)


@dataclass(frozen=True, slots=True, kw_only=True)
class MapKey(Element):
    name: str
    schema: PrimitiveSchema = PrimitiveSchema.STRING


@dataclass(frozen=True, slots=True, kw_only=True)
class MapValue(Element):
    name: str
    schema: Schema
    semantic_type: str | None = None
    unit: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MapSchema(Element):
    map_key: MapKey
    map_value: MapValue


@dataclass(frozen=True, slots=True, kw_only=True)
class Field(Element):
    name: str
    schema: Schema
    semantic_type: str | None = None
    unit: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectSchema(Element):
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field:
        for field in self.fields:
            if field.name == name:
                return field
        raise KeyError(name)


ComplexSchema: TypeAlias = ArraySchema | EnumSchema | MapSchema | ObjectSchema
Schema: TypeAlias = PrimitiveSchema | GeospatialSchema | ComplexSchema

"""Twin models: the DTDL metamodel, DTDL import/export, Python model classes and validation.

This is twinkit's lowest layer: it imports nothing else of twinkit but ``twinkit.errors``.
"""

from __future__ import annotations

from twinkit.model._contents import (
    Command,
    CommandPayload,
    Component,
    Content,
    Interface,
    Property,
    Relationship,
    Telemetry,
)
from twinkit.model._dtmi import Dtmi, is_dtmi
from twinkit.model._langstring import LangString
from twinkit.model._modelset import ModelSet
from twinkit.model._schemas import (
    ArraySchema,
    ComplexSchema,
    Element,
    EnumSchema,
    EnumValue,
    Field,
    GeospatialSchema,
    MapKey,
    MapSchema,
    MapValue,
    ObjectSchema,
    PrimitiveSchema,
    Schema,
)

__all__ = [
    "ArraySchema",
    "Command",
    "CommandPayload",
    "ComplexSchema",
    "Component",
    "Content",
    "Dtmi",
    "Element",
    "EnumSchema",
    "EnumValue",
    "Field",
    "GeospatialSchema",
    "Interface",
    "LangString",
    "MapKey",
    "MapSchema",
    "MapValue",
    "ModelSet",
    "ObjectSchema",
    "PrimitiveSchema",
    "Property",
    "Relationship",
    "Schema",
    "Telemetry",
    "is_dtmi",
]

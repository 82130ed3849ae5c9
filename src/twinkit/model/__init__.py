"""Twin models: the DTDL metamodel, DTDL import/export, Python model classes and validation.

This is twinkit's lowest layer: it imports nothing else of twinkit but ``twinkit.errors``.
"""

from __future__ import annotations

from twinkit.model._classes import (
    TwinModel,
    command,
    component,
    model_set,
    prop,
    relationship,
    telemetry,
)
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
from twinkit.model._quantities import (
    all_terms,
    pint_unit,
    semantic_types,
    unit_types,
    units_of,
)
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
from twinkit.model._validate import BatchValidationError, ModelValidator, compile_validator

__all__ = [
    "ArraySchema",
    "BatchValidationError",
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
    "ModelValidator",
    "ObjectSchema",
    "PrimitiveSchema",
    "Property",
    "Relationship",
    "Schema",
    "Telemetry",
    "TwinModel",
    "all_terms",
    "command",
    "compile_validator",
    "component",
    "is_dtmi",
    "model_set",
    "pint_unit",
    "prop",
    "relationship",
    "semantic_types",
    "telemetry",
    "unit_types",
    "units_of",
]

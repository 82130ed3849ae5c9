"""DTDL v3 export: metamodel objects to JSON-LD documents, one per Interface.

Whatever version a model was read from, it is written as DTDL v3 (v2's ``commandType`` is
dropped: v3 has none). An element with an ``@id`` is written out in full once and referenced by
its DTMI everywhere else, since DTDL forbids two definitions of one id: named schemas (those an
Interface lists in ``schemas``) in their Interface's ``schemas``; any other identified element
where it is first used. Co-types other than semantic types are written as they are; DTDL v3
only accepts those an extension context defines.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, Final

from twinkit.errors import ValidationError
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

__all__ = ["dumps", "export"]

DTDL_V3: Final = "dtmi:dtdl:context;3"
QUANTITATIVE_TYPES: Final = "dtmi:dtdl:extension:quantitativeTypes;1"

Json = dict[str, Any]


def export(models: ModelSet | Iterable[Interface]) -> list[Json]:
    """One DTDL v3 document (a JSON-ready dict) per Interface, in the order given."""
    interfaces = list(models.values()) if isinstance(models, ModelSet) else list(models)
    named = {s.id for i in interfaces for s in i.schemas if s.id is not None}
    writer = _Writer(frozenset(named))
    return [doc for doc in map(writer.document, interfaces) if doc is not None]


def dumps(models: ModelSet | Iterable[Interface], *, indent: int | None = 2) -> str:
    """The JSON text of :func:`export`: always a list, so the text is one valid DTDL input."""
    return json.dumps(export(models), indent=indent, ensure_ascii=False)


class _Writer:
    """Writes documents, remembering which identified elements are already defined."""

    def __init__(self, named: frozenset[str]) -> None:
        self._named = named
        self._defined: dict[str, Element] = {}
        self._quantitative = False

    def document(self, interface: Interface) -> Json | None:
        if not self._define(interface):
            return None  # the same Interface given twice
        self._quantitative = False
        body = self._head(interface, "Interface")
        if interface.extends:
            body["extends"] = _one_or_many([str(base) for base in interface.extends])
        if interface.contents:
            body["contents"] = [self._ref_or(c, self._content) for c in interface.contents]
        schemas = [self._complex(s) for s in interface.schemas if self._define(s)]
        if schemas:
            body["schemas"] = schemas
        context: str | list[str] = DTDL_V3
        if self._quantitative:
            context = [DTDL_V3, QUANTITATIVE_TYPES]
        return {"@context": context, **body}

    def _define(self, element: Element) -> bool:
        """Record ``element`` as defined here; False when its id is already defined."""
        if element.id is None:
            return True
        known = self._defined.get(element.id)
        if known is None:
            self._defined[element.id] = element
            return True
        if known != element:
            raise ValidationError(
                "two different elements share one @id; DTDL allows one definition per id",
                path=str(element.id),
                expected=f"the same element as {known!r}",
                got=element,
            )
        return False

    def _ref_or(self, element: Any, write: Callable[[Any], Json]) -> str | Json:
        """``element`` written in full the first time its id is met, its DTMI afterwards."""
        if element.id is not None and not self._define(element):
            return str(element.id)
        return write(element)

    def _head(self, element: Element, cls: str, semantic_type: str | None = None) -> Json:
        """``@id``, ``@type`` and the texts every element has; ``@type`` always present."""
        out: Json = {}
        if element.id is not None:
            out["@id"] = str(element.id)
        types = [cls, *([semantic_type] if semantic_type else []), *element.cotypes]
        out["@type"] = _one_or_many(types)
        name = getattr(element, "name", None)
        if name is not None:
            out["name"] = name
        if element.display_name:
            out["displayName"] = element.display_name.to_json()
        if element.description:
            out["description"] = element.description.to_json()
        if element.comment:
            out["comment"] = element.comment
        return out

    def _implicit_head(
        self, element: Element, cls: str, semantic_type: str | None = None
    ) -> Json:
        """As :meth:`_head`, leaving out ``@type`` when it would only repeat the class."""
        out = self._head(element, cls, semantic_type)
        if out["@type"] == cls:
            del out["@type"]
        return out

    def _quantity(self, out: Json, semantic_type: str | None, unit: str | None) -> None:
        if unit is not None:
            out["unit"] = unit
        if semantic_type is not None or unit is not None:
            self._quantitative = True

    def _content(self, content: Content) -> Json:
        if isinstance(content, Telemetry | Property):
            cls = "Telemetry" if isinstance(content, Telemetry) else "Property"
            out = self._head(content, cls, content.semantic_type)
            out["schema"] = self._schema(content.schema)
            self._quantity(out, content.semantic_type, content.unit)
            if isinstance(content, Property) and content.writable:
                out["writable"] = True
            return out
        if isinstance(content, Command):
            out = self._head(content, "Command")
            if content.request is not None:
                out["request"] = self._ref_or(content.request, self._request)
            if content.response is not None:
                out["response"] = self._ref_or(content.response, self._response)
            return out
        if isinstance(content, Relationship):
            out = self._head(content, "Relationship")
            if content.target is not None:
                out["target"] = str(content.target)
            if content.min_multiplicity is not None:
                out["minMultiplicity"] = content.min_multiplicity
            if content.max_multiplicity is not None:
                out["maxMultiplicity"] = content.max_multiplicity
            if content.writable:
                out["writable"] = True
            if content.properties:
                out["properties"] = [self._ref_or(p, self._content) for p in content.properties]
            return out
        if isinstance(content, Component):
            out = self._head(content, "Component")
            out["schema"] = str(content.schema)
            return out
        raise TypeError(f"expected a DTDL content element, got {content!r}")

    def _request(self, payload: CommandPayload) -> Json:
        return self._payload(payload, "CommandRequest")

    def _response(self, payload: CommandPayload) -> Json:
        return self._payload(payload, "CommandResponse")

    def _payload(self, payload: CommandPayload, cls: str) -> Json:
        out = self._implicit_head(payload, cls, payload.semantic_type)
        out["schema"] = self._schema(payload.schema)
        self._quantity(out, payload.semantic_type, payload.unit)
        if payload.nullable:
            out["nullable"] = True
        return out

    def _schema(self, schema: Schema) -> str | Json:
        if isinstance(schema, PrimitiveSchema | GeospatialSchema):
            return schema.value
        if schema.id is not None and schema.id in self._named:
            return str(schema.id)
        return self._ref_or(schema, self._complex)

    def _complex(self, schema: ComplexSchema) -> Json:
        if isinstance(schema, ArraySchema):
            out = self._head(schema, "Array")
            out["elementSchema"] = self._schema(schema.element_schema)
        elif isinstance(schema, EnumSchema):
            out = self._head(schema, "Enum")
            out["valueSchema"] = schema.value_schema.value
            out["enumValues"] = [self._ref_or(v, self._enum_value) for v in schema.enum_values]
        elif isinstance(schema, MapSchema):
            out = self._head(schema, "Map")
            out["mapKey"] = self._ref_or(schema.map_key, self._map_key)
            out["mapValue"] = self._ref_or(schema.map_value, self._map_value)
        elif isinstance(schema, ObjectSchema):
            out = self._head(schema, "Object")
            out["fields"] = [self._ref_or(f, self._field) for f in schema.fields]
        else:
            raise TypeError(f"expected a DTDL complex schema, got {schema!r}")
        return out

    def _enum_value(self, value: EnumValue) -> Json:
        out = self._implicit_head(value, "EnumValue")
        out["enumValue"] = value.enum_value
        return out

    def _map_key(self, key: MapKey) -> Json:
        out = self._implicit_head(key, "MapKey")
        out["schema"] = key.schema.value
        return out

    def _map_value(self, value: MapValue) -> Json:
        out = self._implicit_head(value, "MapValue", value.semantic_type)
        out["schema"] = self._schema(value.schema)
        self._quantity(out, value.semantic_type, value.unit)
        return out

    def _field(self, field: Field) -> Json:
        out = self._implicit_head(field, "Field", field.semantic_type)
        out["schema"] = self._schema(field.schema)
        self._quantity(out, field.semantic_type, field.unit)
        return out


def _one_or_many(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else values

"""DTDL v3 export: metamodel objects to JSON-LD documents, one per Interface.

Whatever version a model was read from, it is written as DTDL v3 (v2's ``commandType`` is
dropped: v3 has none). DTDL allows one definition per ``@id``, and lets an Interface refer by
id only to Interfaces and to its own elements. So an identified element is written in full
once in its Interface and referred to by its DTMI elsewhere in that Interface: a named schema
(listed in an Interface's ``schemas``) in that list, any other where it is first used. Where
another Interface uses it, a copy without the id is written there; so is a DTDL v2 payload
with an id used as a request and then as a response (v3 separates the two). Co-types other
than semantic types are written as they are: DTDL v3 accepts only those an extension defines.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, Final, TypeVar

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
    named: dict[str, str] = {}
    for interface in interfaces:
        for schema in interface.schemas:
            if schema.id is not None:
                named.setdefault(schema.id, interface.id)
    writer = _Writer(named)
    return [doc for doc in map(writer.document, interfaces) if doc is not None]


def dumps(models: ModelSet | Iterable[Interface], *, indent: int | None = 2) -> str:
    """The JSON text of :func:`export`: always a list, so the text is one valid DTDL input."""
    return json.dumps(export(models), indent=indent, ensure_ascii=False)


E = TypeVar("E", bound=Element)


class _Writer:
    """Writes documents, remembering where each identified element is defined."""

    def __init__(self, named: Mapping[str, str]) -> None:
        self._named = named  # named schema id -> id of the Interface listing it
        self._defined: dict[str, tuple[Element, str]] = {}  # id -> (element, its Interface)
        self._roles: dict[str, str] = {}  # CommandRequest or CommandResponse, by payload id
        self._documents: dict[str, Interface] = {}
        self._owner = ""
        self._quantitative = False

    def document(self, interface: Interface) -> Json | None:
        known = self._documents.get(interface.id)
        if known is not None:
            _same(known, interface)
            return None  # the same Interface given twice
        self._documents[interface.id] = interface
        self._owner, self._quantitative = interface.id, False
        body = self._head(interface, "Interface")
        if interface.extends:
            body["extends"] = _one_or_many([str(base) for base in interface.extends])
        if interface.contents:
            body["contents"] = [self._ref_or(c, self._content) for c in interface.contents]
        schemas = [self._named_schema(s) for s in interface.schemas]
        if any(schemas):
            body["schemas"] = [schema for schema in schemas if schema]
        context: str | list[str] = DTDL_V3
        if self._quantitative:
            context = [DTDL_V3, QUANTITATIVE_TYPES]
        return {"@context": context, **body}

    def _ref_or(self, element: E, write: Callable[[E], Json]) -> str | Json:
        """``element`` in full where its id is first met, its DTMI afterwards.

        DTDL lets an Interface refer by id only to its own elements (and to Interfaces), so
        an element defined in another Interface is written again, without its id.
        """
        if element.id is None:
            return write(element)
        owner = self._named.get(element.id)
        if owner is not None and owner != self._owner:
            return write(replace(element, id=None))
        known = self._defined.get(element.id)
        if known is None:
            self._defined[element.id] = (element, self._owner)
            return write(element)
        _same(known[0], element)
        if known[1] == self._owner:
            return str(element.id)
        return write(replace(element, id=None))

    def _named_schema(self, schema: ComplexSchema) -> Json | None:
        """A schema the Interface lists in ``schemas``: written there, once."""
        if schema.id is None or self._named.get(schema.id) != self._owner:
            written = self._ref_or(schema, self._complex)
            return written if isinstance(written, dict) else None
        known = self._defined.get(schema.id)
        if known is not None:
            _same(known[0], schema)
            return None
        self._defined[schema.id] = (schema, self._owner)
        return self._complex(schema)

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

    def _implicit_head(self, element: Element, cls: str, semantic_type: str | None = None) -> Json:
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
                out["request"] = self._payload(content.request, "CommandRequest")
            if content.response is not None:
                out["response"] = self._payload(content.response, "CommandResponse")
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

    def _payload(self, payload: CommandPayload, cls: str) -> str | Json:
        if payload.id is not None and self._roles.setdefault(payload.id, cls) != cls:
            # DTDL v2 lets one identified payload be a request here and a response there;
            # v3 cannot, so the second use is written out again without the id.
            payload = replace(payload, id=None)
        return self._ref_or(payload, lambda p: self._payload_body(p, cls))

    def _payload_body(self, payload: CommandPayload, cls: str) -> Json:
        out = self._implicit_head(payload, cls, payload.semantic_type)
        out["schema"] = self._schema(payload.schema)
        self._quantity(out, payload.semantic_type, payload.unit)
        if payload.nullable:
            out["nullable"] = True
        return out

    def _schema(self, schema: Schema) -> str | Json:
        if isinstance(schema, PrimitiveSchema | GeospatialSchema):
            return schema.value
        if schema.id is not None and self._named.get(schema.id) == self._owner:
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


def _same(known: Element, element: Element) -> None:
    if known != element:
        raise ValidationError(
            "two different elements share one @id; DTDL allows one definition per id",
            path=str(element.id),
            expected=f"the same element as {known!r}",
            got=element,
        )


def _one_or_many(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else values

"""Last pass of the DTDL parser: checked nodes to frozen metamodel objects."""

from __future__ import annotations

from typing import Any

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
from twinkit.model._dtmi import Dtmi
from twinkit.model._langstring import EMPTY, LangString
from twinkit.model._modelset import ModelSet
from twinkit.model._schemas import (
    ArraySchema,
    ComplexSchema,
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
from twinkit.model.dtdl._parser import Node

__all__ = ["build_model_set"]

_GEOSPATIAL = {g.value: g for g in GeospatialSchema}
_PRIMITIVE = {p.value: p for p in PrimitiveSchema}
# IoT Central's two schemas are plain Objects of doubles.
_IOTC_SCHEMAS = {
    "geopoint": ("lat", "lon", "alt"),
    "vector": ("x", "y", "z"),
}


def build_model_set(nodes: list[Node]) -> ModelSet:
    builder = _Builder()
    interfaces = [builder.interface(n) for n in nodes if n.cls == "Interface"]
    return ModelSet(interfaces)


class _Builder:
    def __init__(self) -> None:
        self.done: dict[int, Any] = {}

    def common(self, node: Node) -> dict[str, Any]:
        comment = node.props.get("comment")
        return {
            "id": Dtmi(node.id) if node.id else None,
            "display_name": _lang(node.props.get("displayName")),
            "description": _lang(node.props.get("description")),
            "comment": comment if isinstance(comment, str) else None,
            "cotypes": tuple(node.cotypes),
        }

    def interface(self, node: Node) -> Interface:
        key = id(node)
        if key not in self.done:
            assert node.id is not None
            self.done[key] = Interface(
                **{**self.common(node), "id": Dtmi(node.id)},
                contents=tuple(self.content(c) for c in node.values("contents")),
                extends=tuple(
                    Dtmi(b.id) for b in node.values("extends") if isinstance(b, Node) and b.id
                ),
                schemas=tuple(
                    self.complex(s) for s in node.values("schemas") if isinstance(s, Node)
                ),
                dtdl_version=node.scope.version,
            )
        result: Interface = self.done[key]
        return result

    def content(self, node: Node) -> Content:
        common = self.common(node)
        name = str(node.props["name"])
        if node.cls == "Telemetry":
            return Telemetry(
                **common,
                name=name,
                schema=self.schema(node.props["schema"]),
                semantic_type=node.semantic_type,
                unit=node.unit,
            )
        if node.cls == "Property":
            return self.property(node)
        if node.cls == "Command":
            request, response = node.props.get("request"), node.props.get("response")
            return Command(
                **common,
                name=name,
                request=self.payload(request) if isinstance(request, Node) else None,
                response=self.payload(response) if isinstance(response, Node) else None,
                command_type=node.props.get("commandType"),
            )
        if node.cls == "Relationship":
            target = node.props.get("target")
            return Relationship(
                **common,
                name=name,
                target=Dtmi(target) if isinstance(target, str) else None,
                min_multiplicity=node.props.get("minMultiplicity"),
                max_multiplicity=node.props.get("maxMultiplicity"),
                writable=bool(node.props.get("writable", False)),
                properties=tuple(self.property(p) for p in node.values("properties")),
            )
        schema = node.props["schema"]
        assert isinstance(schema, Node) and schema.id is not None
        self.interface(schema)
        return Component(**common, name=name, schema=Dtmi(schema.id))

    def property(self, node: Node) -> Property:
        return Property(
            **self.common(node),
            name=str(node.props["name"]),
            schema=self.schema(node.props["schema"]),
            writable=bool(node.props.get("writable", False)),
            semantic_type=node.semantic_type,
            unit=node.unit,
        )

    def payload(self, node: Node) -> CommandPayload:
        return CommandPayload(
            **self.common(node),
            name=str(node.props["name"]),
            schema=self.schema(node.props["schema"]),
            nullable=bool(node.props.get("nullable", False)),
            semantic_type=node.semantic_type,
            unit=node.unit,
        )

    def schema(self, value: object) -> Schema:
        if isinstance(value, Node):
            return self.complex(value)
        assert isinstance(value, str)
        if value in _PRIMITIVE:
            return _PRIMITIVE[value]
        if value in _GEOSPATIAL:
            return _GEOSPATIAL[value]
        names = _IOTC_SCHEMAS[value]
        return ObjectSchema(
            fields=tuple(Field(name=n, schema=PrimitiveSchema.DOUBLE) for n in names)
        )

    def complex(self, node: Node) -> ComplexSchema:
        key = id(node)
        if key in self.done:
            cached: ComplexSchema = self.done[key]
            return cached
        common = self.common(node)
        result: ComplexSchema
        if node.cls == "Array":
            result = ArraySchema(**common, element_schema=self.schema(node.props["elementSchema"]))
        elif node.cls == "Enum":
            result = EnumSchema(
                **common,
                value_schema=_PRIMITIVE[str(node.props["valueSchema"])],
                enum_values=tuple(
                    EnumValue(
                        **self.common(v), name=str(v.props["name"]), enum_value=v.props["enumValue"]
                    )
                    for v in node.values("enumValues")
                ),
            )
        elif node.cls == "Map":
            key_node, value_node = node.props["mapKey"], node.props["mapValue"]
            result = MapSchema(
                **common,
                map_key=MapKey(**self.common(key_node), name=str(key_node.props["name"])),
                map_value=MapValue(
                    **self.common(value_node),
                    name=str(value_node.props["name"]),
                    schema=self.schema(value_node.props["schema"]),
                    semantic_type=value_node.semantic_type,
                    unit=value_node.unit,
                ),
            )
        else:
            result = ObjectSchema(
                **common,
                fields=tuple(
                    Field(
                        **self.common(f),
                        name=str(f.props["name"]),
                        schema=self.schema(f.props["schema"]),
                        semantic_type=f.semantic_type,
                        unit=f.unit,
                    )
                    for f in node.values("fields")
                ),
            )
        self.done[key] = result
        return result


def _lang(value: object) -> LangString:
    if isinstance(value, dict) and value:
        return LangString(value)
    return EMPTY

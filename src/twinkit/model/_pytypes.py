"""Python annotations to DTDL schemas: what a model class's ``x: float`` declares.

:func:`schema_of` maps a Python type (or a metamodel schema, or a DTDL schema term) to a
:data:`Schema`; the table is in the docstring of ``twinkit.model._classes``. Names in
annotations are resolved, and errors reported, through the :class:`Scope` of the model class.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, Final, NoReturn, Protocol
from uuid import UUID

from twinkit.model._schemas import (
    ArraySchema,
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

__all__ = ["NAME", "SEQUENCES", "Scope", "schema_of", "strip_optional"]

NAME: Final = re.compile(r"[a-zA-Z](?:[a-zA-Z0-9_]*[a-zA-Z0-9])?")
"""A DTDL name: of a content, a field, an enum value or a command payload."""
SEQUENCES: Final = (list, tuple, Sequence)
_MAPPINGS: Final = (dict, Mapping)
_PRIMITIVES: Final[Mapping[object, PrimitiveSchema]] = {
    bool: PrimitiveSchema.BOOLEAN,
    int: PrimitiveSchema.LONG,
    float: PrimitiveSchema.DOUBLE,
    str: PrimitiveSchema.STRING,
    datetime: PrimitiveSchema.DATE_TIME,
    date: PrimitiveSchema.DATE,
    time: PrimitiveSchema.TIME,
    timedelta: PrimitiveSchema.DURATION,
    UUID: PrimitiveSchema.UUID,
    bytes: PrimitiveSchema.BYTES,
    Decimal: PrimitiveSchema.DECIMAL,
}
_SUPPORTED: Final = (
    "bool, int, float, str, datetime, date, time, timedelta, UUID, bytes, Decimal, an Enum, "
    "list[T], tuple[T, ...], dict[str, T], a dataclass or a TypedDict"
)


class Scope(Protocol):
    """What reading annotations needs from the model class they stand in."""

    def resolve(self, annotation: object) -> Any:
        """The object an annotation (maybe a string or a forward reference) stands for."""

    def fail(
        self, message: str, expected: str, got: object, cause: Exception | None = None
    ) -> NoReturn:
        """Raise a ValidationError that names the class and attribute being read."""

    def is_model(self, tp: type) -> bool:
        """Whether ``tp`` is a model class (which is a component or a target, no schema)."""


def schema_of(
    spec: object, scope: Scope, stack: tuple[object, ...] = (), *, annotation: bool = False
) -> Schema:
    """The schema for a Python type, a metamodel schema or (not in annotations) a term.

    ``stack`` holds the types being mapped around ``spec``, to refuse a recursive schema.
    """
    if isinstance(spec, PrimitiveSchema | GeospatialSchema):
        return spec
    if isinstance(spec, ArraySchema | EnumSchema | MapSchema | ObjectSchema):
        return spec
    if isinstance(spec, str) and not annotation:
        return _term(spec, scope)
    tp = strip_optional(scope.resolve(spec))
    if typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    primitive = _PRIMITIVES.get(tp)
    if primitive is not None:
        return primitive
    if tp in stack:
        scope.fail("recursive schema", "a schema that does not contain itself", tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    inner = (*stack, tp)
    if origin in SEQUENCES and (origin is not tuple or (len(args) == 2 and args[1] is ...)):
        return ArraySchema(element_schema=schema_of(args[0], scope, inner, annotation=True))
    if origin in _MAPPINGS:
        return _map(tp, scope, inner)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return _enum(tp, scope)
    if isinstance(tp, type) and (dataclasses.is_dataclass(tp) or typing.is_typeddict(tp)):
        return _object(tp, scope, inner)
    if isinstance(tp, type) and scope.is_model(tp):
        scope.fail("a model class is no schema", "component() or relationship()", tp)
    scope.fail("unsupported type", _SUPPORTED, tp)


def strip_optional(tp: Any) -> Any:
    """``T`` for ``T | None`` and ``Optional[T]``; anything else unchanged."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _term(spec: str, scope: Scope) -> Schema:
    for terms in (PrimitiveSchema, GeospatialSchema):
        if spec in terms.__members__.values():
            return terms(spec)
    scope.fail("unknown schema term", "a DTDL schema such as 'double' or 'point'", spec)


def _map(tp: Any, scope: Scope, stack: tuple[object, ...]) -> MapSchema:
    args = typing.get_args(tp)
    if scope.resolve(args[0]) is not str:
        scope.fail("map keys must be strings", "dict[str, T]", tp)
    value_schema = schema_of(args[1], scope, stack, annotation=True)
    value = MapValue(name="value", schema=value_schema)
    return MapSchema(map_key=MapKey(name="key"), map_value=value)


def _enum(tp: type[Enum], scope: Scope) -> EnumSchema:
    values = [member.value for member in tp]
    if all(isinstance(v, str) for v in values):
        value_schema = PrimitiveSchema.STRING
    elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        value_schema = PrimitiveSchema.INTEGER
    else:
        scope.fail(f"values of {tp.__qualname__} mix types", "all str or all int", values)
    for member in tp:
        if not NAME.fullmatch(member.name):
            scope.fail("invalid enum member name", "letters, digits and inner '_'", member)
    enum_values = tuple(EnumValue(name=m.name, enum_value=m.value) for m in tp)
    return EnumSchema(value_schema=value_schema, enum_values=enum_values)


def _object(tp: type, scope: Scope, stack: tuple[object, ...]) -> ObjectSchema:
    hints: Mapping[str, object]
    try:
        hints = typing.get_type_hints(tp)
    except NameError:  # defined in a function: resolve through the model's scopes
        hints = dict(tp.__annotations__)
    if dataclasses.is_dataclass(tp):
        hints = {f.name: hints[f.name] for f in dataclasses.fields(tp)}
    fields = []
    for name, hint in hints.items():
        if not NAME.fullmatch(name):
            scope.fail(f"invalid field name in {tp.__qualname__}", "a DTDL name", name)
        resolved = scope.resolve(hint)
        if typing.get_origin(resolved) in (typing.Required, typing.NotRequired):
            resolved = typing.get_args(resolved)[0]
        fields.append(Field(name=name, schema=schema_of(resolved, scope, stack, annotation=True)))
    return ObjectSchema(fields=tuple(fields))

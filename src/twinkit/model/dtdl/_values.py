"""Reading single property values: literals, instance terms, and how errors describe them.

Pure functions of the value and its scope; the element walk in ``_parser`` calls them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from twinkit.model import _quantities as quantities
from twinkit.model._dtmi import is_dtmi
from twinkit.model._schemas import PrimitiveSchema
from twinkit.model.dtdl._context import IOTC_SCHEMAS, Scope, is_term, unit_of
from twinkit.model.dtdl._literals import (
    read_boolean,
    read_integer,
    read_langstring,
    read_string,
)
from twinkit.model.dtdl._vocab import Kind, PropSpec

if TYPE_CHECKING:
    from twinkit.model.dtdl._parser import Node

__all__ = [
    "describe",
    "dtmi_hint",
    "instance_term",
    "label_of",
    "numeric_schema",
    "read_literal",
    "unit_term",
    "valid_dtmi",
]

_PRIMITIVE_TERMS: Final = frozenset(p.value for p in PrimitiveSchema)
_PATTERNS: dict[str, re.Pattern[str]] = {}


def read_literal(prop: PropSpec, value: object, version: int) -> tuple[object, str | None]:
    """Read a literal property value; return ``(value, None)`` or ``(None, problem)``."""
    kind = prop.kind
    strict = version >= 3
    if kind is Kind.LANG:
        texts, problem = read_langstring(value, strict=strict)
        if problem is None and texts is not None and prop.max_length is not None:
            for text in texts.values():
                if len(text) > prop.max_length:
                    return None, f"at most {prop.max_length} characters, got {len(text)}"
        return texts, problem
    if kind is Kind.STRING:
        string, problem = read_string(value, strict=strict)
        if problem is None and isinstance(string, str):
            problem = _check_string(string, prop)
        return string, problem
    if kind is Kind.BOOL:
        return read_boolean(value, strict=strict)
    if kind is Kind.INT:
        number, problem = read_integer(value, strict=strict)
        if problem is None and isinstance(number, int):
            problem = _check_range(number, prop)
        return number, problem
    if kind is Kind.ENUM_VALUE:
        number, problem = read_integer(value, strict=strict)
        if problem is None:
            return number, None
        return read_string(value, "an integer or a string", strict=strict)
    if kind is Kind.DTMI:
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if not isinstance(value, str):
            return None, f"expected a DTMI string, got {value!r}"
        if not valid_dtmi(value, version):
            return None, f"expected a DTMI{dtmi_hint(version)}, got {value!r}"
        return value, None
    raise AssertionError(kind)


def instance_term(scope: Scope, table: str, value: str) -> str | None:
    """The term ``value`` names in the instance table (term or DTMI spelling)."""
    vocab = scope.vocab
    if table in ("schema", "enumSchema", "mapKey"):
        term = value if is_term(value) else vocab.schema_instance_dtmis.get(value)
        if term is None and scope.iot_central and value.startswith("dtmi:iotcentral:schema:"):
            candidate = value[len("dtmi:iotcentral:schema:") : -2]
            term = candidate if candidate in IOTC_SCHEMAS else None
        allowed: frozenset[str]
        if table == "enumSchema":
            allowed = frozenset({"integer", "string"})
        elif table == "mapKey":
            allowed = frozenset({"string"})
        else:
            allowed = vocab.primitive_schemas | vocab.geospatial_schemas
            if scope.iot_central:
                allowed = allowed | IOTC_SCHEMAS
        return term if term in allowed else None
    if table == "commandType":
        term = value if is_term(value) else vocab.command_type_dtmis.get(value)
        return term if term in vocab.command_types else None
    raise AssertionError(table)


_V2_DTMI: Final = re.compile(
    r"dtmi:[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?(?::[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?)*;[1-9][0-9]{0,8}"
)


def valid_dtmi(text: str, version: int) -> bool:
    """DTMI syntax as the element's DTDL version has it: v2 needs a plain major version."""
    if version == 2:
        return len(text) <= 2048 and _V2_DTMI.fullmatch(text) is not None
    return is_dtmi(text)


def dtmi_hint(version: int) -> str:
    if version == 2:
        return " (DTDL v2 needs 'dtmi:<segments>;<major version>', e.g. dtmi:com:example:Pump;1)"
    return " (expected 'dtmi:<segments>;<version>', e.g. dtmi:com:example:Pump;1)"


def unit_term(node: Node, value: str) -> str | None:
    """The unit ``value`` names, if it is a unit of the node's semantic type."""
    unit = unit_of(value, node.scope)
    if unit is None or node.semantic_type is None:
        return None
    allowed = quantities.units_of(node.semantic_type, node.scope.quantity_version)
    return unit if unit in allowed else None


def _check_string(text: str, prop: PropSpec) -> str | None:
    if prop.max_length is not None and len(text) > prop.max_length:
        return f"at most {prop.max_length} characters, got {len(text)}"
    if prop.pattern is not None:
        pattern = _PATTERNS.get(prop.pattern)
        if pattern is None:
            pattern = _PATTERNS[prop.pattern] = re.compile(prop.pattern)
        if not pattern.fullmatch(text):
            return f"expected letters, digits and underscores starting with a letter, got {text!r}"
    return None


def _check_range(number: int, prop: PropSpec) -> str | None:
    if prop.min_value is not None and number < prop.min_value:
        if prop.max_value == prop.min_value:
            return f"must be {prop.min_value}, got {number}"
        return f"must be at least {prop.min_value}, got {number}"
    if prop.max_value is not None and number > prop.max_value:
        if prop.max_value == prop.min_value:
            return f"must be {prop.min_value}, got {number}"
        return f"must be at most {prop.max_value}, got {number}"
    return None


def describe(table: str | None, node: Node, classes: tuple[str, ...] = ()) -> str:
    kinds = "/".join(classes)
    if table in ("schema", "enumSchema", "mapKey"):
        if table == "enumSchema":
            return "'integer' or 'string'"
        if table == "mapKey":
            return "'string'"
        return f"a schema: a term such as 'double', an inline {kinds}, or the DTMI of one"
    if table == "unit" and node.semantic_type is not None:
        units = sorted(quantities.units_of(node.semantic_type, node.scope.quantity_version))
        listed = ", ".join(units[:12]) + (", ..." if len(units) > 12 else "")
        return f"a unit of {node.semantic_type} ({listed})"
    if table == "commandType":
        return "'synchronous' or 'asynchronous'"
    return f"an inline {kinds} or its DTMI" if classes else "a value"


def label_of(obj: dict[str, Any], path: str) -> str:
    """Name an element for errors: its @id, else its JSON path and name."""
    element_id = obj.get("@id")
    if isinstance(element_id, str):
        return element_id
    name = obj.get("name")
    return f"{path or '/'} ({name})" if isinstance(name, str) else (path or "/")


def numeric_schema(term: object) -> bool:
    """Whether a schema value (a primitive term, or an element node) is a numeric primitive."""
    return isinstance(term, str) and term in _PRIMITIVE_TERMS and PrimitiveSchema(term).is_numeric

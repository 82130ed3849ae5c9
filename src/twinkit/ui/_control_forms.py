"""What the Control page shows and asks, as plain data: no NiceGUI here.

- :func:`property_rows`: each writable property of a twin with its reported and desired
  value and its sync state (in sync, waiting for the device, rejected);
- :func:`field_for`: the input a DTDL schema needs (a number, a switch, a choice, text, or
  JSON for an Object, Array or Map), and :func:`parse_field` turning what was typed into the
  value, with errors that say where;
- :func:`check_desired` / :func:`check_request`: the typed value as the runtime will take it
  (the model's own validator), so a bad value is refused before the confirmation dialog;
- :func:`desired_outcome` / :func:`command_outcome`: what came of a write, in words.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Literal

from twinkit.core import CommandResult, PropertyState, Twin
from twinkit.errors import ValidationError
from twinkit.model import (
    Command,
    EnumSchema,
    ModelSet,
    PrimitiveSchema,
    Property,
    Schema,
    compile_validator,
)

__all__ = [
    "CommandForm",
    "FieldSpec",
    "Outcome",
    "PropertyRow",
    "SyncState",
    "check_desired",
    "check_request",
    "command_forms",
    "command_outcome",
    "confirmation_text",
    "desired_outcome",
    "field_for",
    "format_value",
    "parse_field",
    "property_rows",
    "sync_state",
]

_INTEGERS: Final = frozenset(
    {
        PrimitiveSchema.BYTE,
        PrimitiveSchema.INTEGER,
        PrimitiveSchema.LONG,
        PrimitiveSchema.SHORT,
        PrimitiveSchema.UNSIGNED_BYTE,
        PrimitiveSchema.UNSIGNED_INTEGER,
        PrimitiveSchema.UNSIGNED_LONG,
        PrimitiveSchema.UNSIGNED_SHORT,
    }
)
_TEXTS: Final = frozenset(
    {
        PrimitiveSchema.STRING,
        PrimitiveSchema.DATE,
        PrimitiveSchema.DATE_TIME,
        PrimitiveSchema.DURATION,
        PrimitiveSchema.TIME,
        PrimitiveSchema.UUID,
    }
)
ACK_OK: Final = 200

FieldKind = Literal["number", "integer", "boolean", "enum", "string", "json"]


class SyncState(StrEnum):
    """Where a writable property stands between the twin and its device."""

    NONE = "no desired value"
    PENDING = "waiting for the device"
    IN_SYNC = "in sync"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One input of a form: its kind, and for an enum the ``(label, value)`` choices."""

    kind: FieldKind
    schema: str  # the schema in words, for hints and errors ("double", "Enum of integer")
    unit: str | None = None
    nullable: bool = False
    options: tuple[tuple[str, int | str], ...] = ()


@dataclass(frozen=True, slots=True)
class PropertyRow:
    """A writable property as the Control page lists it."""

    name: str
    field: FieldSpec
    reported: Any
    has_reported: bool
    desired: Any
    desired_version: int
    ack_version: int
    ack_code: int | None
    ack_description: str | None
    sync: SyncState

    def to_json(self) -> dict[str, Any]:
        """A row of the page's table (values as short text)."""
        unit = f" {self.field.unit}" if self.field.unit else ""
        return {
            "name": self.name,
            "reported": format_value(self.reported) + unit if self.has_reported else "-",
            "desired": format_value(self.desired) + unit if self.desired_version else "-",
            "version": self.desired_version or "-",
            "sync": self.sync.value
            + (
                f" ({self.ack_code}: {self.ack_description})"
                if self.sync is SyncState.REJECTED and self.ack_code is not None
                else ""
            ),
        }


@dataclass(frozen=True, slots=True)
class CommandForm:
    """A command of a twin's model: its request input (None: it takes no request)."""

    name: str
    request_name: str | None
    request: FieldSpec | None
    response_schema: str | None
    description: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What came of a write: ``state`` is ``done``, ``waiting`` or ``failed``."""

    state: Literal["done", "waiting", "failed"]
    text: str


def format_value(value: Any) -> str:
    """A value in a table cell or dialog: numbers shortened, objects as compact JSON."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(", ", ": "), default=str)


def _schema_text(schema: Schema) -> str:
    if isinstance(schema, PrimitiveSchema):
        return schema.value
    if isinstance(schema, EnumSchema):
        return f"Enum of {schema.value_schema.value}"
    return type(schema).__name__.removesuffix("Schema")


def field_for(schema: Schema, *, unit: str | None = None, nullable: bool = False) -> FieldSpec:
    """The input ``schema`` needs; complex and geospatial schemas are typed as JSON."""
    text = _schema_text(schema)
    if isinstance(schema, EnumSchema):
        options = tuple(
            (f"{str(member.display_name) or member.name} ({member.enum_value})", member.enum_value)
            for member in schema.enum_values
        )
        return FieldSpec("enum", text, unit, nullable, options)
    kind: FieldKind = "json"
    if schema is PrimitiveSchema.BOOLEAN:
        kind = "boolean"
    elif schema in _INTEGERS:
        kind = "integer"
    elif isinstance(schema, PrimitiveSchema) and schema.is_numeric:
        kind = "number"
    elif schema in _TEXTS:
        kind = "string"
    return FieldSpec(kind, text, unit, nullable)


def parse_field(spec: FieldSpec, raw: Any, where: str) -> Any:
    """The value typed into a field of ``spec``: a number from text, JSON parsed, an enum's
    value; ValidationError with ``path=where`` when it is not one. Blank is None (null)."""
    if isinstance(raw, str) and spec.kind != "string":
        raw = raw.strip()
    if raw is None or (raw == "" and spec.kind != "string"):
        if spec.nullable:
            return None
        raise ValidationError("a value is needed", path=where, expected=spec.schema, got=None)
    if spec.kind in ("number", "integer"):
        return _number(spec, raw, where)
    if spec.kind == "boolean":
        if isinstance(raw, bool):
            return raw
        text = str(raw).lower()
        if text in ("true", "false"):
            return text == "true"
        raise ValidationError("not a boolean", path=where, expected="true or false", got=raw)
    if spec.kind == "enum":
        for label, value in spec.options:
            if raw in (value, label) or str(raw) == str(value):
                return value
        choices = ", ".join(label for label, _ in spec.options)
        raise ValidationError("not one of the choices", path=where, expected=choices, got=raw)
    if spec.kind == "json" and isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError as err:
            raise ValidationError(
                f"not JSON: {err.msg} (line {err.lineno}, column {err.colno})",
                path=where,
                expected=f"JSON of {spec.schema}",
                got=raw,
            ) from err
    return raw


def _number(spec: FieldSpec, raw: Any, where: str) -> int | float:
    expected = f"{'an integer' if spec.kind == 'integer' else 'a number'} ({spec.schema})"
    if isinstance(raw, bool):
        raise ValidationError("not a number", path=where, expected=expected, got=raw)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValidationError("not a number", path=where, expected=expected, got=raw) from None
    if not math.isfinite(value):
        raise ValidationError("not a finite number", path=where, expected=expected, got=raw)
    if spec.kind == "integer":
        if not value.is_integer():
            raise ValidationError("not an integer", path=where, expected=expected, got=raw)
        return int(value)
    return value


def sync_state(state: PropertyState) -> SyncState:
    """Where ``state`` stands: no desired value, waiting, in sync, or rejected by the device."""
    if state.desired_version == 0:
        return SyncState.NONE
    if state.ack_version >= state.desired_version and state.ack_code not in (None, ACK_OK):
        return SyncState.REJECTED
    return SyncState.IN_SYNC if state.in_sync else SyncState.PENDING


def property_rows(models: ModelSet, twin: Twin) -> list[PropertyRow]:
    """The writable properties of ``twin``'s model (inherited ones too), by name."""
    rows = []
    for name, content in sorted(models.contents(twin.model).items()):
        if not (isinstance(content, Property) and content.writable):
            continue
        state = twin.properties.get(name) or PropertyState()
        rows.append(
            PropertyRow(
                name=name,
                field=field_for(content.schema, unit=content.unit),
                reported=state.reported,
                has_reported=state.has_reported,
                desired=state.desired,
                desired_version=state.desired_version,
                ack_version=state.ack_version,
                ack_code=state.ack_code,
                ack_description=state.ack_description,
                sync=sync_state(state),
            )
        )
    return rows


def command_forms(models: ModelSet, model_id: str) -> list[CommandForm]:
    """The commands of ``model_id`` (inherited ones too), by name."""
    forms = []
    for name, content in sorted(models.contents(model_id).items()):
        if not isinstance(content, Command):
            continue
        request, response = content.request, content.response
        forms.append(
            CommandForm(
                name=name,
                request_name=request.name if request is not None else None,
                request=None
                if request is None
                else field_for(request.schema, unit=request.unit, nullable=request.nullable),
                response_schema=None if response is None else _schema_text(response.schema),
                description=str(content.description),
            )
        )
    return forms


def check_desired(models: ModelSet, twin: Twin, name: str, value: Any) -> Any:
    """``value`` as a desired value of ``name`` will be stored (the runtime's validator);
    ValidationError naming the model and property otherwise."""
    return compile_validator(models, twin.model).property(name, value, desired=True)


def check_request(models: ModelSet, twin: Twin, name: str, request: Any) -> Any:
    """``request`` typed as command ``name``'s request (the runtime's validator)."""
    return compile_validator(models, twin.model).command_request(name, request)


def confirmation_text(
    twin_id: str, name: str, row: PropertyRow | None, new: Any, unit: str | None = None
) -> str:
    """The question the confirmation dialog asks, naming twin, property, old and new value."""
    suffix = f" {unit}" if unit else ""
    if row is None or not (row.desired_version or row.has_reported):
        old = "none"
    elif row.desired_version:
        old = format_value(row.desired) + suffix
    else:
        old = format_value(row.reported) + suffix + " (reported)"
    return f"Set {name} of {twin_id} from {old} to {format_value(new)}{suffix}?"


def desired_outcome(state: PropertyState | None, version: int) -> Outcome:
    """What became of desired version ``version``, seen in the property's current state."""
    if state is None:
        return Outcome("failed", "the property is gone (twin deleted?)")
    if state.desired_version > version:
        return Outcome("failed", f"replaced by version {state.desired_version}")
    if state.ack_version >= version:
        if state.ack_code not in (None, ACK_OK):
            why = f": {state.ack_description}" if state.ack_description else ""
            return Outcome(
                "failed", f"version {version} rejected by the device ({state.ack_code}{why})"
            )
        if state.in_sync:
            return Outcome("done", f"version {version} acknowledged by the device")
        return Outcome(
            "waiting", f"version {version} acknowledged; waiting for the device to report it"
        )
    return Outcome("waiting", f"version {version} set; not yet acknowledged by the device")


def command_outcome(result: CommandResult, timeout: float) -> Outcome:
    """A command's result in words: the response, or why it failed (offline, timeout...)."""
    if result.ok:
        return Outcome(
            "done", f"{result.name}: {result.status}, response {format_value(result.response)}"
        )
    why = result.description or "no description"
    if result.status == 503:
        return Outcome("failed", f"device offline: {why}")
    if result.status == 504:
        return Outcome("failed", f"no answer within {timeout:g} s: {why}")
    return Outcome("failed", f"{result.name} failed with status {result.status}: {why}")


def error_text(error: Exception) -> str:
    """A failure in one line with where it is, for a notification or an inline error."""
    if isinstance(error, ValidationError):
        parts = [error.message]
        if error.path:
            parts.append(f"at {error.path}")
        if error.expected:
            parts.append(f"expected {error.expected}")
        if error.has_got:
            parts.append(f"got {format_value(error.got)}")
        return "; ".join(parts)
    return str(error)


def latest_states(twin: Twin | None) -> Mapping[str, PropertyState]:
    """The property states of ``twin`` (none when it is gone)."""
    return {} if twin is None or twin.deleted else twin.properties

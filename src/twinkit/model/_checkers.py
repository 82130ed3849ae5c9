"""Checkers: one closure per schema, built once, that checks a value and returns it typed.

A checker takes a JSON-like value and returns the typed value (``int`` -> ``float`` for a
double, an ISO 8601 string -> ``datetime``...) or raises :class:`Invalid`, which says why, what
was expected and where below the checked value (``where``, innermost segment first). The
validator turns it into a ``ValidationError`` naming the model and the full path.

Conventions: ``bool`` is never a number; numbers are never parsed from strings (except for
``decimal``, which JSON cannot carry exactly otherwise); NaN and infinities are rejected;
``None`` is not a value of any schema. numpy scalars are accepted through ``.item()``.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Final, TypeAlias

from twinkit.model._schemas import (
    ArraySchema,
    EnumSchema,
    GeospatialSchema,
    MapSchema,
    ObjectSchema,
    PrimitiveSchema,
    Schema,
)

__all__ = ["FLOAT32_MAX", "INTEGER_RANGES", "Check", "Invalid", "checker", "describe"]

Check: TypeAlias = Callable[[Any], Any]

FLOAT32_MAX: Final = 3.4028234663852886e38

INTEGER_RANGES: Final[dict[PrimitiveSchema, tuple[int, int]]] = {
    PrimitiveSchema.BYTE: (-(2**7), 2**7 - 1),
    PrimitiveSchema.SHORT: (-(2**15), 2**15 - 1),
    PrimitiveSchema.INTEGER: (-(2**31), 2**31 - 1),
    PrimitiveSchema.LONG: (-(2**63), 2**63 - 1),
    PrimitiveSchema.UNSIGNED_BYTE: (0, 2**8 - 1),
    PrimitiveSchema.UNSIGNED_SHORT: (0, 2**16 - 1),
    PrimitiveSchema.UNSIGNED_INTEGER: (0, 2**32 - 1),
    PrimitiveSchema.UNSIGNED_LONG: (0, 2**64 - 1),
}


class Invalid(Exception):
    """A value does not fit its schema. Internal: the validator reports it as ValidationError."""

    def __init__(self, reason: str, expected: str, got: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expected = expected
        self.got = got
        self.where: list[str] = []

    def at(self, segment: object) -> Invalid:
        """Record one more enclosing path segment (called from the inside out)."""
        self.where.append(str(segment))
        return self


def _numpy_item(value: object) -> object | None:
    """The Python scalar inside a numpy scalar, or None for anything else."""
    if (
        hasattr(value, "dtype")
        and callable(getattr(value, "item", None))
        and not hasattr(value, "__len__")
    ):
        item: object = value.item()  # type: ignore[attr-defined]
        return item
    return None


def _is_bool(value: object) -> bool:
    return isinstance(value, bool) or type(value).__name__ == "bool_"


# --- numbers -------------------------------------------------------------------------------


def _integer(schema: PrimitiveSchema) -> Check:
    low, high = INTEGER_RANGES[schema]
    expected = f"{schema.value} ({low}..{high})"

    def check(value: Any) -> int:
        if type(value) is int:
            if low <= value <= high:
                return value
            raise Invalid("out of range", expected, value)
        return check(_as_integer(value, expected))

    return check


def _as_integer(value: object, expected: str) -> int:
    if _is_bool(value):
        raise Invalid("a boolean is not an integer", expected, value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise Invalid("not a whole number", expected, value)
    item = _numpy_item(value)
    if item is not None:
        return _as_integer(item, expected)
    raise Invalid(f"a {type(value).__name__} is not an integer", expected, value)


def _real(schema: PrimitiveSchema) -> Check:
    limit = FLOAT32_MAX if schema is PrimitiveSchema.FLOAT else float("inf")
    expected = f"{schema.value} (finite)"

    def check(value: Any) -> float:
        if type(value) is float and value - value == 0.0 and -limit <= value <= limit:
            return value
        return _as_real(value, expected, limit)

    return check


def _as_real(value: object, expected: str, limit: float) -> float:
    if _is_bool(value):
        raise Invalid("a boolean is not a number", expected, value)
    if isinstance(value, int):
        try:
            number = float(value)
        except OverflowError:
            raise Invalid("out of range", expected, value) from None
        if number != value:
            raise Invalid("integer not exactly representable as a double", expected, value)
    elif isinstance(value, float):
        number = float(value)
    else:
        item = _numpy_item(value)
        if item is None:
            raise Invalid(f"a {type(value).__name__} is not a number", expected, value)
        return _as_real(item, expected, limit)
    if math.isnan(number):
        raise Invalid("NaN is not allowed", expected, value)
    if math.isinf(number):
        raise Invalid("infinity is not allowed", expected, value)
    if not -limit <= number <= limit:
        raise Invalid("out of range", expected, value)
    return number


def _decimal(value: Any) -> Decimal:
    expected = "decimal (finite; a number or a numeric string)"
    if _is_bool(value):
        raise Invalid("a boolean is not a number", expected, value)
    try:
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, int):
            number = Decimal(value)
        elif isinstance(value, float):
            number = Decimal(repr(value))
        elif isinstance(value, str):
            number = Decimal(value.strip())
        else:
            raise Invalid(f"a {type(value).__name__} is not a number", expected, value)
    except InvalidOperation:
        raise Invalid("not a decimal number", expected, value) from None
    if not number.is_finite():
        raise Invalid("NaN and infinities are not allowed", expected, value)
    return number


# --- other primitives ----------------------------------------------------------------------


def _boolean(value: Any) -> bool:
    if value is True or value is False:
        return value
    item = _numpy_item(value)
    if item is True or item is False:
        return item
    raise Invalid(f"a {type(value).__name__} is not a boolean", "boolean", value)


def _string(value: Any) -> str:
    if isinstance(value, str):
        return str(value)
    raise Invalid(f"a {type(value).__name__} is not a string", "string", value)


def _date(value: Any) -> date:
    expected = "date (ISO 8601, 2024-05-17)"
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise Invalid("not an ISO 8601 date", expected, value) from None
    raise Invalid(f"a {type(value).__name__} is not a date", expected, value)


def _date_time(value: Any) -> datetime:
    expected = "dateTime (ISO 8601 with a UTC offset, 2024-05-17T08:30:00Z)"
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise Invalid("not an ISO 8601 date and time", expected, value) from None
    else:
        raise Invalid(f"a {type(value).__name__} is not a dateTime", expected, value)
    if moment.utcoffset() is None:
        raise Invalid("a dateTime needs a UTC offset ('Z' or '+02:00')", expected, value)
    return moment


def _time(value: Any) -> time:
    expected = "time (ISO 8601, 08:30:00 or 08:30:00+02:00)"
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        try:
            return time.fromisoformat(value)
        except ValueError:
            raise Invalid("not an ISO 8601 time", expected, value) from None
    raise Invalid(f"a {type(value).__name__} is not a time", expected, value)


_NUMBER = r"\d+(?:[.,]\d+)?"
_DURATION_RE: Final = re.compile(
    rf"(?P<sign>[-+])?P(?!$)(?:(?P<years>{_NUMBER})Y)?(?:(?P<months>{_NUMBER})M)?"
    rf"(?:(?P<weeks>{_NUMBER})W)?(?:(?P<days>{_NUMBER})D)?"
    rf"(?:T(?=\d)(?:(?P<hours>{_NUMBER})H)?(?:(?P<minutes>{_NUMBER})M)?"
    rf"(?:(?P<seconds>{_NUMBER})S)?)?"
)


def _duration(value: Any) -> timedelta:
    expected = "duration (ISO 8601, PT1H30M or P2DT4H; no years or months)"
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise Invalid(f"a {type(value).__name__} is not a duration", expected, value)
    match = _DURATION_RE.fullmatch(value)
    if match is None:
        raise Invalid("not an ISO 8601 duration", expected, value)
    parts = {
        k: float(v.replace(",", ".")) for k, v in match.groupdict().items() if v and k != "sign"
    }
    if parts.pop("years", 0.0) or parts.pop("months", 0.0):
        raise Invalid("years and months have no fixed length", expected, value)
    span = timedelta(**parts)
    return -span if match["sign"] == "-" else span


def _uuid(value: Any) -> uuid.UUID:
    expected = "uuid (8-4-4-4-12 hexadecimal digits)"
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            raise Invalid("not a UUID", expected, value) from None
    raise Invalid(f"a {type(value).__name__} is not a UUID", expected, value)


def _bytes(value: Any) -> bytes:
    expected = "bytes (base64 text)"
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise Invalid("not base64", expected, value) from None
    raise Invalid(f"a {type(value).__name__} is not bytes", expected, value)


_PRIMITIVES: Final[dict[PrimitiveSchema, Check]] = {
    PrimitiveSchema.BOOLEAN: _boolean,
    PrimitiveSchema.BYTES: _bytes,
    PrimitiveSchema.DATE: _date,
    PrimitiveSchema.DATE_TIME: _date_time,
    PrimitiveSchema.DECIMAL: _decimal,
    PrimitiveSchema.DOUBLE: _real(PrimitiveSchema.DOUBLE),
    PrimitiveSchema.DURATION: _duration,
    PrimitiveSchema.FLOAT: _real(PrimitiveSchema.FLOAT),
    PrimitiveSchema.STRING: _string,
    PrimitiveSchema.TIME: _time,
    PrimitiveSchema.UUID: _uuid,
    **{schema: _integer(schema) for schema in INTEGER_RANGES},
}


# --- geospatial ----------------------------------------------------------------------------

# Nesting depth of the coordinates (0: one position) and the fewest items at each level.
_GEOMETRY: Final[dict[GeospatialSchema, tuple[int, ...]]] = {
    GeospatialSchema.POINT: (),
    GeospatialSchema.MULTI_POINT: (0,),
    GeospatialSchema.LINE_STRING: (2,),
    GeospatialSchema.MULTI_LINE_STRING: (0, 2),
    GeospatialSchema.POLYGON: (1, 4),
    GeospatialSchema.MULTI_POLYGON: (0, 1, 4),
}
_COORDINATE = _real(PrimitiveSchema.DOUBLE)


def _geospatial(schema: GeospatialSchema) -> Check:
    kind = schema.geojson_type
    minima = _GEOMETRY[schema]
    expected = describe(schema)
    is_ring = schema in (GeospatialSchema.POLYGON, GeospatialSchema.MULTI_POLYGON)

    def coordinates(value: Any, level: int) -> list[Any]:
        if not isinstance(value, list | tuple):
            raise Invalid("coordinates must be nested arrays", expected, value)
        if level == len(minima):
            if not 2 <= len(value) <= 3:
                raise Invalid("a position is [longitude, latitude(, altitude)]", expected, value)
            return [_at(_COORDINATE, item, i) for i, item in enumerate(value)]
        if len(value) < minima[level]:
            raise Invalid(f"needs at least {minima[level]} items", expected, value)
        items = [_at(coordinates, item, i, level + 1) for i, item in enumerate(value)]
        if is_ring and level == len(minima) - 1 and items[0] != items[-1]:
            raise Invalid("a polygon ring must end where it starts", expected, value)
        return items

    def check(value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise Invalid(f"a {type(value).__name__} is not a GeoJSON object", expected, value)
        if value.get("type") != kind:
            raise Invalid(f"GeoJSON type must be {kind!r}", expected, value.get("type")).at("type")
        extra = set(value) - {"type", "coordinates", "bbox"}
        if extra:
            raise Invalid(f"unknown GeoJSON members {sorted(extra)}", expected, value)
        if "coordinates" not in value:
            raise Invalid("coordinates are missing", expected, value)
        result = {
            "type": kind,
            "coordinates": _at(coordinates, value["coordinates"], "coordinates", 0),
        }
        if "bbox" in value:
            bbox = value["bbox"]
            if not isinstance(bbox, list | tuple) or len(bbox) not in (4, 6):
                raise Invalid("bbox must have 4 or 6 numbers", expected, bbox).at("bbox")
            result["bbox"] = [
                _at(_COORDINATE, item, i, where="bbox") for i, item in enumerate(bbox)
            ]
        return result

    return check


def _at(
    check: Callable[..., Any], value: Any, segment: object, *args: Any, where: str | None = None
) -> Any:
    """Run ``check`` and add ``segment`` (and ``where`` around it) to the path of a failure."""
    try:
        return check(value, *args)
    except Invalid as err:
        err.at(segment)
        if where is not None:
            err.at(where)
        raise


# --- complex schemas -----------------------------------------------------------------------


def _array(schema: ArraySchema) -> Check:
    element = checker(schema.element_schema)
    expected = describe(schema)

    def check(value: Any) -> list[Any]:
        if not isinstance(value, list | tuple):
            raise Invalid(f"a {type(value).__name__} is not an array", expected, value)
        result = []
        for index, item in enumerate(value):
            try:
                result.append(element(item))
            except Invalid as err:
                raise err.at(index) from None
        return result

    return check


def _enum(schema: EnumSchema) -> Check:
    values: dict[object, int | str] = {m.enum_value: m.enum_value for m in schema.enum_values}
    names = {m.name: m.enum_value for m in schema.enum_values}
    expected = describe(schema)

    def check(value: Any) -> int | str:
        if not _is_bool(value):
            try:
                if value in values:
                    return values[value]
            except TypeError:  # unhashable
                pass
            if isinstance(value, str) and value in names:
                return names[value]
        raise Invalid("not one of the enum values", expected, value)

    return check


def _map(schema: MapSchema) -> Check:
    value_check = checker(schema.map_value.schema)
    expected = describe(schema)

    def check(value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise Invalid(f"a {type(value).__name__} is not a map (JSON object)", expected, value)
        result = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                raise Invalid("map keys must be non-empty strings", expected, key).at(key)
            try:
                result[key] = value_check(item)
            except Invalid as err:
                raise err.at(key) from None
        return result

    return check


def _object(schema: ObjectSchema) -> Check:
    fields = {field.name: checker(field.schema) for field in schema.fields}
    expected = describe(schema)
    return object_checker(fields, expected)


def object_checker(
    fields: Mapping[str, Check], expected: str, ignored: frozenset[str] = frozenset()
) -> Check:
    """A checker for a JSON object whose members are checked by ``fields``; missing ones are
    allowed, unknown ones (other than ``ignored``) are errors."""

    def check(value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise Invalid(f"a {type(value).__name__} is not an object", expected, value)
        result = {}
        for key, item in value.items():
            field = fields.get(key)
            if field is None:
                if key in ignored:
                    continue
                raise Invalid(f"unknown field {key!r}", expected, key).at(key)
            try:
                result[key] = field(item)
            except Invalid as err:
                raise err.at(key) from None
        return result

    return check


@lru_cache(maxsize=4096)
def checker(schema: Schema) -> Check:
    """The checker for ``schema``, built once per schema."""
    if isinstance(schema, PrimitiveSchema):
        return _PRIMITIVES[schema]
    if isinstance(schema, GeospatialSchema):
        return _geospatial(schema)
    if isinstance(schema, ArraySchema):
        return _array(schema)
    if isinstance(schema, EnumSchema):
        return _enum(schema)
    if isinstance(schema, MapSchema):
        return _map(schema)
    if isinstance(schema, ObjectSchema):
        return _object(schema)
    raise TypeError(f"expected a DTDL schema, got {schema!r}")


def describe(schema: Schema) -> str:
    """A short text for error messages: ``double``, ``Enum of integer: 0 (off), 1 (on)``..."""
    if isinstance(schema, PrimitiveSchema):
        low_high = INTEGER_RANGES.get(schema)
        return (
            schema.value if low_high is None else f"{schema.value} ({low_high[0]}..{low_high[1]})"
        )
    if isinstance(schema, GeospatialSchema):
        return f"{schema.value} (GeoJSON {schema.geojson_type})"
    named = f" {schema.id}" if schema.id is not None else ""
    if isinstance(schema, ArraySchema):
        return f"Array{named} of {describe(schema.element_schema)}"
    if isinstance(schema, EnumSchema):
        members = ", ".join(f"{m.enum_value!r} ({m.name})" for m in schema.enum_values)
        return f"Enum{named} of {schema.value_schema.value}: {members}"
    if isinstance(schema, MapSchema):
        return f"Map{named} of string to {describe(schema.map_value.schema)}"
    names = ", ".join(field.name for field in schema.fields)
    return f"Object{named} with fields {names}"

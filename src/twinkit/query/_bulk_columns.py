"""Columns of an imported file, decoded: times to float seconds, cells to wire values, headers
to the model contents they feed (with unit conversion).

All of it works on whole Arrow columns (one chunk of a file at a time): times are parsed by
pyarrow or pandas, numbers converted by numpy; only cells that are text in a column that is not
all numbers are looked at one by one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import orjson
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

from twinkit.errors import ValidationError
from twinkit.model import Component, EnumSchema, ModelSet, PrimitiveSchema, Property, Telemetry
from twinkit.model._quantities import conversion
from twinkit.query._bulk import ns_to_seconds, split_unit

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = [
    "TIME_UNITS",
    "Cells",
    "Target",
    "TimeUnit",
    "Times",
    "decode_cells",
    "decode_json_cells",
    "decode_text",
    "parse_times",
    "resolve_target",
]

TimeUnit = Literal["iso", "s", "ms", "us", "ns"]
TIME_UNITS: Final[tuple[TimeUnit, ...]] = ("iso", "s", "ms", "us", "ns")
_PER_SECOND: Final[dict[str, float]] = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}
# Epoch numbers above these are taken for the next finer unit (1e11 s is the year 5138).
_DETECT: Final[tuple[tuple[float, TimeUnit], ...]] = ((1e11, "s"), (1e14, "ms"), (1e17, "us"))
_TEXT_SCHEMAS: Final = frozenset(
    {
        PrimitiveSchema.STRING,
        PrimitiveSchema.DATE,
        PrimitiveSchema.DATE_TIME,
        PrimitiveSchema.TIME,
        PrimitiveSchema.DURATION,
        PrimitiveSchema.UUID,
        PrimitiveSchema.BYTES,
    }
)
_INTEGRAL: Final = frozenset(
    {
        PrimitiveSchema.BYTE,
        PrimitiveSchema.SHORT,
        PrimitiveSchema.INTEGER,
        PrimitiveSchema.LONG,
        PrimitiveSchema.UNSIGNED_BYTE,
        PrimitiveSchema.UNSIGNED_SHORT,
        PrimitiveSchema.UNSIGNED_INTEGER,
        PrimitiveSchema.UNSIGNED_LONG,
    }
)
_CONVERTIBLE: Final = _INTEGRAL | {PrimitiveSchema.DOUBLE, PrimitiveSchema.FLOAT}
_TIME_EXPECTED: Final = {
    "iso": "an ISO 8601 time such as 2024-05-01T12:00:00Z (no zone: UTC)",
    "s": "seconds since the epoch",
    "ms": "milliseconds since the epoch",
    "us": "microseconds since the epoch",
    "ns": "nanoseconds since the epoch",
}


# --- times ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Times:
    """A time column as float seconds; ``bad`` marks cells that are not a time."""

    seconds: npt.NDArray[np.float64]
    bad: npt.NDArray[np.bool_]
    unit: TimeUnit

    @property
    def expected(self) -> str:
        return _TIME_EXPECTED[self.unit]


def parse_times(column: pa.Array, unit: TimeUnit | None) -> Times:
    """Float seconds of a time column: Arrow timestamps (a naive one is UTC), epoch numbers in
    ``unit`` (detected from their size when None) or text (ISO 8601, or epoch numbers)."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        if kind.tz is None:
            column = column.cast(pa.timestamp(kind.unit))
        ns = column.cast(pa.timestamp("ns", tz=kind.tz)).cast(pa.int64())
        return _from_ns(ns, "iso")
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return _from_numbers(column, unit)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        if unit != "iso":
            try:
                return _from_numbers(pc.cast(column, pa.float64()), unit)
            except pa.ArrowInvalid:
                if unit is not None:  # numbers were asked for: parse what parses
                    return _from_numbers(_lenient_numbers(column), unit)
        return _from_iso(column)
    raise ValidationError(
        "time column of an unusable type",
        expected="timestamps, epoch numbers or ISO 8601 text",
        got=str(kind),
    )


def _from_ns(ns: pa.Array, unit: TimeUnit) -> Times:
    bad = ns.is_null().to_numpy(zero_copy_only=False)
    values = ns.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    return Times(ns_to_seconds(values), bad, unit)


def _from_numbers(column: pa.Array, unit: TimeUnit | None) -> Times:
    if unit is None or unit == "iso":
        unit = _detect_unit(column)
    if pa.types.is_integer(column.type) and unit == "ns":
        return _from_ns(column.cast(pa.int64()), "ns")
    numbers = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    seconds = numbers / _PER_SECOND[unit]
    bad = ~np.isfinite(seconds)
    return Times(np.where(bad, 0.0, seconds), bad, unit)


def _detect_unit(column: pa.Array) -> TimeUnit:
    """s, ms, us or ns by the size of the typical value (the median of the absolute values)."""
    numbers = column.cast(pa.float64()).drop_null().to_numpy(zero_copy_only=False)
    numbers = np.abs(numbers[np.isfinite(numbers)])
    if not len(numbers):
        return "s"
    typical = float(np.median(numbers))
    for limit, unit in _DETECT:
        if typical < limit:
            return unit
    return "ns"


def _lenient_numbers(column: pa.Array) -> pa.Array:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    parsed = pd.to_numeric(pd.Series(column.to_pylist(), dtype=object), errors="coerce")
    return pa.array(parsed.to_numpy(dtype=np.float64), pa.float64())


def _from_iso(column: pa.Array) -> Times:
    import pandas as pd

    parsed = pd.to_datetime(
        pd.Series(column.to_pylist(), dtype=object), format="ISO8601", utc=True, errors="coerce"
    )
    bad = parsed.isna().to_numpy()
    ns = parsed.dt.as_unit("ns").to_numpy(dtype="datetime64[ns]").view(np.int64)
    return Times(ns_to_seconds(np.where(bad, 0, ns)), bad, "iso")


# --- contents and units --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """The content a column (or a long-format ``name``) feeds, and how its numbers convert.

    ``factor``/``offset`` take the column's unit to the model's; ``integral`` rounds a converted
    number that is whole within 1e-9 (as the model's own conversion does); ``text`` keeps cells
    as text for a string-like schema instead of reading ``"42"`` as a number.
    """

    header: str
    name: str
    factor: float = 1.0
    offset: float = 0.0
    integral: bool = False
    text: bool = False

    @property
    def converts(self) -> bool:
        return self.factor != 1.0 or self.offset != 0.0

    def convert(self, value: Any) -> Any:
        """One value in the model's unit (a value that is not a number stays as it is)."""
        if not self.converts or isinstance(value, bool) or not isinstance(value, int | float):
            return value
        return float(_convert(np.array([value], dtype=np.float64), self)[0])


def _content(models: ModelSet, model_id: str, path: str) -> Telemetry | Property | None:
    """The telemetry or property at ``path`` (``component/name`` inside a Component)."""
    *components, last = path.split("/")
    current = model_id
    for part in components:
        found = models.contents(current).get(part)
        if not isinstance(found, Component):
            return None
        current = found.schema
    content = models.contents(current).get(last)
    return content if isinstance(content, Telemetry | Property) else None


def resolve_target(models: ModelSet, model_id: str, header: str) -> Target:
    """The Target of a header such as ``temperature`` or ``temperature[degF]``.

    ValidationError, naming the header, for a name the model lacks and for a unit that does not
    convert to the content's unit.
    """
    name, unit = split_unit(header)
    content = _content(models, model_id, name)
    if content is None:
        names = ", ".join(
            sorted(
                n
                for n, c in models.contents(model_id).items()
                if isinstance(c, Telemetry | Property)
            )
        )
        raise ValidationError(
            f"column {header!r}: the model has no telemetry or property {name!r}",
            model=model_id,
            path=header,
            expected=f"one of: {names or 'none'}",
            got=name,
        )
    kind = "telemetry" if isinstance(content, Telemetry) else "property"
    schema = content.schema
    text = schema in _TEXT_SCHEMAS or (
        isinstance(schema, EnumSchema) and schema.value_schema is PrimitiveSchema.STRING
    )
    if unit is None:
        return Target(header, name, text=text)
    if content.unit is None or schema not in _CONVERTIBLE:
        raise ValidationError(
            f"column {header!r}: {kind} {name!r} has no unit to convert {unit!r} to",
            model=model_id,
            path=header,
            expected="a numeric telemetry or property with a unit in the model",
            got=unit,
        )
    try:
        factor, offset = conversion(unit, content.unit)
    except ValidationError as err:
        raise ValidationError(
            f"column {header!r}: cannot convert {unit!r} to {content.unit!r}, the unit of "
            f"{kind} {name!r}",
            model=model_id,
            path=header,
            expected=err.expected or f"a unit of the same kind as {content.unit!r}",
            got=unit,
        ) from err
    return Target(header, name, factor, offset, integral=schema in _INTEGRAL)


# --- cells ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cells:
    """A value column, decoded once for every target that reads from it.

    ``numbers`` is set for an all-numeric column (floats, NaN where missing); otherwise
    ``objects`` holds Python values. ``texts`` keeps the raw text of a text column.
    ``missing`` marks empty cells (null, or NaN in a numeric column).
    """

    missing: npt.NDArray[np.bool_]
    numbers: npt.NDArray[np.float64] | None = None
    objects: list[Any] | None = None
    texts: list[str | None] | None = None

    def values(self, target: Target, rows: npt.NDArray[np.intp]) -> list[Any]:
        """The wire values of ``rows`` for ``target`` (None where missing), converted."""
        if target.text and self.texts is not None:
            texts = self.texts
            return [texts[i] for i in rows.tolist()]
        if self.numbers is not None:
            numbers = self.numbers[rows]
            if target.converts:
                numbers = _convert(numbers, target)
            out: list[Any] = numbers.tolist()
            for i in np.flatnonzero(self.missing[rows]).tolist():
                out[i] = None
            return out
        assert self.objects is not None
        objects = self.objects
        picked = [objects[i] for i in rows.tolist()]
        if target.converts:
            picked = [target.convert(v) for v in picked]
        for i in np.flatnonzero(self.missing[rows]).tolist():
            picked[i] = None
        return picked


def _convert(numbers: npt.NDArray[np.float64], target: Target) -> npt.NDArray[np.float64]:
    converted = numbers * target.factor + target.offset
    if target.integral:
        nearest = np.rint(converted)
        with np.errstate(invalid="ignore"):
            close = np.abs(converted - nearest) <= 1e-9 * np.maximum(1.0, np.abs(converted))
        converted = np.where(close, nearest, converted)
    return converted


def decode_cells(column: pa.Array) -> Cells:
    """Decode a value column: numbers stay a numpy column; text is read as a number, a
    boolean (``true``/``false``) or JSON where it parses as one, else kept as text."""
    kind = column.type
    missing = column.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        numbers = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        return Cells(missing | np.isnan(numbers), numbers=numbers)
    if pa.types.is_integer(kind):  # Python ints: a long above 2**53 stays exact
        objects = column.to_pylist()
        numbers = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        if all(v is None or abs(v) <= 2**53 for v in objects):
            return Cells(missing, numbers=numbers)
        return Cells(missing, objects=objects)
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return Cells(missing, objects=column.to_pylist())  # booleans, structs, lists, ...
    texts = column.to_pylist()
    try:
        numbers = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        objects = [None if text is None else decode_text(text) for text in texts]
        gone = [v is None or (isinstance(v, float) and math.isnan(v)) for v in objects]
        return Cells(np.array(gone, dtype=bool), objects=objects, texts=texts)
    return Cells(missing | np.isnan(numbers), numbers=numbers, texts=texts)


def decode_text(text: str) -> Any:
    """A text cell as a value: a number, true/false, JSON (object, array, string), else the text."""
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return float(stripped)
    except ValueError:
        pass
    if stripped[:1] in ("{", "[", '"'):
        try:
            return orjson.loads(stripped)
        except orjson.JSONDecodeError:
            pass
    return text


def decode_json_cells(column: pa.Array) -> tuple[list[Any], npt.NDArray[np.bool_], list[int]]:
    """The long format's ``json`` column: values, where one is set, and the rows whose text is
    not JSON."""
    texts = column.cast(pa.string()).to_pylist()
    values: list[Any] = [None] * len(texts)
    present = np.zeros(len(texts), dtype=bool)
    broken = []
    for index, text in enumerate(texts):
        if text is None:
            continue
        try:
            values[index] = orjson.loads(text)
        except orjson.JSONDecodeError:
            broken.append(index)
            continue
        present[index] = True
    return values, present, broken

"""Python values to SQLite columns and back, for the SQLite store.

JSON goes through orjson. A telemetry point is two columns: ``value REAL`` for numbers (what
SQL aggregates see) and ``data BLOB`` for the JSON of anything else:

=================== ====================== =====================
point value          ``value``              ``data``
=================== ====================== =====================
int, float           the number as a float  NULL
NaN                  NULL                   NULL
bool                 1.0 or 0.0             ``true`` / ``false``
str, dict, list, …   NULL                   its JSON
=================== ====================== =====================

SQLite stores a bound NaN as NULL, which is why a NULL value with NULL data reads back as NaN.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

import orjson

from twinkit.core import Event, EventType, Point, Twin, twin_from_json
from twinkit.errors import StoreError, ValidationError

__all__ = [
    "canonical_json",
    "decode_event",
    "decode_snapshot",
    "dumps",
    "point_columns",
    "point_value",
]

_EVENT_TYPES: Final = {member.value: member for member in EventType}

_TRUE: Final = (1.0, b"true")
_FALSE: Final = (0.0, b"false")
_NAN: Final = math.nan


def _default(value: object) -> object:
    """orjson's fallback: read-only mappings (``MappingProxyType``) encode as objects."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: object, option: int = 0) -> bytes:
    """orjson bytes of ``value``; raises ``orjson.JSONEncodeError`` for what is not JSON."""
    return orjson.dumps(value, default=_default, option=option)


def canonical_json(value: object) -> bytes:
    """JSON with every object's keys sorted: equal bytes for documents equal as JSON."""
    return dumps(value, orjson.OPT_SORT_KEYS)


def point_columns(point: Point) -> tuple[float | None, bytes | None]:
    """``(value, data)`` of a point whose value is not a plain float (the hot path's job)."""
    value = point.value
    if isinstance(value, bool):
        return _TRUE if value else _FALSE
    if isinstance(value, numbers.Real):  # int, numpy scalars, fractions
        try:
            return float(value), None
        except OverflowError as err:
            raise _bad_point(point, "a number within the float range", err) from err
    try:
        data = dumps(value, orjson.OPT_SERIALIZE_NUMPY)
    except orjson.JSONEncodeError as err:
        raise _bad_point(point, "a number or a JSON value", err) from err
    if data == b"true":  # numpy.bool_ counts as a boolean too
        return _TRUE
    if data == b"false":
        return _FALSE
    return None, data


def _bad_point(point: Point, expected: str, err: Exception) -> ValidationError:
    return ValidationError(
        "telemetry point value cannot be stored",
        path=f"point {point.twin_id!r}/{point.name!r} at time {point.time}",
        expected=expected,
        got=f"{type(point.value).__name__} ({err})",
    )


def point_value(value: float | None, data: bytes | None) -> Any:
    """The Python value of a point from its two columns (see the module docstring)."""
    if data is not None:
        return orjson.loads(data)
    return _NAN if value is None else value


def decode_event(row: Sequence[Any], where: str) -> Event:
    """An ``events`` row ``(twin_id, seq, type, time, recorded, cause, data)`` as an Event;
    StoreError naming the event and ``where`` (the database) when it cannot be read."""
    twin_id, seq, kind, time, recorded, cause, data = row
    try:
        event_type = _EVENT_TYPES[kind]
        payload = MappingProxyType(orjson.loads(data))
    except (KeyError, orjson.JSONDecodeError) as err:
        raise StoreError(
            f"event seq {seq} of twin {twin_id!r} in {where} is unreadable: "
            f"expected a known event type and JSON data, got type {kind!r} ({err!r})"
        ) from err
    return Event(
        twin_id=twin_id,
        seq=seq,
        type=event_type,
        time=time,
        recorded=recorded,
        cause=cause,
        data=payload,
    )


def decode_snapshot(twin_id: str, version: int, data: bytes, where: str) -> Twin:
    """A snapshot's JSON as a Twin; StoreError naming the twin, version and ``where``."""
    try:
        return twin_from_json(orjson.loads(data))
    except (orjson.JSONDecodeError, ValidationError) as err:
        raise StoreError(
            f"snapshot of twin {twin_id!r} at version {version} in {where} is unreadable: "
            f"expected the JSON of twin_to_json, got {err}"
        ) from err

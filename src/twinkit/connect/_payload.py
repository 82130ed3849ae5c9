"""Payload parsing and encoding: device bytes → readings, twin changes → device bytes.

Everything here is pure (no I/O): a payload gives either its readings or a ValidationError that
says what was expected, what came and where (the topic or record, then a JSON path such as
``$[2].values.temp``). Three report forms are accepted on a report topic::

    {"temp": 21.5, "speed": 1450}                       flat: values at "now"
    {"ts": 1717000000.5, "values": {"temp": 21.5}}      timestamped
    [{...}, {...}]                                      an array of either

A value in IoT Plug and Play's acknowledgement form ``{"value": v, "ac": 200, "av": 3,
"ad": "applied"}`` becomes ``v`` plus an :class:`~twinkit.core.Ack`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

import orjson

from twinkit.connect._mapping import MqttMapping
from twinkit.core import Ack, Reading
from twinkit.errors import ValidationError

__all__ = [
    "CommandResponse",
    "ParsedMessage",
    "decode_json",
    "encode_command",
    "encode_desired",
    "parse_ingest_body",
    "parse_report",
    "parse_response",
    "parse_status",
    "parse_time",
]

_MS_THRESHOLD: Final = 1e11  # a seconds timestamp this large is year 5138: it is milliseconds
_LARGEST: Final = sys.float_info.max
_ACK_KEYS: Final = frozenset({"value", "ac", "av", "ad"})
_JSON_TYPES: Final = ("application/json",)
_NDJSON_TYPES: Final = ("application/x-ndjson", "application/ndjson", "application/jsonl")


def decode_json(payload: bytes, where: str) -> Any:
    """Parse JSON with orjson; the error names the position and explains NaN/Infinity."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as err:
        text = payload.decode("utf-8", errors="replace")
        rest = text[err.pos :].lstrip("-")
        if rest.startswith(("NaN", "Infinity")):
            token = text[err.pos : err.pos + 1 + len("Infinity")].split(",")[0].split("}")[0]
            raise ValidationError(
                f"invalid JSON: NaN and Infinity are not JSON numbers (char {err.pos}); "
                "send null or leave the value out",
                path=where,
                expected="a finite JSON number",
                got=token.strip(),
            ) from err
        place = f"line {err.lineno} column {err.colno}" if b"\n" in payload else f"char {err.pos}"
        raise ValidationError(
            f"invalid JSON: {err.msg} ({place})",
            path=where,
            expected="a JSON document",
            got=_snippet(text, err.pos),
        ) from err


def _snippet(text: str, pos: int, width: int = 40) -> str:
    start = max(0, pos - width // 2)
    return text[start : start + width]


def _at(where: str, path: str) -> str:
    return f"{where} {path}"


def parse_time(value: object, where: str) -> float:
    """A device timestamp as seconds since the epoch.

    Numbers are seconds, or milliseconds when above 1e11; strings are ISO 8601 with a zone.
    """
    if type(value) is float and 0.0 <= value <= _LARGEST:  # the hot path: a plain number
        return value / 1000.0 if value > _MS_THRESHOLD else value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValidationError(
            "bad timestamp",
            path=where,
            expected="seconds or milliseconds since the epoch, or an ISO 8601 string with a zone",
            got=value,
        )
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as err:
            raise ValidationError(
                "bad timestamp: not ISO 8601",
                path=where,
                expected="e.g. '2024-05-29T12:00:00Z' or '2024-05-29T14:00:00+02:00'",
                got=value,
            ) from err
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValidationError(
                "bad timestamp: an ISO 8601 time needs a zone (a naive time is ambiguous)",
                path=where,
                expected="a time ending in 'Z' or an offset such as '+02:00'",
                got=value,
            )
        return moment.timestamp()
    try:
        seconds = float(value)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds) or seconds < 0:
        raise ValidationError(
            "bad timestamp: not a finite, non-negative number",
            path=where,
            expected="seconds or milliseconds since the epoch",
            got=value,
        )
    return seconds / 1000.0 if seconds > _MS_THRESHOLD else seconds


def _split_ack(value: object, where: str) -> tuple[Any, Ack | None]:
    """``(value, ack)``: the ack form ``{"value", "ac", "av"[, "ad"]}`` splits, others pass."""
    if not (
        isinstance(value, dict)
        and "value" in value
        and "ac" in value
        and "av" in value
        and value.keys() <= _ACK_KEYS
    ):
        return value, None
    code, version, description = value["ac"], value["av"], value.get("ad")
    for key, item in (("ac", code), ("av", version)):
        if isinstance(item, bool) or not isinstance(item, int):
            raise ValidationError(
                f"bad acknowledgement: '{key}' must be an integer",
                path=f"{where}.{key}",
                expected="an integer ('ac' an HTTP-like status, 'av' the desired version)",
                got=item,
            )
    if description is not None and not isinstance(description, str):
        raise ValidationError(
            "bad acknowledgement: 'ad' must be a string",
            path=f"{where}.ad",
            expected="a description string",
            got=description,
        )
    return value["value"], Ack(version=version, code=code, description=description)


def _reading(twin_id: str, values: dict[str, Any], time: float | None, where: str) -> Reading:
    """A reading of ``values``, a dict of this parse's own (it is wrapped, not copied)."""
    if not values:
        raise ValidationError(
            "no values in message",
            path=where,
            expected="at least one content name with its value",
            got={},
        )
    for value in values.values():
        if type(value) is dict:  # maybe an acknowledgement {"value", "ac", "av"}
            return _reading_with_acks(twin_id, values, time, where)
    return Reading(twin_id, MappingProxyType(values), time)


def _reading_with_acks(
    twin_id: str, values: Mapping[str, Any], time: float | None, where: str
) -> Reading:
    plain: dict[str, Any] = {}
    acks: dict[str, Ack] = {}
    for name, value in values.items():
        plain[name], ack = _split_ack(value, f"{where}.{name}")
        if ack is not None:
            acks[name] = ack
    if acks:
        return Reading(twin_id, MappingProxyType(plain), time, MappingProxyType(acks))
    return Reading(twin_id, MappingProxyType(plain), time)


def _record(
    obj: object, twin_id: str, mapping: MqttMapping, where: str, skip: tuple[str, ...] = ()
) -> Reading:
    """One object in flat or timestamped form; ``skip`` lists keys that are not values."""
    if type(obj) is not dict:
        raise ValidationError(
            "expected a JSON object",
            path=where,
            expected="an object of values, or {"
            f'"{mapping.timestamp_field}": ..., "{mapping.values_field}": {{...}}}}',
            got=obj,
        )
    ts_key, values_key = mapping.timestamp_field, mapping.values_field
    time = None
    stamp = obj.get(ts_key)
    if type(stamp) is float and 0.0 <= stamp <= _LARGEST:  # the hot path: parse_time inlined
        time = stamp / 1000.0 if stamp > _MS_THRESHOLD else stamp
    elif stamp is not None or ts_key in obj:
        time = parse_time(stamp, f"{where}.{ts_key}")
    values = obj.get(values_key)
    if type(values) is dict:
        known = 1 if time is None else 2
        if skip:
            known += sum(key in obj for key in skip)
        if len(obj) > known:
            extra = sorted(set(obj) - {ts_key, values_key, *skip})
            raise ValidationError(
                f"unexpected key {extra[0]!r} next to '{values_key}'",
                path=f"{where}.{extra[0]}",
                expected=f"only '{ts_key}' and '{values_key}'",
                got=extra[0],
            )
        return _reading(twin_id, values, time, f"{where}.{values_key}")
    skipped = {ts_key, *skip}
    flat = {key: value for key, value in obj.items() if key not in skipped}
    return _reading(twin_id, flat, time, where)


def parse_report(
    mapping: MqttMapping,
    topic: str,
    payload: bytes,
    *,
    route: tuple[str, str | None] | None = None,
) -> list[Reading]:
    """The readings of one message on a report topic; ValidationError when it does not fit.

    ``route`` is the topic's ``mapping.match_report(topic)`` when the caller has it already.
    """
    if len(payload) > mapping.max_payload:
        raise ValidationError(
            "payload too large",
            path=topic,
            expected=f"at most {mapping.max_payload} bytes (max_payload)",
            got=f"{len(payload)} bytes",
        )
    matched = route if route is not None else mapping.match_report(topic)
    if matched is None:
        raise ValidationError(
            "topic matches no report template",
            path=topic,
            expected="one of " + ", ".join(mapping.reports),
            got=topic,
        )
    twin_id, content = matched
    document = decode_json(payload, topic)
    if content is not None:
        return [_reading(twin_id, {content: document}, None, _at(topic, "$"))]
    if isinstance(document, list):
        if not document:
            raise ValidationError(
                "empty array",
                path=_at(topic, "$"),
                expected="an array of one or more value objects",
                got=[],
            )
        return [
            _record(item, twin_id, mapping, _at(topic, f"$[{index}]"))
            for index, item in enumerate(document)
        ]
    return [_record(document, twin_id, mapping, _at(topic, "$"))]


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """One record of an ingest body: its own bytes, and its readings or why it was rejected.

    ``raw`` is what to dead-letter when ``error`` is set; ``where`` says which record it was
    (``line 3`` for NDJSON, ``$[2]`` for a JSON array).
    """

    raw: bytes
    where: str
    readings: tuple[Reading, ...] = ()
    error: ValidationError | None = None


def _ingest_record(obj: object, mapping: MqttMapping, where: str) -> Reading:
    if not isinstance(obj, dict):
        raise ValidationError(
            "expected a JSON object",
            path=where,
            expected='{"twinId": "...", "ts": ..., "values": {...}} or {"twinId": "...", <values>}',
            got=obj,
        )
    twin_id = obj.get("twinId")
    if not isinstance(twin_id, str) or not twin_id:
        raise ValidationError(
            "missing or bad 'twinId'",
            path=f"{where}.twinId",
            expected="the twin's id as a non-empty string",
            got=twin_id,
        )
    return _record(obj, twin_id, mapping, where, skip=("twinId",))


def _parse_one(
    raw: bytes, document: object, mapping: MqttMapping, where: str, path: str
) -> ParsedMessage:
    try:
        return ParsedMessage(raw, where, (_ingest_record(document, mapping, path),))
    except ValidationError as err:
        return ParsedMessage(raw, where, error=err)


def parse_ingest_body(
    body: bytes, content_type: str, mapping: MqttMapping | None = None
) -> list[ParsedMessage]:
    """Split an HTTP ingest body into messages, each with its readings or its own error.

    ``application/json`` holds one record or an array of them; ``application/x-ndjson`` one
    record per line. A bad record or line does not spoil the others. A content type that is
    neither is a ValidationError for the whole body.
    """
    mapping = mapping or MqttMapping()
    media = content_type.split(";", maxsplit=1)[0].strip().lower()
    if media in _NDJSON_TYPES:
        return _parse_ndjson(body, mapping)
    if media not in _JSON_TYPES:
        raise ValidationError(
            "unsupported content type for ingest",
            path="Content-Type",
            expected="application/json or application/x-ndjson",
            got=content_type,
        )
    try:
        document = decode_json(body, "body")
    except ValidationError as err:
        return [ParsedMessage(body, "body", error=err)]
    if isinstance(document, list):
        if not document:
            error = ValidationError(
                "empty array", path="body $", expected="one or more records", got=[]
            )
            return [ParsedMessage(body, "body", error=error)]
        return [
            _parse_one(orjson.dumps(item), item, mapping, f"$[{i}]", f"body $[{i}]")
            for i, item in enumerate(document)
        ]
    return [_parse_one(body, document, mapping, "$", "body $")]


def _parse_ndjson(body: bytes, mapping: MqttMapping) -> list[ParsedMessage]:
    messages: list[ParsedMessage] = []
    for number, raw_line in enumerate(body.split(b"\n"), start=1):
        line = raw_line.rstrip(b"\r")
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            document = decode_json(line, where)
        except ValidationError as err:
            messages.append(ParsedMessage(line, where, error=err))
            continue
        messages.append(_parse_one(line, document, mapping, where, f"{where} $"))
    return messages


# --- control: twin → device, and the device's answers -----------------------------------------


def encode_desired(name: str, value: Any, version: int) -> bytes:
    """The desired-topic payload: ``{"<name>": <value>, "$version": <n>}``."""
    return orjson.dumps({name: value, "$version": version})


def encode_command(correlation_id: str, request: Any, response_topic: str) -> bytes:
    """The command-topic payload: ``{"id": ..., "request": ..., "responseTopic": ...}``."""
    return orjson.dumps({"id": correlation_id, "request": request, "responseTopic": response_topic})


@dataclass(frozen=True, slots=True)
class CommandResponse:
    """A device's answer to a command, read from a response topic."""

    twin_id: str
    command: str
    id: str
    status: int
    response: Any


def parse_response(mapping: MqttMapping, topic: str, payload: bytes) -> CommandResponse:
    """``{"id": "...", "status": 200, "response": ...}`` on a response topic."""
    template = mapping.response_template
    found = None if template is None else template.match(topic)
    if found is None:
        raise ValidationError(
            "topic is not a command response topic",
            path=topic,
            expected=mapping.responses or "a responses template in the mapping",
            got=topic,
        )
    if len(payload) > mapping.max_payload:
        raise ValidationError(
            "payload too large",
            path=topic,
            expected=f"at most {mapping.max_payload} bytes (max_payload)",
            got=f"{len(payload)} bytes",
        )
    document = decode_json(payload, topic)
    expected = '{"id": "<correlation id>", "status": <int>, "response": <any>}'
    if not isinstance(document, dict):
        raise ValidationError(
            "expected a JSON object", path=_at(topic, "$"), expected=expected, got=document
        )
    correlation = document.get("id")
    if not isinstance(correlation, str) or not correlation:
        raise ValidationError(
            "missing or bad 'id'", path=_at(topic, "$.id"), expected=expected, got=correlation
        )
    status = document.get("status")
    if isinstance(status, bool) or not isinstance(status, int):
        raise ValidationError(
            "missing or bad 'status'",
            path=_at(topic, "$.status"),
            expected="an HTTP-like integer status",
            got=status,
        )
    return CommandResponse(
        found["twin_id"], found["command"], correlation, status, document.get("response")
    )


def parse_status(payload: bytes, where: str) -> bool:
    """A device's birth/last-will message: "online"/"offline" or ``{"online": bool}``."""
    text = payload.strip().decode("utf-8", errors="replace")
    if text.lower() in ("online", '"online"'):
        return True
    if text.lower() in ("offline", '"offline"'):
        return False
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        document = text
    if isinstance(document, dict) and isinstance(document.get("online"), bool):
        return bool(document["online"])
    raise ValidationError(
        "bad device status",
        path=where,
        expected='"online", "offline" or {"online": true|false}',
        got=text[:80],
    )

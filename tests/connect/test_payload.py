"""Mapping templates, report payload forms, HTTP ingest bodies and control encodings."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twinkit.connect import (
    MqttMapping,
    TopicTemplate,
    encode_command,
    encode_desired,
    parse_ingest_body,
    parse_report,
    parse_response,
    parse_status,
    parse_time,
)
from twinkit.core import Ack
from twinkit.errors import ValidationError

MAPPING = MqttMapping()
TOPIC = "site/pump-1/telemetry"


def report(payload: bytes | object, topic: str = TOPIC, mapping: MqttMapping = MAPPING):  # type: ignore[no-untyped-def]
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return parse_report(mapping, topic, raw)


def report_error(payload: bytes | object, topic: str = TOPIC, **kw: object) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        report(payload, topic, **kw)  # type: ignore[arg-type]
    return caught.value


# --- templates and the mapping -----------------------------------------------------------------


def test_default_mapping_subscribes_to_reports_responses_and_status() -> None:
    assert MAPPING.subscriptions() == (
        "site/+/telemetry",
        "site/+/properties",
        "site/+/commands/+/response",
        "site/+/status",
    )
    assert MAPPING.match_report("site/pump-1/properties") == ("pump-1", None)
    assert MAPPING.match_report("site/pump-1/status") is None
    assert MAPPING.match_report("site/a/b/telemetry") is None  # {twin_id} is one level


def test_template_with_partial_levels_and_content() -> None:
    template = TopicTemplate.compile(
        "plant/dev-{twin_id}/{content}",
        key="reports[0]",
        required=("twin_id",),
        allowed=("twin_id", "content"),
    )
    assert template.filter == "plant/+/+"
    assert template.match("plant/dev-7/temp") == {"twin_id": "7", "content": "temp"}
    assert template.match("plant/other-7/temp") is None
    assert template.match("plant/dev-7/temp/x") is None
    assert template.format(twin_id="7", content="temp") == "plant/dev-7/temp"
    with pytest.raises(ValidationError, match="cannot put twin_id"):
        template.format(twin_id="a/b", content="temp")


@pytest.mark.parametrize(
    ("table", "key", "text"),
    [
        ({"report": ["x/{twin_id}"]}, "report", "unknown key"),
        ({"reports": "site/{twin_id}"}, "reports", "list of topic templates"),
        ({"reports": []}, "reports", "at least one"),
        ({"reports": ["site/+/telemetry"]}, "reports[0]", "wildcards"),
        ({"reports": ["site/telemetry"]}, "reports[0]", "lacks {twin_id}"),
        ({"reports": ["site/{twin}/t"]}, "reports[0]", "unknown variable {twin}"),
        ({"reports": ["s/{twin_id}/{twin_id}"]}, "reports[0]", "appears twice"),
        ({"reports": ["s/{twin_id/t"]}, "reports[0]", "unbalanced"),
        ({"commands": "site/{twin_id}/cmd"}, "commands", "lacks {command}"),
        ({"desired": "site/{twin_id}/{content}"}, "desired", "unknown variable"),
        ({"max_payload": 0}, "max_payload", "positive"),
        ({"values_field": "ts"}, "values_field", "must differ"),
    ],
)
def test_bad_mapping_names_the_key(table: dict[str, object], key: str, text: str) -> None:
    with pytest.raises(ValidationError, match=text) as caught:
        MqttMapping.from_dict(table)
    assert caught.value.path == key


def test_mapping_from_dict_turns_directions_off_and_keeps_defaults() -> None:
    mapping = MqttMapping.from_dict(
        {"reports": ["plant/{twin_id}/{content}"], "desired": "", "commands": False}
    )
    assert mapping.desired_template is None and mapping.command_template is None
    assert mapping.status == "site/{twin_id}/status"
    assert mapping.subscriptions()[0] == "plant/+/+"
    assert MqttMapping.from_dict({}) == MqttMapping()


# --- report payloads -------------------------------------------------------------------------


def test_flat_payload_is_one_reading_at_receive_time() -> None:
    (reading,) = report({"temp": 21.5, "speed": 1450})
    assert reading.twin_id == "pump-1"
    assert dict(reading.values) == {"temp": 21.5, "speed": 1450}
    assert reading.time is None and not reading.acks


def test_timestamped_and_array_forms() -> None:
    readings = report(
        [
            {"ts": 1717000000.5, "values": {"temp": 1}},
            {"ts": 1717000001000, "values": {"temp": 2}},  # milliseconds
            {"ts": "2024-05-29T16:26:40+02:00", "temp": 3},  # flat with a timestamp
        ]
    )
    assert [r.time for r in readings] == [1717000000.5, 1717000001.0, 1716992800.0]
    assert [dict(r.values) for r in readings] == [{"temp": 1}, {"temp": 2}, {"temp": 3}]


def test_ack_form_splits_into_value_and_ack() -> None:
    (reading,) = report(
        {"mode": {"value": "eco", "ac": 200, "av": 3, "ad": "applied"}, "speed": 10}
    )
    assert dict(reading.values) == {"mode": "eco", "speed": 10}
    assert dict(reading.acks) == {"mode": Ack(version=3, code=200, description="applied")}
    # Not that exact shape: an ordinary object value.
    (plain,) = report(
        {"mode": {"value": 1, "ac": 200}, "pos": {"value": 1, "ac": 2, "av": 3, "x": 4}}
    )
    assert plain.values["mode"] == {"value": 1, "ac": 200} and not plain.acks


def test_content_template_takes_the_bare_value() -> None:
    mapping = MqttMapping(reports=("plant/{twin_id}/{content}",))
    (reading,) = parse_report(mapping, "plant/pump-1/temp", b"21.5")
    assert dict(reading.values) == {"temp": 21.5}
    (acked,) = parse_report(mapping, "plant/pump-1/mode", b'{"value":"eco","ac":200,"av":1}')
    assert acked.values["mode"] == "eco" and acked.acks["mode"].version == 1


@pytest.mark.parametrize(
    ("payload", "message", "path"),
    [
        (b'{"temp": 1,', "invalid JSON: unexpected end of data (char 11)", TOPIC),
        (b'{"temp": NaN}', "NaN and Infinity are not JSON numbers", TOPIC),
        (b'{"temp": -Infinity}', "NaN and Infinity are not JSON numbers", TOPIC),
        (b'"hello"', "expected a JSON object", f"{TOPIC} $"),
        (b"[1]", "expected a JSON object", f"{TOPIC} $[0]"),
        (b"[]", "empty array", f"{TOPIC} $"),
        (b"{}", "no values", f"{TOPIC} $"),
        (b'{"ts": 1}', "no values", f"{TOPIC} $"),
        (b'{"ts": true, "temp": 1}', "bad timestamp", f"{TOPIC} $.ts"),
        (b'{"ts": null, "temp": 1}', "bad timestamp", f"{TOPIC} $.ts"),
        (b'{"ts": -5, "temp": 1}', "bad timestamp", f"{TOPIC} $.ts"),
        (b'{"ts": "yesterday", "temp": 1}', "not ISO 8601", f"{TOPIC} $.ts"),
        (b'{"ts": "2024-05-29T12:00:00", "temp": 1}', "needs a zone", f"{TOPIC} $.ts"),
        (b'[{"temp": 1}, {"ts": [], "values": {"temp": 2}}]', "bad timestamp", f"{TOPIC} $[1].ts"),
        (b'{"values": {"temp": 1}, "x": 2}', "unexpected key 'x'", f"{TOPIC} $.x"),
        (
            b'{"mode": {"value": 1, "ac": "ok", "av": 1}}',
            "'ac' must be an integer",
            f"{TOPIC} $.mode.ac",
        ),
        (
            b'{"values": {"m": {"value": 1, "ac": 2, "av": 1, "ad": 5}}}',
            "'ad' must be a string",
            f"{TOPIC} $.values.m.ad",
        ),
    ],
)
def test_bad_payload_says_what_and_where(payload: bytes, message: str, path: str) -> None:
    error = report_error(payload)
    assert message in error.message
    assert error.path == path
    assert error.expected


def test_oversized_payload_and_unknown_topic() -> None:
    small = MqttMapping(max_payload=16)
    error = report_error({"temp": 1, "speed": 22222}, mapping=small)
    assert error.message == "payload too large"
    assert error.expected == "at most 16 bytes (max_payload)" and error.got == "24 bytes"
    error = report_error({"temp": 1}, topic="site/pump-1/else")
    assert error.message == "topic matches no report template"
    assert "site/{twin_id}/telemetry" in str(error.expected)


_TEMPLATES = [
    TopicTemplate.compile(t, key="k", required=("twin_id",), allowed=("twin_id",))
    for t in (
        "site/{twin_id}/telemetry",
        "{twin_id}",
        "a/{twin_id}",
        "{twin_id}/a",
        "a/{twin_id}/a",
    )
]


@given(st.lists(st.sampled_from(["a", "site", "telemetry", "", "x/", "/a", "b+"]), max_size=5))
def test_fast_topic_match_agrees_with_the_template_regex(parts: list[str]) -> None:
    topic = "/".join(parts)
    for template in _TEMPLATES:
        assert template._affixes is not None  # these take the string path, not the regex
        found = template._pattern.fullmatch(topic)
        assert template.match(topic) == (None if found is None else found.groupdict())


@given(st.lists(st.sampled_from(["a", "site", "telemetry", "", "x/", "/a", "b+"]), max_size=5))
def test_report_routes_agree_with_the_template_regexes(parts: list[str]) -> None:
    """match_report takes the string path for whole-level templates, tried in order."""
    mapping = MqttMapping(reports=tuple(t.template for t in _TEMPLATES))
    topic = "/".join(parts)
    expected = None
    for template in _TEMPLATES:
        found = template._pattern.fullmatch(topic)
        if found is not None:
            expected = (found["twin_id"], None)
            break
    assert mapping.match_report(topic) == expected


def test_timestamps_in_seconds_milliseconds_and_integers() -> None:
    for ts, seconds in ((1717000000.5, 1717000000.5), (1717000000123.0, 1717000000.123)):
        (reading,) = report({"ts": ts, "values": {"temp": 1}})
        assert reading.time == pytest.approx(seconds) and type(reading.time) is float
    (reading,) = report({"ts": 1717000000, "temp": 1})
    assert reading.time == 1717000000.0 and type(reading.time) is float
    assert dict(reading.values) == {"temp": 1}


def test_parse_time_rejects_numbers_out_of_range() -> None:
    for value in (10**400, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValidationError, match="not a finite, non-negative number"):
            parse_time(value, "t")
    assert parse_time(1717000000123.0, "t") == pytest.approx(1717000000.123)
    assert parse_time(0.0, "t") == 0.0


def test_parse_time_forms() -> None:
    assert parse_time(1717000000, "t") == 1717000000.0
    assert parse_time(1717000000123, "t") == pytest.approx(1717000000.123)
    moment = datetime(2024, 5, 29, 12, tzinfo=UTC).timestamp()
    assert parse_time("2024-05-29T12:00:00Z", "t") == moment
    assert parse_time("2024-05-29T12:00:00.000+00:00", "t") == moment


# --- HTTP ingest bodies ----------------------------------------------------------------------


def test_json_object_and_array_bodies() -> None:
    (one,) = parse_ingest_body(b'{"twinId": "pump-1", "temp": 3}', "application/json")
    assert one.error is None and dict(one.readings[0].values) == {"temp": 3}
    assert one.raw == b'{"twinId": "pump-1", "temp": 3}'
    body = orjson.dumps(
        [
            {"twinId": "pump-1", "ts": 1717000000, "values": {"temp": 1}},
            {"twinId": "", "temp": 2},
            {"twinId": "pump-2", "speed": 3},
        ]
    )
    good, bad, other = parse_ingest_body(body, "application/json; charset=utf-8")
    assert good.readings[0].time == 1717000000 and good.where == "$[0]"
    assert bad.error is not None and bad.error.path == "body $[1].twinId"
    assert orjson.loads(bad.raw) == {"twinId": "", "temp": 2}  # exactly the bad record
    assert other.readings[0].twin_id == "pump-2"


def test_ndjson_bad_line_does_not_spoil_the_others() -> None:
    body = (
        b'{"twinId": "pump-1", "temp": 1}\n'
        b"\n"
        b'{"twinId": "pump-1", "temp": NaN}\r\n'
        b'["not", "an", "object"]\n'
        b'{"twinId": "pump-2", "ts": "2024-05-29T12:00:00Z", "values": {"temp": 4}}'
    )
    messages = parse_ingest_body(body, "application/x-ndjson")
    assert [m.where for m in messages] == ["line 1", "line 3", "line 4", "line 5"]
    assert [m.error is None for m in messages] == [True, False, False, True]
    assert messages[1].raw == b'{"twinId": "pump-1", "temp": NaN}'
    assert messages[1].error is not None and "NaN" in messages[1].error.message
    assert messages[1].error.path == "line 3"
    assert messages[2].error is not None and messages[2].error.path == "line 4 $"


def test_bad_json_body_and_content_type() -> None:
    (message,) = parse_ingest_body(b"{oops", "application/json")
    assert message.error is not None and message.raw == b"{oops"
    assert "invalid JSON" in message.error.message and message.error.path == "body"
    with pytest.raises(ValidationError, match="unsupported content type") as caught:
        parse_ingest_body(b"a,b", "text/csv")
    assert caught.value.got == "text/csv"


# --- control encodings -----------------------------------------------------------------------


def test_control_payloads() -> None:
    assert orjson.loads(encode_desired("speed", 1500, 3)) == {"speed": 1500, "$version": 3}
    assert orjson.loads(encode_command("c-1", {"rpm": 5}, "r/t")) == {
        "id": "c-1",
        "request": {"rpm": 5},
        "responseTopic": "r/t",
    }
    response = parse_response(
        MAPPING,
        "site/pump-1/commands/reboot/response",
        b'{"id": "c-1", "status": 200, "response": {"ok": true}}',
    )
    assert (response.twin_id, response.command, response.id, response.status) == (
        "pump-1",
        "reboot",
        "c-1",
        200,
    )
    assert response.response == {"ok": True}
    with pytest.raises(ValidationError, match="'status'"):
        parse_response(MAPPING, "site/pump-1/commands/reboot/response", b'{"id": "c-1"}')
    with pytest.raises(ValidationError, match="not a command response topic"):
        parse_response(MAPPING, "site/pump-1/telemetry", b"{}")


@pytest.mark.parametrize(
    ("payload", "online"),
    [(b"online", True), (b"offline", False), (b'{"online": false}', False), (b'"online"', True)],
)
def test_status_payloads(payload: bytes, online: bool) -> None:
    assert parse_status(payload, "site/pump-1/status") is online


def test_bad_status_payload() -> None:
    with pytest.raises(ValidationError, match="bad device status"):
        parse_status(b'{"online": "yes"}', "site/pump-1/status")

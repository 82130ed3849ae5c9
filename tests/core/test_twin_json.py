"""Twin state to JSON and back: a snapshot restores exactly the state that was saved."""

from __future__ import annotations

import orjson
import pytest

from twinkit.core import ACK_OK, Event, EventType, Twin, fold, twin_from_json, twin_to_json
from twinkit.errors import ValidationError


def full_twin() -> Twin:
    def event(seq: int, kind: EventType, time: float, **data: object) -> Event:
        return Event(
            twin_id="pump-1", seq=seq, type=kind, time=time, recorded=time, cause="t", data=data
        )

    twin = fold(
        [
            event(1, EventType.TWIN_CREATED, 1.0, model="dtmi:ex:Pump;1", properties={"sn": "A"}),
            event(2, EventType.DESIRED_PROPERTY_SET, 2.0, name="speed", value=1200, version=1),
            event(
                3,
                EventType.DESIRED_PROPERTY_ACKNOWLEDGED,
                3.0,
                name="speed",
                version=1,
                code=ACK_OK,
                description="applied",
            ),
            event(4, EventType.PROPERTY_REPORTED, 4.0, name="speed", value=1200),
            event(5, EventType.TELEMETRY_RECEIVED, 5.0, values={"flow": 2.5, "tags": ["a"]}),
            event(
                6,
                EventType.RELATIONSHIP_ADDED,
                6.0,
                id="r1",
                name="feeds",
                target="tank-1",
                properties={"since": 2026},
            ),
        ]
    )
    assert twin is not None
    return twin


def test_every_part_of_a_twin_round_trips_through_json_text() -> None:
    twin = full_twin()
    text = orjson.dumps(twin_to_json(twin))
    back = twin_from_json(orjson.loads(text))
    assert back == twin
    assert back.properties["speed"].in_sync
    assert type(back.properties["speed"].reported) is int
    assert back.relationships["r1"].properties["since"] == 2026
    assert twin_to_json(twin)["properties"]["speed"]["ackDescription"] == "applied"


def test_missing_key_names_the_twin_and_the_key() -> None:
    obj = twin_to_json(full_twin())
    del obj["telemetry"]
    with pytest.raises(ValidationError, match=r"twin 'pump-1'.*'telemetry'"):
        twin_from_json(obj)


def test_malformed_part_is_a_validation_error() -> None:
    obj = twin_to_json(full_twin())
    obj["properties"] = ["speed"]
    with pytest.raises(ValidationError, match="malformed"):
        twin_from_json(obj)

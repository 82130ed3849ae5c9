"""Bad device messages against a running ``twinkit serve``: each one lands in the dead letters
with a reason that says what was expected and what came, ingest goes on around them, and a
message whose cause was fixed is accepted when replayed through the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from faults_helpers import BASE_TIME, COUNTER, Device, Server, set_up_counter, wait_for

from twinkit.connect import DEFAULT_MAX_PAYLOAD

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TWIN = "meter-1"
GHOST = "ghost-1"  # no such twin until the test creates it
TOPIC = f"site/{TWIN}/telemetry"


def reading(value: object, ts: object = None) -> bytes:
    return orjson.dumps({"ts": BASE_TIME if ts is None else ts, "values": {"reading": value}})


OVERSIZED = orjson.dumps({"reading": 1.0, "pad": "x" * DEFAULT_MAX_PAYLOAD})

# kind -> (topic, payload, what its dead letter's reason must say)
BAD: dict[str, tuple[str, bytes, tuple[str, ...]]] = {
    "invalid JSON": (
        TOPIC,
        b'{"ts": 1700000000, "values": {"reading": 1.5,',
        ("invalid JSON: unexpected end of data", "expected: a JSON document", "got: "),
    ),
    "unknown twin": (
        f"site/{GHOST}/telemetry",
        reading(7.5, BASE_TIME + 100),
        (f"twin '{GHOST}' not found", "create it"),
    ),
    "unknown content": (
        TOPIC,
        orjson.dumps({"colour": 1}),
        ("unknown content 'colour'", COUNTER, "expected: one of: count, reading"),
    ),
    "wrong type": (
        TOPIC,
        reading("hot"),
        ("telemetry 'reading'", "expected: double", "got: 'hot'"),
    ),
    "NaN": (
        TOPIC,
        b'{"ts": 1700000000, "values": {"reading": NaN}}',
        ("NaN", "expected: a finite JSON number", "got: 'NaN'"),
    ),
    "oversized": (
        TOPIC,
        OVERSIZED,
        (
            "payload too large",
            f"at most {DEFAULT_MAX_PAYLOAD} bytes",
            f"got: '{len(OVERSIZED)} bytes",
        ),
    ),
    "bad timestamp": (
        TOPIC,
        reading(2.5, "yesterday"),
        ("bad timestamp", "expected: e.g. '2024-05-29T12:00:00Z'", "got: 'yesterday'"),
    ),
}


def good(number: int) -> bytes:
    return reading(float(number), BASE_TIME + number)


def pending(server: Server) -> list[dict[str, Any]]:
    with server.client() as api:
        answer = api.get("/dead-letters")
    answer.raise_for_status()
    return list(answer.json()["items"])


def readings(server: Server, twin_id: str) -> list[float]:
    with server.client() as api:
        answer = api.get(f"/twins/{twin_id}/telemetry/reading")
    answer.raise_for_status()
    return [point["value"] for point in answer.json()["points"]]


def test_bad_messages_are_dead_lettered_and_a_fixed_one_replays(
    mosquitto: Any, tmp_path: Path
) -> None:
    server = Server(tmp_path / "data", mosquitto.url)
    try:
        set_up_counter(server, TWIN)
        device = Device(mosquitto.port)
        try:
            for number, (topic, payload, _) in enumerate(BAD.values(), start=1):
                device.publish(TOPIC, good(number))
                device.publish(topic, payload)
            last = len(BAD) + 1
            device.publish(TOPIC, good(last))
        finally:
            device.close()
        wait_for(lambda: len(pending(server)) == len(BAD), 10, f"{len(BAD)} dead letters")
        # Ingest went on: every good message before, between and after the bad ones is in.
        wait_for(lambda: len(readings(server, TWIN)) == last, 10, f"{last} good readings")
        assert readings(server, TWIN) == [float(n) for n in range(1, last + 1)]
        assert server.connector()["deadLettered"] == len(BAD)

        letters = check_reasons(pending(server))
        replay_fixed(server, letters)
        assert server.stop() == 0, server.output()
    finally:
        server.close()


def check_reasons(listed: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each bad kind has its dead letter, payload kept as sent, with a telling reason."""
    letters: dict[str, dict[str, Any]] = {}
    for (kind, (topic, payload, says)), letter in zip(BAD.items(), listed, strict=True):
        assert letter["source"] == f"mqtt:{topic}", kind
        assert letter["payload"].encode() == payload, kind
        assert letter["replayed"] is None, kind
        missing = [part for part in says if part not in letter["reason"]]
        assert not missing, f"{kind}: reason {letter['reason'][:300]!r} lacks {missing}"
        letters[kind] = letter
    return letters


def replay_fixed(server: Server, letters: dict[str, dict[str, Any]]) -> None:
    """Create the unknown twin, replay its message and a still-bad one: one goes in."""
    ghost, wrong = letters["unknown twin"]["id"], letters["wrong type"]["id"]
    with server.client() as api:
        answer = api.put(f"/twins/{GHOST}", json={"model": COUNTER})
        assert answer.status_code == 201, answer.text
        answer = api.post("/dead-letters/replay", json={"ids": [ghost, wrong]})
        assert answer.status_code == 200, answer.text
        report = answer.json()
        everything = api.get("/dead-letters", params={"all": "true"}).json()["items"]
    assert report["replayed"] == [ghost]
    assert [(f["id"], f["source"]) for f in report["failed"]] == [(wrong, f"mqtt:{TOPIC}")]
    assert "'hot'" in report["failed"][0]["reason"]
    assert readings(server, GHOST) == [7.5]
    still = [letter["id"] for letter in pending(server)]
    assert ghost not in still
    assert sorted(still) == sorted(v["id"] for k, v in letters.items() if k != "unknown twin")
    replayed = {letter["id"]: letter["replayed"] for letter in everything}
    assert replayed[ghost] is not None
    assert replayed[wrong] is None

"""SIGKILL of ``twinkit serve`` in the middle of QoS1 ingest: nothing acknowledged is lost, and
nothing redelivered is stored twice.

A publisher sends numbered messages 1..N, each with its own device time and the number as the
value of a property and of a telemetry series. The server is killed (no shutdown code runs)
while it ingests, twice, and each time restarted on the same data folder under the same MQTT
client id: the broker hands the new process the persistent session, with the messages queued
while it was down and those in flight when it died, some of them already committed. (Whether a
kill lands between a commit and its acknowledgement is luck, so a few committed messages are
also sent again on purpose at the end.) Once drained and stopped, the SQLite file must hold
every number the broker acknowledged to the publisher exactly once: one point per number in
each series, no dead letters, and one PropertyReported event per number (with a broker that
redelivers in order; NATS redelivers late, see the parameters).
"""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import orjson
import pytest
from faults_helpers import (
    BASE_TIME,
    Device,
    NumberedPublisher,
    Server,
    read_store,
    reported_values,
    set_up_counter,
)

from served import settle
from twinkit.core import Point

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TWIN = "counter-1"
COUNT = 3000
RATE = 1500.0  # messages per second: the publisher outlasts both kills and restarts
KILLS = (500, 300)  # kill a server process once it has accepted this many messages
# Sent again at the end, as a redelivery of committed messages would be: older values (history
# only: their points are already stored) and the current one (only a touch of the property).
RESENT = (1, 2, 500, COUNT // 2, COUNT - 1, COUNT)

# NATS's MQTT listener speaks only MQTT 3.1.1.
NATS_ENV = {"TWINKIT_MQTT_PROTOCOL": "3.1.1"}


def payload(number: int) -> bytes:
    return orjson.dumps(
        {"ts": BASE_TIME + number, "values": {"count": number, "reading": float(number)}}
    )


def numbers_of(points: list[Point]) -> list[int]:
    """The numbers a series holds, checking each point's value against its device time."""
    numbers = []
    for point in points:
        number = round(point.time - BASE_TIME)
        assert point.value == number, f"point at number {number} holds {point.value}"
        numbers.append(number)
    return numbers


def assert_exactly_once(what: str, numbers: list[int], acknowledged: set[int]) -> None:
    counts = Counter(numbers)
    duplicated = sorted(n for n, c in counts.items() if c > 1)
    missing = sorted(acknowledged - counts.keys())
    unknown = sorted(set(counts) - set(range(1, COUNT + 1)))
    assert not duplicated, f"{what}: {len(duplicated)} numbers stored twice, e.g. {duplicated[:10]}"
    assert not missing, f"{what}: {len(missing)} acknowledged numbers lost, e.g. {missing[:10]}"
    assert not unknown, f"{what}: numbers never sent: {unknown[:10]}"


def assert_event_log(values: list[int], acknowledged: set[int], *, in_order: bool) -> None:
    """The property's PropertyReported events: each number at most once, in rising order (a
    report older than the current value is history, a point, not an event); with a broker that
    delivers in order, every acknowledged number is an event."""
    repeated = [b for a, b in itertools.pairwise(values) if b <= a]
    assert not repeated, f"PropertyReported events repeat or go back in time at {repeated[:10]}"
    if in_order:
        assert_exactly_once("PropertyReported events", values, acknowledged)


def drained(server: Server) -> bool:
    with server.client() as api:
        answer = api.get(f"/twins/{TWIN}/telemetry/reading", params={"limit": 100_000})
    answer.raise_for_status()
    return len(answer.json()["points"]) >= COUNT


def resend(server: Server, port: int, numbers: tuple[int, ...]) -> None:
    """Publish ``numbers`` again, as a broker's redelivery would, and wait until ingested."""
    before = server.connector()["accepted"]
    device = Device(port)
    try:
        for number in numbers:
            device.publish(f"site/{TWIN}/properties", payload(number))
    finally:
        device.close()
    server.wait_accepted(before + len(numbers), timeout=10)


@pytest.mark.parametrize(
    ("broker_fixture", "env", "in_order"),
    [
        pytest.param("mosquitto", {}, True, id="mosquitto"),
        # NATS resends what was in flight at the kill only after its ack_wait, when newer
        # messages have gone in: those late reports are history (points), not events.
        pytest.param("nats_mqtt", NATS_ENV, False, id="nats"),
    ],
)
def test_sigkill_during_ingest_loses_and_duplicates_nothing(
    broker_fixture: str,
    env: dict[str, str],
    in_order: bool,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    broker = request.getfixturevalue(broker_fixture)
    data = tmp_path / "data"
    server = Server(data, broker.url, env=env)
    publisher: NumberedPublisher | None = None
    try:
        set_up_counter(server, TWIN)
        topic = f"site/{TWIN}/properties"
        publisher = NumberedPublisher(broker.port, topic, COUNT, RATE, payload).start()
        # The first kill lands while the publisher sends, so messages queue up while twinkit
        # is away; the second while the restarted process drains that backlog at full speed.
        server.wait_accepted(KILLS[0], timeout=20)  # counted by each process anew
        server.kill()
        assert publisher.sent() < COUNT, "the publisher finished before the first kill"
        for kill_after in KILLS[1:]:
            server = Server(data, broker.url, env=env)
            server.wait_accepted(kill_after, timeout=20)
            server.kill()
        server = Server(data, broker.url, env=env)
        acknowledged = publisher.finish(timeout=20)
        # The broker stayed up: it acknowledged every message, while twinkit was away too.
        assert acknowledged == set(range(1, COUNT + 1))
        # Not drained in time: the store, read below, says which numbers are missing.
        complete = settle(lambda: drained(server), 15)
        if complete:
            resend(server, broker.port, RESENT)
        output = server.output()
        assert server.stop() == 0, output
    finally:
        server.close()
        if publisher is not None:
            publisher.close()
    assert "session present: True" in output, "the restarted server did not resume its session"

    events, points, letters = read_store(data, TWIN, ("count", "reading"))
    assert_event_log(reported_values(events, "count"), acknowledged, in_order=in_order)
    assert_exactly_once("points of count", numbers_of(points["count"]), acknowledged)
    assert_exactly_once("points of reading", numbers_of(points["reading"]), acknowledged)
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), "gaps in the event log"
    assert letters == [], f"valid messages were dead-lettered: {letters[:3]}"
    assert complete, f"the server did not ingest all {COUNT} messages within 15 s"

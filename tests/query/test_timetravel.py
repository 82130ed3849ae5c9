"""Time travel: a real runtime writes a history, and every past state read back is the fold of
the events up to that time (snapshots, device times out of order, deleted and re-created twins)."""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twinkit.core import (
    Ack,
    Event,
    EventType,
    Reading,
    Runtime,
    TelemetryValue,
    Twin,
    fold,
    twin_from_json,
)
from twinkit.errors import TwinkitError, ValidationError
from twinkit.query._timetravel import (
    Change,
    ChangeKind,
    GraphState,
    PropertyChangeKind,
    diff,
    graph_as_of,
    property_history,
    seconds,
    twin_as_of,
    twin_changes,
)
from twinkit.query._timetravel_fold import state_as_of
from twinkit.store import SQLiteStore
from twinkit.store._sqlite_history import TwinRows

T = TypeVar("T")
ADMIN = "token:admin"
DEVICE = "connector:site"
PUMP = "dtmi:tt:Pump;1"
MODELS: list[dict[str, Any]] = [
    {
        "@context": "dtmi:dtdl:context;3",
        "@id": PUMP,
        "@type": "Interface",
        "contents": [
            {"@type": "Telemetry", "name": "flow", "schema": "double"},
            {"@type": "Property", "name": "speed", "schema": "double", "writable": True},
            {"@type": "Property", "name": "mode", "schema": "string"},
            {"@type": "Relationship", "name": "feeds"},
        ],
    }
]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "time-travel.md"


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def with_runtime(tmp_path: Path, body: Callable[[SQLiteStore, Runtime, Clock], Awaitable[T]]) -> T:
    async def main() -> T:
        clock = Clock()
        async with await SQLiteStore.open(tmp_path / "twins.db") as store:
            runtime = await Runtime.open(store, clock=clock, snapshot_every=2)
            await runtime.add_models(MODELS)
            result = await body(store, runtime, clock)
            await runtime.close()
            return result

    return run(main())


# --- the reference: the fold of the events up to T, written out plainly ---------------------


def incarnations(events: Sequence[Event]) -> list[list[Event]]:
    out: list[list[Event]] = []
    for event in events:
        if event.type is EventType.TWIN_CREATED:
            out.append([])
        out[-1].append(event)
    return out


def reference(events: Sequence[Event], at: float) -> tuple[int, Twin] | None:
    """(incarnation index, state) of the incarnation alive at ``at``, folded from its events."""
    alive = [
        (index, life)
        for index, life in enumerate(incarnations(events))
        if life[0].time <= at
        and not any(e.type is EventType.TWIN_DELETED and e.time <= at for e in life)
    ]
    if not alive:
        return None
    index, life = alive[-1]
    twin = fold([e for e in life if e.time <= at and e.type is not EventType.TWIN_DELETED])
    assert twin is not None
    return index, twin


@dataclass
class Recorder:
    """What a scenario sent: telemetry per (twin, incarnation), to check telemetry as of T."""

    lives: dict[str, int] = field(default_factory=dict)  # twin -> incarnations created so far
    telemetry: dict[tuple[str, int], list[tuple[float, float]]] = field(default_factory=dict)

    def created(self, twin_id: str) -> None:
        self.lives[twin_id] = self.lives.get(twin_id, 0) + 1

    def sent(self, twin_id: str, time: float, value: float) -> None:
        key = (twin_id, self.lives[twin_id] - 1)
        self.telemetry.setdefault(key, []).append((time, value))

    def expected(self, twin_id: str, life: int, at: float) -> dict[str, TelemetryValue]:
        first: dict[float, float] = {}
        for time, value in self.telemetry.get((twin_id, life), []):
            first.setdefault(time, value)  # a point at a time already stored is ignored
        times = [time for time in first if time <= at]
        if not times:
            return {}
        newest = max(times)
        return {"flow": TelemetryValue(first[newest], newest)}


async def check_every_time(store: SQLiteStore, ids: Sequence[str], recorder: Recorder) -> int:
    """Compare twin_as_of, graph_as_of and diff with the reference at every event time (and
    just before it); returns how many (twin, time) pairs were checked."""
    logs = {twin_id: await store.events(twin_id) for twin_id in ids}
    times = sorted({e.time for log in logs.values() for e in log} | {0.0, 1e12})
    times = sorted(set(times) | {t - 0.25 for t in times})
    checked = 0
    expected_graphs: dict[float, dict[str, Twin]] = {}
    for at in times:
        graph = await graph_as_of(store, at)
        expected_graph: dict[str, Twin] = {}
        for twin_id, log in logs.items():
            want = reference(log, at)
            got = await twin_as_of(store, twin_id, at)
            if want is None:
                assert got is None, (twin_id, at)
                continue
            life, state = want
            assert got is not None, (twin_id, at)
            telemetry = recorder.expected(twin_id, life, at)
            assert got == replace(state, telemetry=MappingProxyType(telemetry)), (twin_id, at)
            expected_graph[twin_id] = got
            checked += 1
        assert dict(graph.twins) == expected_graph, at
        no_telemetry = MappingProxyType({})  # diff leaves telemetry out
        expected_graphs[at] = {
            tid: replace(twin, telemetry=no_telemetry) for tid, twin in expected_graph.items()
        }
    for start, end in zip(times, times[2:], strict=False):
        want_changes = []
        for twin_id in sorted(ids):
            before, after = expected_graphs[start].get(twin_id), expected_graphs[end].get(twin_id)
            want_changes += twin_changes(twin_id, before, after)
        assert await diff(store, start, end) == want_changes, (start, end)
    return checked


# --- a scenario with everything in it --------------------------------------------------------


async def plant(store: SQLiteStore, runtime: Runtime, clock: Clock) -> Recorder:
    rec = Recorder()
    await runtime.create_twin("p1", PUMP, {"mode": "auto"}, cause=ADMIN)
    await runtime.create_twin("p2", PUMP, cause=ADMIN)
    rec.created("p1")
    rec.created("p2")
    for step in range(6):
        clock.now += 10
        device_time = clock.now - (15 if step == 3 else 2)  # one reading from the past
        await runtime.ingest(
            [[Reading("p1", {"speed": float(step), "flow": step * 1.5}, device_time)]],
            cause=DEVICE,
        )
        rec.sent("p1", device_time, step * 1.5)
    clock.now += 10
    await runtime.set_desired("p1", "speed", 42.0, cause=ADMIN)
    clock.now += 10
    ack = {"speed": Ack(1, 200, "applied")}
    await runtime.ingest([[Reading("p1", {"speed": 42.0}, clock.now, ack)]], cause=DEVICE)
    await runtime.add_relationship("p1", "feeds", "p2", cause=ADMIN, properties={})
    clock.now += 10
    await runtime.report("p2", {"mode": "manual"}, cause=ADMIN)
    await runtime.ingest([[Reading("p2", {"flow": 7.0}, clock.now)]], cause=DEVICE)
    rec.sent("p2", clock.now, 7.0)
    clock.now += 10
    await runtime.remove_relationship("p1", "feeds-p2", cause=ADMIN)
    await runtime.report("p1", {"speed": 42.0}, cause=ADMIN, removed=["mode"])
    clock.now += 10
    await runtime.delete_twin("p2", cause=ADMIN)
    clock.now += 10
    await runtime.create_twin("p2", PUMP, {"mode": "reborn"}, cause=ADMIN)
    rec.created("p2")
    await runtime.ingest([[Reading("p2", {"flow": 9.0}, clock.now - 1)]], cause=DEVICE)
    rec.sent("p2", clock.now - 1, 9.0)
    clock.now += 10
    await runtime.ingest([[Reading("p2", {"speed": 3.0}, clock.now)]], cause=DEVICE)
    return rec


def test_every_past_state_is_the_fold_of_the_events_up_to_it(tmp_path: Path) -> None:
    async def body(store: SQLiteStore, runtime: Runtime, clock: Clock) -> int:
        recorder = await plant(store, runtime, clock)
        await runtime.close()  # snapshots of every twin that changed
        return await check_every_time(store, ["p1", "p2"], recorder)

    assert with_runtime(tmp_path, body) > 30


def test_snapshots_are_used_and_hold_only_pure_folds(tmp_path: Path) -> None:
    async def body(store: SQLiteStore, runtime: Runtime, clock: Clock) -> None:
        await plant(store, runtime, clock)
        await runtime.close()

        def rows(conn: Any) -> list[tuple[str, int, float, bytes]]:
            return conn.execute(
                "SELECT twin_id, version, time, data FROM snapshot_history"
            ).fetchall()

        kept = await store.read("snapshot rows", rows)
        assert len(kept) >= 5, kept  # snapshot_every=2: the fold really starts from them
        for twin_id, version, time, data in kept:
            snapshot = twin_from_json(orjson.loads(data))
            log = [e for e in await store.events(twin_id) if e.seq <= version]
            assert snapshot == fold(log), (twin_id, version)  # no telemetry, no touches
            assert time == max(e.time for e in log)
        live = runtime.get("p1")
        past = await twin_as_of(store, "p1", clock.now)
        assert past is not None
        assert past.relationships == live.relationships
        assert past.telemetry == live.telemetry
        speed, live_speed = past.properties["speed"], live.properties["speed"]
        assert (speed.reported, speed.desired, speed.ack_code) == (42.0, 42.0, 200)
        # The last report repeated 42.0: a touch, not an event, so the past does not know it.
        assert (live_speed.last_reported, speed.last_reported) == (1100.0, 1080.0)
        assert replace(live_speed, last_reported=1080.0, reported_time=1080.0) == speed

    with_runtime(tmp_path, body)


def test_a_deleted_and_recreated_twin_has_the_telemetry_of_its_own_incarnation(
    tmp_path: Path,
) -> None:
    async def body(store: SQLiteStore, runtime: Runtime, clock: Clock) -> None:
        await plant(store, runtime, clock)
        log = await store.events("p2")
        deleted = next(e for e in log if e.type is EventType.TWIN_DELETED)
        before = await twin_as_of(store, "p2", deleted.time - 1)
        gone = await twin_as_of(store, "p2", deleted.time)
        after = await twin_as_of(store, "p2", clock.now)
        assert before is not None and after is not None and gone is None
        assert before.telemetry["flow"].value == 7.0
        assert after.telemetry["flow"].value == 9.0
        assert before.reported("mode") == "manual" and after.reported("mode") == "reborn"
        changes = await diff(store, deleted.time - 1, clock.now, twin_id="p2")
        assert [change.kind for change in changes] == [
            ChangeKind.TWIN_DELETED,
            ChangeKind.TWIN_CREATED,
        ]

    with_runtime(tmp_path, body)


def test_diff_names_each_kind_of_change(tmp_path: Path) -> None:
    async def body(store: SQLiteStore, runtime: Runtime, clock: Clock) -> list[Change]:
        await runtime.create_twin("a", PUMP, {"mode": "auto"}, cause=ADMIN)
        await runtime.create_twin("b", PUMP, cause=ADMIN)
        start = clock.now
        clock.now += 1
        await runtime.report("a", {"mode": "manual", "speed": 2.0}, cause=ADMIN)
        await runtime.set_desired("a", "speed", 5.0, cause=ADMIN)
        await runtime.ingest([[Reading("a", {}, clock.now, {"speed": Ack(1, 200)})]], cause=DEVICE)
        await runtime.add_relationship("a", "feeds", "b", cause=ADMIN)
        await runtime.create_twin("c", PUMP, cause=ADMIN)
        clock.now += 1
        return await diff(store, start, clock.now)

    changes = with_runtime(tmp_path, body)
    summary = [(c.kind, c.twin_id, c.name, c.before, c.after) for c in changes]
    created = next(c for c in changes if c.kind is ChangeKind.TWIN_CREATED)
    edge = next(c for c in changes if c.kind is ChangeKind.RELATIONSHIP_ADDED)
    assert summary[:4] == [
        (ChangeKind.REPORTED, "a", "mode", "auto", "manual"),
        (ChangeKind.REPORTED, "a", "speed", None, 2.0),
        (ChangeKind.DESIRED, "a", "speed", None, 5.0),
        (ChangeKind.ACKNOWLEDGED, "a", "speed", None, Ack(1, 200, None)),
    ]
    assert (edge.twin_id, edge.name, edge.before, edge.after.target) == ("a", "feeds-b", None, "b")
    assert (created.twin_id, created.before, created.after.id) == ("c", None, "c")
    assert len(changes) == 6


def test_property_history_says_who_changed_what_and_when_and_pages(tmp_path: Path) -> None:
    async def body(store: SQLiteStore, runtime: Runtime, clock: Clock) -> None:
        await runtime.create_twin("p", PUMP, {"speed": 1.0, "mode": '"name":"speed"'}, cause=ADMIN)
        for value in (2.0, 3.0, 4.0):
            clock.now += 10
            await runtime.ingest([[Reading("p", {"speed": value})]], cause=DEVICE)
        clock.now += 10
        await runtime.set_desired("p", "speed", 9.0, cause=ADMIN)
        clock.now += 10
        await runtime.ingest([[Reading("p", {}, None, {"speed": Ack(1, 400, "no")})]], cause=DEVICE)
        await runtime.report("p", {"mode": "x"}, cause=ADMIN)
        clock.now += 10
        await runtime.report("p", {}, removed=["speed"], cause=ADMIN)

        newest = await property_history(store, "p", "speed")
        assert [(c.kind, c.value, c.cause, c.time) for c in newest] == [
            (PropertyChangeKind.REMOVED, None, ADMIN, 1060.0),
            (PropertyChangeKind.ACKNOWLEDGED, None, DEVICE, 1050.0),
            (PropertyChangeKind.DESIRED, 9.0, ADMIN, 1040.0),
            (PropertyChangeKind.REPORTED, 4.0, DEVICE, 1030.0),
            (PropertyChangeKind.REPORTED, 3.0, DEVICE, 1020.0),
            (PropertyChangeKind.REPORTED, 2.0, DEVICE, 1010.0),
            (PropertyChangeKind.REPORTED, 1.0, ADMIN, 1000.0),  # the value at creation
        ]
        ack = newest[1]
        assert (ack.version, ack.code, ack.description) == (1, 400, "no")
        assert newest[2].version == 1
        pages, after = [], None
        while page := await property_history(
            store, "p", "speed", limit=3, newest_first=False, after=after
        ):
            pages.append([c.time for c in page])
            after = page[-1].cursor
        assert pages == [[1000.0, 1010.0, 1020.0], [1030.0, 1040.0, 1050.0], [1060.0]]
        ranged = await property_history(store, "p", "speed", start=1010.0, end=1030.0)
        assert [c.value for c in ranged] == [3.0, 2.0]
        mode = await property_history(store, "p", "mode")
        assert [c.value for c in mode] == ["x", '"name":"speed"']
        assert await property_history(store, "p", "flow") == []
        assert await property_history(store, "nobody", "speed") == []

    with_runtime(tmp_path, body)


def test_bad_arguments_say_what_was_expected(tmp_path: Path) -> None:
    async def body(store: SQLiteStore, runtime: Runtime, clock: Clock) -> None:
        # a datetime without a zone is UTC, as everywhere in twinkit
        assert seconds(datetime(2024, 1, 1)) == datetime(2024, 1, 1, tzinfo=UTC).timestamp()
        with pytest.raises(ValidationError, match="malformed time"):
            await graph_as_of(store, "last tuesday")
        with pytest.raises(ValidationError, match="not a time"):
            await diff(store, float("nan"), 1.0)
        with pytest.raises(ValidationError, match="bad page size"):
            await property_history(store, "p", "speed", limit=0)
        with pytest.raises(ValidationError, match="bad property name") as err:
            await property_history(store, "p", 'x"; DROP TABLE events; --')
        assert err.value.path == "name"

    with_runtime(tmp_path, body)


def test_times_may_be_datetimes_or_iso_strings() -> None:
    moment = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert seconds(moment) == moment.timestamp() == seconds("2024-05-01T12:00:00+00:00")
    assert seconds("2024-05-01T14:00:00+02:00") == moment.timestamp()
    assert seconds(moment.astimezone(timezone(timedelta(hours=-5)))) == moment.timestamp()
    assert seconds(7) == 7.0
    with pytest.raises(ValidationError):
        seconds(True)


def test_an_empty_store_has_an_empty_past(tmp_path: Path) -> None:
    async def body(store: SQLiteStore, runtime: Runtime, clock: Clock) -> None:
        assert await graph_as_of(store, clock.now) == GraphState(clock.now, MappingProxyType({}))
        assert await twin_as_of(store, "p", clock.now) is None
        assert await diff(store, 0.0, clock.now) == []

    with_runtime(tmp_path, body)


def test_the_documentation_examples_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    assert code, "docs/time-travel.md lost its examples"
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "time_travel_doc"}
    for block in code:
        exec(compile(block, str(DOCS), "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    assert printed[:3] == [
        "12.0 3.5 {}",
        "['p1', 'p2'] [('p1', 'feeds', 'p2')]",
        "reported p1 speed 12.0 -> 20.0",
    ]
    assert printed[-1] == "1000.0 reported 10.0 token:ops"


# --- any history, generated ------------------------------------------------------------------

IDS = ("a", "b", "c")
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.sampled_from(IDS)),
        st.tuples(st.just("delete"), st.sampled_from(IDS)),
        st.tuples(st.just("report"), st.sampled_from(IDS), st.integers(0, 3), st.integers(-8, 3)),
        st.tuples(st.just("desired"), st.sampled_from(IDS), st.integers(0, 3)),
        st.tuples(
            st.just("ack"), st.sampled_from(IDS), st.integers(1, 3), st.sampled_from([200, 500])
        ),
        st.tuples(st.just("link"), st.sampled_from(IDS), st.sampled_from(IDS)),
        st.tuples(st.just("unlink"), st.sampled_from(IDS), st.sampled_from(IDS)),
        st.tuples(st.just("flow"), st.sampled_from(IDS), st.integers(0, 3), st.integers(-8, 3)),
        st.tuples(st.just("tick"), st.integers(0, 5)),
        st.tuples(
            st.just("alert"), st.sampled_from(IDS), st.sampled_from(["raise", "ack", "clear"])
        ),
    ),
    max_size=30,
)


async def perform(runtime: Runtime, clock: Clock, rec: Recorder, op: tuple[Any, ...]) -> None:
    kind, *args = op
    if kind == "tick":
        clock.now += args[0]
        return
    twin_id = args[0]
    try:
        if kind == "create":
            await runtime.create_twin(twin_id, PUMP, cause=ADMIN)
            rec.created(twin_id)
        elif kind == "delete":
            await runtime.delete_twin(twin_id, cause=ADMIN)
        elif kind == "report":
            reading = Reading(twin_id, {"speed": float(args[1])}, clock.now + args[2])
            await _ingest(runtime, reading)
        elif kind == "desired":
            await runtime.set_desired(twin_id, "speed", float(args[1]), cause=ADMIN)
        elif kind == "ack":
            reading = Reading(twin_id, {}, clock.now, {"speed": Ack(args[1], args[2])})
            await _ingest(runtime, reading)
        elif kind == "link":
            await runtime.add_relationship(twin_id, "feeds", args[1], cause=ADMIN)
        elif kind == "unlink":
            await runtime.remove_relationship(twin_id, f"feeds-{args[1]}", cause=ADMIN)
        elif kind == "alert" and args[1] == "raise":
            await runtime.raise_alert(twin_id, "hot", f"at {clock.now}", cause=DEVICE)
        elif kind == "alert" and args[1] == "ack":
            await runtime.acknowledge_alert(twin_id, "hot", cause=ADMIN, note="seen")
        elif kind == "alert":
            await runtime.clear_alert(twin_id, "hot", cause=ADMIN)
        elif kind == "flow":
            reading = Reading(twin_id, {"flow": float(args[1])}, clock.now + args[2])
            (error,) = await runtime.ingest([[reading]], cause=DEVICE)
            if error is None:
                rec.sent(twin_id, clock.now + args[2], float(args[1]))
    except TwinkitError:
        pass  # refused by the runtime (no such twin, conflict): nothing was recorded


async def _ingest(runtime: Runtime, reading: Reading) -> None:
    (error,) = await runtime.ingest([[reading]], cause=DEVICE)
    if error is not None:
        raise error


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_any_history_reads_back_as_the_fold_of_its_events(ops: list[tuple[Any, ...]]) -> None:
    async def main(path: Path) -> None:
        clock = Clock()
        async with await SQLiteStore.open(path) as store:
            runtime = await Runtime.open(store, clock=clock, snapshot_every=2)
            await runtime.add_models(MODELS)
            rec = Recorder()
            for op in ops:
                await perform(runtime, clock, rec, op)
            if len(ops) % 2:
                await runtime.close()  # sometimes every twin has a fresh snapshot
            ids = [twin_id for twin_id in IDS if twin_id in rec.lives]
            await check_every_time(store, ids, rec)

    with tempfile.TemporaryDirectory() as folder:
        run(main(Path(folder) / "twins.db"))


# --- the fast fold is core's fold ------------------------------------------------------------

VALUES = st.sampled_from([1.0, 2.0, "a", None, [1], {"k": 1}])
EVENT_DATA = st.one_of(
    st.tuples(st.just(EventType.PROPERTY_REPORTED), st.builds(
        dict, name=st.sampled_from(["x", "y"]), value=VALUES, removed=st.booleans())),
    st.tuples(st.just(EventType.DESIRED_PROPERTY_SET), st.builds(
        dict, name=st.sampled_from(["x", "y"]), value=VALUES, version=st.integers(1, 3))),
    st.tuples(st.just(EventType.DESIRED_PROPERTY_ACKNOWLEDGED), st.builds(
        dict, name=st.sampled_from(["x", "y"]), version=st.integers(1, 3),
        code=st.sampled_from([200, 500]), description=st.sampled_from([None, "d"]))),
    st.tuples(st.just(EventType.RELATIONSHIP_ADDED), st.builds(
        dict, id=st.sampled_from(["r1", "r2"]), name=st.just("feeds"),
        target=st.sampled_from(["a", "b"]), properties=st.just({"w": 1}))),
    st.tuples(st.just(EventType.RELATIONSHIP_REMOVED), st.builds(dict, id=st.sampled_from(["r1", "r2"]))),
    st.tuples(st.just(EventType.COMMAND_INVOKED), st.builds(dict, id=st.just("c"), name=st.just("go"))),
    st.tuples(st.just(EventType.TELEMETRY_RECEIVED), st.builds(dict, values=st.just({"f": 1.0}))),
    st.tuples(st.just(EventType.ALERT_RAISED), st.builds(
        dict, name=st.sampled_from(["a", "b"]), severity=st.sampled_from(["warning", "error"]),
        message=st.sampled_from(["m", "n"]), by=st.sampled_from(["r", "s"]))),
    st.tuples(st.just(EventType.ALERT_ACKNOWLEDGED), st.builds(
        dict, name=st.sampled_from(["a", "b"]), note=st.sampled_from(["", "n"]), by=st.just("op"))),
    st.tuples(st.just(EventType.ALERT_CLEARED), st.builds(
        dict, name=st.sampled_from(["a", "b"]), message=st.just(""), by=st.just("op"))),
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(EVENT_DATA, st.integers(0, 6)), max_size=25), st.integers(0, 25))
def test_the_fast_fold_equals_cores_fold(
    steps: list[tuple[tuple[EventType, dict[str, Any]], int]], cut: int
) -> None:
    events = [Event(twin_id="t", seq=1, type=EventType.TWIN_CREATED, time=0.0, recorded=0.0,
                    cause="c", data={"model": "m", "properties": {"x": 1.0}})]  # fmt: skip
    for seq, ((kind, drawn), time) in enumerate(steps, start=2):
        data = drawn
        if kind is EventType.PROPERTY_REPORTED and not drawn["removed"]:
            data = {"name": drawn["name"], "value": drawn["value"]}
        events.append(
            Event(twin_id="t", seq=seq, type=kind, time=float(time), recorded=0.0, cause="c",
                  data=data)
        )  # fmt: skip
    rows = [(e.twin_id, e.seq, e.type.value, e.time, orjson.dumps(e.data)) for e in events]
    want = fold(events)
    assert want is not None
    want = replace(want, telemetry=MappingProxyType({}))
    cut = min(cut, len(events) - 1)
    start = fold(events[: cut + 1])  # a snapshot part-way, as the store keeps them
    for snapshot, tail in [(None, rows), (start, rows[cut + 1 :])]:
        found = state_as_of(TwinRows("t", snapshot, tail), 1e9)
        assert found is not None
        assert found == (want, "t")


def test_the_past_knows_which_alerts_were_open(tmp_path: Path) -> None:
    async def body(store: SQLiteStore, runtime: Runtime, clock: Clock) -> None:
        await runtime.create_twin("p1", PUMP, cause=ADMIN)
        clock.now = 1_010.0
        await runtime.raise_alert("p1", "hot", "95 °C", cause=DEVICE, severity="error")
        clock.now = 1_020.0
        await runtime.acknowledge_alert("p1", "hot", cause=ADMIN, note="seen")
        clock.now = 1_030.0
        await runtime.clear_alert("p1", "hot", cause=ADMIN, message="cooled down")
        opened = await twin_as_of(store, "p1", 1_015.0)
        acked = await twin_as_of(store, "p1", 1_025.0)
        closed = await twin_as_of(store, "p1", 1_035.0)
        assert opened is not None and acked is not None and closed is not None
        hot = opened.alerts["hot"]
        assert (hot.severity, hot.raised, hot.raised_by, hot.is_acknowledged) == (
            "error",
            1_010.0,
            DEVICE,
            False,
        )
        assert acked.alerts["hot"].acknowledged_by == ADMIN and closed.alerts == {}
        graph = await graph_as_of(store, 1_025.0)
        assert graph.twins["p1"].alerts["hot"].note == "seen"

    with_runtime(tmp_path, body)

"""After a restart the runtime's state is exactly what it was: random operations, restart, compare.

Snapshots are taken every few events so that replay starts from snapshots as well as from the
beginning of logs; late, repeated and removed reports, acknowledgements, relationships and
deletions, and alerts raised, raised again, acknowledged and cleared are all in the mix.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from runtime_models import MODELS, PUMP, STATION, TANK

from twinkit.core import Ack, Reading, RelationshipEdge, Runtime, Twin
from twinkit.errors import TwinkitError
from twinkit.store import SQLiteStore

IDS = ["p1", "p2", "t1", "s1"]
MODEL_OF = {"p1": PUMP, "p2": PUMP, "t1": TANK, "s1": STATION}

times = st.integers(min_value=0, max_value=6).map(float)
small = st.sampled_from([0.0, 1.0])

operation = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(IDS)),
    st.tuples(st.just("delete"), st.sampled_from(IDS)),
    st.tuples(st.just("report"), st.sampled_from(["p1", "p2"]), small, times),
    st.tuples(st.just("telemetry"), st.sampled_from(IDS), small, times),
    st.tuples(st.just("desired"), st.sampled_from(["p1", "p2"]), small),
    st.tuples(st.just("ack"), st.sampled_from(["p1", "p2"]), st.integers(1, 3), small, times),
    st.tuples(st.just("relate"), st.sampled_from(IDS), st.sampled_from(IDS)),
    st.tuples(st.just("unrelate"), st.sampled_from(IDS), st.sampled_from(IDS)),
    st.tuples(st.just("remove"), st.sampled_from(["p1", "p2"])),
    st.tuples(
        st.just("alert"),
        st.sampled_from(IDS),
        st.sampled_from(["raise", "ack", "clear"]),
        st.sampled_from(["hot", "stuck"]),
        st.sampled_from(["warning", "critical"]),
    ),
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 0.5
        return self.now


async def perform(runtime: Runtime, op: tuple[Any, ...]) -> None:
    kind, twin_id, *rest = op
    cause = "token:test"
    if kind == "create":
        await runtime.create_twin(twin_id, MODEL_OF[twin_id], cause=cause)
    elif kind == "delete":
        await runtime.delete_twin(twin_id, cause=cause)
    elif kind == "report":
        value, time = rest
        await runtime.ingest([[Reading(twin_id, {"speed": value}, time=time)]], cause=cause)
    elif kind == "telemetry":
        value, time = rest
        name = "level" if MODEL_OF[twin_id] == TANK else "flow"
        await runtime.ingest([[Reading(twin_id, {name: value}, time=time)]], cause=cause)
    elif kind == "desired":
        await runtime.set_desired(twin_id, "speed", rest[0], cause=cause)
    elif kind == "ack":
        version, value, time = rest
        reading = Reading(twin_id, {"speed": value}, time=time, acks={"speed": Ack(version, 200)})
        await runtime.ingest([[reading]], cause=cause)
    elif kind == "relate":
        name = "contains" if MODEL_OF[twin_id] == STATION else "feeds"
        await runtime.add_relationship(twin_id, name, rest[0], cause=cause)
    elif kind == "unrelate":
        twin = runtime.get(twin_id)
        for edge in list(twin.relationships.values()):
            if edge.target == rest[0]:
                await runtime.remove_relationship(twin_id, edge.id, cause=cause)
    elif kind == "remove":
        await runtime.report(twin_id, {}, removed=["speed"], cause=cause)
    elif kind == "alert":
        action, name, severity = rest
        if action == "raise":
            await runtime.raise_alert(twin_id, name, severity, cause=cause, severity=severity)
        elif action == "ack":
            await runtime.acknowledge_alert(twin_id, name, cause="token:op", note=name)
        else:
            await runtime.clear_alert(twin_id, name, cause="token:op")


def edge_key(edge: RelationshipEdge) -> tuple[str, str]:
    return (edge.source, edge.id)


def state(runtime: Runtime) -> dict[str, Twin]:
    return {twin.id: twin for twin in runtime.twins()}


@example(ops=[("report", "p1", 1.0, 1.0), ("report", "p1", 1.0, 2.0)], snapshot_every=1000)
@example(  # a twin deleted and created again does not inherit its old telemetry or touches
    ops=[
        ("telemetry", "p1", 0.0, 0.0),
        ("report", "p1", 1.0, 1.0),
        ("report", "p1", 1.0, 2.0),
        ("delete", "p1"),
        ("create", "p1"),
    ],
    snapshot_every=1,
)
@example(
    ops=[("report", "p1", 1.0, 1.0), ("report", "p1", 1.0, 5.0), ("report", "p1", 0.0, 3.0)],
    snapshot_every=1000,
)
@example(  # open alerts before and after snapshots; one cleared, one acknowledged
    ops=[
        ("alert", "p1", "raise", "hot", "warning"),
        ("alert", "p1", "ack", "hot", "warning"),
        ("alert", "t1", "raise", "stuck", "critical"),
        ("alert", "p1", "raise", "hot", "warning"),
        ("alert", "t1", "clear", "stuck", "critical"),
    ],
    snapshot_every=3,
)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(operation, min_size=5, max_size=40), snapshot_every=st.sampled_from([1, 3, 1000])
)
def test_restart_restores_exactly_the_same_state(
    ops: list[tuple[Any, ...]], snapshot_every: int
) -> None:
    async def main(path: Path) -> None:
        clock = Clock()
        async with await SQLiteStore.open(path) as store:
            runtime = await Runtime.open(store, clock=clock, snapshot_every=snapshot_every)
            await runtime.add_models(MODELS)
            for op in [("create", twin_id) for twin_id in IDS] + ops:
                # refused requests change nothing; that is part of what is checked
                with contextlib.suppress(TwinkitError):
                    await perform(runtime, op)
            before = state(runtime)
            incoming = {t: sorted(runtime.incoming(t), key=edge_key) for t in before}
            seqs = {t: runtime.find(t).version for t in before}  # type: ignore[union-attr]
            if ops and ops[-1][0] == "create":
                await runtime.close()  # a clean stop snapshots; a crash does not
        async with await SQLiteStore.open(path) as store:
            again = await Runtime.open(store, clock=clock)
            assert state(again) == before
            assert {t: sorted(again.incoming(t), key=edge_key) for t in before} == incoming
            assert {t: again.get(t).version for t in before} == seqs
            assert again.alerts() == runtime.alerts()

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(Path(tmp) / "twins.db"))

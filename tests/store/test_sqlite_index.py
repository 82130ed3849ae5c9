"""The query index (twins, twin_values, edges) kept at each append equals one rebuilt from
the event log, whatever the runtime did before."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twinkit.core import Runtime
from twinkit.errors import TwinkitError
from twinkit.store import SQLiteStore

CTX = "dtmi:dtdl:context;3"
UNIT = "dtmi:idx:Unit;1"
MOTOR = "dtmi:idx:Motor;1"
ADMIN = "token:admin"

MODELS: list[dict[str, Any]] = [
    {
        "@context": CTX,
        "@id": MOTOR,
        "@type": "Interface",
        "contents": [{"@type": "Property", "name": "temperature", "schema": "double"}],
    },
    {
        "@context": CTX,
        "@id": UNIT,
        "@type": "Interface",
        "contents": [
            {"@type": "Property", "name": "level", "schema": "double", "writable": True},
            {"@type": "Property", "name": "name", "schema": "string"},
            {"@type": "Property", "name": "on", "schema": "boolean"},
            {
                "@type": "Property",
                "name": "config",
                "schema": {
                    "@type": "Object",
                    "fields": [
                        {"name": "max", "schema": "double"},
                        {"name": "mode", "schema": "string"},
                        {
                            "name": "inner",
                            "schema": {
                                "@type": "Object",
                                "fields": [{"name": "a", "schema": "double"}],
                            },
                        },
                    ],
                },
            },
            {"@type": "Component", "name": "motor", "schema": MOTOR},
            {
                "@type": "Relationship",
                "name": "link",
                "target": UNIT,
                "properties": [{"@type": "Property", "name": "w", "schema": "double"}],
            },
        ],
    },
]

numbers = st.floats(allow_nan=False, allow_infinity=False, width=32)
configs = st.fixed_dictionaries(
    {},
    optional={
        "max": numbers,
        "mode": st.text(max_size=4),
        "inner": st.fixed_dictionaries({}, optional={"a": numbers}),
    },
)
values = st.fixed_dictionaries(
    {},
    optional={
        "level": numbers,
        "name": st.text(max_size=4),
        "on": st.booleans(),
        "config": configs,
        "motor": st.fixed_dictionaries({"temperature": numbers}),
        "motor/temperature": numbers,
    },
)
twin = st.integers(0, 3)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("create"), twin, values),
        st.tuples(st.just("delete"), twin),
        st.tuples(st.just("report"), twin, values),
        st.tuples(
            st.just("remove"),
            twin,
            st.lists(
                st.sampled_from(["level", "name", "config", "motor", "motor/temperature"]),
                min_size=1,
                max_size=2,
                unique=True,
            ),
        ),
        st.tuples(st.just("desired"), twin, numbers),
        st.tuples(st.just("link"), twin, twin, st.integers(0, 3), numbers),
        st.tuples(st.just("unlink"), twin, st.integers(0, 3)),
    ),
    max_size=30,
)


async def apply(runtime: Runtime, op: tuple[Any, ...]) -> None:
    kind, unit = op[0], f"u{op[1]}"
    if kind == "create":
        await runtime.create_twin(unit, UNIT, op[2], cause=ADMIN)
    elif kind == "delete":
        await runtime.delete_twin(unit, cause=ADMIN)
    elif kind == "report":
        await runtime.report(unit, op[2], cause=ADMIN)
    elif kind == "remove":
        await runtime.report(unit, {}, removed=op[2], cause=ADMIN)
    elif kind == "desired":
        await runtime.set_desired(unit, "level", op[2], cause=ADMIN)
    elif kind == "link":
        properties = {"w": op[4]}
        await runtime.add_relationship(
            unit, "link", f"u{op[2]}", relationship_id=f"l{op[3]}", properties=properties,
            cause=ADMIN,
        )  # fmt: skip
    else:
        await runtime.remove_relationship(unit, f"l{op[2]}", cause=ADMIN)


def index_tables(conn: sqlite3.Connection) -> dict[str, list[Any]]:
    """The index, documents decoded (key order in a document does not matter)."""
    twins = [
        (i, model, version, orjson.loads(doc))
        for i, model, version, doc in conn.execute("SELECT * FROM twins ORDER BY id")
    ]
    rows = conn.execute(
        "SELECT path, kind, value, typeof(value), twin_id FROM twin_values "
        "ORDER BY twin_id, path, kind, value"
    ).fetchall()
    edges = [
        (source, i, name, target, orjson.loads(properties))
        for source, i, name, target, properties in conn.execute(
            "SELECT * FROM edges ORDER BY source, id"
        )
    ]
    return {"twins": twins, "twin_values": rows, "edges": edges}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_incremental_index_equals_a_rebuilt_one(ops: list[tuple[Any, ...]]) -> None:
    async def main() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            runtime = await Runtime.open(store, snapshot_every=7)
            await runtime.add_models(MODELS)
            for op in ops:
                with contextlib.suppress(TwinkitError):  # refused as a whole: nothing written
                    await apply(runtime, op)
            live = await store.read("index", index_tables)
            assert {t[0] for t in live["twins"]} == {t.id for t in runtime.twins()}
            await store._run("rebuild", store._engine.rebuild_index)
            rebuilt = await store.read("index", index_tables)
            assert live == rebuilt

    asyncio.run(main())


def test_object_and_null_nodes_are_indexed() -> None:
    """Objects (and JSON nulls) have a row of their own: a WITHOUT ROWID key is NOT NULL."""

    async def main() -> list[tuple[str, str, Any]]:
        async with await SQLiteStore.open(":memory:") as store:
            runtime = await Runtime.open(store)
            await runtime.add_models(MODELS)
            await runtime.create_twin(
                "u1", UNIT, {"config": {"inner": {"a": 1.5}, "mode": "x"}}, cause=ADMIN
            )
            return await store.read(
                "rows",
                lambda conn: conn.execute(
                    "SELECT path, kind, value FROM twin_values ORDER BY path"
                ).fetchall(),
            )

    assert asyncio.run(main()) == [
        ("config", "o", 0),
        ("config.inner", "o", 0),
        ("config.inner.a", "n", 1.5),
        ("config.mode", "s", "x"),
    ]

"""The twin query language on a real runtime and SQLite store: what users get back."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from tql_models import ADMIN, MODELS, PUMP, SPECIAL, SQL_VALUE, build_plant

from twinkit.core import Runtime
from twinkit.errors import ValidationError
from twinkit.model import ModelSet
from twinkit.model.dtdl import parse as parse_dtdl
from twinkit.query._tql import QueryResult, QuerySyntaxError, run_query
from twinkit.store import SQLiteStore

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file holding the plant of tql_models, built once per module."""
    path = tmp_path_factory.mktemp("tql") / "plant.db"

    async def build() -> None:
        async with await SQLiteStore.open(path) as store:
            runtime = await Runtime.open(store)
            await build_plant(runtime)
            await runtime.close()

    asyncio.run(build())
    return path


MODEL_SET: ModelSet = parse_dtdl(MODELS)


def on_plant(path: Path, body: Callable[[SQLiteStore], Awaitable[T]]) -> T:
    async def main() -> T:
        async with await SQLiteStore.open(path) as store:
            return await body(store)

    return asyncio.run(main())


def query(path: Path, text: str, **kwargs: Any) -> QueryResult:
    return on_plant(path, lambda store: run_query(store, MODEL_SET, text, **kwargs))


def ids(path: Path, where: str) -> list[str]:
    """The ids of twins matching ``where`` (in id order)."""
    result = query(path, f"SELECT T.$dtId FROM DIGITALTWINS T WHERE {where}")
    assert result.continuation is None
    return [row["$dtId"] for row in result.rows]


ALL = ["device-1", "pump-1", "pump-2", "pump-3", "station-1", "tank-1", "tank-2", "valve-1"]


# --- result shapes --------------------------------------------------------------------


def test_select_star_returns_each_twin_document_in_id_order(plant: Path) -> None:
    rows = query(plant, "SELECT * FROM DIGITALTWINS").rows
    assert [row["$dtId"] for row in rows] == ALL
    pump = rows[1]
    assert pump["rated"] == 12.0
    assert pump["config"] == {"max": 10.0, "mode": "auto"}
    assert pump["$metadata"]["$model"] == PUMP
    assert pump["$metadata"]["speed"]["desiredValue"] == 3.5
    assert query(plant, "SELECT T FROM DIGITALTWINS T").rows == rows


def test_property_projections_name_columns_and_leave_out_missing_values(plant: Path) -> None:
    rows = query(
        plant,
        "SELECT T.$dtId, T.rated, T.config.mode AS mode, T.motor.temperature "
        "FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:tql:Pump;1')",
    ).rows
    assert rows == [
        {"$dtId": "pump-1", "rated": 12.0, "mode": "auto", "temperature": 70.5},
        {"$dtId": "pump-2", "rated": 5.0, "temperature": 60.0},  # the Component by path
        {"$dtId": "pump-3"},
    ]


def test_count_and_top(plant: Path) -> None:
    assert query(plant, "SELECT COUNT() FROM DIGITALTWINS").rows == [{"COUNT": 8}]
    counted = query(plant, "SELECT COUNT() FROM DIGITALTWINS T WHERE T.rated > 1")
    assert counted == QueryResult([{"COUNT": 2}], None)
    top = query(plant, "select top(3) T.$dtId from digitaltwins T")
    assert [r["$dtId"] for r in top.rows] == ALL[:3]
    assert top.continuation is None


# --- undefined values -----------------------------------------------------------------

UNDEFINED = [
    ("T.rated > 6", ["pump-1"]),
    ("NOT T.rated > 6", ["pump-2"]),  # pump-3 and the others have no rating: neither side
    ("T.rated = '12'", []),  # a number is never equal to a string ...
    ("NOT T.rated = '12'", []),  # ... nor unequal to it
    ("T.rated != 5", ["pump-1"]),
    ("T.rated <> 5", ["pump-1"]),
    ("NOT (T.rated != 5)", ["pump-2"]),
    ("T.serial > 5", []),
    ("NOT T.serial > 5", []),
    ("NOT (T.rated > 6 OR T.rated < 1)", ["pump-2"]),
    ("NOT (T.rated > 6 AND T.enabled = true)", ["pump-2"]),
    ("NOT NOT T.rated > 6", ["pump-1"]),
    ("T.enabled = true", ["pump-1"]),
    ("T.enabled = false", ["pump-2"]),
    ("NOT T.enabled = true", ["pump-2"]),
    ("T.enabled = 1", []),  # booleans are not numbers
    ("T.config.max >= 3", ["pump-1", "pump-2"]),
    ("T.config.mode = 'auto'", ["pump-1"]),
    ("NOT T.config.mode = 'auto'", []),  # pump-2's config has no mode
    ("T.rated = null", []),
    ("T.rated != null", ["pump-1", "pump-2"]),
    ("12 = T.rated", ["pump-1"]),
    ("6 < T.rated", ["pump-1"]),
    ("T.motor.temperature > 65", ["pump-1"]),
    ("T.motor.temperature < 65", ["pump-2"]),
    ("T.motor.label = 'm1'", ["pump-1"]),
]


@pytest.mark.parametrize(("where", "expected"), UNDEFINED)
def test_comparisons_follow_the_undefined_rules(
    plant: Path, where: str, expected: list[str]
) -> None:
    assert ids(plant, where) == expected


IN_LISTS = [
    ("T.serial IN ['A-100', 'B-200']", ["pump-1", "pump-2"]),
    ("T.serial NIN ['A-100', 'B-200']", ["device-1", "pump-3"]),
    ("NOT T.serial IN ['A-100']", ["device-1", "pump-2", "pump-3"]),
    ("T.rated IN [5, 'A-100']", ["pump-2"]),
    ("T.rated NIN [5, 'x']", ["pump-1"]),
    ("T.rated NIN ['x']", []),  # a number is not comparable with a list of strings
    ("T.$dtId IN ['tank-1', 'valve-1', 'nobody']", ["tank-1", "valve-1"]),
    ("T.$dtId NIN ['tank-1', 'valve-1']", [i for i in ALL if i not in ("tank-1", "valve-1")]),
    ("T.$dtId IN [1, 2]", []),
]


@pytest.mark.parametrize(("where", "expected"), IN_LISTS)
def test_in_and_nin(plant: Path, where: str, expected: list[str]) -> None:
    assert ids(plant, where) == expected


# --- functions ------------------------------------------------------------------------

FUNCTIONS = [
    ("IS_OF_MODEL(T, 'dtmi:tql:Device;1')", ["device-1", "pump-1", "pump-2", "pump-3"]),
    ("IS_OF_MODEL(T, 'dtmi:tql:Pump;1')", ["pump-1", "pump-2", "pump-3"]),
    ("IS_OF_MODEL(T, 'dtmi:tql:Pump;1', exact)", ["pump-1", "pump-3"]),
    ("IS_OF_MODEL('dtmi:tql:SpecialPump;1')", ["pump-2"]),
    ("NOT IS_OF_MODEL(T, 'dtmi:tql:Device;1')", ["station-1", "tank-1", "tank-2", "valve-1"]),
    ("IS_OF_MODEL(T, 'dtmi:tql:Unknown;1')", []),
    ("IS_DEFINED(T.rated)", ["pump-1", "pump-2"]),
    ("NOT IS_DEFINED(T.serial)", ["station-1", "tank-1", "tank-2", "valve-1"]),
    ("IS_DEFINED(T.config.mode)", ["pump-1"]),
    ("IS_DEFINED(T.motor.temperature)", ["pump-1", "pump-2"]),
    ("IS_DEFINED(T.$metadata.speed.desiredValue)", ["pump-1"]),
    ("IS_NULL(T.$metadata.speed.ackCode)", ["pump-1"]),
    ("IS_NULL(T.rated)", []),
    ("IS_BOOL(T.enabled)", ["pump-1", "pump-2"]),
    ("IS_BOOL(T.open)", ["valve-1"]),
    ("IS_NUMBER(T.rated)", ["pump-1", "pump-2"]),
    ("IS_NUMBER(T.serial)", []),
    ("IS_STRING(T.serial)", ["device-1", "pump-1", "pump-2", "pump-3"]),
    ("IS_STRING(T.$dtId)", ALL),
    ("IS_PRIMITIVE(T.config)", []),
    ("IS_PRIMITIVE(T.config.max)", ["pump-1", "pump-2"]),
    ("IS_PRIMITIVE(T.tags)", []),  # an array is not a primitive ...
    ("IS_DEFINED(T.tags)", ["pump-1"]),  # ... but it is defined
    ("IS_OBJECT(T.config)", ["pump-1", "pump-2"]),
    ("IS_OBJECT(T.motor)", ["pump-1"]),
    ("NOT IS_OBJECT(T.config)", [i for i in ALL if i not in ("pump-1", "pump-2")]),
    ("STARTSWITH(T.serial, 'A-')", ["pump-1"]),
    ("STARTSWITH(T.serial, 'a-')", ["pump-3"]),  # case-sensitive
    ("STARTSWITH(T.serial, '')", ["device-1", "pump-1", "pump-2", "pump-3"]),
    ("NOT STARTSWITH(T.serial, 'A')", ["device-1", "pump-2", "pump-3"]),
    ("STARTSWITH(T.$dtId, 'pump-')", ["pump-1", "pump-2", "pump-3"]),
    ("STARTSWITH(T.rated, '1')", []),  # a number is not a string
    ("ENDSWITH(T.serial, '00')", ["pump-1", "pump-2"]),
    ("ENDSWITH(T.serial, '%_x')", ["pump-3"]),
    ("ENDSWITH(T.serial, '')", ["device-1", "pump-1", "pump-2", "pump-3"]),
    ("NOT ENDSWITH(T.$dtId, '-1')", ["pump-2", "pump-3", "tank-2"]),
    ("CONTAINS(T.serial, '%')", ["pump-3"]),  # LIKE wildcards are plain characters
    ("CONTAINS(T.serial, '_')", ["pump-3"]),
    ("CONTAINS(T.serial, '-1')", ["pump-1", "pump-3"]),
    ("CONTAINS(T.serial, 'a')", ["pump-3"]),
    ("CONTAINS(T.name, '\"quoted\"')", ["tank-2"]),
    ('CONTAINS(T.name, "O\'Brien")', ["tank-2"]),
    ("NOT CONTAINS(T.name, 'o')", ["tank-1", "valve-1"]),  # North has an o
    ("T.$metadata.$model = 'dtmi:tql:SpecialPump;1'", ["pump-2"]),
    ("STARTSWITH(T.$metadata.$model, 'dtmi:tql:V')", ["valve-1"]),
    ("T.$metadata.speed.desiredValue = 3.5", ["pump-1"]),
    ("T.$metadata.speed.desiredVersion >= 1", ["pump-1"]),
    ("T.$dtId > 'tank'", ["tank-1", "tank-2", "valve-1"]),
    ("T.$etag = '1'", ["device-1", "pump-3", "tank-2", "valve-1"]),
]


@pytest.mark.parametrize(("where", "expected"), FUNCTIONS)
def test_functions_and_metadata(plant: Path, where: str, expected: list[str]) -> None:
    assert ids(plant, where) == expected


def test_implicit_collection_without_alias(plant: Path) -> None:
    rows = query(plant, "SELECT * FROM DIGITALTWINS WHERE $dtId = 'tank-1' AND capacity = 50")
    assert [r["$dtId"] for r in rows.rows] == ["tank-1"]
    rows = query(plant, "SELECT name FROM DIGITALTWINS WHERE IS_OF_MODEL('dtmi:tql:Tank;1')")
    assert rows.rows == [{"name": "Main"}, {"name": 'O\'Brien "quoted"'}]


# --- relationships --------------------------------------------------------------------


def test_one_hop_with_relationship_alias_and_properties(plant: Path) -> None:
    rows = query(
        plant,
        "SELECT P.$dtId, T.name, R FROM DIGITALTWINS P JOIN T RELATED P.feeds R "
        "WHERE R.length > 5 OR R.pipe = 'steel'",
    ).rows
    assert rows == [
        {
            "$dtId": "pump-1",
            "name": "Main",
            "R": {
                "$relationshipId": rows[0]["R"]["$relationshipId"],
                "$sourceId": "pump-1",
                "$targetId": "tank-1",
                "$relationshipName": "feeds",
                "length": 3.0,
                "pipe": "steel",
            },
        },
        {
            "$dtId": "pump-2",
            "name": 'O\'Brien "quoted"',
            "R": {
                "$relationshipId": rows[1]["R"]["$relationshipId"],
                "$sourceId": "pump-2",
                "$targetId": "tank-2",
                "$relationshipName": "feeds",
                "length": 8.0,
            },
        },
    ]
    narrowed = query(
        plant,
        "SELECT R.$targetId AS target, R.length FROM DIGITALTWINS P JOIN T RELATED P.feeds AS R "
        "WHERE R.$sourceId = 'pump-2' AND NOT IS_DEFINED(R.pipe)",
    ).rows
    assert narrowed == [{"target": "tank-2", "length": 8.0}]


def test_three_hop_chain_unanchored(plant: Path) -> None:
    result = query(
        plant,
        "SELECT S.$dtId AS station, P.$dtId AS pump, TK.name AS tank, V FROM DIGITALTWINS S "
        "JOIN P RELATED S.contains JOIN TK RELATED P.feeds JOIN V RELATED TK.drains "
        "WHERE V.open = true AND IS_OF_MODEL(P, 'dtmi:tql:Device;1')",
    )
    (row,) = result.rows
    assert row["station"] == "station-1"
    assert row["pump"] == "pump-1"
    assert row["tank"] == "Main"
    assert row["V"]["$dtId"] == "valve-1"


def test_joins_from_one_alias_and_several_collections(plant: Path) -> None:
    both = query(
        plant,
        "SELECT A, B FROM DIGITALTWINS S JOIN A RELATED S.contains JOIN B RELATED S.contains "
        "WHERE A.rated > 6 AND IS_OF_MODEL(B, 'dtmi:tql:SpecialPump;1')",
    ).rows
    assert [(r["A"]["$dtId"], r["B"]["$dtId"]) for r in both] == [("pump-1", "pump-2")]
    every = query(plant, "SELECT * FROM DIGITALTWINS P JOIN T RELATED P.feeds").rows
    assert [(r["P"]["$dtId"], r["T"]["$dtId"]) for r in every] == [
        ("pump-1", "tank-1"),
        ("pump-2", "tank-2"),
    ]


def test_comparing_two_paths_is_refused_with_a_position(plant: Path) -> None:
    text = "SELECT A FROM DIGITALTWINS A JOIN B RELATED A.feeds WHERE A.rated > B.capacity"
    with pytest.raises(QuerySyntaxError, match="two property paths") as caught:
        query(plant, text)
    assert (caught.value.line, caught.value.column) == (1, text.index("A.rated") + 1)


# --- paging ---------------------------------------------------------------------------


def test_paging_walks_every_row_once(plant: Path) -> None:
    text = "SELECT T.$dtId FROM DIGITALTWINS T"

    async def walk(store: SQLiteStore) -> list[list[str]]:
        pages: list[list[str]] = []
        token = None
        while True:
            result = await run_query(store, MODEL_SET, text, page_size=3, continuation=token)
            pages.append([r["$dtId"] for r in result.rows])
            token = result.continuation
            if token is None:
                return pages

    assert on_plant(plant, walk) == [ALL[:3], ALL[3:6], ALL[6:]]


def test_paging_a_join_and_top_across_pages(plant: Path) -> None:
    text = "SELECT TOP(3) S.$dtId AS s, P.$dtId AS p FROM DIGITALTWINS S JOIN P RELATED S.contains"
    first = query(plant, text.replace("TOP(3) ", ""), page_size=1)
    assert first.rows == [{"s": "station-1", "p": "pump-1"}]
    second = query(plant, text.replace("TOP(3) ", ""), page_size=1, continuation=first.continuation)
    assert second.rows == [{"s": "station-1", "p": "pump-2"}]
    assert second.continuation is None

    topped = "SELECT TOP(3) T.$dtId FROM DIGITALTWINS T"
    page = query(plant, topped, page_size=2)
    assert len(page.rows) == 2
    rest = query(plant, topped, page_size=2, continuation=page.continuation)
    assert [r["$dtId"] for r in rest.rows] == ["pump-2"]
    assert rest.continuation is None


def test_continuation_of_another_query_or_garbage_is_refused(plant: Path) -> None:
    page = query(plant, "SELECT T.$dtId FROM DIGITALTWINS T", page_size=2)
    assert page.continuation is not None
    with pytest.raises(ValidationError, match="belongs to another query"):
        query(plant, "SELECT T FROM DIGITALTWINS T", page_size=2, continuation=page.continuation)
    for junk in ("not a token!", "eyJ2IjoxfQ", ""):
        with pytest.raises(ValidationError, match="continuation token is not one"):
            query(plant, "SELECT T.$dtId FROM DIGITALTWINS T", continuation=junk)
    with pytest.raises(ValidationError, match="COUNT"):
        query(plant, "SELECT COUNT() FROM DIGITALTWINS", continuation=page.continuation)


@pytest.mark.parametrize("size", [0, -1, 10_001, 2.5, True])
def test_bad_page_sizes_are_refused(plant: Path, size: Any) -> None:
    with pytest.raises(ValidationError, match="page size"):
        query(plant, "SELECT * FROM DIGITALTWINS", page_size=size)


# --- injection ------------------------------------------------------------------------


def table_counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("twins", "twin_values", "edges", "events")
        }


INJECTIONS = [
    "SELECT * FROM DIGITALTWINS T WHERE T.name = 'x'; DROP TABLE twins --'",
    "SELECT * FROM DIGITALTWINS T WHERE T.$dtId = '' OR 1=1",
    "SELECT * FROM DIGITALTWINS T WHERE T.'name' = 'x'",
    'SELECT * FROM DIGITALTWINS T WHERE T."name" = 1',
    "SELECT * FROM DIGITALTWINS T WHERE T.name = 'x' -- comment",
    "SELECT * FROM DIGITALTWINS T; DELETE FROM twins",
    "SELECT * FROM DIGITALTWINS T JOIN X RELATED T.`feeds` WHERE 1",
    "SELECT * FROM DIGITALTWINS T WHERE T.name = 'x' UNION SELECT * FROM events",
    "SELECT * FROM DIGITALTWINS T WHERE T.$dtId = 'pump-1'' OR ''1''=''1'",
    "SELECT * FROM DIGITALTWINS T WHERE T.name = 'x''; DROP TABLE twins; --'",
]


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_attempts_are_syntax_errors_and_change_nothing(plant: Path, text: str) -> None:
    before = table_counts(plant)
    with pytest.raises(QuerySyntaxError, match=r"^line \d+, column \d+: "):
        query(plant, text)
    assert table_counts(plant) == before


def test_sql_in_string_literals_and_values_is_just_text(plant: Path) -> None:
    before = table_counts(plant)
    assert ids(plant, 'T.name = "x\'); DROP TABLE twins; --"') == []
    assert ids(plant, "T.serial = 'Robert\\'); DROP TABLE twins; --'") == ["device-1"]
    assert ids(plant, f'T.serial = "{SQL_VALUE}"') == ["device-1"]
    assert ids(plant, "CONTAINS(T.serial, '; DROP')") == ["device-1"]
    assert table_counts(plant) == before


# --- the index follows the runtime ----------------------------------------------------


def test_queries_see_writes_deletes_and_removed_relationships(tmp_path: Path) -> None:
    async def main() -> None:
        async with await SQLiteStore.open(tmp_path / "live.db") as store:
            runtime = await Runtime.open(store)
            await build_plant(runtime)
            models = runtime.models

            async def pumps(where: str) -> list[str]:
                text = f"SELECT T.$dtId FROM DIGITALTWINS T WHERE {where}"
                return [r["$dtId"] for r in (await run_query(store, models, text)).rows]

            assert await pumps("T.rated > 6") == ["pump-1"]
            await runtime.report("pump-2", {"rated": 9.0}, cause=ADMIN)
            assert await pumps("T.rated > 6") == ["pump-1", "pump-2"]
            await runtime.report("pump-1", {}, removed=["rated"], cause=ADMIN)
            assert await pumps("T.rated > 6") == ["pump-2"]
            await runtime.report("pump-1", {"config": {"max": 1.0}}, cause=ADMIN)
            assert await pumps("IS_DEFINED(T.config.mode)") == []
            hop = "SELECT TK.$dtId FROM DIGITALTWINS P JOIN TK RELATED P.feeds WHERE P.$dtId = 'pump-1'"
            assert (await run_query(store, models, hop)).rows == [{"$dtId": "tank-1"}]
            (edge,) = runtime.outgoing("pump-1")
            await runtime.remove_relationship("pump-1", edge.id, cause=ADMIN)
            assert (await run_query(store, models, hop)).rows == []
            await runtime.create_twin("pump-9", SPECIAL, {"rated": 99.0}, cause=ADMIN)
            assert await pumps("IS_OF_MODEL(T, 'dtmi:tql:Device;1') AND T.rated > 50") == ["pump-9"]
            await runtime.delete_twin("pump-9", cause=ADMIN)
            assert await pumps("T.rated > 50") == []
            await runtime.close()

    asyncio.run(main())


def test_query_language_doc_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "docs" / "query-language.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert blocks, "docs/query-language.md lost its example"
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "query_doc"}
    for block in blocks:
        exec(compile(block, "docs/query-language.md", "exec"), namespace)

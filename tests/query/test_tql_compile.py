"""Compiling twin queries: parameterized SQL on the query index, plans that use its keys."""

from __future__ import annotations

import asyncio
import random
import re
import sqlite3
from pathlib import Path

import orjson
import pytest
from tql_models import MODELS, PUMP, SPECIAL, TANK

from twinkit.model.dtdl import parse as parse_dtdl
from twinkit.query._tql import compile_query, parse_query
from twinkit.query._tql_lexer import QuerySyntaxError
from twinkit.store import SQLiteStore
from twinkit.store._sqlite_index import value_rows

MODEL_SET = parse_dtdl(MODELS)


def test_values_paths_and_names_are_parameters_never_sql_text() -> None:
    text = (
        "SELECT Tq.zzprop AS zzname FROM DIGITALTWINS Tq JOIN Cq RELATED Tq.zzrel Rq "
        "WHERE Tq.zzpath.zzfield = 'zzvalue' AND Rq.zzedge > 7.25 AND STARTSWITH(Cq.$dtId, 'zzp') "
        "AND IS_OF_MODEL(Cq, 'dtmi:tql:Tank;1')"
    )
    compiled = compile_query(text, MODEL_SET)
    assert "zz" not in compiled.sql
    assert "Tq" not in compiled.sql and "Rq" not in compiled.sql
    assert "7.25" not in compiled.sql and TANK not in compiled.sql
    assert {"zzrel", "zzpath.zzfield", "zzvalue", 7.25, "zzp", TANK} <= set(compiled.params)
    assert '$."zzedge"' in compiled.params
    # Every ?N in the SQL has its parameter, and every parameter is used.
    numbers = {int(n) for n in re.findall(r"\?(\d+)", compiled.sql)}
    assert numbers == set(range(1, len(compiled.params) + 1))


def test_user_aliases_that_look_like_sql_names_cannot_reach_the_sql() -> None:
    compiled = compile_query(
        "SELECT twins, edges FROM DIGITALTWINS twins JOIN edges RELATED twins.t0 r0 "
        "WHERE r0.x = 1 AND edges.y = 2",
        MODEL_SET,
    )
    assert compiled.sql.startswith("SELECT t0.id, r0.id, t0.doc, t1.doc FROM twins AS t0 ")
    assert compiled.shape == "rows"
    assert [o.name for o in compiled.outputs] == ["twins", "edges"]


def test_a_property_filter_is_one_subquery_on_the_value_key() -> None:
    compiled = compile_query("SELECT * FROM DIGITALTWINS T WHERE T.rated > 6", MODEL_SET)
    assert compiled.sql == (
        "SELECT t0.id, t0.doc FROM twins AS t0 WHERE t0.id IN (SELECT twin_id FROM twin_values "
        "WHERE path = ?2 AND kind = ?3 AND value > ?1) ORDER BY t0.id"
    )
    assert compiled.params == (6, "rated", "n")
    assert compiled.shape == "document"


def test_not_is_pushed_down_and_keeps_the_type_requirement() -> None:
    compiled = compile_query(
        "SELECT * FROM DIGITALTWINS T WHERE NOT (T.a = 5 OR T.b <= 'x')", MODEL_SET
    )
    where = compiled.where
    assert "NOT" not in where
    assert " AND " in where and " OR " not in where
    assert "value != ?" in where and "value > ?" in where
    assert where.count("kind = ?") == 2
    assert compiled.params[compiled.params.index(5) :] == (5, "a", "n", "x", "b", "s")
    total = compile_query("SELECT * FROM DIGITALTWINS T WHERE NOT IS_DEFINED(T.a)", MODEL_SET)
    assert total.where == "NOT (t0.id IN (SELECT twin_id FROM twin_values WHERE path = ?1))"


def test_is_of_model_takes_the_models_that_extend_it() -> None:
    base = compile_query(
        "SELECT * FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:tql:Device;1')", MODEL_SET
    )
    assert "t0.model IN (?1, ?2, ?3)" in base.where
    assert set(base.params) == {"dtmi:tql:Device;1", PUMP, SPECIAL}
    exact = compile_query(
        "SELECT * FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:tql:Pump;1', EXACT)", MODEL_SET
    )
    assert exact.where == "t0.model = ?1"
    assert exact.params == (PUMP,)


def test_component_paths_also_match_properties_reported_by_path() -> None:
    compiled = compile_query(
        "SELECT * FROM DIGITALTWINS T WHERE T.motor.temperature > 1", MODEL_SET
    )
    assert "path IN (?2, ?3)" in compiled.where
    assert compiled.params[1:3] == ("motor.temperature", "motor/temperature")


def test_count_and_page_statements() -> None:
    counted = compile_query("SELECT COUNT() FROM DIGITALTWINS", MODEL_SET)
    assert counted.sql == "SELECT COUNT(*) FROM twins AS t0 WHERE 1"
    assert counted.shape == "count"
    joined = compile_query("SELECT A FROM DIGITALTWINS A JOIN B RELATED A.r", MODEL_SET)
    assert joined.keys == ("t0.id", "r0.id")
    sql, params = joined.page(["a", "e"], 10)
    assert sql.endswith("WHERE (t0.id, r0.id) > (?2, ?3) ORDER BY t0.id, r0.id LIMIT ?4")
    assert params == ("r", "a", "e", 10)


SEMANTIC = [
    ("SELECT X.a FROM DIGITALTWINS T", "X.a", "unknown alias 'X'"),
    ("SELECT * FROM DIGITALTWINS T WHERE Q.a = 1", "Q.a", "unknown alias 'Q'"),
    ("SELECT * FROM DIGITALTWINS T WHERE name = 1", "name", "unknown alias 'name'"),
    ("SELECT * FROM DIGITALTWINS T WHERE T = 1", "T =", "'T' is a collection, not a value"),
    ("SELECT * FROM DIGITALTWINS T WHERE 1 = 1", "1 = 1", "comparison of two literals"),
    ("SELECT * FROM DIGITALTWINS T WHERE T.a = T.b", "T.a", "comparison of two property paths"),
    ("SELECT * FROM DIGITALTWINS T WHERE 'x' IN ['x']", "'x' IN", "IN needs a property path"),
    ("SELECT * FROM DIGITALTWINS T JOIN C RELATED X.r", "JOIN", "'X' is not a twin collection"),
    ("SELECT * FROM DIGITALTWINS T JOIN T RELATED T.r", "JOIN", "alias 'T' is used twice"),
    ("SELECT * FROM DIGITALTWINS T JOIN C RELATED T.r C", "JOIN", "alias 'C' is used twice"),
    ("SELECT * FROM DIGITALTWINS T JOIN C RELATED T.r R JOIN D RELATED R.x", "JOIN D", "'R' is not a twin collection"),
    ("SELECT T.a, C.a FROM DIGITALTWINS T JOIN C RELATED T.r", "C.a", "both named 'a'"),
    ("SELECT TOP(2) COUNT() FROM DIGITALTWINS", "COUNT", "COUNT() cannot be combined"),
    ("SELECT COUNT(), T FROM DIGITALTWINS T", "COUNT", "COUNT() cannot be combined"),
    ("SELECT * FROM DIGITALTWINS T JOIN C RELATED T.r WHERE IS_OF_MODEL('dtmi:a:B;1')", "IS_OF", "needs the collection"),
    ("SELECT * FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'pump')", "'pump'", "needs a model id"),
    ("SELECT * FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 7)", "7)", "needs a model id"),
    ("SELECT * FROM DIGITALTWINS T WHERE IS_OF_MODEL(T.a, 'dtmi:a:B;1')", "IS_OF", "not a twin collection"),
    ("SELECT * FROM DIGITALTWINS T JOIN C RELATED T.r R WHERE IS_OF_MODEL(R, 'dtmi:a:B;1')", "IS_OF", "not a twin collection"),
    ("SELECT * FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, T.x)", "IS_OF", "IS_OF_MODEL takes"),
    ("SELECT * FROM DIGITALTWINS T WHERE STARTSWITH(T.a, 1)", "STARTS", "needs a string as its second"),
    ("SELECT * FROM DIGITALTWINS T WHERE CONTAINS('a', T.a)", "CONTAINS", "needs a property path as its first"),
    ("SELECT * FROM DIGITALTWINS T WHERE IS_DEFINED(T)", "T)", "'T' is a collection"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "marker", "message"), SEMANTIC)
def test_meaningless_queries_are_errors_that_point_at_the_culprit(
    text: str, marker: str, message: str
) -> None:
    query = parse_query(text)  # they parse ...
    with pytest.raises(QuerySyntaxError) as caught:
        compile_query(query, MODEL_SET)  # ... but do not compile
    error = caught.value
    assert message in error.message
    assert (error.line, error.column) == (1, text.index(marker) + 1), error.message


# --- plans ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def index_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose query index holds 3,000 twins and 6,000 edges, written directly."""
    path = tmp_path_factory.mktemp("plans") / "index.db"

    async def create() -> None:
        store = await SQLiteStore.open(path)
        await store.close()

    asyncio.run(create())
    rnd = random.Random(7)
    twins, values, edges = [], [], []
    for i in range(3000):
        twin_id = f"twin-{i:05d}"
        model = (PUMP, TANK, SPECIAL)[i % 3]
        props = {"rated": rnd.random() * 100, "serial": f"S{i:05d}", "config": {"max": i % 50}}
        twins.append((twin_id, model, 1, orjson.dumps({"$dtId": twin_id, **props})))
        for name, value in props.items():
            values.extend(value_rows(twin_id, name, value))
        target = f"twin-{(i * 7 + 1) % 3000:05d}"
        edges.append((twin_id, f"f{i}", "feeds", target, orjson.dumps({"length": i % 10})))
        edges.append((twin_id, f"d{i}", "drains", f"twin-{(i + 5) % 3000:05d}", b"{}"))
    with sqlite3.connect(path) as conn:
        conn.executemany("INSERT INTO twins VALUES (?, ?, ?, ?)", twins)
        conn.executemany(
            "INSERT INTO twin_values (path, kind, value, twin_id) VALUES (?, ?, ?, ?)", values
        )
        conn.executemany("INSERT INTO edges VALUES (?, ?, ?, ?, ?)", edges)
    return path


def plan(path: Path, text: str) -> tuple[list[str], int]:
    compiled = compile_query(text, MODEL_SET)
    sql, params = compiled.page(None, 1001)
    with sqlite3.connect(path) as conn:
        steps = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
        rows = len(conn.execute(sql, params).fetchall())
    return steps, rows


def test_a_property_filter_reads_one_range_of_the_value_key(index_db: Path) -> None:
    steps, rows = plan(index_db, "SELECT * FROM DIGITALTWINS T WHERE T.rated > 99")
    assert "SEARCH twin_values USING PRIMARY KEY (path=? AND kind=? AND value>?)" in steps
    assert "SEARCH t0 USING PRIMARY KEY (id=?)" in steps
    assert not any(step.startswith("SCAN") for step in steps), steps
    assert 10 < rows < 60
    steps, rows = plan(index_db, "SELECT * FROM DIGITALTWINS T WHERE STARTSWITH(T.serial, 'S001')")
    assert any("value>? AND value<?" in step for step in steps), steps
    assert rows == 100


def test_a_relationship_hop_follows_the_edge_indexes(index_db: Path) -> None:
    for text in (
        "SELECT T, C FROM DIGITALTWINS T JOIN C RELATED T.feeds WHERE T.rated > 99",
        "SELECT T, C FROM DIGITALTWINS T JOIN C RELATED T.feeds WHERE C.rated > 99",
        "SELECT A, D FROM DIGITALTWINS A JOIN B RELATED A.feeds JOIN C RELATED B.drains "
        "JOIN D RELATED C.feeds R WHERE A.config.max = 3 AND R.length > 4",
    ):
        steps, rows = plan(index_db, text)
        assert not any(step.startswith("SCAN") for step in steps), (text, steps)
        assert any("twin_values USING PRIMARY KEY" in step for step in steps)
        assert rows > 0

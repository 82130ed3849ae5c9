"""Parsing twin queries: the tree a query becomes, and errors that point at the mistake."""

from __future__ import annotations

import pytest

from twinkit.errors import ValidationError
from twinkit.query._tql import parse_query
from twinkit.query._tql_ast import (
    And,
    Call,
    Comparison,
    Count,
    InList,
    Join,
    Literal,
    Not,
    Or,
    Path,
    Select,
    Star,
)
from twinkit.query._tql_lexer import MAX_QUERY_LENGTH, QuerySyntaxError
from twinkit.query._tql_parser import MAX_DEPTH, MAX_JOINS, MAX_LIST


def test_a_full_query_becomes_its_tree() -> None:
    text = (
        "SELECT TOP(5) T.name AS n, CT FROM DIGITALTWINS T JOIN CT RELATED T.feeds R "
        "WHERE (T.a > 3 OR NOT IS_OF_MODEL(T, 'dtmi:x:Y;1', exact)) AND R.len IN [1, 'two']"
    )
    query = parse_query(text)
    assert query.text == text
    assert query.top == 5
    assert query.alias == "T"
    assert query.projections == (
        Select(Path(("T", "name"), 1, 15), "n"),
        Select(Path(("CT",), 1, 28), None),
    )
    assert query.joins == (Join("CT", "T", "feeds", "R", 1, 51),)
    where = query.where
    assert isinstance(where, And)
    first, second = where.operands
    assert isinstance(first, Or)
    assert first.operands[0] == Comparison(
        ">", Path(("T", "a"), 1, text.index("T.a") + 1), Literal(3, 1, text.index("3 OR") + 1), 1,
        text.index("T.a") + 1,
    )  # fmt: skip
    negated = first.operands[1]
    assert isinstance(negated, Not)
    call = negated.operand
    assert isinstance(call, Call)
    assert call.name == "IS_OF_MODEL"
    assert [str(a) if isinstance(a, Path) else a.value for a in call.args] == [
        "T",
        "dtmi:x:Y;1",
        "exact",
    ]
    assert isinstance(second, InList)
    assert [item.value for item in second.items] == [1, "two"]
    assert second.negated is False


def test_keywords_are_case_insensitive_and_aliases_optional() -> None:
    query = parse_query("select count() from digitaltwins where $dtId nin ['a']")
    assert query.projections == (Count(1, 8),)
    assert query.alias is None
    assert isinstance(query.where, InList)
    assert query.where.negated is True
    assert parse_query("SeLeCt * FrOm DigitalTwins AS x").alias == "x"
    assert parse_query("SELECT * FROM DIGITALTWINS").projections == (Star(1, 8),)
    join = parse_query("SELECT A FROM DIGITALTWINS A JOIN B RELATED A.r AS E").joins[0]
    assert join.relationship_alias == "E"


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'it''s'", None),  # not an escape: two strings, a syntax error (checked below)
        ("'single'", "single"),
        ('"double"', "double"),
        ("'it\\'s'", "it's"),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'tab\\tnew\\nline \\u00e9'", "tab\tnew\nline \u00e9"),
        ("'é ✓'", "é ✓"),
        ("42", 42),
        ("-7", -7),
        ("2.5", 2.5),
        ("-1.5e3", -1500.0),
        ("1E2", 100.0),
        ("true", True),
        ("FALSE", False),
        ("Null", None),
    ],
)
def test_literals(literal: str, value: object) -> None:
    text = f"SELECT * FROM DIGITALTWINS T WHERE T.x = {literal}"
    if literal == "'it''s'":
        with pytest.raises(QuerySyntaxError, match="expected end of query"):
            parse_query(text)
        return
    where = parse_query(text).where
    assert isinstance(where, Comparison)
    assert isinstance(where.right, Literal)
    assert where.right.value == value
    assert type(where.right.value) is type(value)


def test_not_equal_spellings_and_properties_named_like_keywords() -> None:
    for op in ("!=", "<>"):
        where = parse_query(f"SELECT * FROM DIGITALTWINS T WHERE T.select.from {op} 1").where
        assert isinstance(where, Comparison)
        assert where.op == "!="
        assert where.left == Path(("T", "select", "from"), 1, 36)


def test_positions_count_lines_and_columns() -> None:
    text = "SELECT *\n  FROM DIGITALTWINS T\n  WHERE T.a = 1\n    AND T.b FOO 2"
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(text)
    error = caught.value
    assert (error.line, error.column) == (4, 13)
    assert error.message == (
        "line 4, column 13: expected a comparison (=, !=, <>, <, <=, >, >=), IN or NIN, got 'FOO'"
    )
    assert str(error).endswith("    AND T.b FOO 2\n              ^")


def test_the_error_names_what_was_expected_and_what_came() -> None:
    text = "SELECT T.name, T.x AS y FORM DIGITALTWINS T"
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(text)
    error = caught.value
    assert isinstance(error, ValidationError)
    column = text.index("FORM") + 1
    assert error.message == f"line 1, column {column}: expected ',', AS or FROM, got 'FORM'"
    assert error.got == "FORM"
    assert error.expected == "',', AS or FROM"
    assert error.path == f"query line 1, column {column}"
    with pytest.raises(QuerySyntaxError, match=r"line 1, column 10: expected FROM, got 'FORM'"):
        parse_query("SELECT * FORM DIGITALTWINS")


ERRORS = [
    ("", 1, 1, "expected SELECT, got end of query"),
    ("SELECT", 1, 7, "expected *, COUNT(), a collection alias or a property path"),
    ("SELECT * FROM TWINS", 1, 15, "expected DIGITALTWINS, got 'TWINS'"),
    ("SELECT * FROM DIGITALTWINS T WHERE", 1, 35, "expected a condition"),
    ("SELECT * FROM DIGITALTWINS T WHERE T.a = 'abc", 1, 42, "unterminated string"),
    ('SELECT * FROM DIGITALTWINS T WHERE T.a = "abc', 1, 42, "unterminated string"),
    ("SELECT * FROM DIGITALTWINS T WHERE T.a = 'a\\qb'", 1, 44, "unknown escape '\\\\q'"),
    ("SELECT * FROM DIGITALTWINS T WHERE FOO(T.a)", 1, 36, "unknown function 'FOO'"),
    ("SELECT * FROM DIGITALTWINS T WHERE IS_DEFINED()", 1, 36, "IS_DEFINED takes 1 argument, got 0"),
    ("SELECT * FROM DIGITALTWINS T WHERE STARTSWITH(T.a)", 1, 36, "STARTSWITH takes 2 arguments, got 1"),
    ("SELECT * FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'x', exact, 1)", 1, 36, "IS_OF_MODEL takes 1 to 3 arguments, got 4"),
    ("SELECT TOP(0) * FROM DIGITALTWINS", 1, 12, "expected a whole number >= 1 in TOP(n), got '0'"),
    ("SELECT TOP(-1) * FROM DIGITALTWINS", 1, 12, "expected a whole number >= 1 in TOP(n), got '-1'"),
    ("SELECT TOP(1.5) * FROM DIGITALTWINS", 1, 12, "expected a whole number in TOP(n)"),
    ("SELECT TOP 5 * FROM DIGITALTWINS", 1, 12, "expected '(' after TOP"),
    ("SELECT * FROM DIGITALTWINS WHERE", 1, 33, "expected a condition"),
    ("SELECT * FROM DIGITALTWINS T WHERE T.a IN []", 1, 44, "expected a literal"),
    ("SELECT * FROM DIGITALTWINS T WHERE T.a IN ('x')", 1, 43, "expected '[' to open the list"),
    ("SELECT * FROM DIGITALTWINS T WHERE T.a IN [T.b]", 1, 44, "expected a literal"),
    ("SELECT * FROM DIGITALTWINS T WHERE (T.a = 1", 1, 44, "expected ')' or a boolean operator"),
    ("SELECT * FROM DIGITALTWINS T WHERE T.a = 1)", 1, 43, "expected end of query, got ')'"),
    ("SELECT * FROM DIGITALTWINS T WHERE T. = 1", 1, 39, "expected a property name after '.'"),
    ("SELECT * FROM DIGITALTWINS WHERE JOIN", 1, 34, "expected a condition: a comparison, a function, NOT or '(', got 'JOIN'"),
    ("SELECT * FROM DIGITALTWINS SELECT", 1, 28, "expected JOIN, WHERE or end of query"),
    ("SELECT * FROM DIGITALTWINS T JOIN WHERE RELATED T.x", 1, 35, "WHERE is a keyword"),
    ("SELECT * FROM DIGITALTWINS T JOIN C T.x", 1, 37, "expected RELATED after JOIN C"),
    ("SELECT * FROM DIGITALTWINS T JOIN C RELATED T", 1, 46, "expected '.' and a relationship"),
    ("SELECT T.a AS FROM FROM DIGITALTWINS T", 1, 15, "expected a name after AS"),
    ("SELECT COUNT(1) FROM DIGITALTWINS", 1, 14, "COUNT() takes no arguments"),
    ("SELECT * FROM DIGITALTWINS T WHERE T.a = 1; DROP TABLE twins", 1, 43, "unexpected character ';'"),
    ("SELECT * FROM DIGITALTWINS T WHERE T.a = 1 -- x", 1, 44, "unexpected character '-'"),
    ("SELECT * FROM DIGITALTWINS T WHERE T.a = 12abc", 1, 42, "malformed number"),
    ("SELECT * FROM DIGITALTWINS T WHERE T.a == 1", 1, 41, "expected a property path or a literal after ="),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "column", "message"), ERRORS)
def test_syntax_errors(text: str, line: int, column: int, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(text)
    error = caught.value
    assert message in error.message
    assert (error.line, error.column) == (line, column), error.message
    assert error.message.startswith(f"line {line}, column {column}: ")


def test_limits_on_length_depth_joins_and_lists() -> None:
    with pytest.raises(QuerySyntaxError, match=f"over the limit of {MAX_QUERY_LENGTH}"):
        parse_query("SELECT * FROM DIGITALTWINS T WHERE T.a = '" + "x" * MAX_QUERY_LENGTH + "'")
    deep = "SELECT * FROM DIGITALTWINS T WHERE " + "(" * (MAX_DEPTH + 1) + "T.a = 1"
    with pytest.raises(QuerySyntaxError, match="too deep"):
        parse_query(deep + ")" * (MAX_DEPTH + 1))
    nots = "SELECT * FROM DIGITALTWINS T WHERE " + "NOT " * (MAX_DEPTH + 5) + "T.a = 1"
    with pytest.raises(QuerySyntaxError, match="too deep"):
        parse_query(nots)
    fine = "SELECT * FROM DIGITALTWINS T WHERE " + "(" * (MAX_DEPTH - 1) + "T.a = 1"
    assert parse_query(fine + ")" * (MAX_DEPTH - 1)).where is not None
    joins = " ".join(f"JOIN C{i} RELATED T.r" for i in range(MAX_JOINS + 1))
    with pytest.raises(QuerySyntaxError, match="too many relationship hops"):
        parse_query(f"SELECT * FROM DIGITALTWINS T {joins}")
    values = ", ".join(str(i) for i in range(MAX_LIST + 1))
    with pytest.raises(QuerySyntaxError, match=f"at most {MAX_LIST} values"):
        parse_query(f"SELECT * FROM DIGITALTWINS T WHERE T.a IN [{values}]")


def test_non_text_is_refused() -> None:
    with pytest.raises(QuerySyntaxError, match="must be text"):
        parse_query(b"SELECT * FROM DIGITALTWINS")  # type: ignore[arg-type]


def test_errors_survive_pickling_for_worker_processes() -> None:
    import pickle

    with pytest.raises(QuerySyntaxError) as caught:
        parse_query("SELECT * FORM DIGITALTWINS")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert str(copy) == str(caught.value)
    assert (copy.line, copy.column) == (1, 10)

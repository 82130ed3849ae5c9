"""Compile a twin query to one parameterized SQL statement on the store's query index.

The statement reads the index tables of :mod:`twinkit.store._sqlite_index`: ``twins`` (one row
per twin, its model and document), ``twin_values`` (one row per node of every reported value,
keyed by ``(path, kind, value)``) and ``edges``. Each collection of the query becomes an alias
the compiler makes up (``t0``, ``t1``; relationships ``r0``, ``r1``), never one from the text.

Every value taken from the query, property paths and relationship names included, is bound as
a numbered parameter (``?1``, ``?2``: a value used twice is bound once); the SQL text holds
only the compiler's own words.

Conditions follow Azure Digital Twins' rules for undefined values: a comparison with a
property that is missing, or of another type than the literal, is false, and so is its NOT.
The compiler therefore pushes NOT down to the atoms (negation normal form) and turns
``NOT T.x = 5`` into "``T.x`` is a number and not 5". A property test becomes
``t0.id IN (SELECT twin_id FROM twin_values WHERE path = ? AND kind = ? AND value > ?)``, one
range of the ``twin_values`` primary key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol
from typing import Literal as TypingLiteral

from twinkit.model import ModelSet
from twinkit.model._dtmi import is_dtmi
from twinkit.query._tql_ast import (
    And,
    Call,
    CompareOp,
    Comparison,
    Condition,
    Count,
    InList,
    Join,
    Literal,
    Not,
    Or,
    Path,
    Query,
    Scalar,
    Select,
    Star,
)
from twinkit.query._tql_lexer import QuerySyntaxError
from twinkit.query._tql_parser import parse

__all__ = ["CompiledQuery", "Output", "Shape", "compile_query"]

Shape = TypingLiteral["document", "rows", "count"]
"""How rows come back: the projected document itself, a dict per row, or ``{"COUNT": n}``."""

_NEGATED: Final[dict[CompareOp, CompareOp]] = {"=": "!=", "!=": "=", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}  # fmt: skip
_MIRRORED: Final[dict[CompareOp, CompareOp]] = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}  # fmt: skip
# The index's kinds (see twinkit.store._sqlite_index) as SQLite's json_type() names them.
_JSON_TYPES: Final = {"n": ("integer", "real"), "s": ("text",), "b": ("true", "false"), "z": ("null",), "o": ("object",), "a": ("array",)}  # fmt: skip
_TYPE_TESTS: Final[dict[str, tuple[str, ...] | None]] = {
    "IS_DEFINED": None, "IS_NULL": ("z",), "IS_BOOL": ("b",), "IS_NUMBER": ("n",),
    "IS_STRING": ("s",), "IS_OBJECT": ("o",), "IS_PRIMITIVE": ("n", "s", "b", "z"),
}  # fmt: skip
_EDGE_COLUMNS: Final = {"$relationshipId": "id", "$sourceId": "source", "$targetId": "target", "$relationshipName": "name"}  # fmt: skip
_EDGE_SELECT: Final = ("source", "id", "name", "target", "properties")
_FALSE: Final = "0"
_TRUE: Final = "1"

Pred = Callable[[str], str]


class _Located(Protocol):
    """A syntax node: where it starts in the query text."""

    @property
    def line(self) -> int: ...

    @property
    def column(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Output:
    """One item of a result row: a twin or relationship of collection ``alias`` (``path``
    empty) or a value at ``path`` in its document; ``column`` is its first SQL column."""

    name: str
    kind: TypingLiteral["twin", "relationship"]
    column: int
    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    """A query ready to run: ``sql`` with numbered parameters ``params``.

    ``sql`` returns every row, ordered by ``keys`` (the first ``len(keys)`` columns); run it
    page by page with :meth:`page`. ``fingerprint`` identifies the query text in
    continuation tokens.
    """

    sql: str
    params: tuple[Scalar, ...]
    shape: Shape
    outputs: tuple[Output, ...]
    keys: tuple[str, ...]
    top: int | None
    fingerprint: str
    head: str
    where: str

    def page(self, after: Sequence[str] | None, limit: int) -> tuple[str, tuple[Scalar, ...]]:
        """The statement for the next ``limit`` rows after the row whose keys are ``after``."""
        params = list(self.params)
        where = self.where
        if after is not None:
            marks = []
            for key in after:
                params.append(key)
                marks.append(f"?{len(params)}")
            if len(self.keys) == 1:
                keyset = f"{self.keys[0]} > {marks[0]}"
            else:
                keyset = f"({', '.join(self.keys)}) > ({', '.join(marks)})"
            where = keyset if where == _TRUE else f"({where}) AND {keyset}"
        params.append(limit)
        order = ", ".join(self.keys)
        sql = f"{self.head} WHERE {where} ORDER BY {order} LIMIT ?{len(params)}"
        return sql, tuple(params)


@dataclass(frozen=True, slots=True)
class _Twin:
    sql: str  # t0


@dataclass(frozen=True, slots=True)
class _Edge:
    sql: str  # r0


@dataclass(frozen=True, slots=True)
class _Values:
    """A reported property of a twin: rows of ``twin_values`` under one of ``paths``."""

    twin: str
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Column:
    """A string that every row has: a twin's id or model, an edge's id, source, target, name."""

    sql: str


@dataclass(frozen=True, slots=True)
class _Json:
    """A value inside a JSON column (``$metadata`` and such, relationship properties)."""

    document: str
    path: str


_Operand = _Values | _Column | _Json


def compile_query(query: Query | str, models: ModelSet) -> CompiledQuery:
    """The SQL of ``query`` (text or a parsed :class:`Query`); ``models`` resolves
    ``IS_OF_MODEL`` to the models that extend the one named. QuerySyntaxError on a query
    that parses but means nothing (an unknown alias, a comparison of two literals)."""
    if isinstance(query, str):
        query = parse(query)
    return _Compiler(query, models).compile()


class _Compiler:
    def __init__(self, query: Query, models: ModelSet) -> None:
        self.query = query
        self.models = models
        self.params: list[Scalar] = []
        self.bound: dict[tuple[type, Scalar], str] = {}
        self.aliases: dict[str, _Twin | _Edge] = {}
        self.implicit = query.alias is None

    # --- helpers --------------------------------------------------------------------------

    def bind(self, value: Scalar) -> str:
        """A numbered parameter holding ``value`` (the same value reuses its number)."""
        key = (type(value), value)
        mark = self.bound.get(key)
        if mark is None:
            self.params.append(value)
            mark = self.bound[key] = f"?{len(self.params)}"
        return mark

    def fail(self, message: str, node: _Located, expected: str, got: object) -> QuerySyntaxError:
        return QuerySyntaxError(
            message,
            line=node.line,
            column=node.column,
            text=self.query.text,
            expected=expected,
            got=got,
        )

    # --- FROM and JOIN --------------------------------------------------------------------

    def collections(self) -> str:
        query = self.query
        self.aliases[query.alias or ""] = _Twin("t0")
        sql = ["FROM twins AS t0"]
        for number, join in enumerate(query.joins):
            source = self.aliases.get(join.source)
            if not isinstance(source, _Twin):
                raise QuerySyntaxError(
                    f"JOIN {join.alias} RELATED {join.source}.{join.relationship}: "
                    f"{join.source!r} is not a twin collection named before it",
                    line=join.line,
                    column=join.column,
                    text=query.text,
                    expected="one of " + self.known(_Twin),
                    got=join.source,
                )
            twin, edge = f"t{number + 1}", f"r{number}"
            self.declare(join.alias, _Twin(twin), join)
            if join.relationship_alias is not None:
                self.declare(join.relationship_alias, _Edge(edge), join)
            name = self.bind(join.relationship)
            sql.append(
                f"JOIN edges AS {edge} ON {edge}.source = {source.sql}.id AND {edge}.name = {name}"
            )
            sql.append(f"JOIN twins AS {twin} ON {twin}.id = {edge}.target")
        return " ".join(sql)

    def declare(self, alias: str, target: _Twin | _Edge, join: Join) -> None:
        if alias in self.aliases:
            raise self.fail(f"alias {alias!r} is used twice", join, "a new alias", alias)
        self.aliases[alias] = target

    def known(self, kind: type | None = None) -> str:
        names = [a for a, t in self.aliases.items() if a and (kind is None or isinstance(t, kind))]
        return ", ".join(names) or "(none: name the collection, as in FROM DIGITALTWINS T)"

    def resolve(self, path: Path) -> tuple[_Twin | _Edge, tuple[str, ...]]:
        """The collection a path starts from, and the rest of the path."""
        first = path.parts[0]
        if first in self.aliases and first:
            return self.aliases[first], path.parts[1:]
        if self.implicit and not self.query.joins:
            return self.aliases[""], path.parts
        raise self.fail(
            f"unknown alias {first!r} in {str(path)!r}",
            path,
            expected="a path starting with one of " + self.known(),
            got=first,
        )

    # --- projections ----------------------------------------------------------------------

    def compile(self) -> CompiledQuery:
        query = self.query
        head_from = self.collections()
        where = _TRUE if query.where is None else self.condition(query.where, negated=False)
        keys = ("t0.id", *(f"r{n}.id" for n in range(len(query.joins))))
        fingerprint = hashlib.sha256(query.text.encode()).hexdigest()[:16]
        counts = [p for p in query.projections if isinstance(p, Count)]
        if counts:
            if len(query.projections) > 1 or query.top is not None:
                raise self.fail(
                    "COUNT() cannot be combined with TOP or other projections",
                    counts[0],
                    "SELECT COUNT() FROM ... alone",
                    "COUNT() with TOP or other projections",
                )
            sql = f"SELECT COUNT(*) {head_from} WHERE {where}"
            params = tuple(self.params)
            return CompiledQuery(sql, params, "count", (), keys, None, fingerprint, sql, where)
        columns, outputs, shape = self.outputs(len(keys))
        head = f"SELECT {', '.join((*keys, *columns))} {head_from}"
        sql = f"{head} WHERE {where} ORDER BY {', '.join(keys)}"
        params = tuple(self.params)
        return CompiledQuery(
            sql, params, shape, tuple(outputs), keys, query.top, fingerprint, head, where
        )

    def outputs(self, first: int) -> tuple[list[str], list[Output], Shape]:
        """The SQL columns to read, the row's outputs and the shape of the result."""
        columns: list[str] = []
        where_of: dict[str, int] = {}  # collection sql alias -> its first column
        outputs: list[Output] = []

        def column_of(target: _Twin | _Edge) -> int:
            if target.sql not in where_of:
                where_of[target.sql] = first + len(columns)
                if isinstance(target, _Twin):
                    columns.append(f"{target.sql}.doc")
                else:
                    columns.extend(f"{target.sql}.{c}" for c in _EDGE_SELECT)
            return where_of[target.sql]

        items = self.query.projections
        if isinstance(items[0], Star):
            twins = [(a, t) for a, t in self.aliases.items() if isinstance(t, _Twin)]
            for alias, twin in twins:
                outputs.append(Output(alias or "*", "twin", column_of(twin), ()))
            return columns, outputs, "document" if len(twins) == 1 else "rows"
        for item in items:
            assert isinstance(item, Select)  # Star and Count stand alone (parser, compile)
            target, rest = self.resolve(item.path)
            kind: TypingLiteral["twin", "relationship"] = (
                "twin" if isinstance(target, _Twin) else "relationship"
            )
            name = item.name or (rest[-1] if rest else item.path.parts[0])
            if any(o.name == name for o in outputs):
                raise self.fail(
                    f"two projections are both named {name!r}",
                    item.path,
                    expected="distinct names (rename one with AS)",
                    got=name,
                )
            outputs.append(Output(name, kind, column_of(target), rest))
        first_item = items[0]
        document = (
            len(items) == 1 and isinstance(first_item, Select) and first_item.name is None
            and not outputs[0].path
        )  # fmt: skip
        return columns, outputs, "document" if document else "rows"

    # --- conditions -----------------------------------------------------------------------

    def condition(self, node: Condition, *, negated: bool) -> str:
        """SQL for ``node`` (or for NOT ``node``), NOT pushed down to the atoms."""
        if isinstance(node, Not):
            return self.condition(node.operand, negated=not negated)
        if isinstance(node, And | Or):
            joiner = " AND " if isinstance(node, And) != negated else " OR "
            parts = [self.condition(item, negated=negated) for item in node.operands]
            return "(" + joiner.join(parts) + ")"
        if isinstance(node, Comparison):
            return self.comparison(node, negated)
        if isinstance(node, InList):
            return self.in_list(node, negated)
        return self.call(node, negated)

    def operand(self, path: Path, node: Condition) -> _Operand:
        target, rest = self.resolve(path)
        if not rest:
            raise self.fail(
                f"{str(path)!r} is a collection, not a value",
                path,
                expected=f"a property path such as {path.parts[0]}.name",
                got=str(path),
            )
        if isinstance(target, _Edge):
            if len(rest) == 1 and rest[0] in _EDGE_COLUMNS:
                return _Column(f"{target.sql}.{_EDGE_COLUMNS[rest[0]]}")
            return _Json(f"CAST({target.sql}.properties AS TEXT)", _json_path(rest))
        if rest == ("$dtId",):
            return _Column(f"{target.sql}.id")
        if rest == ("$metadata", "$model"):
            return _Column(f"{target.sql}.model")
        if rest[0].startswith("$"):
            return _Json(f"CAST({target.sql}.doc AS TEXT)", _json_path(rest))
        paths = [".".join(rest)]
        if len(rest) > 1:  # a Component's property reported by path: "motor/speed"
            paths.append(f"{rest[0]}/{'.'.join(rest[1:])}")
        return _Values(target.sql, tuple(paths))

    def test(self, operand: _Operand, kinds: tuple[str, ...] | None, pred: Pred | None) -> str:
        """SQL that is true when ``operand`` is defined, of one of ``kinds`` (None: any) and
        its value satisfies ``pred`` (None: any). Never NULL, so NOT of it is safe."""
        if isinstance(operand, _Column):  # always a defined string
            if kinds is not None and "s" not in kinds:
                return _FALSE
            return pred(operand.sql) if pred is not None else _TRUE
        if isinstance(operand, _Json):
            path = self.bind(operand.path)
            kind_sql = f"json_type({operand.document}, {path})"
            parts = [f"{kind_sql} IS NOT NULL"]
            if kinds is not None:
                types = [self.bind(t) for kind in kinds for t in _JSON_TYPES[kind]]
                parts = [f"{kind_sql} IN ({', '.join(types)})"]
            if pred is not None:
                parts.append(pred(f"json_extract({operand.document}, {path})"))
            return f"coalesce(({' AND '.join(parts)}), 0)"
        marks = ", ".join(self.bind(p) for p in operand.paths)
        parts = [f"path IN ({marks})" if len(operand.paths) > 1 else f"path = {marks}"]
        if kinds is not None:
            if len(kinds) == 1:
                parts.append(f"kind = {self.bind(kinds[0])}")
            else:
                parts.append(f"kind IN ({', '.join(self.bind(k) for k in kinds)})")
        if pred is not None:
            parts.append(pred("value"))
        sub = "SELECT twin_id FROM twin_values WHERE " + " AND ".join(parts)
        return f"{operand.twin}.id IN ({sub})"

    def comparison(self, node: Comparison, negated: bool) -> str:
        left, right, op = node.left, node.right, node.op
        if isinstance(left, Literal) and isinstance(right, Path):
            left, right, op = right, left, _MIRRORED[op]
        if not isinstance(left, Path) or not isinstance(right, Literal):
            both = "literals" if isinstance(left, Literal) else "property paths"
            raise self.fail(
                f"a comparison of two {both}",
                node,
                expected="a property path compared with a literal, such as T.speed > 3",
                got=f"{_show(node.left)} {node.op} {_show(node.right)}",
            )
        if negated:
            op = _NEGATED[op]
        operand = self.operand(left, node)
        value = right.value
        if value is None:  # = null is IS_NULL; != null: defined and not null
            if op == "=":
                return self.test(operand, ("z",), None)
            if op == "!=":
                return self.test(operand, ("n", "s", "b", "o", "a"), None)
            return _FALSE
        kind, bound = _kind(value), self.bind(_stored(value))
        return self.test(operand, (kind,), lambda v: f"{v} {op} {bound}")

    def in_list(self, node: InList, negated: bool) -> str:
        if not isinstance(node.operand, Path):
            raise self.fail(
                "IN needs a property path on its left",
                node,
                expected="a property path such as T.name IN ['a', 'b']",
                got=_show(node.operand),
            )
        operand = self.operand(node.operand, node)
        groups: dict[str, list[Scalar]] = {}
        for item in node.items:
            kind = "z" if item.value is None else _kind(item.value)
            groups.setdefault(kind, []).append(_stored(item.value))
        exclude = node.negated != negated
        tests = []
        for kind, values in groups.items():
            if kind == "z":
                if not exclude:
                    tests.append(self.test(operand, ("z",), None))
                continue
            marks = ", ".join(self.bind(v) for v in values)
            verb = "NOT IN" if exclude else "IN"
            tests.append(self.test(operand, (kind,), _membership(verb, marks)))
        if not tests:
            return _FALSE
        return tests[0] if len(tests) == 1 else "(" + " OR ".join(tests) + ")"

    def call(self, node: Call, negated: bool) -> str:
        if node.name == "IS_OF_MODEL":
            sql = self.is_of_model(node)
            return f"NOT ({sql})" if negated else sql
        subject = node.args[0]
        if not isinstance(subject, Path):
            raise self.fail(
                f"{node.name} needs a property path as its first argument",
                node,
                expected=f"{node.name}(T.property{', ...' if len(node.args) > 1 else ''})",
                got=_show(subject),
            )
        operand = self.operand(subject, node)
        if node.name in _TYPE_TESTS:  # always true or false, so NOT is plain negation
            sql = self.test(operand, _TYPE_TESTS[node.name], None)
            return f"NOT ({sql})" if negated else sql
        text = node.args[1]
        if not isinstance(text, Literal) or not isinstance(text.value, str):
            raise self.fail(
                f"{node.name} needs a string as its second argument",
                node,
                expected=f"{node.name}({subject}, 'text')",
                got=_show(text),
            )
        pred = self.string_test(node.name, text.value)
        if negated:
            return self.test(operand, ("s",), lambda v: f"NOT ({pred(v)})")
        return self.test(operand, ("s",), pred)

    def string_test(self, name: str, text: str) -> Pred:
        """Case-sensitive STARTSWITH / ENDSWITH / CONTAINS on a string value (no LIKE)."""
        needle, length = self.bind(text), self.bind(len(text))
        if name == "CONTAINS":
            return lambda v: f"instr({v}, {needle}) > 0"
        if name == "ENDSWITH":
            if not text:
                return lambda v: _TRUE
            tail = self.bind(-len(text))
            return lambda v: f"substr({v}, {tail}) = {needle}"
        upper = _successor(text)
        if upper is None:
            return lambda v: f"{v} >= {needle} AND substr({v}, 1, {length}) = {needle}"
        bound = self.bind(upper)  # a range of the index, then the exact test
        return lambda v: (
            f"{v} >= {needle} AND {v} < {bound} AND substr({v}, 1, {length}) = {needle}"
        )

    def is_of_model(self, node: Call) -> str:
        args = list(node.args)
        exact = False
        last = args[-1]
        if len(args) > 1 and isinstance(last, Path) and str(last).upper() == "EXACT":
            exact = True
            args.pop()
        if len(args) == 1 and isinstance(args[0], Literal):
            if sum(isinstance(t, _Twin) for t in self.aliases.values()) > 1:
                raise self.fail(
                    "IS_OF_MODEL needs the collection when the query has several",
                    node,
                    expected=f"IS_OF_MODEL(<one of {self.known(_Twin)}>, 'dtmi:...')",
                    got=_show(args[0]),
                )
            target: _Twin | _Edge = self.aliases[self.query.alias or ""]
            model = args[0]
        elif len(args) == 2 and isinstance(args[0], Path) and isinstance(args[1], Literal):
            target, rest = self.resolve(args[0])
            model = args[1]
            if rest or not isinstance(target, _Twin):
                raise self.fail(
                    f"IS_OF_MODEL's first argument {str(args[0])!r} is not a twin collection",
                    node,
                    expected="one of " + self.known(_Twin),
                    got=str(args[0]),
                )
        else:
            raise self.fail(
                "IS_OF_MODEL takes ([collection,] 'dtmi:...' [, exact])",
                node,
                expected="IS_OF_MODEL(T, 'dtmi:com:example:Pump;1') or with exact",
                got=", ".join(_show(a) for a in node.args),
            )
        if not isinstance(model.value, str) or not is_dtmi(model.value):
            raise self.fail(
                "IS_OF_MODEL needs a model id",
                model,
                expected="a DTMI such as 'dtmi:com:example:Pump;1'",
                got=model.value,
            )
        if exact:
            return f"{target.sql}.model = {self.bind(model.value)}"
        base = model.value
        ids = {base} | {str(m) for m in self.models if base in self.models.ancestors(m)}
        return f"{target.sql}.model IN ({', '.join(self.bind(i) for i in sorted(ids))})"


def _membership(verb: str, marks: str) -> Pred:
    return lambda value: f"{value} {verb} ({marks})"


def _json_path(parts: Sequence[str]) -> str:
    """A SQLite JSON path; parts are identifiers ([A-Za-z0-9_$]), so quoting is safe."""
    return "$" + "".join(f'."{part}"' for part in parts)


def _kind(value: Scalar) -> str:
    if isinstance(value, bool):
        return "b"
    if isinstance(value, int | float):
        return "n"
    return "s"


def _stored(value: Scalar) -> Scalar:
    """The value as ``twin_values`` and JSON functions hold it (booleans as 1 and 0)."""
    return int(value) if isinstance(value, bool) else value


def _successor(text: str) -> str | None:
    """The least string above every string that starts with ``text`` (code point order,
    which is SQLite's byte order for UTF-8), or None when there is none to write."""
    chars = list(text)
    while chars:
        last = ord(chars.pop())
        following = last + 1
        if following == 0xD800:  # skip the surrogates, which UTF-8 cannot hold
            following = 0xE000
        if following <= 0x10FFFF:
            return "".join(chars) + chr(following)
    return None


def _show(node: Path | Literal) -> str:
    return str(node) if isinstance(node, Path) else repr(node.value)

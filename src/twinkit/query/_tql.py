"""The twin query language: parse, compile to SQL, and run on the store's query index.

Three levels, as elsewhere in twinkit: :func:`run_query` does everything in one call and pages
through the result; :func:`compile_query` gives the SQL and its parameters (to inspect, or to
run many times); :func:`parse_query` gives the syntax tree. The language is described in
``docs/query-language.md``.

Result rows follow Azure Digital Twins: ``SELECT *`` or ``SELECT T`` over one collection gives
each twin's document; several collections give ``{"T": doc, "CT": doc}``; property projections
give ``{name: value}`` (a property a twin lacks is left out of its row); ``COUNT()`` gives one
row ``{"COUNT": n}``.
"""

from __future__ import annotations

import base64
import binascii
import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from twinkit.errors import ValidationError
from twinkit.model import ModelSet
from twinkit.query._tql_ast import Query
from twinkit.query._tql_compile import CompiledQuery, Output, compile_query
from twinkit.query._tql_lexer import QuerySyntaxError
from twinkit.query._tql_parser import parse
from twinkit.store import SQLiteStore

__all__ = [
    "MAX_PAGE_SIZE",
    "CompiledQuery",
    "QueryResult",
    "QuerySyntaxError",
    "compile_query",
    "parse_query",
    "run_query",
]

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE: Final = 10_000
"""Most rows one call of :func:`run_query` returns."""

_TOKEN_VERSION: Final = 1
_MISSING: Final = object()


@dataclass(frozen=True, slots=True)
class QueryResult:
    """One page of a query's rows; ``continuation`` fetches the next page (None: no more)."""

    rows: list[dict[str, Any]]
    continuation: str | None


def parse_query(text: str) -> Query:
    """The syntax tree of a query; QuerySyntaxError (a ValidationError) naming line and
    column when ``text`` is not one."""
    return parse(text)


async def run_query(
    store: SQLiteStore,
    models: ModelSet,
    text: str,
    *,
    page_size: int = 1000,
    continuation: str | None = None,
) -> QueryResult:
    """Run a twin query on ``store``'s query index, one page of at most ``page_size`` rows.

    ``models`` resolves ``IS_OF_MODEL`` to every model that extends the one named (pass the
    runtime's ``runtime.models``). Pass the ``continuation`` of a result to get the page after
    it; a token from another query is refused. Reads run beside ingest (``store.read``).
    """
    if (
        isinstance(page_size, bool)
        or not isinstance(page_size, int)
        or not 1 <= page_size <= MAX_PAGE_SIZE
    ):
        raise ValidationError(
            "bad page size for a twin query",
            path="run_query(page_size=...)",
            expected=f"a whole number from 1 to {MAX_PAGE_SIZE}",
            got=page_size,
        )
    compiled = compile_query(text, models)
    started = time.perf_counter()
    if compiled.shape == "count":
        if continuation is not None:
            raise _bad_token("a COUNT() query has one row and no further pages", continuation)
        count = await store.read("twin query", lambda conn: _count(conn, compiled))
        logger.debug("twin query counted %d in %.1f ms", count, _ms(started))
        return QueryResult([{"COUNT": count}], None)
    after, returned = (None, 0) if continuation is None else _decode(continuation, compiled)
    limit = page_size
    if compiled.top is not None:
        limit = min(limit, compiled.top - returned)
    if limit <= 0:
        return QueryResult([], None)
    rows, keys = await store.read("twin query", lambda conn: _page(conn, compiled, after, limit))
    more = len(rows) > limit
    rows = rows[:limit]
    token = None
    if more and (compiled.top is None or returned + limit < compiled.top):
        token = _encode(compiled, keys[limit - 1], returned + limit)
    logger.debug("twin query returned %d rows in %.1f ms", len(rows), _ms(started))
    return QueryResult(rows, token)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _count(conn: sqlite3.Connection, compiled: CompiledQuery) -> int:
    row = conn.execute(compiled.sql, compiled.params).fetchone()
    return int(row[0])


def _page(
    conn: sqlite3.Connection,
    compiled: CompiledQuery,
    after: Sequence[str] | None,
    limit: int,
) -> tuple[list[dict[str, Any]], list[list[str]]]:
    """Rows (one more than ``limit`` when there are more) and each one's paging keys."""
    sql, params = compiled.page(after, limit + 1)
    fetched = conn.execute(sql, params).fetchall()
    width = len(compiled.keys)
    keys = [list(row[:width]) for row in fetched]
    return [_shape(row, compiled) for row in fetched], keys


def _shape(row: Sequence[Any], compiled: CompiledQuery) -> dict[str, Any]:
    decoded: dict[int, dict[str, Any]] = {}  # a document projected twice is decoded once
    if compiled.shape == "document":
        return _document(row, compiled.outputs[0], decoded)
    out: dict[str, Any] = {}
    for output in compiled.outputs:
        value = _dig(_document(row, output, decoded), output.path)
        if value is not _MISSING:
            out[output.name] = value
    return out


def _document(
    row: Sequence[Any], output: Output, decoded: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    column = output.column
    document = decoded.get(column)
    if document is None:
        if output.kind == "twin":
            document = orjson.loads(row[column])
        else:
            source, edge_id, name, target, properties = row[column : column + 5]
            document = {
                "$relationshipId": edge_id,
                "$sourceId": source,
                "$targetId": target,
                "$relationshipName": name,
                **orjson.loads(properties),
            }
        decoded[column] = document
    return document


def _dig(document: Any, path: Sequence[str]) -> Any:
    """The value at ``path`` in a document, or _MISSING. A Component's property reported by
    path (``"motor/speed"``) is found as ``motor.speed`` too, as the WHERE clause finds it."""
    node = _walk(document, path)
    if node is _MISSING and len(path) > 1 and isinstance(document, dict):
        node = _walk(document.get(f"{path[0]}/{path[1]}", _MISSING), path[2:])
    return node


def _walk(node: Any, path: Sequence[str]) -> Any:
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _encode(compiled: CompiledQuery, keys: Sequence[str], returned: int) -> str:
    data = {"v": _TOKEN_VERSION, "q": compiled.fingerprint, "k": list(keys), "n": returned}
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")


def _decode(token: str, compiled: CompiledQuery) -> tuple[list[str], int]:
    """The keys of the last row of the previous page and the rows returned so far."""
    if not isinstance(token, str):
        raise _bad_token("a continuation token is a string", token)
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError) as err:
        raise _bad_token("continuation token is not one that run_query returned", token) from err
    if (
        not isinstance(data, dict)
        or data.get("v") != _TOKEN_VERSION
        or not isinstance(data.get("k"), list)
        or not isinstance(data.get("n"), int)
    ):
        raise _bad_token("continuation token is not one that run_query returned", token)
    if data.get("q") != compiled.fingerprint:
        raise _bad_token(
            "continuation token belongs to another query: pass the same query text with it",
            token,
        )
    keys = data["k"]
    if len(keys) != len(compiled.keys) or not all(isinstance(k, str) for k in keys):
        raise _bad_token("continuation token is not one that run_query returned", token)
    return keys, data["n"]


def _bad_token(message: str, token: object) -> ValidationError:
    return ValidationError(
        message,
        path="run_query(continuation=...)",
        expected="the continuation of the previous page of this same query",
        got=token,
    )

"""A recursive-descent parser for the twin query language.

Grammar (keywords are case-insensitive; ``[...]`` optional, ``{...}`` repeated)::

    query      := SELECT [TOP "(" integer ")"] projections FROM DIGITALTWINS [[AS] alias]
                  {join} [WHERE condition]
    projections:= "*" | projection {"," projection}
    projection := COUNT "(" ")" | path [AS name]
    join       := JOIN alias RELATED alias "." relationship [[AS] alias]
    condition  := conjunction {OR conjunction}
    conjunction:= negation {AND negation}
    negation   := NOT negation | "(" condition ")" | function | comparison
    function   := name "(" [argument {"," argument}] ")"
    comparison := operand ("=" | "!=" | "<>" | "<" | "<=" | ">" | ">=") operand
                | operand (IN | NIN) "[" literal {"," literal} "]"
    operand    := path | literal
    path       := name {"." name}
    literal    := string | number | TRUE | FALSE | NULL

Every error is a :class:`QuerySyntaxError` naming the line and column, what was expected and
the token that came instead.
"""

from __future__ import annotations

from typing import Final, cast

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
    Projection,
    Query,
    Select,
    Star,
)
from twinkit.query._tql_lexer import QuerySyntaxError, Token, TokenKind, describe, tokenize

__all__ = ["FUNCTIONS", "MAX_DEPTH", "MAX_JOINS", "MAX_LIST", "RESERVED", "parse"]

RESERVED: Final = frozenset(
    {
        "SELECT", "TOP", "FROM", "DIGITALTWINS", "AS", "JOIN", "RELATED", "WHERE",
        "AND", "OR", "NOT", "IN", "NIN", "TRUE", "FALSE", "NULL",
    }
)  # fmt: skip
"""Words that cannot be aliases (they may still name properties after a dot)."""

FUNCTIONS: Final[dict[str, tuple[int, int]]] = {
    "IS_OF_MODEL": (1, 3),
    "IS_DEFINED": (1, 1),
    "IS_NULL": (1, 1),
    "IS_BOOL": (1, 1),
    "IS_NUMBER": (1, 1),
    "IS_STRING": (1, 1),
    "IS_PRIMITIVE": (1, 1),
    "IS_OBJECT": (1, 1),
    "STARTSWITH": (2, 2),
    "ENDSWITH": (2, 2),
    "CONTAINS": (2, 2),
}
"""Functions allowed in WHERE, with their least and most argument counts."""

MAX_DEPTH: Final = 40
"""Deepest nesting of parentheses and NOTs in a condition."""
MAX_JOINS: Final = 8
"""Most JOINs in one query (relationship hops)."""
MAX_LIST: Final = 1000
"""Most values in one IN or NIN list."""

_COMPARE: Final[dict[str, CompareOp]] = {
    "=": "=",
    "!=": "!=",
    "<>": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}
_LITERAL_WORDS: Final = {"TRUE": True, "FALSE": False, "NULL": None}


def parse(text: str) -> Query:
    """The syntax tree of ``text``; QuerySyntaxError when it is not a query."""
    if not isinstance(text, str):
        raise QuerySyntaxError(
            "a query must be text", line=1, column=1, expected="a string", got=type(text).__name__
        )
    return _Parser(text).query()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0

    # --- token helpers --------------------------------------------------------------------

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.token
        if token.kind is not TokenKind.EOF:
            self.index += 1
        return token

    def at_word(self, *words: str) -> bool:
        return self.token.kind is TokenKind.IDENT and self.token.upper() in words

    def at_symbol(self, *symbols: str) -> bool:
        return self.token.kind is TokenKind.PUNCT and self.token.text in symbols

    def error(self, expected: str, token: Token | None = None, why: str = "") -> QuerySyntaxError:
        token = token or self.token
        message = f"expected {expected}, got {describe(token)}" + (f" ({why})" if why else "")
        return QuerySyntaxError(
            message,
            line=token.line,
            column=token.column,
            text=self.text,
            expected=expected,
            got=token.text or "end of query",
        )

    def expect_word(self, word: str, expected: str | None = None) -> Token:
        if not self.at_word(word):
            raise self.error(expected or word)
        return self.take()

    def expect_symbol(self, symbol: str, expected: str | None = None) -> Token:
        if not self.at_symbol(symbol):
            raise self.error(expected or repr(symbol))
        return self.take()

    def name(self, what: str) -> Token:
        """An alias: an identifier that is not a keyword."""
        token = self.token
        if token.kind is not TokenKind.IDENT:
            raise self.error(what)
        if token.upper() in RESERVED:
            raise self.error(what, why=f"{token.text.upper()} is a keyword")
        return self.take()

    # --- the query ------------------------------------------------------------------------

    def query(self) -> Query:
        self.expect_word("SELECT")
        top = self.top() if self.at_word("TOP") else None
        projections = self.projections()
        self.expect_word("FROM")
        self.expect_word("DIGITALTWINS")
        alias: str | None = None
        if self.at_word("AS"):
            self.take()
            alias = self.name("an alias for DIGITALTWINS").text
        elif self.token.kind is TokenKind.IDENT and self.token.upper() not in RESERVED:
            alias = self.take().text
        joins: list[Join] = []
        while self.at_word("JOIN"):
            if len(joins) == MAX_JOINS:
                raise self.error(f"at most {MAX_JOINS} JOINs", why="too many relationship hops")
            joins.append(self.join())
        where = None
        if self.at_word("WHERE"):
            self.take()
            where = self.condition()
        if self.token.kind is not TokenKind.EOF:
            raise self.error("end of query" if where is not None else "JOIN, WHERE or end of query")
        return Query(self.text, top, tuple(projections), alias, tuple(joins), where)

    def top(self) -> int:
        self.take()
        self.expect_symbol("(", "'(' after TOP")
        token = self.token
        if token.kind is not TokenKind.NUMBER or not isinstance(token.value, int):
            raise self.error("a whole number in TOP(n)")
        if token.value < 1:
            raise self.error("a whole number >= 1 in TOP(n)")
        self.take()
        self.expect_symbol(")", "')' after TOP(n")
        return token.value

    def projections(self) -> list[Projection]:
        if self.at_symbol("*"):
            token = self.take()
            return [Star(token.line, token.column)]
        items: list[Projection] = [self.projection()]
        while self.at_symbol(","):
            self.take()
            items.append(self.projection())
        if not self.at_word("FROM"):
            raise self.error("',', AS or FROM" if isinstance(items[-1], Select) else "',' or FROM")
        return items

    def projection(self) -> Projection:
        token = self.token
        if self.at_word("COUNT") and self.peek().text == "(":
            self.take()
            self.take()
            self.expect_symbol(")", "')': COUNT() takes no arguments")
            return Count(token.line, token.column)
        if token.kind is not TokenKind.IDENT or token.upper() in RESERVED:
            raise self.error("*, COUNT(), a collection alias or a property path")
        path = self.path()
        name = None
        if self.at_word("AS"):
            self.take()
            name = self.name("a name after AS").text
        return Select(path, name)

    def join(self) -> Join:
        start = self.take()
        alias = self.name("an alias after JOIN").text
        self.expect_word("RELATED", "RELATED after JOIN " + alias)
        source = self.name("alias.relationship after RELATED")
        self.expect_symbol(".", "'.' and a relationship name after RELATED " + source.text)
        relationship = self.token
        if relationship.kind is not TokenKind.IDENT:
            raise self.error("a relationship name")
        self.take()
        rel_alias = None
        if self.at_word("AS"):
            self.take()
            rel_alias = self.name("a relationship alias after AS").text
        elif self.token.kind is TokenKind.IDENT and self.token.upper() not in RESERVED:
            rel_alias = self.take().text
        return Join(alias, source.text, relationship.text, rel_alias, start.line, start.column)

    # --- conditions -----------------------------------------------------------------------

    def condition(self) -> Condition:
        start = self.token
        items = [self.conjunction()]
        while self.at_word("OR"):
            self.take()
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else Or(tuple(items), start.line, start.column)

    def conjunction(self) -> Condition:
        start = self.token
        items = [self.negation()]
        while self.at_word("AND"):
            self.take()
            items.append(self.negation())
        return items[0] if len(items) == 1 else And(tuple(items), start.line, start.column)

    def negation(self) -> Condition:
        start = self.token
        if self.depth >= MAX_DEPTH:
            raise self.error(f"at most {MAX_DEPTH} levels of parentheses and NOT", why="too deep")
        self.depth += 1
        try:
            if self.at_word("NOT"):
                self.take()
                return Not(self.negation(), start.line, start.column)
            if self.at_symbol("("):
                self.take()
                inner = self.condition()
                self.expect_symbol(")", "')' or a boolean operator (AND, OR)")
                return inner
            if (
                start.kind is TokenKind.IDENT
                and self.peek().text == "("
                and start.upper() not in RESERVED
            ):
                return self.call()
            return self.comparison()
        finally:
            self.depth -= 1

    def call(self) -> Call:
        token = self.take()
        name = token.upper()
        if name not in FUNCTIONS:
            known = ", ".join(FUNCTIONS)
            raise QuerySyntaxError(
                f"unknown function {token.text!r}; the functions are {known}",
                line=token.line,
                column=token.column,
                text=self.text,
                expected=f"one of {known}",
                got=token.text,
            )
        self.take()  # "("
        args: list[Path | Literal] = []
        if not self.at_symbol(")"):
            args.append(self.operand())
            while self.at_symbol(","):
                self.take()
                args.append(self.operand())
        self.expect_symbol(")", "',' or ')'")
        least, most = FUNCTIONS[name]
        if not least <= len(args) <= most:
            count = str(least) if least == most else f"{least} to {most}"
            plural = "s" if most > 1 else ""
            raise QuerySyntaxError(
                f"{name} takes {count} argument{plural}, got {len(args)}",
                line=token.line,
                column=token.column,
                text=self.text,
                expected=f"{count} argument{plural}",
                got=len(args),
            )
        return Call(name, tuple(args), token.line, token.column)

    def comparison(self) -> Condition:
        start = self.token
        left = self.operand("a condition: a comparison, a function, NOT or '('")
        if self.at_word("IN", "NIN"):
            negated = self.take().upper() == "NIN"
            return InList(left, self.list(), negated, start.line, start.column)
        if self.token.kind is not TokenKind.PUNCT or self.token.text not in _COMPARE:
            raise self.error("a comparison (=, !=, <>, <, <=, >, >=), IN or NIN")
        op = _COMPARE[self.take().text]
        right = self.operand("a property path or a literal after " + op)
        return Comparison(op, left, right, start.line, start.column)

    def list(self) -> tuple[Literal, ...]:
        self.expect_symbol("[", "'[' to open the list of values")
        items = [self.literal()]
        while self.at_symbol(","):
            self.take()
            if len(items) == MAX_LIST:
                raise self.error(f"at most {MAX_LIST} values in a list")
            items.append(self.literal())
        self.expect_symbol("]", "',' or ']'")
        return tuple(items)

    def operand(self, expected: str = "a property path or a literal") -> Path | Literal:
        token = self.token
        if token.kind in (TokenKind.STRING, TokenKind.NUMBER) or token.upper() in _LITERAL_WORDS:
            return self.literal()
        if token.kind is TokenKind.IDENT and token.upper() not in RESERVED:
            return self.path()
        raise self.error(expected)

    def literal(self) -> Literal:
        token = self.token
        if token.kind is TokenKind.IDENT and token.upper() in _LITERAL_WORDS:
            self.take()
            return Literal(_LITERAL_WORDS[token.upper()], token.line, token.column)
        if token.kind in (TokenKind.STRING, TokenKind.NUMBER):
            self.take()
            return Literal(cast("str | int | float", token.value), token.line, token.column)
        raise self.error("a literal: a string, a number, true, false or null")

    def path(self) -> Path:
        first = self.take()
        parts = [first.text]
        while self.at_symbol("."):
            self.take()
            if self.token.kind is not TokenKind.IDENT:
                raise self.error("a property name after '.'")
            parts.append(self.take().text)
        return Path(tuple(parts), first.line, first.column)

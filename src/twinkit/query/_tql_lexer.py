"""Tokens of the twin query language, each with the line and column it starts at.

The lexer knows no keywords: a word is an ``IDENT`` token, and the parser decides, case-
insensitively, whether it is ``SELECT`` or an alias. Identifiers may start with ``$`` (``$dtId``,
``$metadata``). Strings take single or double quotes with backslash escapes; numbers may carry a
sign. Anything else (``;``, ``--``, a stray quote) is an error that names its line and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from twinkit.errors import ValidationError

__all__ = ["MAX_QUERY_LENGTH", "QuerySyntaxError", "Token", "TokenKind", "describe", "tokenize"]

MAX_QUERY_LENGTH: Final = 8000
"""Longest query text accepted, in characters (Azure Digital Twins' limit too)."""


class TokenKind(StrEnum):
    IDENT = "identifier"
    STRING = "string"
    NUMBER = "number"
    PUNCT = "symbol"
    EOF = "end of query"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: ``text`` as written, ``value`` the decoded string or number."""

    kind: TokenKind
    text: str
    value: str | int | float | None
    line: int
    column: int

    def upper(self) -> str:
        """The text in upper case, for case-insensitive keyword checks."""
        return self.text.upper()


class QuerySyntaxError(ValidationError):
    """A query that cannot be parsed or compiled; says where (line and column) and why.

    ``str(error)`` is the message followed by the offending query line with a caret under the
    column, so a user sees what went wrong at a glance.
    """

    def __init__(
        self,
        message: str,
        *,
        line: int,
        column: int,
        text: str = "",
        expected: str | None = None,
        got: object = None,
    ) -> None:
        super().__init__(
            f"line {line}, column {column}: {message}",
            path=f"query line {line}, column {column}",
            expected=expected,
            got=got,
        )
        self.line = line
        self.column = column
        self.text = text

    def __str__(self) -> str:
        lines = self.text.splitlines()
        if not 1 <= self.line <= len(lines):
            return self.message
        source = lines[self.line - 1]
        if len(source) > 120:  # keep a window around the column
            start = max(0, self.column - 60)
            source, column = source[start : start + 120], self.column - start
        else:
            column = self.column
        return f"{self.message}\n  {source}\n  {' ' * (column - 1)}^"


_PUNCT: Final = ("!=", "<>", "<=", ">=", "(", ")", "[", "]", ",", ".", "*", "=", "<", ">")
_IDENT: Final = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_NUMBER: Final = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?(?![A-Za-z0-9_$.])")
_ESCAPES: Final = {
    "\\": "\\",
    "'": "'",
    '"': '"',
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


def describe(token: Token) -> str:
    """How an error message shows a token: ``'FORM'``, ``end of query``."""
    if token.kind is TokenKind.EOF:
        return "end of query"
    return repr(token.text) if len(token.text) <= 40 else repr(token.text[:37] + "...")


class _Scanner:
    """Walks the text keeping line and column (both 1-based)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.column = 1

    def advance(self, count: int) -> None:
        for char in self.text[self.pos : self.pos + count]:
            if char == "\n":
                self.line += 1
                self.column = 1
            else:
                self.column += 1
        self.pos += count

    def fail(self, message: str, *, expected: str, got: object) -> QuerySyntaxError:
        return QuerySyntaxError(
            message, line=self.line, column=self.column, text=self.text, expected=expected, got=got
        )


def tokenize(text: str) -> list[Token]:
    """Every token of ``text``, ending with one EOF token; QuerySyntaxError on bad input."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(
            f"query is {len(text)} characters long, over the limit of {MAX_QUERY_LENGTH}",
            line=1,
            column=1,
            expected=f"at most {MAX_QUERY_LENGTH} characters",
            got=len(text),
        )
    scanner = _Scanner(text)
    tokens: list[Token] = []
    while True:
        while scanner.pos < len(text) and text[scanner.pos].isspace():
            scanner.advance(1)
        if scanner.pos >= len(text):
            tokens.append(Token(TokenKind.EOF, "", None, scanner.line, scanner.column))
            return tokens
        tokens.append(_next(scanner))


def _next(scanner: _Scanner) -> Token:
    text, pos = scanner.text, scanner.pos
    line, column = scanner.line, scanner.column
    char = text[pos]
    if char in "'\"":
        return _string(scanner)
    if char.isdigit() or (char == "-" and text[pos + 1 : pos + 2].isdigit()):
        match = _NUMBER.match(text, pos)
        if match is None:
            raise scanner.fail(
                f"malformed number starting {text[pos : pos + 12]!r}",
                expected="a number such as 42, -1.5 or 2e3",
                got=text[pos : pos + 12],
            )
        literal = match.group(0)
        number: int | float = float(literal) if match.group(1) or match.group(2) else int(literal)
        scanner.advance(len(literal))
        return Token(TokenKind.NUMBER, literal, number, line, column)
    match = _IDENT.match(text, pos)
    if match is not None:
        word = match.group(0)
        scanner.advance(len(word))
        return Token(TokenKind.IDENT, word, word, line, column)
    for symbol in _PUNCT:
        if text.startswith(symbol, pos):
            scanner.advance(len(symbol))
            return Token(TokenKind.PUNCT, symbol, symbol, line, column)
    raise scanner.fail(
        f"unexpected character {char!r}",
        expected="a word, a string, a number or one of ( ) [ ] , . * = != <> < <= > >=",
        got=char,
    )


def _string(scanner: _Scanner) -> Token:
    text, start = scanner.text, scanner.pos
    line, column = scanner.line, scanner.column
    quote = text[start]
    out: list[str] = []
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        if char == quote:
            scanner.advance(pos + 1 - start)
            return Token(TokenKind.STRING, text[start : pos + 1], "".join(out), line, column)
        if char == "\\":
            pos = _escape(scanner, pos, out)
            continue
        out.append(char)
        pos += 1
    raise QuerySyntaxError(
        f"unterminated string: no closing {quote} after {text[start : start + 20]!r}",
        line=line,
        column=column,
        text=text,
        expected=f"a closing {quote}",
        got="end of query",
    )


def _escape(scanner: _Scanner, pos: int, out: list[str]) -> int:
    """Decode the escape at ``pos`` (a backslash) into ``out``; returns the position after it."""
    text = scanner.text
    code = text[pos + 1 : pos + 2]
    if code in _ESCAPES:
        out.append(_ESCAPES[code])
        return pos + 2
    digits = text[pos + 2 : pos + 6]
    if code == "u" and len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits):
        out.append(chr(int(digits, 16)))
        return pos + 6
    scanner.advance(pos - scanner.pos)  # point the error at the backslash
    raise scanner.fail(
        f"unknown escape {text[pos : pos + 2]!r} in a string",
        expected="one of \\\\ \\' \\\" \\/ \\b \\f \\n \\r \\t \\uXXXX",
        got=text[pos : pos + 6],
    )

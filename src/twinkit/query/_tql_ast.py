"""The syntax tree of a twin query: what the parser builds and the compiler reads.

Every node keeps the line and column where it starts, so that errors found while compiling
(an unknown alias, a comparison of two literals) point into the query text as parse errors do.
Paths are kept as written (``("T", "config", "max")``); which part is an alias is decided by
the compiler, which knows the FROM clause.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal as TypingLiteral

__all__ = [
    "And",
    "Call",
    "CompareOp",
    "Comparison",
    "Condition",
    "Count",
    "InList",
    "Join",
    "Literal",
    "Not",
    "Or",
    "Path",
    "Projection",
    "Query",
    "Scalar",
    "Select",
    "Star",
]

Scalar = str | int | float | bool | None
"""A literal's value: JSON's primitives."""

CompareOp = TypingLiteral["=", "!=", "<", "<=", ">", ">="]


@dataclass(frozen=True, slots=True)
class Path:
    """A dotted name: ``T``, ``T.temperature``, ``T.$metadata.$model``, ``name``."""

    parts: tuple[str, ...]
    line: int
    column: int

    def __str__(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True, slots=True)
class Literal:
    value: Scalar
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Comparison:
    """``left op right``; ``<>`` arrives here as ``!=``."""

    op: CompareOp
    left: Path | Literal
    right: Path | Literal
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class InList:
    """``path IN [...]``, or ``NIN`` when ``negated``."""

    operand: Path | Literal
    items: tuple[Literal, ...]
    negated: bool
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Call:
    """A function in a condition: ``IS_OF_MODEL(T, 'dtmi:x;1')``; ``name`` in upper case."""

    name: str
    args: tuple[Path | Literal, ...]
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Not:
    operand: Condition
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Condition, ...]
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Condition, ...]
    line: int
    column: int


Condition = Comparison | InList | Call | Not | And | Or


@dataclass(frozen=True, slots=True)
class Star:
    """``SELECT *``."""

    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Count:
    """``SELECT COUNT()``."""

    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Select:
    """One projected item: a collection alias or a property path, optionally ``AS name``."""

    path: Path
    name: str | None


Projection = Star | Count | Select


@dataclass(frozen=True, slots=True)
class Join:
    """``JOIN alias RELATED source.relationship [AS] relationship_alias``."""

    alias: str
    source: str
    relationship: str
    relationship_alias: str | None
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Query:
    """A whole query; ``alias`` is None for ``FROM DIGITALTWINS`` without one."""

    text: str
    top: int | None
    projections: tuple[Projection, ...]
    alias: str | None
    joins: tuple[Join, ...]
    where: Condition | None

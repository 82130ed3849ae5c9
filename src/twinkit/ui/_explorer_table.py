"""Rows of a twin query as a table: columns, text cells, and which cells link to a twin.

A query gives one of four row shapes (see :mod:`twinkit.query._tql`): a twin's document
(``SELECT T``), a relationship's (``SELECT R``), one document per collection
(``SELECT T, CT``) or projected values (``SELECT T.$dtId, T.rated``, ``COUNT()``). Each is
flattened to cells: a twin document shows its id, model and properties; a relationship its
source, name and target; a collection its twin's id; a projection its values. A column links
to twin pages when every value in it is the id of a live twin.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

__all__ = [
    "MAX_CELL_CHARS",
    "MAX_COLUMNS",
    "Column",
    "ResultTable",
    "cell_text",
    "flatten_row",
    "result_table",
]

MAX_COLUMNS: Final = 12
"""Most columns a result table shows; the rest are counted in ``ResultTable.hidden_columns``."""

MAX_CELL_CHARS: Final = 120
"""Longest cell text; longer values (objects, long strings) are cut with an ellipsis."""

_MODEL_COLUMN: Final = "$model"  # cannot clash with a property name


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: ``key`` in the row dicts (``c0``, ``c1``... safe for Quasar slots),
    ``label`` as shown (the query's name for it), ``link`` when its cells are twin ids."""

    key: str
    label: str
    link: bool = False


@dataclass(frozen=True, slots=True)
class ResultTable:
    """A query result ready for ``ui.table``: each row maps column keys to text, link columns
    also to ``<key>_href``, and ``_n`` to the row's number (the row key)."""

    columns: tuple[Column, ...]
    rows: tuple[dict[str, Any], ...]
    twin_ids: tuple[str, ...]  # every twin a link cell names, first seen first
    hidden_columns: int = 0


def cell_text(value: Any) -> str:
    """How a value reads in a cell: JSON spelling for literals and objects, numbers short."""
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, bool):
        text = orjson.dumps(value).decode()
    elif isinstance(value, float):
        text = f"{value:.6g}" if math.isfinite(value) else str(value)
    elif isinstance(value, int):
        text = str(value)
    else:
        text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
    if len(text) > MAX_CELL_CHARS:
        return text[: MAX_CELL_CHARS - 1] + "…"
    return text


def _is_twin_document(value: Any) -> bool:
    return isinstance(value, Mapping) and "$dtId" in value and "$metadata" in value


def _is_relationship_document(value: Any) -> bool:
    return isinstance(value, Mapping) and "$relationshipId" in value and "$sourceId" in value


def _twin_cells(document: Mapping[str, Any]) -> dict[str, Any]:
    metadata = document.get("$metadata")
    model = metadata.get("$model") if isinstance(metadata, Mapping) else None
    cells: dict[str, Any] = {"$dtId": document["$dtId"], _MODEL_COLUMN: model}
    for name, value in document.items():
        if not name.startswith("$"):
            cells[name] = value
    return cells


def _relationship_cells(document: Mapping[str, Any]) -> dict[str, Any]:
    cells: dict[str, Any] = {
        "$sourceId": document.get("$sourceId"),
        "$relationshipName": document.get("$relationshipName"),
        "$targetId": document.get("$targetId"),
        "$relationshipId": document.get("$relationshipId"),
    }
    for name, value in document.items():
        if not name.startswith("$"):
            cells[name] = value
    return cells


def _collection_cell(document: Mapping[str, Any]) -> Any:
    if _is_twin_document(document):
        return document["$dtId"]
    return (
        f"{document.get('$sourceId')} —{document.get('$relationshipName')}→ "
        f"{document.get('$targetId')}"
    )


def flatten_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """One query row as named cells (raw values, in the order they should show)."""
    if _is_twin_document(row):
        return _twin_cells(row)
    if _is_relationship_document(row):
        return _relationship_cells(row)
    if row and all(_is_twin_document(v) or _is_relationship_document(v) for v in row.values()):
        return {alias: _collection_cell(document) for alias, document in row.items()}
    return dict(row)


def result_table(
    rows: Sequence[Mapping[str, Any]],
    *,
    is_twin: Callable[[str], bool],
    href: Callable[[str], str],
    model_name: Callable[[str], str] = str,
    max_columns: int = MAX_COLUMNS,
) -> ResultTable:
    """The table of query ``rows``. ``is_twin`` says whether an id is a live twin (such
    columns link, with ``href(id)``); ``model_name`` names the model column's DTMIs."""
    flat = [flatten_row(row) for row in rows]
    names: dict[str, None] = {}
    for cells in flat:
        for name in cells:
            names.setdefault(name, None)
    shown = list(names)[:max_columns]
    links = {name for name in shown if name != _MODEL_COLUMN and _all_twins(flat, name, is_twin)}
    columns = tuple(Column(f"c{index}", name, name in links) for index, name in enumerate(shown))
    out: list[dict[str, Any]] = []
    twin_ids: dict[str, None] = {}
    for number, cells in enumerate(flat):
        line: dict[str, Any] = {"_n": number}
        for column in columns:
            if column.label not in cells:
                line[column.key] = ""
                continue
            value = cells[column.label]
            if column.label == _MODEL_COLUMN and isinstance(value, str):
                line[column.key] = model_name(value)
            else:
                line[column.key] = cell_text(value)
            if column.link:
                twin_ids.setdefault(value, None)
                line[column.key + "_href"] = href(value)
        out.append(line)
    return ResultTable(columns, tuple(out), tuple(twin_ids), len(names) - len(shown))


def _all_twins(
    flat: Sequence[Mapping[str, Any]], name: str, is_twin: Callable[[str], bool]
) -> bool:
    found = False
    for cells in flat:
        if name not in cells:
            continue
        value = cells[name]
        if not isinstance(value, str) or not is_twin(value):
            return False
        found = True
    return found

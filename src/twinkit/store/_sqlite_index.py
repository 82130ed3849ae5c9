"""The query index of the current twin graph, kept in the same transaction as the events.

Three tables mirror the live graph for the twin query language (:mod:`twinkit.query`):

- ``twins``: one row per live twin, its model, version and its *document*: the twin as the
  query language shows it (Azure Digital Twins' shape: ``$dtId``, ``$etag``, ``$metadata``,
  then the reported property values at the top level).
- ``twin_values``: one row per node of every reported value (``path`` like ``temp`` or
  ``config.limits.max``, ``kind`` and the primitive ``value``), clustered by
  ``(path, kind, value)`` so that a property filter is one index range, not a scan of JSON.
- ``edges``: one row per relationship, indexed by name and by target.

:func:`sync_index` applies a committed-to-be batch to them: only the properties and edges its
events touched are rewritten, so a report of one property costs a few b-tree writes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from twinkit.core import Event, EventType, Twin
from twinkit.core._twin import PropertyState

__all__ = [
    "KIND_ARRAY",
    "KIND_BOOL",
    "KIND_NULL",
    "KIND_NUMBER",
    "KIND_OBJECT",
    "KIND_STRING",
    "index_all",
    "sync_index",
    "twin_document",
    "value_rows",
]

KIND_NUMBER: Final = "n"
KIND_STRING: Final = "s"
KIND_BOOL: Final = "b"  # value 1 or 0
KIND_NULL: Final = "z"  # value 0: primary-key columns of a WITHOUT ROWID table are NOT NULL
KIND_OBJECT: Final = "o"  # value 0; its fields are rows of their own
KIND_ARRAY: Final = "a"  # value: the array's JSON text

UPSERT_TWIN: Final = (
    "INSERT INTO twins (id, model, version, doc) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET model = excluded.model, version = excluded.version, "
    "doc = excluded.doc"
)
DELETE_TWIN: Final = "DELETE FROM twins WHERE id = ?"
DELETE_VALUES: Final = "DELETE FROM twin_values WHERE twin_id = ?"
# A property and everything under it: the path itself, then the range 'name.' <= p < 'name/'
# ('/' follows '.' in every collation), one range of the (twin_id, path) index.
DELETE_PROPERTY: Final = (
    "DELETE FROM twin_values WHERE twin_id = ? AND (path = ? OR (path >= ? AND path < ?))"
)
INSERT_VALUE: Final = (
    "INSERT OR REPLACE INTO twin_values (path, kind, value, twin_id) VALUES (?, ?, ?, ?)"
)
UPSERT_EDGE: Final = (
    "INSERT OR REPLACE INTO edges (source, id, name, target, properties) VALUES (?, ?, ?, ?, ?)"
)
DELETE_EDGE: Final = "DELETE FROM edges WHERE source = ? AND id = ?"
DELETE_EDGES: Final = "DELETE FROM edges WHERE source = ?"

_STATE_EVENTS: Final = frozenset(
    {
        EventType.TWIN_CREATED,
        EventType.TWIN_DELETED,
        EventType.PROPERTY_REPORTED,
        EventType.DESIRED_PROPERTY_SET,
        EventType.DESIRED_PROPERTY_ACKNOWLEDGED,
        EventType.RELATIONSHIP_ADDED,
        EventType.RELATIONSHIP_REMOVED,
    }
)


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _metadata(name: str, state: PropertyState) -> dict[str, Any]:
    meta: dict[str, Any] = {"lastUpdateTime": _iso(state.last_updated)}
    # When the current value was reported. Not ``reported_time``: a repeat of the same value
    # (a touch) moves that without an event, and the index changes only with events, so a
    # document built from it would differ between a live index and a rebuilt one.
    if state.has_reported and state.last_changed is not None:
        meta["sourceTime"] = _iso(state.last_changed)
    if state.desired_version:
        meta["desiredValue"] = state.desired
        meta["desiredVersion"] = state.desired_version
        meta["ackVersion"] = state.ack_version
        meta["ackCode"] = state.ack_code
        meta["ackDescription"] = state.ack_description
        meta["inSync"] = state.in_sync
    return meta


def twin_document(twin: Twin) -> dict[str, Any]:
    """The twin as a query returns it: Azure Digital Twins' JSON shape.

    ``{"$dtId": id, "$etag": version, "$metadata": {"$model", "$lastUpdateTime",
    <property>: {"lastUpdateTime", "sourceTime", "desiredValue", ...}}, <property>: value}``.
    """
    doc: dict[str, Any] = {"$dtId": twin.id, "$etag": str(twin.version)}
    meta: dict[str, Any] = {"$model": twin.model, "$lastUpdateTime": _iso(twin.updated)}
    for name, state in twin.properties.items():
        if state.has_reported:
            doc[name] = state.reported
        meta[name] = _metadata(name, state)
    doc["$metadata"] = meta
    return doc


def value_rows(twin_id: str, path: str, value: Any) -> Iterator[tuple[str, str, Any, str]]:
    """The ``twin_values`` rows of ``value`` at ``path``: one per node, objects recursively."""
    if isinstance(value, bool):
        yield (path, KIND_BOOL, int(value), twin_id)
    elif isinstance(value, int | float):
        yield (path, KIND_NUMBER, value, twin_id)
    elif isinstance(value, str):
        yield (path, KIND_STRING, value, twin_id)
    elif value is None:
        yield (path, KIND_NULL, 0, twin_id)
    elif isinstance(value, Mapping):
        yield (path, KIND_OBJECT, 0, twin_id)
        for key, item in value.items():
            yield from value_rows(twin_id, f"{path}.{key}", item)
    else:  # arrays (and anything JSON encodes as one)
        yield (path, KIND_ARRAY, orjson.dumps(value).decode(), twin_id)


def _property_rows(twin: Twin, name: str) -> list[tuple[str, str, Any, str]]:
    state = twin.properties.get(name)
    if state is None or not state.has_reported:
        return []
    return list(value_rows(twin.id, name, state.reported))


def _write_twin(cursor: Any, twin: Twin) -> None:
    cursor.execute(
        UPSERT_TWIN, (twin.id, twin.model, twin.version, orjson.dumps(twin_document(twin)))
    )


def index_all(cursor: Any, twin: Twin) -> None:
    """Write every index row of ``twin`` (its document, values and edges), replacing old ones."""
    cursor.execute(DELETE_VALUES, (twin.id,))
    cursor.execute(DELETE_EDGES, (twin.id,))
    if twin.deleted:
        cursor.execute(DELETE_TWIN, (twin.id,))
        return
    _write_twin(cursor, twin)
    rows = [row for name in twin.properties for row in _property_rows(twin, name)]
    cursor.executemany(INSERT_VALUE, rows)
    cursor.executemany(UPSERT_EDGE, [_edge_row(twin, key) for key in twin.relationships])


def _edge_row(twin: Twin, key: str) -> tuple[str, str, str, str, bytes]:
    edge = twin.relationships[key]
    return (twin.id, edge.id, edge.name, edge.target, orjson.dumps(dict(edge.properties)))


def sync_index(cursor: Any, events: Sequence[Event], twins: Mapping[str, Twin]) -> None:
    """Bring the index up to date with ``events``; ``twins`` holds each one's state after them.

    Events of a twin missing from ``twins`` are not indexed (a caller that passes no states
    keeps no index); commands, alerts and predictions change nothing indexed.
    """
    touched: dict[str, set[str]] = {}  # twin -> properties whose values changed
    edges: dict[str, set[str]] = {}  # twin -> edge ids added or removed
    whole: set[str] = set()
    for event in events:
        kind = event.type
        if kind not in _STATE_EVENTS or event.twin_id not in twins:
            continue
        twin_id = event.twin_id
        if kind is EventType.TWIN_CREATED or kind is EventType.TWIN_DELETED:
            whole.add(twin_id)
        elif kind is EventType.PROPERTY_REPORTED:
            touched.setdefault(twin_id, set()).add(str(event.data["name"]))
        elif kind is EventType.RELATIONSHIP_ADDED or kind is EventType.RELATIONSHIP_REMOVED:
            edges.setdefault(twin_id, set()).add(str(event.data["id"]))
        else:
            touched.setdefault(twin_id, set())  # desired/ack: the document only
    for twin_id in whole:
        index_all(cursor, twins[twin_id])
    for twin_id, names in touched.items():
        if twin_id in whole:
            continue
        twin = twins[twin_id]
        _write_twin(cursor, twin)
        for name in names:
            cursor.execute(DELETE_PROPERTY, (twin_id, name, f"{name}.", f"{name}/"))
            cursor.executemany(INSERT_VALUE, _property_rows(twin, name))
    for twin_id, ids in edges.items():
        if twin_id in whole:
            continue
        twin = twins[twin_id]
        if twin_id not in touched:
            _write_twin(cursor, twin)
        for edge_id in ids:
            if edge_id in twin.relationships:
                cursor.execute(UPSERT_EDGE, _edge_row(twin, edge_id))
            else:
                cursor.execute(DELETE_EDGE, (twin_id, edge_id))

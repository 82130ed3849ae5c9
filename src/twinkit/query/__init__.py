"""History and queries: the twin query language, series queries, time travel, bulk in and out.

- Twin queries (docs/query-language.md): :func:`run_query` runs an Azure Digital Twins style
  query, compiled to SQL on the store's index of the live graph.
- Series (docs/series.md): :func:`series_range` (raw, paged), :func:`downsample` and
  :func:`frame` (buckets from rollups), retention rules.
- Time travel (docs/time-travel.md): :func:`twin_as_of`, :func:`graph_as_of`, :func:`diff`,
  :func:`property_history`.
"""

from __future__ import annotations

from twinkit.query._series import (
    RetentionRule,
    SeriesPage,
    delete_retention,
    downsample,
    frame,
    retention_rules,
    series_range,
    series_tail,
    set_retention,
)
from twinkit.query._timetravel import (
    Change,
    ChangeKind,
    GraphState,
    PropertyChange,
    PropertyChangeKind,
    diff,
    graph_as_of,
    property_history,
    twin_as_of,
)
from twinkit.query._tql import (
    CompiledQuery,
    QueryResult,
    QuerySyntaxError,
    compile_query,
    parse_query,
    run_query,
)

__all__ = [
    "Change",
    "ChangeKind",
    "CompiledQuery",
    "GraphState",
    "PropertyChange",
    "PropertyChangeKind",
    "QueryResult",
    "QuerySyntaxError",
    "RetentionRule",
    "SeriesPage",
    "compile_query",
    "delete_retention",
    "diff",
    "downsample",
    "frame",
    "graph_as_of",
    "parse_query",
    "property_history",
    "retention_rules",
    "run_query",
    "series_range",
    "series_tail",
    "set_retention",
    "twin_as_of",
]

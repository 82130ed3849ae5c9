"""What the twin page reads from history, through the same query functions the API's history
routes call: chart lines over a time range (raw points when few, else downsampled buckets
that the store serves from rollups), the twin as of a past time, its recent events and the
names of the tokens that caused them.

A range is read as raw points when it holds at most ``TARGET_POINTS`` of them and retention
still keeps raw points over all of it (:class:`RawKept`: else the raw read would see only the
part not yet purged); otherwise as averages over buckets of ``bucket_width(range)``, drawn at
each bucket's middle, so a year of 1 Hz history is about 1,500 points per line.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from twinkit.core import Event, Twin
from twinkit.model import ModelSet
from twinkit.query._series import (
    RetentionRule,
    SeriesStore,
    downsample,
    retention_rules,
    series_range,
)
from twinkit.query._timetravel import HistoryStore, twin_as_of
from twinkit.store import SQLiteStore
from twinkit.store._sqlite_codec import decode_event
from twinkit.ui._twin_charts import (
    TARGET_POINTS,
    ChartSpec,
    Line,
    SeriesData,
    bucket_width,
)
from twinkit.ui._twin_data import is_logged

__all__ = [
    "EVENTS_SHOWN",
    "RawKept",
    "load_chart",
    "load_charts",
    "load_series",
    "raw_kept",
    "recent_events",
    "token_names",
    "twin_then",
]

logger = logging.getLogger(__name__)

EVENTS_SHOWN: Final = 200
"""The most events the page lists (newest first); the API pages through all of them."""
_EVENTS_SQL: Final = (
    "SELECT twin_id, seq, type, time, recorded, cause, data FROM events "
    "WHERE twin_id = ? AND seq > ? AND seq <= ? ORDER BY seq"
)


@dataclass(frozen=True, slots=True)
class RawKept:
    """Since when retention keeps the raw points of one twin's series, by the rules as the
    store applies them (``series:`` over ``model:`` over ``default``; no rule: forever)."""

    rules: Mapping[str, RetentionRule]
    twin_id: str
    model: str
    now: float

    def since(self, name: str) -> float:
        rules = self.rules
        rule = (
            rules.get(f"series:{self.twin_id}/{name}")
            or rules.get(f"model:{self.model}")
            or rules.get("default")
        )
        if rule is None or rule.raw is None:
            return -math.inf
        return self.now - rule.raw


async def raw_kept(store: SeriesStore, twin_id: str, model: str, now: float) -> RawKept:
    """The :class:`RawKept` of a twin now (one read of the retention rules)."""
    rules = {rule.scope: rule for rule in await retention_rules(store)}
    return RawKept(rules, twin_id, model, now)


def _floats(values: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Raw values as floats: booleans as 0/1, anything not a number as NaN."""
    if values.dtype == np.float64:
        return values
    out = np.full(len(values), np.nan)
    for index, value in enumerate(values.tolist()):
        if isinstance(value, bool | int | float):
            out[index] = float(value)
    return out


async def _raw(
    store: SeriesStore, twin_id: str, name: str, start: float, end: float
) -> SeriesData | None:
    """The raw points of the range, or None when there are more than TARGET_POINTS."""
    page = await series_range(store, twin_id, name, start, end, limit=TARGET_POINTS)
    if page.next_after is not None:
        return None
    return SeriesData(page.times, _floats(page.values))


async def load_series(
    store: SeriesStore, twin_id: str, name: str, start: float, end: float, *, width: float
) -> SeriesData:
    """Averages of one series over buckets of ``width`` seconds, at each bucket's middle."""
    found = await downsample(store, twin_id, name, start, end, width=width, agg="avg")
    index = pd.DatetimeIndex(found.index)
    stamps = index.as_unit("ns").asi8.astype(np.float64) / 1e9 + width / 2.0
    return SeriesData(stamps, found.to_numpy(dtype=np.float64, na_value=np.nan), width)


async def _line(
    store: SeriesStore, twin_id: str, line: Line, span: tuple[float, float], kept: RawKept | None
) -> dict[str, SeriesData]:
    """Every series of one line on the same footing: all raw, or all in the same buckets (a
    band's bounds must line up point for point)."""
    names = line.names()
    start, end = span
    if kept is None or all(start >= kept.since(name) for name in names):
        raw = [await _raw(store, twin_id, name, start, end) for name in names]
        if all(found is not None for found in raw):
            return {name: found for name, found in zip(names, raw, strict=True) if found}
    width = bucket_width(start, end)
    return {
        name: await load_series(store, twin_id, name, start, end, width=width) for name in names
    }


async def load_chart(
    store: SeriesStore,
    twin_id: str,
    spec: ChartSpec,
    start: float,
    end: float,
    *,
    kept: RawKept | None = None,
) -> dict[str, SeriesData]:
    """The points of every series of one chart over ``[start, end)``, by series name;
    ``kept`` (None: raw points are kept forever) says where raw points may be read."""
    data: dict[str, SeriesData] = {}
    for line in spec.lines:
        data.update(await _line(store, twin_id, line, (start, end), kept))
    return data


async def load_charts(
    store: SeriesStore,
    twin_id: str,
    specs: Sequence[ChartSpec],
    start: float,
    end: float,
    *,
    kept: RawKept | None = None,
) -> list[dict[str, SeriesData]]:
    """:func:`load_chart` for every spec, read side by side."""
    found = await asyncio.gather(
        *(load_chart(store, twin_id, s, start, end, kept=kept) for s in specs)
    )
    return list(found)


async def twin_then(
    store: HistoryStore, twin_id: str, at: float, models: ModelSet | None = None
) -> Twin | None:
    """The twin as it was at ``at`` (None: it did not exist then), as the API's
    ``/twins/{id}/as-of`` reads it."""
    return await twin_as_of(store, twin_id, at, models=models)


async def recent_events(
    store: SQLiteStore, twin_id: str, version: int, *, until: float | None = None
) -> list[Event]:
    """The twin's newest logged events up to ``version`` (and with ``time <= until`` when
    given), at most :data:`EVENTS_SHOWN`, oldest first: one bounded read of the log, however
    long the twin's history after ``version`` is."""
    since = max(0, version - EVENTS_SHOWN)

    def read(conn: sqlite3.Connection) -> list[Event]:
        rows = conn.execute(_EVENTS_SQL, (twin_id, since, version))
        return [decode_event(row, store.path) for row in rows]

    found = await store.read(f"reading events of twin {twin_id!r}", read)
    return [e for e in found if is_logged(e) and (until is None or e.time <= until)]


async def token_names(store: SQLiteStore) -> Mapping[str, str]:
    """Token id → name, for saying who caused an event (revoked tokens included)."""
    return {record.id: record.name for record in await store.tokens()}

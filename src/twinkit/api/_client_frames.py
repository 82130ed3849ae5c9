"""The JSON answers of the REST API as pandas objects, and times as the API takes them.

What :class:`~twinkit.api.Client` returns, kept apart from the HTTP so the shaping is plain
functions of JSON. Times index as UTC ``DatetimeIndex``es (microsecond precision, which is
what a float of seconds since the epoch holds); missing numbers are NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
import pandas as pd

from twinkit.errors import ValidationError

__all__ = [
    "ALERT_COLUMNS",
    "CHANGE_COLUMNS",
    "HISTORY_COLUMNS",
    "SCENARIO_COLUMNS",
    "TimeLike",
    "alerts_frame",
    "buckets_series",
    "changes_frame",
    "history_frame",
    "iso",
    "points_series",
    "query_frame",
    "scenarios_frame",
    "seconds",
    "table_frame",
    "twins_frame",
    "width_seconds",
]

TimeLike = float | int | datetime | str | np.datetime64
"""A point in time: seconds since the epoch, a datetime (naive is UTC), an ISO 8601 string."""

CHANGE_COLUMNS: Final = ("kind", "twin_id", "name", "before", "after")
HISTORY_COLUMNS: Final = (
    "time",
    "kind",
    "value",
    "cause",
    "recorded",
    "seq",
    "version",
    "code",
    "description",
    "twin_id",
    "name",
)
SCENARIO_COLUMNS: Final = (
    "name",
    "status",
    "progress",
    "created",
    "started",
    "finished",
    "error",
    "cause",
)
_TWIN_COLUMNS: Final = ("id", "model", "version")


def seconds(value: TimeLike, what: str) -> float:
    """``value`` as float seconds since the epoch; ValidationError naming ``what`` otherwise."""
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise ValidationError("not a time", path=what, expected="a time", got=value)
        value = pd.Timestamp(value).to_pydatetime()
    if isinstance(value, str):
        text = value.strip()
        try:
            return _finite(float(text), what)
        except ValueError:
            pass
        try:
            value = datetime.fromisoformat(text)
        except ValueError as err:
            raise ValidationError(
                "malformed time",
                path=what,
                expected="seconds since the epoch or ISO 8601 (UTC unless it has an offset)",
                got=value,
            ) from err
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(
            "not a time",
            path=what,
            expected="seconds since the epoch, a datetime or an ISO 8601 string",
            got=value,
        )
    return _finite(float(value), what)


def _finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise ValidationError("not a time", path=what, expected="finite seconds", got=value)
    return value


def width_seconds(value: float | int | timedelta, what: str = "width") -> float:
    """A bucket width in seconds, from seconds or a timedelta; it must be positive."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(
            "not a bucket width", path=what, expected="seconds or a timedelta", got=value
        )
    if not math.isfinite(value) or value <= 0:
        raise ValidationError(
            "not a bucket width", path=what, expected="a positive number of seconds", got=value
        )
    return float(value)


def iso(stamp: float) -> str:
    """Seconds since the epoch as the ISO 8601 text the API prints (``...Z``)."""
    return datetime.fromtimestamp(stamp, UTC).isoformat().replace("+00:00", "Z")


def _utc_index(times: Sequence[float] | np.ndarray[Any, Any]) -> pd.DatetimeIndex:
    micros = np.round(np.asarray(times, dtype=np.float64) * 1e6).astype(np.int64)
    return pd.DatetimeIndex(pd.to_datetime(micros, unit="us", utc=True), name="time")


def _column(values: Sequence[Any]) -> np.ndarray[Any, Any]:
    """Numbers (None as NaN) as float64; anything else (strings, objects) as objects."""
    if all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values):
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    array = np.empty(len(values), dtype=object)
    array[:] = list(values)
    return array


def points_series(times: Sequence[float], values: Sequence[Any], name: str) -> pd.Series:
    """Raw points as a series on a UTC time index."""
    return pd.Series(_column(values), index=_utc_index(times), name=name)


def buckets_series(buckets: Sequence[Mapping[str, Any]], name: str) -> pd.Series:
    """``[{"time": iso, "value": v}, ...]`` as a float series (empty buckets NaN)."""
    index = pd.DatetimeIndex(
        pd.to_datetime([b["time"] for b in buckets], utc=True, format="ISO8601"), name="time"
    )
    return pd.Series(_column([b["value"] for b in buckets]), index=index, name=name)


def table_frame(body: Mapping[str, Any]) -> pd.DataFrame:
    """``{"time": [iso...], "columns": {name: [...]}}`` as a frame on a UTC time index."""
    index = pd.DatetimeIndex(
        pd.to_datetime(list(body["time"]), utc=True, format="ISO8601"), name="time"
    )
    columns = {name: _column(values) for name, values in body["columns"].items()}
    return pd.DataFrame(columns, index=index)


# -- twins -------------------------------------------------------------------------------------


def _is_twin_document(value: Any) -> bool:
    return isinstance(value, dict) and "$dtId" in value and isinstance(value.get("$metadata"), dict)


def _is_relationship(value: Any) -> bool:
    return isinstance(value, dict) and "$relationshipId" in value


def _put(row: dict[str, Any], taken: Iterable[str], prefix: str, name: str, value: Any) -> None:
    """A property value into ``row``: a name that a metadata column took is ``properties.<name>``."""
    row[prefix + (f"properties.{name}" if name in taken else name)] = value


def _flat_document(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    row: dict[str, Any] = {
        prefix + "$dtId": doc["$dtId"],
        prefix + "model": doc["$metadata"].get("$model"),
    }
    for name, value in doc.items():
        if not name.startswith("$"):
            _put(row, ("model",), prefix, name, value)
    return row


def _flat_row(row: Mapping[str, Any]) -> dict[str, Any]:
    if _is_twin_document(row):
        return _flat_document(row)
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if _is_twin_document(value):
            flat.update(_flat_document(value, f"{key}."))
        elif _is_relationship(value):
            flat.update({f"{key}.{name}": item for name, item in value.items()})
        else:
            flat[key] = value
    return flat


def query_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows of a twin query as a frame.

    A twin document (``SELECT T``) becomes ``$dtId``, ``model`` and one column per reported
    property (objects and components stay dicts); documents under an alias (JOINs, ``SELECT T
    AS t``) and relationships get the alias as a prefix (``T.$dtId``, ``R.$targetId``);
    projections are their own columns; ``COUNT()`` is one row with a ``COUNT`` column.
    """
    return pd.DataFrame([_flat_row(row) for row in rows])


def twins_frame(twins: Sequence[Mapping[str, Any]], *, telemetry: bool = False) -> pd.DataFrame:
    """Twins as the API shows them (``id``, ``model``, ``version``, ``properties``...) as a
    frame: one row per twin, ``id``, ``model``, ``version``, then the reported values (and the
    latest telemetry values with ``telemetry=True``)."""
    rows = []
    for twin in twins:
        row = {name: twin[name] for name in _TWIN_COLUMNS}
        for name, state in twin["properties"].items():
            if state.get("hasReported", True):
                _put(row, _TWIN_COLUMNS, "", name, state.get("reported"))
        if telemetry:
            for name, latest in twin.get("telemetry", {}).items():
                _put(row, _TWIN_COLUMNS, "", name, latest["value"])
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else list(_TWIN_COLUMNS))


# -- time travel -------------------------------------------------------------------------------


def changes_frame(changes: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Differences between two times: ``kind``, ``twin_id``, ``name``, ``before``, ``after``
    (twins and relationships as their JSON dicts)."""
    return pd.DataFrame(
        [(c["kind"], c["twinId"], c["name"], c["before"], c["after"]) for c in changes],
        columns=list(CHANGE_COLUMNS),
    )


def history_frame(changes: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Changes of one property, ``time`` and ``recorded`` as UTC timestamps, ``cause`` naming
    who made each (``token:<id>``, ``connector:<name>``)."""
    table = pd.DataFrame(
        [[c.get(name) for name in HISTORY_COLUMNS] for c in changes],
        columns=list(HISTORY_COLUMNS),
    )
    for name in ("time", "recorded"):
        table[name] = _utc_index(table[name].to_numpy(dtype=np.float64)).rename(None)
    return table


# -- scenarios ---------------------------------------------------------------------------------


def scenarios_frame(items: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Scenarios as the API lists them: one row each, ``created``, ``started`` and
    ``finished`` as UTC timestamps (NaT until they happen)."""
    table = pd.DataFrame(
        [[item.get(name) for name in SCENARIO_COLUMNS] for item in items],
        columns=list(SCENARIO_COLUMNS),
    )
    for name in ("created", "started", "finished"):
        stamps = table[name].to_numpy(dtype=np.float64, na_value=np.nan)
        table[name] = pd.to_datetime(stamps, unit="s", utc=True)
    return table


ALERT_COLUMNS: Final = (
    "twinId", "model", "name", "severity", "message", "raised", "raisedBy", "updated",
    "acknowledged", "acknowledgedBy", "note",
)  # fmt: skip


def alerts_frame(items: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Open alerts as the API lists them (newest raised first): one row each, ``raised``,
    ``updated`` and ``acknowledged`` as UTC timestamps (NaT while not acknowledged)."""
    table = pd.DataFrame(
        [[item.get(name) for name in ALERT_COLUMNS] for item in items],
        columns=list(ALERT_COLUMNS),
    )
    for name in ("raised", "updated", "acknowledged"):
        stamps = table[name].to_numpy(dtype=np.float64, na_value=np.nan)
        table[name] = pd.to_datetime(stamps, unit="s", utc=True)
    return table

"""Bulk data in and out: what export and import share (formats, times, progress, the store).

Files are Parquet or CSV. Series travel in *long* form, one row per point::

    twin_id   name    time                            value   json
    pump-1    flow    2024-05-01T00:00:00.000000000Z  12.5
    pump-1    state   2024-05-01T00:00:00.000000000Z          "running"

``time`` is a UTC timestamp with nanoseconds (Parquet ``timestamp[ns, UTC]``, CSV ISO 8601), so
a point's float time survives a round trip exactly. ``value`` holds every number (a boolean as
1.0/0.0, NaN as NaN); ``json`` holds the JSON text of every value that is not a plain number
(strings, objects, arrays, booleans) and is empty for numbers. An importer reads ``json`` when
it is set, else ``value``.

Everything here is pyarrow and numpy; :mod:`~twinkit.query._bulk_export` and
:mod:`~twinkit.query._bulk_import` build on it.
"""

from __future__ import annotations

import re
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, TypeVar

import numpy as np

from twinkit.errors import ValidationError

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = [
    "FORMATS",
    "MAX_SECONDS",
    "NS_PER_S",
    "BulkStore",
    "Format",
    "ProgressBar",
    "ProgressFactory",
    "file_format",
    "ns_to_seconds",
    "seconds_to_ns",
    "split_unit",
    "tqdm_progress",
]

_T = TypeVar("_T")

Format = Literal["parquet", "csv"]
FORMATS: Final[tuple[Format, ...]] = ("parquet", "csv")
NS_PER_S: Final = 1_000_000_000
MAX_SECONDS: Final = 9_223_372_035.0
"""Nanosecond timestamps (int64) reach from 1677 to 2262: |time| must stay below this."""

_SUFFIXES: Final[dict[str, Format]] = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".txt": "csv",
}
_UNIT_HEADER: Final = re.compile(r"^\s*(?P<name>[^\[\]]*?)\s*\[\s*(?P<unit>[^\[\]]+?)\s*\]\s*$")


class BulkStore(Protocol):
    """What bulk export needs of a store: read-only SQL beside the writer, and the models.

    :class:`~twinkit.store.SQLiteStore` is one.
    """

    async def read(self, what: str, call: Callable[[sqlite3.Connection], _T]) -> _T: ...

    async def models(self) -> list[dict[str, Any]]: ...


class ProgressBar(Protocol):
    """One progress bar: ``update(n)`` after ``n`` more rows, ``close()`` at the end (tqdm's)."""

    def update(self, n: int) -> object: ...

    def close(self) -> None: ...


ProgressFactory = Callable[[str, "int | None"], ProgressBar]
"""Makes a bar from a description and the total row count (None when not known)."""


def tqdm_progress(description: str, total: int | None) -> ProgressBar:
    """A tqdm bar on stderr counting rows (hidden when stderr is not a terminal)."""
    from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

    bar: ProgressBar = tqdm(
        desc=description,
        total=total,
        unit=" rows",
        unit_scale=True,
        file=sys.stderr,
        disable=None,  # None: off unless stderr is a terminal
        dynamic_ncols=True,
    )
    return bar


def file_format(path: str | Path, given: str | None) -> Format:
    """``given`` when set, else the format the file name ends in; ValidationError otherwise."""
    if given is not None:
        if given not in FORMATS:
            raise ValidationError(
                "unknown bulk file format",
                path=str(path),
                expected=" or ".join(FORMATS),
                got=given,
            )
        return "parquet" if given == "parquet" else "csv"
    found = _SUFFIXES.get(Path(path).suffix.lower())
    if found is None:
        raise ValidationError(
            "cannot tell the file format from the file name; pass the format",
            path=str(path),
            expected=f"a name ending in {', '.join(_SUFFIXES)}, or format='parquet'/'csv'",
            got=Path(path).suffix or "no suffix",
        )
    return found


def split_unit(header: str) -> tuple[str, str | None]:
    """``"temperature[degF]"`` -> ``("temperature", "degF")``; no brackets: ``(header, None)``."""
    found = _UNIT_HEADER.match(header)
    if found is None:
        return header, None
    return found["name"], found["unit"]


def seconds_to_ns(seconds: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Float seconds to integer nanoseconds, exactly enough that :func:`ns_to_seconds` gives
    back the same floats (whole seconds and fraction are converted apart)."""
    whole = np.floor(seconds)
    fraction = np.rint((seconds - whole) * NS_PER_S).astype(np.int64)
    result: npt.NDArray[np.int64] = whole.astype(np.int64) * NS_PER_S + fraction
    return result


def ns_to_seconds(ns: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Integer nanoseconds to float seconds, rounded once (the inverse of
    :func:`seconds_to_ns` for every float time twinkit stores)."""
    whole, fraction = np.divmod(ns, NS_PER_S)
    result: npt.NDArray[np.float64] = whole.astype(np.float64) + fraction / NS_PER_S
    return result

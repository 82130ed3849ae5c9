"""The newest rows of a twin from the store: what a live model's buffer starts from.

A model served on a twin needs ``window`` rows before it can answer. Rather than wait for that
many new ones (after a restart, or when a version with other inputs is activated), the
:class:`~twinkit.predict.PredictionRunner` fills the buffer from the twin's history, with the
rows :func:`~twinkit.predict._training.rows` makes for training, so a model sees the same rows
whether they came live or from the store.

Raw rows (no resampling) are one per data time: the newest ``count`` points of each input are
enough for the newest ``count`` rows (an input whose oldest point read is newer than a row has
``count`` newer points, each making a newer row). Resampled rows are read by time: the whole
buckets of the ``count`` bucket widths before ``before``, with each input's value before them
carried in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from twinkit.predict._training import rows
from twinkit.query._series import MAX_PAGE as SERIES_PAGE
from twinkit.query._series import SeriesStore, series_range, series_tail

__all__ = ["history_rows"]

_FloatArray = npt.NDArray[np.float64]


async def history_rows(
    store: SeriesStore,
    twin_id: str,
    *,
    columns: Sequence[str],
    resample: float | None,
    before: float,
    count: int,
) -> tuple[_FloatArray, _FloatArray]:
    """The twin's newest ``count`` rows of ``columns`` with data before ``before`` (raw), or of
    the buckets that end by ``before``'s bucket (resampled): times and values, oldest first."""
    count = max(1, min(count, SERIES_PAGE))
    series: dict[str, tuple[_FloatArray, _FloatArray]] = {}
    if resample is None:
        for name in columns:
            page = await series_tail(store, twin_id, name, before, count=count)
            series[name] = (page.times, _numbers(page.values))
    else:
        if not math.isfinite(before):  # all history: up to the bucket of the newest point
            newest = [await series_tail(store, twin_id, name, before, count=1) for name in columns]
            if any(not len(page.times) for page in newest):
                return _empty(len(columns))
            before = max(float(page.times[-1]) for page in newest)
        end = math.floor(before / resample) * resample
        start = end - count * resample
        for name in columns:
            seed = await series_tail(store, twin_id, name, start, count=1)
            times, values = [seed.times], [_numbers(seed.values)]
            after: float | None = None
            while True:
                page = await series_range(
                    store, twin_id, name, start, end, after=after, limit=SERIES_PAGE
                )
                times.append(page.times)
                values.append(_numbers(page.values))
                if page.next_after is None:
                    break
                after = page.next_after
            series[name] = (np.concatenate(times), np.concatenate(values))
    if any(not len(series[name][0]) for name in columns):
        return _empty(len(columns))
    frame = rows(twin_id, columns, series, resample)
    if resample is not None:
        frame = frame[frame.index >= end - count * resample]
    frame = frame.iloc[-count:]
    return frame.index.to_numpy(dtype=np.float64), frame.to_numpy(dtype=np.float64)


def _numbers(values: npt.NDArray[np.float64] | npt.NDArray[np.object_]) -> _FloatArray:
    """Values as floats: a non-number (a string state) is NaN, as a missing value."""
    if values.dtype == np.float64:
        return values.astype(np.float64, copy=False)
    out = np.full(len(values), np.nan)
    for index, value in enumerate(values):
        if isinstance(value, bool | int | float):
            out[index] = float(value)
    return out


def _empty(columns: int) -> tuple[_FloatArray, _FloatArray]:
    return np.zeros(0), np.zeros((0, columns))

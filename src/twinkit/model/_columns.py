"""Vectorised checks of a numpy column of values of one schema (numpy is imported lazily)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twinkit.model._checkers import FLOAT32_MAX, INTEGER_RANGES, Check, Invalid
from twinkit.model._schemas import PrimitiveSchema, Schema

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["check_column"]

_EXACT_IN_DOUBLE = 2**53


def check_column(
    schema: Schema | None,
    scalar: Check,
    values: Any,
    *,
    factor: float,
    offset: float,
    report: Callable[[int, Invalid], None],
) -> npt.NDArray[Any]:
    """The checked (and converted) column; each bad index goes to ``report``.

    ``scalar`` is the per-value checker (with the same conversion): it explains each bad
    value, and checks columns the vectorised paths do not cover.
    """
    import numpy as np

    array = np.asarray(values)
    if array.dtype.kind not in "fiub" and not isinstance(values, np.ndarray):
        array = np.asarray(values, dtype=object)  # keep mixed lists as they came
    if array.ndim != 1:
        raise Invalid("a column must be one-dimensional", "a 1-D array", array.shape)
    kind = array.dtype.kind
    if schema in (PrimitiveSchema.DOUBLE, PrimitiveSchema.FLOAT) and kind in "fiu":
        column, bad = _reals(np, array, schema is PrimitiveSchema.FLOAT, factor, offset)
    elif schema in INTEGER_RANGES and kind in "fiu":
        assert isinstance(schema, PrimitiveSchema)
        column, bad = _integers(np, array, schema, factor, offset)
    elif schema is PrimitiveSchema.BOOLEAN and kind == "b":
        return array.copy()
    else:
        return _one_by_one(np, array, scalar, report)
    for index in np.flatnonzero(bad).tolist():
        try:
            scalar(array[index].item())
        except Invalid as err:
            report(index, err)
    return column


def _reals(
    np: Any, array: Any, single: bool, factor: float, offset: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    column = array.astype(np.float64)
    bad = np.zeros(len(column), dtype=bool)
    if array.dtype.kind in "iu" and len(array) and np.abs(column).max() > _EXACT_IN_DOUBLE:
        bad |= column.astype(array.dtype) != array  # integers a double cannot hold exactly
    if factor != 1.0:
        column *= factor
    if offset != 0.0:
        column += offset
    bad |= ~np.isfinite(column)
    if single:
        bad |= np.abs(column) > FLOAT32_MAX
    return column, bad


def _integers(
    np: Any, array: Any, schema: PrimitiveSchema, factor: float, offset: float
) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]:
    low, high = INTEGER_RANGES[schema]
    dtype = np.uint64 if schema is PrimitiveSchema.UNSIGNED_LONG else np.int64
    converted = factor != 1.0 or offset != 0.0
    if array.dtype.kind in "iu" and not converted:
        bad = (array < low) | (array > high)
        return array.astype(dtype), bad
    real = array.astype(np.float64) * factor + offset
    nearest = np.rint(real)
    with np.errstate(invalid="ignore"):
        if converted:  # absorb the rounding of the conversion, as the scalar path does
            whole = np.abs(real - nearest) <= 1e-9 * np.maximum(1.0, np.abs(real))
        else:
            whole = real == nearest
        good = np.isfinite(real) & whole & (nearest >= low) & (nearest <= high)
    nearest[~good] = 0
    return nearest.astype(dtype), ~good


def _one_by_one(
    np: Any, array: Any, scalar: Check, report: Callable[[int, Invalid], None]
) -> npt.NDArray[np.object_]:
    column: npt.NDArray[np.object_] = np.empty(len(array), dtype=object)
    for index, value in enumerate(array.tolist()):
        try:
            column[index] = scalar(value)
        except Invalid as err:
            report(index, err)
    return column

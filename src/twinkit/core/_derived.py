"""Derived values: numbers twinkit computes about a twin, kept apart from what it reported.

A simulator running in step with the plant produces *simulated* values and *residuals*
(measured minus simulated); predictors later produce *predicted* ones. Each value is a point of
the series ``"<kind>:<name>"`` (DTDL names cannot hold ``:``, so these never clash with a
model's contents), stored with the other points in one transaction, kept as the twin's latest
value of that series (:attr:`Twin.derived <twinkit.core.Twin.derived>`) and published as a
transient ``ValuesDerived`` event. Like telemetry they are not in the event log: their history
is the series, and they move neither the twin's version nor its ``updated`` time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from twinkit.core._batch import Batch
from twinkit.errors import NotFoundError, ValidationError

__all__ = [
    "PREDICTED",
    "RESIDUAL",
    "SIMULATED",
    "Derived",
    "derived_series",
    "is_name",
    "split_derived",
    "stage_derived",
]

SIMULATED: Final = "simulated"
"""A simulator's output for the twin (``simulated:<content>`` or ``simulated:<output>``)."""
RESIDUAL: Final = "residual"
"""Measured minus simulated, per predicted content (``residual:<content>``)."""
PREDICTED: Final = "predicted"
"""A learned model's forecast of a content."""

# A DTDL name (v3: letters, digits and underscores, starting with a letter, not ending with an
# underscore, at most 512 characters); kinds follow the same rule.
_NAME: Final = re.compile(r"[A-Za-z](?:[A-Za-z0-9_]{0,510}[A-Za-z0-9])?")


@dataclass(frozen=True, slots=True)
class Derived:
    """Values of one ``kind`` computed for one twin at one ``time`` (seconds since the epoch)."""

    twin_id: str
    time: float
    kind: str
    values: Mapping[str, float]


def derived_series(kind: str, name: str) -> str:
    """The series name of derived value ``name`` of ``kind``: ``"<kind>:<name>"``."""
    return f"{kind}:{name}"


def split_derived(series: str) -> tuple[str, str] | None:
    """``(kind, name)`` of a derived series name; None for any other name (a content's)."""
    kind, colon, name = series.partition(":")
    if not colon or not _NAME.fullmatch(kind) or not _NAME.fullmatch(name):
        return None
    return kind, name


def is_name(text: object) -> bool:
    """Whether ``text`` may be a derived value's name or kind (the DTDL name rule)."""
    return isinstance(text, str) and _NAME.fullmatch(text) is not None


def stage_derived(batch: Batch, items: Sequence[Derived]) -> None:
    """Check every item, then stage them all: nothing is staged when one is wrong."""
    checked = [_checked(batch, item, index, len(items)) for index, item in enumerate(items)]
    for item, values in zip(items, checked, strict=True):
        if values:
            twin = batch.twin(item.twin_id)
            assert twin is not None  # checked above, and staging derived values deletes nothing
            batch.derived(twin, item.kind, values, item.time)


def _checked(batch: Batch, item: Derived, index: int, count: int) -> dict[str, float]:
    where = item.twin_id if count == 1 else f"derived[{index}] ({item.twin_id})"
    twin = batch.twin(item.twin_id)
    if twin is None:
        raise NotFoundError(
            f"twin {item.twin_id!r} not found: derived values need a live twin", where=where
        )
    if not is_name(item.kind):
        raise ValidationError(
            "bad kind of derived values",
            model=twin.model,
            path=f"{where}/kind",
            expected="a DTDL-like name such as 'simulated', 'residual' or 'predicted'",
            got=item.kind,
        )
    if not _number(item.time):
        raise ValidationError(
            "derived values need a finite time",
            model=twin.model,
            path=f"{where}/time",
            expected="seconds since the epoch",
            got=item.time,
        )
    values: dict[str, float] = {}
    for name, value in item.values.items():
        series = f"{where}/{item.kind}:{name}"
        if not is_name(name):
            raise ValidationError(
                "bad name of a derived value",
                model=twin.model,
                path=series,
                expected="a DTDL name: letters, digits and '_', starting with a letter",
                got=name,
            )
        if not _number(value):
            raise ValidationError(
                "derived value is not a finite number",
                model=twin.model,
                path=series,
                expected="a finite number",
                got=value,
            )
        values[name] = float(value)
    return values


def _number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)

"""The ingest hot path: device readings checked against their twin's model, then staged.

A message (the readings of one MQTT message or one HTTP record) is all or nothing: every value
of every reading is validated before anything of it is staged, so one bad value rejects the
whole message (it goes to the dead letters whole, and replays whole after a fix).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from twinkit.core._batch import Batch
from twinkit.core._requests import Ack, Reading
from twinkit.errors import NotFoundError, ValidationError
from twinkit.model import ModelValidator

__all__ = ["Checked", "check_message", "stage_message"]


class Checked(NamedTuple):
    """One reading, validated: typed telemetry and property values, acknowledgements.

    (A NamedTuple rather than a frozen dataclass: one is made per reading on the ingest hot
    path, and a tuple is made four times faster.)
    """

    twin_id: str
    time: float
    telemetry: dict[str, object]
    properties: dict[str, object]
    acks: Mapping[str, Ack]  # the reading's own (immutable, and read before the batch ends)


def check_message(
    batch: Batch,
    readings: Sequence[Reading],
    validator: Callable[[str], ModelValidator],
    now: float,
) -> list[Checked]:
    """Validate every reading of one message; raise the first problem found."""
    checked = []
    for index, reading in enumerate(readings):
        twin = batch.twin(reading.twin_id)
        if twin is None:
            raise NotFoundError(
                f"twin {reading.twin_id!r} not found: create it before sending it data",
                where=_where(readings, index),
            )
        check = validator(twin.model)
        time = now if reading.time is None else reading.time
        if type(time) is not float:  # an int, a numpy float (not JSON for snapshots), garbage
            time = _seconds(time, readings, index, twin.model)
        if not math.isfinite(time):
            raise ValidationError(
                "reading time is not a finite number",
                model=twin.model,
                path=f"{_where(readings, index)}/time",
                expected="seconds since the epoch",
                got=time,
            )
        telemetry, properties = check.split(reading.values)
        acks = reading.acks
        for name in acks:
            if not check.is_writable(name):
                raise ValidationError(
                    f"acknowledgement for {name!r}, which is not a writable property",
                    model=twin.model,
                    path=name,
                    expected="a writable property",
                    got=name,
                )
        checked.append(Checked(twin.id, time, telemetry, properties, acks))
    return checked


def stage_message(batch: Batch, checked: Sequence[Checked]) -> None:
    """Stage the events, points and touches of one validated message."""
    for item in checked:
        twin = batch.twin(item.twin_id)
        assert twin is not None  # checked in this batch, and ingest deletes nothing
        if item.properties:
            for name, value in item.properties.items():
                twin = batch.report(twin, name, value, item.time)
        if item.acks:
            for name, ack in item.acks.items():
                twin = batch.acknowledge(twin, name, ack, item.time)
        if item.telemetry:
            batch.telemetry(twin, item.telemetry, item.time)


def _seconds(time: object, readings: Sequence[Reading], index: int, model: str) -> float:
    """A reading's time as a plain float, or a ValidationError saying what came."""
    if isinstance(time, bool) or not isinstance(time, numbers.Real):
        raise ValidationError(
            "reading time is not a number",
            model=model,
            path=f"{_where(readings, index)}/time",
            expected="seconds since the epoch",
            got=time,
        )
    return float(time)


def _where(readings: Sequence[Reading], index: int) -> str:
    twin_id = readings[index].twin_id
    return twin_id if len(readings) == 1 else f"reading {index} ({twin_id})"

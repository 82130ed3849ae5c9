"""Dead-letter replay: try rejected messages again, after a model or twin was fixed.

Each pending dead letter is re-parsed by its source (``mqtt:<topic>`` with the MQTT mapping,
``http:<path>`` and ``import:<file>:<row>`` as an ingest JSON record); all that parse go to the sink in one ingest call.
Those accepted are marked replayed; the others stay pending, once, with why they still fail.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from twinkit.connect._mapping import MqttMapping
from twinkit.connect._payload import parse_ingest_body, parse_report
from twinkit.connect._sink import IngestSink
from twinkit.core import Reading
from twinkit.errors import TwinkitError, ValidationError
from twinkit.store import DeadLetter, Store

__all__ = ["ReplayFailure", "ReplayReport", "replay_dead_letters"]

logger = logging.getLogger(__name__)

_ALL: int = 1_000_000


@dataclass(frozen=True, slots=True)
class ReplayFailure:
    """A dead letter that still does not go in, and why (it stays pending)."""

    id: int
    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """What a replay did: ids now ingested, the ones that still fail, the ids not found."""

    replayed: tuple[int, ...]
    failed: tuple[ReplayFailure, ...]
    missing: tuple[int, ...] = ()


def _readings(letter: DeadLetter, mapping: MqttMapping) -> list[Reading]:
    """Re-parse one dead letter by its source; ValidationError when it still does not fit."""
    kind, _, where = letter.source.partition(":")
    if kind == "mqtt" and where:
        return parse_report(mapping, where, letter.payload)
    if kind in ("http", "import"):  # both keep an ingest record {"twinId", "ts", "values"}
        messages = parse_ingest_body(letter.payload, "application/json", mapping)
        errors = [m.error for m in messages if m.error is not None]
        if errors:
            raise errors[0]
        return [reading for m in messages for reading in m.readings]
    raise ValidationError(
        "cannot replay a dead letter from this source",
        path=f"dead letter {letter.id}",
        expected="a source 'mqtt:<topic>' (a report topic), 'http:<path>' or 'import:<file>:<row>'",
        got=letter.source,
    )


async def replay_dead_letters(
    store: Store,
    sink: IngestSink,
    mapping: MqttMapping | None = None,
    ids: Sequence[int] | None = None,
    *,
    cause: str = "replay",
) -> ReplayReport:
    """Replay pending dead letters (all of them, or those in ``ids``) into ``sink``."""
    mapping = mapping or MqttMapping()
    pending = await store.dead_letters(pending_only=True, limit=_ALL)
    wanted = None if ids is None else set(ids)
    letters = [d for d in pending if wanted is None or d.id in wanted]
    found = {d.id for d in letters}
    missing = tuple(i for i in dict.fromkeys(ids or ()) if i not in found)
    failed: list[ReplayFailure] = []
    parsed: list[tuple[DeadLetter, list[Reading]]] = []
    for letter in letters:
        try:
            parsed.append((letter, _readings(letter, mapping)))
        except ValidationError as err:
            failed.append(ReplayFailure(letter.id, letter.source, str(err)))
    replayed: list[int] = []
    if parsed:
        results: list[TwinkitError | None] = await sink.ingest(
            [readings for _, readings in parsed], cause=cause
        )
        now = time.time()
        for (letter, _), error in zip(parsed, results, strict=True):
            if error is None:
                await store.mark_replayed(letter.id, now)
                replayed.append(letter.id)
            else:
                failed.append(ReplayFailure(letter.id, letter.source, str(error)))
    failed.sort(key=lambda f: f.id)
    logger.info(
        "replayed %d dead letters; %d still fail; %d not pending",
        len(replayed),
        len(failed),
        len(missing),
    )
    return ReplayReport(tuple(replayed), tuple(failed), missing)

"""The twin graph: every live twin, indexed by id, by model, by incoming relationship, and
whether it has open alerts; and the twins' latest telemetry, updated in place.

Latest telemetry is not part of a twin's versioned state (no event, no version): it changes
with every device message. Making a new :class:`Twin` for each would cost most of the ingest
path (a twin, its mapping and the graph's indexes, per message), so the graph owns one dict of
latest values per twin and the twin's ``telemetry`` is a read-only view of it, which
:meth:`TwinGraph.update_latest` updates in place once a batch is committed. Everything else of
a twin stays immutable; :func:`~twinkit.core._twin.detached` copies a twin whose telemetry must
not move (kept for later, or read on another thread).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from types import MappingProxyType

from twinkit.core._twin import RelationshipEdge, TelemetryValue, Twin

__all__ = ["TwinGraph"]


class TwinGraph:
    """In-memory state of all twins; :meth:`put` keeps the indexes in step."""

    __slots__ = ("_alerting", "_by_model", "_incoming", "_latest", "_seqs", "_twins")

    def __init__(self) -> None:
        self._twins: dict[str, Twin] = {}
        self._seqs: dict[str, int] = {}  # last seq of every twin ever, deleted ones included
        self._by_model: dict[str, set[str]] = {}
        self._incoming: dict[str, dict[str, RelationshipEdge]] = {}
        self._alerting: set[str] = set()  # ids of live twins with open alerts
        # live twin id -> (the view that the twin's telemetry is, the dict behind it)
        self._latest: dict[str, tuple[Mapping[str, TelemetryValue], dict[str, TelemetryValue]]]
        self._latest = {}

    def __len__(self) -> int:
        return len(self._twins)

    def __iter__(self) -> Iterator[Twin]:
        return iter(self._twins.values())

    def __contains__(self, twin_id: object) -> bool:
        return twin_id in self._twins

    def get(self, twin_id: str) -> Twin | None:
        return self._twins.get(twin_id)

    def last_seq(self, twin_id: str) -> int:
        """The twin's last sequence number (0 for a twin never created)."""
        return self._seqs.get(twin_id, 0)

    def ids_of_model(self, model: str) -> set[str]:
        return self._by_model.get(model, set())

    def models(self) -> list[str]:
        """Models that have at least one twin."""
        return [model for model, ids in self._by_model.items() if ids]

    def alerting(self) -> list[Twin]:
        """The live twins that have open alerts (without looking at the others)."""
        return [self._twins[twin_id] for twin_id in self._alerting]

    def incoming(self, twin_id: str) -> list[RelationshipEdge]:
        return list(self._incoming.get(twin_id, {}).values())

    def put(self, twin: Twin) -> None:
        """Install ``twin`` (new state of a twin, or its deletion when ``twin.deleted``)."""
        old = self._twins.get(twin.id)
        if old is None or old.version != twin.version:  # else _seqs holds at least that already
            self._seqs[twin.id] = max(self._seqs.get(twin.id, 0), twin.version)
        if old is not None and (twin.deleted or old.relationships is not twin.relationships):
            for edge in old.relationships.values():  # a deleted twin's edges go with it
                self._incoming.get(edge.target, {}).pop(edge.id + "\0" + edge.source, None)
        if twin.alerts and not twin.deleted:
            self._alerting.add(twin.id)
        elif old is not None:
            self._alerting.discard(twin.id)
        if twin.deleted:
            self._twins.pop(twin.id, None)
            self._latest.pop(twin.id, None)
            if old is not None:
                self._by_model.get(old.model, set()).discard(twin.id)
            return
        if old is None or old.model != twin.model:
            if old is not None:
                self._by_model.get(old.model, set()).discard(twin.id)
            self._by_model.setdefault(twin.model, set()).add(twin.id)
        if old is None or old.relationships is not twin.relationships:
            for edge in twin.relationships.values():
                self._incoming.setdefault(edge.target, {})[edge.id + "\0" + edge.source] = edge
        latest = self._latest.get(twin.id)
        if latest is None or twin.telemetry is not latest[0]:
            # a new twin, or one loaded: its values go into a dict of the graph's (once per
            # twin, not per message); states made from it later carry the same view
            values = dict(twin.telemetry)
            view = MappingProxyType(values)
            self._latest[twin.id] = (view, values)
            twin = replace(twin, telemetry=view)
        self._twins[twin.id] = twin

    def update_latest(self, twin_id: str, newest: Mapping[str, TelemetryValue]) -> None:
        """Put these latest telemetry values (newer than the twin's) on the live twin, in place;
        nothing for a twin that is not live."""
        latest = self._latest.get(twin_id)
        if latest is not None:
            latest[1].update(newest)

    def note_seq(self, twin_id: str, seq: int) -> None:
        """Remember the last seq of a twin that is not live (deleted before a restart)."""
        self._seqs[twin_id] = max(self._seqs.get(twin_id, 0), seq)

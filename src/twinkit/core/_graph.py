"""The twin graph: every live twin, indexed by id, by model, by incoming relationship, and
whether it has open alerts."""

from __future__ import annotations

from collections.abc import Iterator

from twinkit.core._twin import RelationshipEdge, Twin

__all__ = ["TwinGraph"]


class TwinGraph:
    """In-memory state of all twins; :meth:`put` keeps the indexes in step."""

    __slots__ = ("_alerting", "_by_model", "_incoming", "_seqs", "_twins")

    def __init__(self) -> None:
        self._twins: dict[str, Twin] = {}
        self._seqs: dict[str, int] = {}  # last seq of every twin ever, deleted ones included
        self._by_model: dict[str, set[str]] = {}
        self._incoming: dict[str, dict[str, RelationshipEdge]] = {}
        self._alerting: set[str] = set()  # ids of live twins with open alerts

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
        self._twins[twin.id] = twin

    def note_seq(self, twin_id: str, seq: int) -> None:
        """Remember the last seq of a twin that is not live (deleted before a restart)."""
        self._seqs[twin_id] = max(self._seqs.get(twin_id, 0), seq)

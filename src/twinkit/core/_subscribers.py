"""Subscriptions to committed events, filtered by twin, model and event type.

As in Home Assistant, ``subscribe`` returns the function that unsubscribes, and a listener that
raises is logged while the others go on: one faulty consumer never stalls ingest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from twinkit.core._events import Event, EventType

__all__ = ["Listener", "Subscribers"]

logger = logging.getLogger(__name__)

Listener = Callable[[Event], None]
"""Called on the event loop with each committed event; must not block."""


@dataclass(frozen=True, slots=True, eq=False)
class _Subscription:
    callback: Listener
    twins: frozenset[str] | None
    models: frozenset[str] | None
    types: frozenset[EventType] | None


class Subscribers:
    """The listeners of one runtime. ``is_a(model, base)`` decides model filters."""

    __slots__ = ("_changes", "_is_a", "_subs")

    def __init__(self, is_a: Callable[[str, str], bool]) -> None:
        self._subs: list[_Subscription] = []
        self._is_a = is_a
        self._changes = 0  # subscriptions added or removed so far

    def __len__(self) -> int:
        return len(self._subs)

    def add(
        self,
        callback: Listener,
        *,
        twins: Collection[str] | None = None,
        models: Collection[str] | None = None,
        types: Collection[EventType | str] | None = None,
    ) -> Callable[[], None]:
        sub = _Subscription(
            callback,
            None if twins is None else frozenset(twins),
            None if models is None else frozenset(models),
            None if types is None else frozenset(EventType(t) for t in types),
        )
        self._subs.append(sub)
        self._changes += 1

        def unsubscribe() -> None:
            if sub in self._subs:
                self._subs.remove(sub)
                self._changes += 1

        return unsubscribe

    def wants(self, kind: EventType) -> bool:
        """Whether any listener takes events of type ``kind`` (a writer may skip making
        transient events nobody listens to)."""
        return any(sub.types is None or kind in sub.types for sub in self._subs)

    def publish(self, events: Iterable[tuple[Event, str]]) -> None:
        """Hand each (event, model of its twin) to every listener whose filters match.

        A listener removed by another listener's callback gets no later event, one added gets
        the events after the one being handed out.
        """
        if not self._subs:
            return
        changes, subs = self._changes, tuple(self._subs)
        for event, model in events:
            if changes != self._changes:
                changes, subs = self._changes, tuple(self._subs)
            kind = event.type
            for sub in subs:
                if sub.types is not None and kind not in sub.types:
                    continue  # the common case: a listener of other event types
                if self._matches(sub, event, model):
                    try:
                        sub.callback(event)
                    except Exception:
                        logger.exception("event listener %r failed on %s", sub.callback, kind)

    def _matches(self, sub: _Subscription, event: Event, model: str) -> bool:
        if sub.twins is not None and event.twin_id not in sub.twins:
            return False
        if sub.models is not None:
            return any(model == base or self._is_a(model, base) for base in sub.models)
        return True

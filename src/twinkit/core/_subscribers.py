"""Subscriptions to committed events, filtered by twin, model and event type.

As in Home Assistant, ``subscribe`` returns the function that unsubscribes, and a listener that
raises is logged while the others go on: one faulty consumer never stalls ingest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from twinkit.core._events import Event, EventType

__all__ = ["Audience", "Listener", "Subscribers"]

logger = logging.getLogger(__name__)

Listener = Callable[[Event], None]
"""Called on the event loop with each committed event; must not block."""


@dataclass(frozen=True, slots=True, eq=False)
class _Subscription:
    callback: Listener
    twins: frozenset[str] | None
    models: frozenset[str] | None
    types: frozenset[EventType] | None


class Audience:
    """Which twins' events of one type somebody listens to, for a writer that makes
    transient events only where they are heard (see :meth:`Subscribers.audience`)."""

    __slots__ = ("_is_a", "_model_hits", "everyone", "models", "twins")

    def __init__(
        self,
        *,
        everyone: bool = False,
        twins: frozenset[str] = frozenset(),
        models: frozenset[str] = frozenset(),
        is_a: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.everyone = everyone
        self.twins = twins
        self.models = models
        self._is_a = is_a
        self._model_hits: dict[str, bool] = {}

    def __bool__(self) -> bool:
        """Whether anybody listens at all."""
        return self.everyone or bool(self.twins) or bool(self.models)

    def hears(self, twin_id: str, model: str) -> bool:
        """Whether some listener takes this twin's events (by its id or its model)."""
        if self.everyone or twin_id in self.twins:
            return True
        if not self.models:
            return False
        hit = self._model_hits.get(model)
        if hit is None:
            is_a = self._is_a
            hit = self._model_hits[model] = any(
                model == base or (is_a is not None and is_a(model, base)) for base in self.models
            )
        return hit


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

    def audience(self, kind: EventType) -> Audience:
        """Who listens to events of type ``kind``: everyone when a listener takes them from
        every twin, else the twins and models the listeners name (a listener filtering by both
        counts as its twins only; the exact filter runs in :meth:`publish`)."""
        twins: set[str] = set()
        models: set[str] = set()
        for sub in self._subs:
            if sub.types is not None and kind not in sub.types:
                continue
            if sub.twins is not None:
                twins |= sub.twins
            elif sub.models is not None:
                models |= sub.models
            else:
                return Audience(everyone=True)
        return Audience(twins=frozenset(twins), models=frozenset(models), is_a=self._is_a)

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

"""Live updates for a page: runtime events gathered as they commit, handed out at most 10 times
a second, and the subscription dropped when the browser goes away.

A listener runs on the event loop inside the ingest path, so it only appends to a buffer; the
page's ``update`` runs from a NiceGUI timer with everything that arrived since the last tick.
Under 10k messages a second a chart thus redraws ten times a second, not ten thousand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Final

from nicegui import ui

from twinkit.core import Event, EventType
from twinkit.ui._context import services

__all__ = ["MAX_EVENTS_PER_TICK", "TICK_S", "LiveFeed", "live"]

logger = logging.getLogger(__name__)

TICK_S: Final = 0.1
"""Seconds between two updates of a page: at most 10 a second, as the dashboard promises."""

MAX_EVENTS_PER_TICK: Final = 20_000
"""Events kept between two ticks; older ones are dropped (counted in ``dropped``) so that a
burst cannot grow a slow page's buffer without bound. Pages needing every value read history."""


class LiveFeed:
    """Events of one subscription, buffered between ticks (see :func:`live`)."""

    __slots__ = ("_buffer", "_unsubscribe", "dropped")

    def __init__(self) -> None:
        self._buffer: list[Event] = []
        self._unsubscribe: Callable[[], None] | None = None
        self.dropped = 0

    def _take(self, event: Event) -> None:
        buffer = self._buffer
        if len(buffer) >= MAX_EVENTS_PER_TICK:
            del buffer[: len(buffer) // 2]
            self.dropped += MAX_EVENTS_PER_TICK // 2
        buffer.append(event)

    def drain(self) -> list[Event]:
        """The events since the last drain, oldest first."""
        events, self._buffer = self._buffer, []
        return events

    def close(self) -> None:
        """Stop listening (safe to call twice)."""
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()


def live(
    update: Callable[[list[Event]], None],
    *,
    twins: Collection[str] | None = None,
    models: Collection[str] | None = None,
    types: Collection[EventType | str] | None = None,
    tick_s: float = TICK_S,
) -> LiveFeed:
    """Call ``update`` on this page with the committed events that pass the filters, at most
    once per ``tick_s`` and only when some came; unsubscribe when the page's client is deleted (a browser that reconnects
    within the reconnect timeout keeps its feed).

    Call it while building a page (inside a NiceGUI client context).
    """
    feed = LiveFeed()
    feed._unsubscribe = services().runtime.subscribe(
        feed._take, twins=twins, models=models, types=types
    )

    def tick() -> None:
        events = feed.drain()
        if events:
            try:
                update(events)
            except Exception:
                logger.exception("a live update of the dashboard failed")

    ui.timer(tick_s, tick)
    ui.context.client.on_delete(feed.close)
    return feed

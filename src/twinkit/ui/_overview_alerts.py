"""Open alerts for the overview: which ``AlertRaised`` events still count, newest first.

twinkit has no event that closes an alert (a detector raises one per episode, the shadow
runner one per failure streak), so an alert is *open* for :data:`ALERT_OPEN_S` after it was
raised. One :class:`AlertBook` per runtime is shared by every browser tab: it reads the open
alerts from the event log once (:func:`load_alerts`) and then follows ``AlertRaised`` events
as they commit, so a page never scans the log again.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import weakref
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from twinkit.core import Event, EventType, Runtime
from twinkit.store import SQLiteStore
from twinkit.store._sqlite_codec import decode_event

__all__ = [
    "ALERT_OPEN_S",
    "MAX_ALERTS",
    "Alert",
    "AlertBook",
    "alert_book",
    "alert_from_event",
    "load_alerts",
]

logger = logging.getLogger(__name__)

ALERT_OPEN_S: Final = 3600.0
"""Seconds an alert stays open after it was raised (no event closes one)."""

MAX_ALERTS: Final = 1000
"""Most open alerts a book keeps; older ones are forgotten first (the log keeps them all)."""

_ALERTS_SQL: Final = (
    "SELECT twin_id, seq, type, time, recorded, cause, data FROM events "
    "WHERE type = ? AND recorded >= ? ORDER BY recorded DESC, twin_id, seq DESC LIMIT ?"
)


@dataclass(frozen=True, slots=True)
class Alert:
    """One raised alert: on which twin, what (``name``), how bad, why, when and by whom."""

    twin_id: str
    seq: int
    name: str
    severity: str
    message: str
    raised: float
    cause: str

    @property
    def key(self) -> tuple[str, int]:
        """The event it came from: an alert is counted once however it was learnt of."""
        return (self.twin_id, self.seq)


def alert_from_event(event: Event) -> Alert:
    """The alert an ``AlertRaised`` event records (``recorded`` is when it was raised)."""
    data: Mapping[str, Any] = event.data
    return Alert(
        twin_id=event.twin_id,
        seq=event.seq,
        name=str(data.get("name", "alert")),
        severity=str(data.get("severity", "warning")),
        message=str(data.get("message", "")),
        raised=event.recorded,
        cause=event.cause,
    )


async def load_alerts(store: SQLiteStore, since: float, limit: int = MAX_ALERTS) -> list[Alert]:
    """Alerts raised at or after ``since``, newest first, at most ``limit``.

    The event log has no index by type, so this scans it once: :class:`AlertBook` calls it
    once per runtime, never per page or per tick.
    """

    def read(conn: sqlite3.Connection) -> list[Alert]:
        rows = conn.execute(_ALERTS_SQL, (EventType.ALERT_RAISED.value, since, limit))
        return [alert_from_event(decode_event(row, store.path)) for row in rows]

    return await store.read("reading open alerts", read)


class AlertBook:
    """The open alerts of one runtime, newest first; fed by :meth:`add` (and a first load)."""

    __slots__ = ("_alerts", "_keys", "_open_s")

    def __init__(self, *, open_s: float = ALERT_OPEN_S, limit: int = MAX_ALERTS) -> None:
        self._open_s = open_s
        self._alerts: deque[Alert] = deque(maxlen=limit)  # oldest left, newest right
        self._keys: set[tuple[str, int]] = set()

    def __len__(self) -> int:
        return len(self._alerts)

    def add(self, alerts: Iterable[Alert]) -> None:
        """Take alerts in any order (a load racing live events is fine: each counts once)."""
        fresh = [alert for alert in alerts if alert.key not in self._keys]
        if not fresh:
            return
        if self._alerts and min(a.raised for a in fresh) < self._alerts[-1].raised:
            merged = sorted([*self._alerts, *fresh], key=lambda a: (a.raised, a.twin_id, a.seq))
            self._alerts.clear()
            self._alerts.extend(merged)  # maxlen drops the oldest
        else:
            self._alerts.extend(sorted(fresh, key=lambda a: (a.raised, a.twin_id, a.seq)))
        self._keys = {alert.key for alert in self._alerts}

    def take(self, event: Event) -> None:
        """A runtime listener: keep the alert an ``AlertRaised`` event records."""
        if event.type is EventType.ALERT_RAISED:
            self.add([alert_from_event(event)])

    def open(self, now: float, *, limit: int | None = None) -> list[Alert]:
        """The alerts raised in the last ``open_s`` seconds before ``now``, newest first."""
        since = now - self._open_s
        out: list[Alert] = []
        for alert in reversed(self._alerts):
            if alert.raised < since or (limit is not None and len(out) >= limit):
                break
            out.append(alert)
        return out

    def count_open(self, now: float) -> int:
        """How many alerts are open at ``now``."""
        return len(self.open(now))

    def by_twin(self, now: float) -> dict[str, Alert]:
        """Each twin with an open alert, and its newest one."""
        newest: dict[str, Alert] = {}
        for alert in self.open(now):
            newest.setdefault(alert.twin_id, alert)
        return newest


_books: weakref.WeakKeyDictionary[Runtime, AlertBook] = weakref.WeakKeyDictionary()
_loading: weakref.WeakKeyDictionary[Runtime, asyncio.Lock] = weakref.WeakKeyDictionary()


async def alert_book(runtime: Runtime, store: SQLiteStore, now: float) -> AlertBook:
    """The shared book of ``runtime``: made on first use (subscribe, then load the open alerts
    from ``store``, so none raised meanwhile is missed), then the same object every time."""
    book = _books.get(runtime)
    if book is not None:
        return book
    lock = _loading.setdefault(runtime, asyncio.Lock())
    async with lock:
        book = _books.get(runtime)
        if book is not None:
            return book
        book = AlertBook()
        # Subscribed for as long as the runtime lives (the book goes with it).
        unsubscribe = runtime.subscribe(book.take, types=[EventType.ALERT_RAISED])
        try:
            book.add(await load_alerts(store, now - ALERT_OPEN_S))
        except BaseException:
            unsubscribe()
            raise
        _books[runtime] = book
        logger.debug("dashboard: %d open alerts loaded", len(book))
        return book

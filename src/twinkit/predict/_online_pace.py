"""Pacing online inference: at most one inference per twin and model every ``interval`` seconds.

Every telemetry event of a served twin makes a new row; inferring on each one costs a model
call per message, which under a heavy ingest (thousands of messages per second) takes the
cores that ingest needs. A :class:`Pacer` decides, on the event loop, when a twin's newest
window is handed to the worker:

- a twin whose last inference began at least ``interval`` seconds ago (wall clock, monotonic)
  is *ready* at once;
- one inferred on more recently is *deferred* until that interval has passed; rows that
  arrive meanwhile still go into its buffer and are *coalesced*: one inference, on the newest
  window, when it is due (trailing edge: the newest row is always scored in the end);
- ready twins wait in a bounded queue (``max_pending``); when it is full the oldest is dropped
  and counted, and that twin is scored again on its next row. The queue never holds a twin
  twice, so it is bounded by the twins served anyway; the bound caps one round's work.

Interval 0 infers on every row (each one still coalesced while the worker is busy).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable
from typing import Final, Generic, TypeVar

from twinkit.errors import ValidationError

__all__ = ["DEFAULT_MAX_PENDING", "DEFAULT_MIN_INTERVAL", "Pacer", "check_interval"]

DEFAULT_MIN_INTERVAL: Final = 1.0
"""Seconds between two inferences of one twin by one model, unless configured otherwise."""
DEFAULT_MAX_PENDING: Final = 100_000
"""Twins ready for inference at most; beyond it the oldest is dropped (and counted)."""

K = TypeVar("K", bound=Hashable)


def check_interval(seconds: object, where: str) -> float:
    """``seconds`` as a float when it is a finite number >= 0, else a ValidationError."""
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not math.isfinite(seconds)
        or seconds < 0
    ):
        raise ValidationError(
            "bad minimum interval between inferences",
            path=where,
            expected="finite seconds >= 0 (0: infer on every row)",
            got=seconds,
        )
    return float(seconds)


class Pacer(Generic[K]):
    """Which keys (one per twin and model) are due for inference; see the module docstring.

    ``interval_of(key)`` gives a key's minimum interval in seconds. Loop side only.
    """

    __slots__ = (
        "_clock",
        "_deferred",
        "_dropped",
        "_interval_of",
        "_last",
        "_max_pending",
        "_ready",
    )

    def __init__(
        self,
        interval_of: Callable[[K], float],
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 1:
            raise ValidationError(
                "bad bound of the inference queue",
                path="max_pending",
                expected="a whole number >= 1",
                got=max_pending,
            )
        self._interval_of = interval_of
        self._max_pending = max_pending
        self._clock = clock
        self._ready: dict[K, None] = {}  # insertion-ordered: the oldest first
        self._deferred: dict[K, float] = {}  # key -> when it is due (clock)
        self._last: dict[K, float] = {}  # key -> when its last inference was handed out
        self._dropped: list[K] = []

    def __len__(self) -> int:
        """Keys waiting, ready or deferred."""
        return len(self._ready) + len(self._deferred)

    @property
    def ready(self) -> bool:
        """Whether a key is ready for inference now."""
        return bool(self._ready)

    def mark(self, key: K) -> tuple[str, float | None]:
        """A new row for ``key``: ``("ready", None)``, ``("coalesced", None)`` when an
        inference of it is waiting already, or ``("deferred", due)`` (on the pacer's clock)."""
        if key in self._ready or key in self._deferred:
            return "coalesced", None
        last = self._last.get(key)
        if last is not None:
            due = last + self._interval_of(key)
            if self._clock() < due:
                self._deferred[key] = due
                return "deferred", due
        self._push(key)
        return "ready", None

    def _push(self, key: K) -> None:
        if len(self._ready) >= self._max_pending:
            oldest = next(iter(self._ready))
            del self._ready[oldest]
            self._dropped.append(oldest)
        self._ready[key] = None

    def dropped(self) -> list[K]:
        """The keys dropped from a full queue since the last call."""
        found, self._dropped = self._dropped, []
        return found

    def promote(self) -> float | None:
        """Move the deferred keys that are due to the ready queue; returns the seconds until
        the next deferred one is due (None: none waits)."""
        if not self._deferred:
            return None
        now = self._clock()
        for key in [key for key, at in self._deferred.items() if at <= now]:
            del self._deferred[key]
            self._push(key)
        if not self._deferred:
            return None
        return max(min(self._deferred.values()) - now, 0.0)

    def take(self) -> list[K]:
        """The ready keys, oldest first, each stamped as inferred now."""
        ready, self._ready = list(self._ready), {}
        now = self._clock()
        for key in ready:
            self._last[key] = now
        return ready

    def forget(self, key: K) -> None:
        """Drop everything about ``key`` (its twin was deleted or its model unserved)."""
        self._ready.pop(key, None)
        self._deferred.pop(key, None)
        self._last.pop(key, None)

    def again(self, key: K) -> None:
        """Forget when ``key`` was last inferred on: its next row is ready at once (its model
        was swapped, say)."""
        self._last.pop(key, None)

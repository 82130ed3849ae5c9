"""Pacing online inference: intervals per twin, coalescing, a trailing inference, a bounded
queue that counts what it drops."""

from __future__ import annotations

import pytest

from twinkit.errors import ValidationError
from twinkit.predict._online_pace import Pacer, check_interval


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_twin_is_inferred_at_most_once_per_interval_and_its_newest_row_in_the_end() -> None:
    clock = Clock()
    pacer: Pacer[str] = Pacer(lambda key: 1.0, clock=clock)
    assert pacer.mark("a") == ("ready", None)
    assert pacer.mark("a") == ("coalesced", None)  # waiting already: one inference for both
    assert pacer.take() == ["a"] and not pacer.ready
    clock.now += 0.25
    assert pacer.mark("a") == ("deferred", 101.0)  # too soon after the last one
    assert pacer.mark("a") == ("coalesced", None)
    assert pacer.promote() == pytest.approx(0.75) and pacer.take() == []
    assert len(pacer) == 1
    clock.now = 101.0
    assert pacer.promote() is None  # due now: ready, nothing else waits
    assert pacer.take() == ["a"] and len(pacer) == 0
    clock.now = 102.5
    assert pacer.mark("a") == ("ready", None)  # the interval has passed: at once


def test_intervals_are_per_key_and_zero_infers_on_every_row() -> None:
    clock = Clock()
    pacer: Pacer[str] = Pacer(lambda key: 0.0 if key == "fast" else 10.0, clock=clock)
    for key in ("fast", "slow"):
        pacer.mark(key)
    assert pacer.take() == ["fast", "slow"]
    assert pacer.mark("fast") == ("ready", None)
    assert pacer.mark("slow") == ("deferred", 110.0)
    pacer.again("slow")  # a new version: the next row is ready at once
    pacer.forget("slow")
    assert pacer.mark("slow") == ("ready", None)


def test_a_full_queue_drops_its_oldest_and_says_which() -> None:
    pacer: Pacer[str] = Pacer(lambda key: 0.0, max_pending=2, clock=Clock())
    for key in ("a", "b", "c"):
        pacer.mark(key)
    assert pacer.dropped() == ["a"] and pacer.dropped() == []
    assert pacer.take() == ["b", "c"]


def test_bad_settings_say_what_was_expected() -> None:
    with pytest.raises(ValidationError, match="minimum interval") as err:
        check_interval(-1, "intervals/pump")
    assert err.value.path == "intervals/pump"
    for bad in (float("nan"), True, "1"):
        with pytest.raises(ValidationError):
            check_interval(bad, "min_interval")
    assert check_interval(2, "min_interval") == 2.0
    with pytest.raises(ValidationError, match="bound of the inference queue"):
        Pacer(lambda key: 0.0, max_pending=0)

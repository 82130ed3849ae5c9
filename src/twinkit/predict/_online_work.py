"""The worker side of online inference: calling models on windows, timed, failures caught.

Runs on the :class:`~twinkit.predict.PredictionRunner`'s one worker thread. Each window is one
call of ``predict`` or ``score``, timed; a model that offers ``predict_many(windows)`` (a
sequence of prediction sequences) or ``score_many(windows)`` (a sequence of scores), in the
order of the windows, is called once for all the windows of a round, and each window is
charged its share of the time. A batch that raises or answers the wrong number of results is
retried window by window, so one bad window fails alone. Answers are checked: a predictor
must answer :class:`~twinkit.predict.Prediction` objects, a detector an
:class:`~twinkit.predict.AnomalyScore` with a finite score and threshold.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from twinkit.errors import ValidationError
from twinkit.predict._protocol import AnomalyScore, Prediction, Window
from twinkit.predict._registry_entry import RegistryEntry, TrainedModel

__all__ = ["Outcome", "Work", "run_all"]


@dataclass(frozen=True, slots=True)
class Work:
    """One window for one model; ``owner`` is the runner's bookkeeping, handed back as is."""

    entry: RegistryEntry
    trained: TrainedModel
    window: Window
    owner: Any


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the model answered on a window (or the error it raised) and how long it took."""

    work: Work
    predictions: tuple[Prediction, ...] = ()
    score: AnomalyScore | None = None
    error: BaseException | None = None
    seconds: float = 0.0


def run_all(works: Sequence[Work]) -> list[Outcome]:
    """Every work's outcome, in order; models with a batch method get one call each."""
    groups: dict[int, list[int]] = {}
    for index, work in enumerate(works):
        groups.setdefault(id(work.trained), []).append(index)
    outcomes: list[Outcome | None] = [None] * len(works)
    for indexes in groups.values():
        group = [works[i] for i in indexes]
        answered = _batch(group) if len(group) > 1 else None
        if answered is None:
            answered = [_one(work) for work in group]
        for index, outcome in zip(indexes, answered, strict=True):
            outcomes[index] = outcome
    return [outcome for outcome in outcomes if outcome is not None]


def _one(work: Work) -> Outcome:
    began = time.perf_counter()
    try:
        if work.entry.kind == "detector":
            score = _score(work.trained.score(work.window), work)  # type: ignore[union-attr]
            return Outcome(work, score=score, seconds=time.perf_counter() - began)
        answer = work.trained.predict(work.window)  # type: ignore[union-attr]
        predictions = _predictions(answer, work)
        return Outcome(work, predictions=predictions, seconds=time.perf_counter() - began)
    except Exception as error:
        return Outcome(work, error=error, seconds=time.perf_counter() - began)


def _batch(group: Sequence[Work]) -> list[Outcome] | None:
    """One call for the group, or None when the model has no batch method or the call failed
    (then each window gets its own call)."""
    trained, kind = group[0].trained, group[0].entry.kind
    method = getattr(trained, "score_many" if kind == "detector" else "predict_many", None)
    if not callable(method):
        return None
    windows = [work.window for work in group]
    began = time.perf_counter()
    try:
        answers = list(method(windows))
        if len(answers) != len(windows):
            return None
        share = (time.perf_counter() - began) / len(windows)
        if kind == "detector":
            return [
                Outcome(work, score=_score(answer, work), seconds=share)
                for work, answer in zip(group, answers, strict=True)
            ]
        return [
            Outcome(work, predictions=_predictions(answer, work), seconds=share)
            for work, answer in zip(group, answers, strict=True)
        ]
    except Exception:
        return None


def _score(answer: object, work: Work) -> AnomalyScore:
    if not isinstance(answer, AnomalyScore):
        raise ValidationError(
            "a detector answered something that is not a score",
            path=f"{work.entry.label} on {work.window.twin_id}",
            expected="an AnomalyScore",
            got=type(answer).__name__,
        )
    if not (math.isfinite(answer.score) and math.isfinite(answer.threshold)):
        raise ValidationError(
            "a detector answered a score that is not finite",
            path=f"{work.entry.label} on {work.window.twin_id}",
            expected="a finite score and threshold",
            got=(answer.score, answer.threshold),
        )
    return answer


def _predictions(answer: object, work: Work) -> tuple[Prediction, ...]:
    items = tuple(answer) if isinstance(answer, Sequence) else None
    if items is None or not all(isinstance(item, Prediction) for item in items):
        raise ValidationError(
            "a predictor answered something that is not a sequence of predictions",
            path=f"{work.entry.label} on {work.window.twin_id}",
            expected="a sequence of Prediction objects",
            got=type(answer).__name__,
        )
    return items

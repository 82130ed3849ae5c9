"""The prediction service: training jobs one at a time, cancelled when the server stops, and
training requests checked field by field."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from predict_models import PUMP, SlowToFit, make_zscore, pumps, send
from twinkit.core import Runtime
from twinkit.errors import NotFoundError, ValidationError
from twinkit.predict._factories import Factories, load_factories
from twinkit.predict._service import JobStatus, Predictions, TrainRequest
from twinkit.store import SQLiteStore

REQUEST = TrainRequest("slow", PUMP, {"steps": 30}, start=0.0, end=100.0)


async def until(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)


def test_jobs_run_one_at_a_time_and_stop_with_the_server(tmp_path: Path) -> None:
    async def go() -> None:
        async with await SQLiteStore.open(tmp_path / "db") as store:
            runtime = await Runtime.open(store)
            await pumps(runtime, "pump-1")
            for t in range(1, 11):
                await send(runtime, "pump-1", float(t), temp=20.0 + t % 2)
            factories = Factories({"slow": SlowToFit, "zscore": make_zscore})
            predictions = Predictions(store, runtime, factories=factories)
            first = predictions.submit("a", REQUEST, cause="token:t1")
            second = predictions.submit("b", TrainRequest("zscore", PUMP, end=100.0), cause="t")
            await until(lambda: predictions.job("a", first.id).progress > 0.3)
            assert predictions.job("a", first.id).status is JobStatus.RUNNING
            assert predictions.job("b", second.id).status is JobStatus.QUEUED
            await until(lambda: predictions.job("b", second.id).status is JobStatus.DONE)
            assert predictions.job("b", second.id).version == 1
            third = predictions.submit("a", TrainRequest("slow", PUMP, {"steps": 5000}), cause="t")
            await until(lambda: predictions.job("a", third.id).progress > 0.2)  # fitting
            began = time.monotonic()
            await predictions.close()
            assert time.monotonic() - began < 2  # the fit stopped at its next progress report
            assert predictions.job("a", third.id).status is JobStatus.CANCELLED
            assert [e.name for e in await predictions.registry.entries()] == ["a", "b"]
            assert [j.id for j in predictions.jobs("a")] == [first.id, third.id]
            await runtime.close()

    asyncio.run(go())


def test_requests_and_factories_are_checked() -> None:
    request = TrainRequest.from_json(
        {"factory": "z", "model": PUMP, "twins": ["p1"], "limits": {"rul": {"below": 3}}}
    )
    assert request.twins == ("p1",) and request.limits["rul"].below == 3
    assert request.to_json()["limits"] == {"rul": {"below": 3, "above": None}}
    for body, where in (
        ({"model": PUMP}, "factory"),
        ({"factory": "z", "model": PUMP, "start": "today"}, "start"),
        ({"factory": "z", "model": PUMP, "twins": "p1"}, "twins"),
        ({"factory": "z", "model": PUMP, "params": [1]}, "params"),
        ({"factory": "z", "model": PUMP, "prefix": 3}, "prefix"),
        ({"factory": "z", "model": PUMP, "epochs": 3}, "epochs"),
    ):
        with pytest.raises(ValidationError) as caught:
            TrainRequest.from_json(body)
        assert caught.value.path == where, body
    factories = Factories({"zscore": "predict_models:make_zscore", "broken": "nowhere:thing"})
    assert factories.describe("zscore")["target"] == "predict_models:make_zscore"
    made = factories.create("zscore", {"k": 2.0})
    assert made.k == 2.0  # type: ignore[union-attr]
    with pytest.raises(ValidationError, match="parameters do not fit factory 'zscore'") as caught:
        factories.create("zscore", {"q": 1})
    assert "(inputs" in str(caught.value.expected)
    with pytest.raises(ValidationError, match="module 'nowhere' cannot be imported"):
        factories.create("broken", {})
    with pytest.raises(NotFoundError, match="no factory 'x' on this server"):
        factories.get("x")
    with pytest.raises(ValidationError, match="not a predictor or a detector"):
        Factories({"bad": dict}).create("bad", {})  # type: ignore[dict-item]
    assert set(load_factories("predict_models:factories")) == {"zscore", "slow"}
    with pytest.raises(ValidationError, match="has no 'predictors'"):
        load_factories("predict_models")
    with pytest.raises(ValidationError, match="bad predictor plug-in"):
        load_factories("not a module")

"""The registry: versions of fitted models with their artifacts, checked when loaded."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from contextlib import closing
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

from predict_models import EchoPredictor, TrendPredictor, ZScoreDetector
from twinkit.errors import NotFoundError, StoreError, ValidationError
from twinkit.predict._protocol import Window
from twinkit.predict._registry import PredictorRegistry
from twinkit.predict._registry_entry import Limit, check_name, kind_of, twinkit_version
from twinkit.store import SQLiteStore

PUMP = "dtmi:test:predict:Pump;1"


def fitted_detector(k: float = 4.0) -> ZScoreDetector:
    detector = ZScoreDetector(("temp", "flow"), window=1, k=k)
    frame = pd.DataFrame({"temp": [20.0, 21.0, 22.0, 21.0], "flow": [1.0, 1.2, 0.8, 1.0]})
    detector.fit([frame])
    return detector


def with_registry(tmp_path: Path, work: Callable[[PredictorRegistry], Awaitable[None]]) -> None:
    async def go() -> None:
        async with await SQLiteStore.open(tmp_path / "db") as store:
            await work(PredictorRegistry(store, clock=lambda: 1000.0))

    asyncio.run(go())


def edit(tmp_path: Path, sql: str, *args: object) -> None:
    with closing(sqlite3.connect(tmp_path / "db")) as conn, conn:
        conn.execute(sql, args)


def test_a_registered_model_loads_back_and_answers_the_same(tmp_path: Path) -> None:
    detector = fitted_detector()
    window = Window("pump-1", np.array([5.0]), np.array([[30.0, 1.0]]), ("temp", "flow"))

    async def work(registry: PredictorRegistry) -> None:
        entry = await registry.register(
            detector,
            name="pump-anomaly",
            model=PUMP,
            cause="token:t1",
            twins=["pump-1"],
            start=0.0,
            end=100.0,
            metrics={"f1": 0.9, "nan": float("nan")},
            limits={"rul": Limit(below=30)},
            factory="zscore",
            params={"k": 4.0},
        )
        assert (entry.name, entry.version, entry.kind, entry.active) == (
            "pump-anomaly",
            1,
            "detector",
            False,
        )
        assert entry.inputs == ("temp", "flow") and entry.window == 1
        assert entry.metrics == {"f1": 0.9}  # a NaN metric is not kept
        assert entry.created == 1000.0 and entry.cause == "token:t1"
        assert entry.class_name == "predict_models:ZScoreDetector"
        assert entry.environment["twinkit"] == twinkit_version()
        assert "numpy" in entry.environment and "python" in entry.environment
        loaded = await registry.load("pump-anomaly")
        assert loaded.entry == entry
        assert loaded.model.score(window) == detector.score(window)  # type: ignore[union-attr]
        body = entry.to_json()
        assert body["training"] == {"start": 0.0, "end": 100.0, "twins": ["pump-1"]}
        assert body["limits"] == {"rul": {"below": 30, "above": None}}
        assert body["artifact"]["sha256"] == entry.checksum and body["artifact"]["size"] > 0

    with_registry(tmp_path, work)


def test_get_without_a_version_is_the_active_one_else_the_newest(tmp_path: Path) -> None:
    async def work(registry: PredictorRegistry) -> None:
        changes: list[str] = []
        registry.on_change(changes.append)
        for k in (3.0, 4.0, 5.0):
            await registry.register(fitted_detector(k), name="a", model=PUMP, cause="t")
        assert (await registry.get("a")).version == 3
        await registry.activate("a", 2)
        assert (await registry.get("a")).version == 2
        assert [e.version for e in await registry.active()] == [2]
        await registry.register(fitted_detector(), name="a", model=PUMP, cause="t", activate=True)
        assert [e.version for e in await registry.active()] == [4]
        await registry.deactivate("a")
        assert await registry.active() == []
        assert changes == ["a", "a", "a"]  # activate, born active, deactivate
        await registry.delete("a", 1)
        assert [e.version for e in await registry.entries("a")] == [2, 3, 4]
        with pytest.raises(NotFoundError, match="predictor 'b' not found"):
            await registry.get("b")
        with pytest.raises(NotFoundError, match="version 9"):
            await registry.get("a", 9)

    with_registry(tmp_path, work)


def test_a_corrupt_artifact_is_a_store_error(tmp_path: Path) -> None:
    async def register(registry: PredictorRegistry) -> None:
        await registry.register(fitted_detector(), name="a", model=PUMP, cause="t")

    async def load(registry: PredictorRegistry) -> None:
        with pytest.raises(StoreError, match=r"artifact of a@v1 is corrupt: expected \d+ bytes"):
            await registry.load("a", 1)

    with_registry(tmp_path, register)
    edit(tmp_path, "UPDATE predictor_artifacts SET data = CAST(data || x'00' AS BLOB)")
    with_registry(tmp_path, load)


def _set_info(tmp_path: Path, **changes: object) -> None:
    with closing(sqlite3.connect(tmp_path / "db")) as conn:
        info = orjson.loads(conn.execute("SELECT info FROM predictors").fetchone()[0])
    info.update(changes)
    edit(tmp_path, "UPDATE predictors SET info = ?", orjson.dumps(info))


def test_an_artifact_of_another_twinkit_release_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def register(registry: PredictorRegistry) -> None:
        entry = await registry.register(fitted_detector(), name="a", model=PUMP, cause="t")
        _set_info(tmp_path, environment={**entry.environment, "twinkit": "97.3.0"})

    async def load(registry: PredictorRegistry) -> None:
        with pytest.raises(StoreError, match=r"made by twinkit 97.3.0.*retrain the model"):
            await registry.load("a")
        with caplog.at_level(logging.WARNING):
            loaded = await registry.load("a", allow_incompatible=True)
        assert isinstance(loaded.model, ZScoreDetector)
        assert "loading anyway" in caplog.text

    with_registry(tmp_path, register)
    with_registry(tmp_path, load)


def test_an_artifact_that_does_not_match_its_record_is_refused(tmp_path: Path) -> None:
    async def register(registry: PredictorRegistry) -> None:
        await registry.register(fitted_detector(), name="a", model=PUMP, cause="t")
        _set_info(tmp_path, inputs=["temp"], window=5)

    async def load(registry: PredictorRegistry) -> None:
        with pytest.raises(StoreError, match=r"does not match its record: expected .*\['temp'\]"):
            await registry.load("a")

    with_registry(tmp_path, register)
    with_registry(tmp_path, load)


class Vanishing(EchoPredictor):
    """Kept, then removed from this module: its artifact names a class that is gone."""


def test_models_that_cannot_be_kept_or_loaded_say_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unpicklable = EchoPredictor()
    unpicklable.fit([])
    unpicklable.hook = lambda: None  # type: ignore[attr-defined]

    async def work(registry: PredictorRegistry) -> None:
        with pytest.raises(ValidationError, match="cannot be serialized") as caught:
            await registry.register(unpicklable, name="echo", model=PUMP, cause="t")
        assert "EchoPredictor" in str(caught.value)
        with pytest.raises(ValidationError, match="bad predictor name"):
            await registry.register(EchoPredictor(), name="no spaces", model=PUMP, cause="t")
        with pytest.raises(ValidationError, match="not a predictor or a detector"):
            await registry.register(object(), name="x", model=PUMP, cause="t")  # type: ignore[arg-type]
        trend = TrendPredictor(window=0)
        with pytest.raises(ValidationError, match="bad model window"):
            await registry.register(trend, name="trend", model=PUMP, cause="t")
        await registry.register(Vanishing(), name="gone", model=PUMP, cause="t")
        monkeypatch.delattr(sys.modules[__name__], "Vanishing")
        with pytest.raises(StoreError, match=r"cannot be loaded: expected a pickled .*Vanishing"):
            await registry.load("gone")

    with_registry(tmp_path, work)


def test_names_kinds_and_limits_are_checked() -> None:
    assert check_name("pump-anomaly.v2_x") == "pump-anomaly.v2_x"
    for bad in ("", "-x", "x-", "a/b", "x" * 129, 3):
        with pytest.raises(ValidationError):
            check_name(bad)
    assert kind_of(ZScoreDetector()) == "detector" and kind_of(EchoPredictor()) == "predictor"

    class Both(ZScoreDetector):
        def predict(self, window: Window) -> list[object]:
            return []

    with pytest.raises(ValidationError, match="both a predictor and a detector"):
        kind_of(Both())
    assert Limit(below=30).crossed(29.9) and not Limit(below=30).crossed(30)
    assert Limit(above=5).describe(6) == "above 5" and Limit(below=1, above=2).crossed(3)
    with pytest.raises(ValidationError, match="a limit needs a bound"):
        Limit()
    with pytest.raises(ValidationError, match="bad limit"):
        Limit(below=float("inf"))
    with pytest.raises(ValidationError, match="bad limit"):
        Limit.from_json({"under": 3}, "limits/rul")

"""The predictor registry in SQLite: versions, activation, artifacts, deletion, migration."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from twinkit.errors import ConflictError, NotFoundError, StoreError, ValidationError
from twinkit.store import SQLiteStore, Store
from twinkit.store._sqlite_predictors import PredictorRecord, checksum_of
from twinkit.store._sqlite_schema import MIGRATIONS

ARTIFACT = b"\x80\x05fitted model bytes"


def record(
    name: str = "pump-anomaly", data: bytes = ARTIFACT, **changes: object
) -> PredictorRecord:
    fields: dict[str, object] = {
        "name": name,
        "model": "dtmi:test:Pump;1",
        "kind": "detector",
        "created": 10.0,
        "cause": "token:t1",
        "checksum": checksum_of(data),
        "size": len(data),
        "info": {"inputs": ["temp"], "window": 3, "metrics": {"f1": 0.8}},
        **changes,
    }
    return PredictorRecord(**fields)  # type: ignore[arg-type]


def run(path: Path, work: object) -> None:
    async def go() -> None:
        store: Store = await SQLiteStore.open(path)
        try:
            await work(store)  # type: ignore[operator]
        finally:
            await store.close()

    asyncio.run(go())


def test_versions_are_numbered_by_the_store_and_never_reused(tmp_path: Path) -> None:
    async def work(store: Store) -> None:
        first = await store.add_predictor(record(), ARTIFACT)
        second = await store.add_predictor(record(created=11.0), ARTIFACT)
        other = await store.add_predictor(record("tank-level", b"x", kind="predictor"), b"x")
        assert (first.version, second.version, other.version) == (1, 2, 1)
        assert first == record(version=1)
        await store.delete_predictor("pump-anomaly", 2)
        third = await store.add_predictor(record(), ARTIFACT)
        assert third.version == 3  # 2 is never handed out again
        assert [(r.name, r.version) for r in await store.predictors()] == [
            ("pump-anomaly", 1),
            ("pump-anomaly", 3),
            ("tank-level", 1),
        ]
        assert [r.version for r in await store.predictors("pump-anomaly")] == [1, 3]
        assert (await store.predictor("pump-anomaly", 1)).info["metrics"] == {"f1": 0.8}
        assert await store.predictor_artifact("tank-level", 1) == b"x"

    run(tmp_path / "db", work)


def test_one_version_per_name_is_active(tmp_path: Path) -> None:
    async def work(store: Store) -> None:
        await store.add_predictor(record(), ARTIFACT)
        await store.add_predictor(record(active=True), ARTIFACT)
        await store.add_predictor(record("tank-level", active=True), ARTIFACT)
        assert [(r.name, r.version) for r in await store.active_predictors()] == [
            ("pump-anomaly", 2),
            ("tank-level", 1),
        ]
        activated = await store.activate_predictor("pump-anomaly", 1)
        assert activated.active and activated.version == 1
        assert not (await store.predictor("pump-anomaly", 2)).active
        # born active: the older active version steps down in the same transaction
        await store.add_predictor(record(active=True), ARTIFACT)
        assert [r.active for r in await store.predictors("pump-anomaly")] == [False, False, True]
        await store.deactivate_predictor("pump-anomaly")
        assert [r.name for r in await store.active_predictors()] == ["tank-level"]
        with pytest.raises(NotFoundError, match="version 9 of predictor 'pump-anomaly'"):
            await store.activate_predictor("pump-anomaly", 9)
        with pytest.raises(NotFoundError, match="predictor 'nothing' not found"):
            await store.deactivate_predictor("nothing")

    run(tmp_path / "db", work)


def test_the_active_index_refuses_a_second_active_row(tmp_path: Path) -> None:
    run(tmp_path / "db", lambda store: store.add_predictor(record(active=True), ARTIFACT))
    with closing(sqlite3.connect(tmp_path / "db")) as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO predictors SELECT name, 2, model, kind, 1, created, cause, checksum, "
            "size, info FROM predictors"
        )


def test_an_active_version_is_not_deleted(tmp_path: Path) -> None:
    async def work(store: Store) -> None:
        await store.add_predictor(record(active=True), ARTIFACT)
        with pytest.raises(ConflictError, match="version 1 of predictor 'pump-anomaly' is active"):
            await store.delete_predictor("pump-anomaly", 1)
        await store.deactivate_predictor("pump-anomaly")
        await store.delete_predictor("pump-anomaly", 1)
        assert await store.predictors() == []
        with pytest.raises(NotFoundError):
            await store.delete_predictor("pump-anomaly", 1)
        with pytest.raises(NotFoundError):
            await store.predictor_artifact("pump-anomaly", 1)

    run(tmp_path / "db", work)
    with closing(sqlite3.connect(tmp_path / "db")) as conn:
        assert conn.execute("SELECT count(*) FROM predictor_artifacts").fetchone()[0] == 0


def test_a_record_must_match_its_artifact_and_be_json(tmp_path: Path) -> None:
    async def work(store: Store) -> None:
        with pytest.raises(ValidationError, match="artifact does not match") as caught:
            await store.add_predictor(record(), ARTIFACT + b"!")
        assert caught.value.path == "predictor pump-anomaly/artifact"
        with pytest.raises(ValidationError, match="unknown kind"):
            await store.add_predictor(record(kind="oracle"), ARTIFACT)
        with pytest.raises(ValidationError, match="info must be JSON"):
            await store.add_predictor(record(info={"x": object()}), ARTIFACT)
        assert await store.predictors() == []  # nothing half-kept

    run(tmp_path / "db", work)


def test_a_missing_artifact_or_unreadable_info_is_a_store_error(tmp_path: Path) -> None:
    run(tmp_path / "db", lambda store: store.add_predictor(record(), ARTIFACT))
    with closing(sqlite3.connect(tmp_path / "db")) as conn, conn:
        conn.execute("DELETE FROM predictor_artifacts")

    async def missing(store: Store) -> None:
        with pytest.raises(StoreError, match=r"artifact of version 1 .* is missing"):
            await store.predictor_artifact("pump-anomaly", 1)

    run(tmp_path / "db", missing)
    with closing(sqlite3.connect(tmp_path / "db")) as conn, conn:
        conn.execute("UPDATE predictors SET info = x'7b7b'")

    async def unreadable(store: Store) -> None:
        with pytest.raises(StoreError, match=r"version 1 in .* is unreadable: expected JSON info"):
            await store.predictors()

    run(tmp_path / "db", unreadable)


def test_a_version_4_database_migrates_to_keep_predictors(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for step in MIGRATIONS[:4]:
            for statement in step.statements:
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 4")
        conn.execute("INSERT INTO series (id, twin_id, name) VALUES (1, 'pump-1', 'temp')")

    async def work(store: Store) -> None:
        assert await store.predictors() == []
        kept = await store.add_predictor(record(active=True), ARTIFACT)
        assert kept.version == 1

    run(path, work)
    assert MIGRATIONS[4].version == 5
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] >= 5
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert conn.execute("SELECT twin_id, name FROM series").fetchall() == [("pump-1", "temp")]
    assert {"predictors", "predictor_names", "predictor_artifacts"} <= tables

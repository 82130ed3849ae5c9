"""Models, API tokens and dead letters kept by the SQLite store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from twinkit.errors import ConflictError, NotFoundError, ValidationError
from twinkit.model.dtdl import parse
from twinkit.store import SQLiteStore, TokenRecord

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def interface(model_id: str, **extra: Any) -> dict[str, Any]:
    return {"@context": "dtmi:dtdl:context;3", "@id": model_id, "@type": "Interface", **extra}


PUMP = interface(
    "dtmi:ex:Pump;1", contents=[{"@type": "Property", "name": "speed", "schema": "double"}]
)
TANK = interface("dtmi:ex:Tank;1", displayName="Tank")


def test_published_ontology_round_trips_in_upload_order(tmp_path: Path, shared_data: Path) -> None:
    path = tmp_path / "models.db"
    files = sorted((shared_data / "dtdl" / "ontologies" / "smartcities").rglob("*.json"))
    documents = [json.loads(file.read_text(encoding="utf-8")) for file in files]

    async def write() -> None:
        async with await SQLiteStore.open(path) as store:
            await store.save_models(documents, uploaded=100.0)

    async def read() -> list[dict[str, Any]]:
        async with await SQLiteStore.open(path) as store:
            return await store.models()

    run(write())
    back = run(read())
    assert back == documents
    assert [list(d) for d in back] == [list(d) for d in documents]  # key order kept too
    assert set(parse(back)) == set(parse(documents))


def test_saving_the_same_document_again_is_a_no_op() -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            await store.save_models([PUMP, TANK], uploaded=1.0)
            reordered = dict(reversed(list(PUMP.items())))  # same JSON, other key order
            await store.save_models([reordered, interface("dtmi:ex:Valve;1")], uploaded=2.0)
            await store.save_models([TANK, TANK], uploaded=3.0)  # twice in one upload
            assert [m["@id"] for m in await store.models()] == [
                "dtmi:ex:Pump;1",
                "dtmi:ex:Tank;1",
                "dtmi:ex:Valve;1",
            ]

    run(scenario())


def test_a_different_document_under_a_kept_id_is_a_conflict_and_keeps_nothing() -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            await store.save_models([PUMP], uploaded=1.0)
            changed = {**PUMP, "displayName": "Pump"}
            valve = interface("dtmi:ex:Valve;1")
            with pytest.raises(ConflictError, match=r"model 'dtmi:ex:Pump;1' is already kept"):
                await store.save_models([valve, changed], uploaded=2.0)
            assert await store.models() == [PUMP]  # the valve of the refused upload is not kept
            other_tank = interface("dtmi:ex:Tank;1", displayName=1)
            with pytest.raises(ConflictError, match=r"'dtmi:ex:Tank;1' comes twice"):
                await store.save_models([TANK, other_tank], uploaded=3.0)
            assert await store.models() == [PUMP]

    run(scenario())


def test_documents_without_an_id_are_refused_with_where() -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            with pytest.raises(ValidationError, match=r"at: documents\[1\]/@id"):
                await store.save_models([PUMP, {"@type": "Interface"}], uploaded=1.0)
            with pytest.raises(ValidationError, match=r"documents\[0\].*got: 'list'"):
                await store.save_models([[PUMP]], uploaded=1.0)  # type: ignore[list-item]
            with pytest.raises(ValidationError, match="not JSON"):
                await store.save_models([interface("dtmi:ex:X;1", bad={1})], uploaded=1.0)
            assert await store.models() == []

    run(scenario())


def test_deleted_model_is_gone_and_uploaded_again_comes_last(tmp_path: Path) -> None:
    path = tmp_path / "models.db"

    async def scenario() -> None:
        async with await SQLiteStore.open(path) as store:
            await store.save_models([PUMP, TANK], uploaded=1.0)
            await store.delete_model("dtmi:ex:Pump;1")
            with pytest.raises(NotFoundError, match=r"model 'dtmi:ex:Pump;1' not found"):
                await store.delete_model("dtmi:ex:Pump;1")
            await store.save_models([{**PUMP, "displayName": "Pump"}], uploaded=2.0)
        async with await SQLiteStore.open(path) as store:
            assert await store.models() == [TANK, {**PUMP, "displayName": "Pump"}]

    run(scenario())


def token(token_id: str, hash: bytes, created: float, role: str = "viewer") -> TokenRecord:
    return TokenRecord(token_id, f"name of {token_id}", role, hash, created)


def test_tokens_round_trip_by_hash_and_by_creation_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "tokens.db"
    ci, ops, old = (
        token("ci", b"\x01" * 32, 20.0, "admin"),
        token("ops", b"\x02" * 32, 30.0),
        token("old", b"\x00" * 32, 10.0),
    )

    async def write() -> None:
        async with await SQLiteStore.open(path) as store:
            for record in (ci, ops, old):
                await store.add_token(record)
            await store.revoke_token("old", 40.0)
            await store.revoke_token("old", 50.0)  # the first revocation stands

    async def read() -> None:
        async with await SQLiteStore.open(path) as store:
            assert await store.token_by_hash(b"\x01" * 32) == ci
            assert await store.token_by_hash(b"\x03" * 32) is None
            revoked = await store.token_by_hash(b"\x00" * 32)
            assert revoked is not None and revoked.revoked == 40.0
            assert await store.tokens() == [revoked, ci, ops]

    run(write())
    run(read())


def test_token_ids_and_hashes_are_unique() -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            await store.add_token(token("ci", b"a" * 32, 1.0))
            with pytest.raises(ConflictError, match="token id 'ci' is already kept"):
                await store.add_token(token("ci", b"b" * 32, 2.0))
            with pytest.raises(ConflictError, match="same hash as token 'ci'"):
                await store.add_token(token("other", b"a" * 32, 2.0))
            with pytest.raises(NotFoundError, match="token 'nobody' not found"):
                await store.revoke_token("nobody", 3.0)
            assert [t.id for t in await store.tokens()] == ["ci"]

    run(scenario())


def test_a_token_is_never_kept_or_shown_in_place_of_its_hash() -> None:
    secret = "tk_do-not-store-me"
    record = TokenRecord("x", "laptop", "admin", secret, 1.0)  # type: ignore[arg-type]

    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            with pytest.raises(ValidationError, match="non-empty bytes") as caught:
                await store.add_token(record)
            assert secret not in str(caught.value)
            with pytest.raises(ValidationError, match="non-empty bytes"):
                await store.add_token(token("y", b"", 1.0))
            assert await store.tokens() == []

    run(scenario())
    assert "secret-ish" not in repr(token("z", b"secret-ish", 1.0))


def test_one_dead_letter_by_id() -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(":memory:") as store:
            first = await store.add_dead_letter("mqtt:site/a", b"\xff", "not UTF-8", 1.0)
            second = await store.add_dead_letter("http:/ingest", b"{}", "no twin", 2.0)
            letter = await store.dead_letter(second)
            assert (letter.id, letter.source, letter.payload, letter.reason) == (
                second,
                "http:/ingest",
                b"{}",
                "no twin",
            )
            await store.mark_replayed(first, 5.0)
            assert (await store.dead_letter(first)).replayed == 5.0  # replayed ones too
            with pytest.raises(NotFoundError, match="dead letter 999 not found"):
                await store.dead_letter(999)

    run(scenario())

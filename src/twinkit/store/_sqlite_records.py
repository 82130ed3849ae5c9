"""The records kept beside the live data in SQLite: models, API tokens and dead letters.

:class:`RecordsEngine` shares the store's one connection and thread with
:class:`~twinkit.store._sqlite_engine.SQLiteEngine`. These tables are small and written rarely
(an upload, a new token, a rejected message), so plain statements do, with one transaction where
a call writes more than one row.

Models are immutable once kept, as DTDL intends (a changed interface gets a new version in its
DTMI): saving a document again is a no-op when it is the same JSON, a ConflictError when not.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from typing import Any, Final

import orjson

from twinkit.errors import ConflictError, NotFoundError, StoreError, ValidationError
from twinkit.store._protocol import DeadLetter, TokenRecord
from twinkit.store._sqlite_codec import canonical_json, dumps

__all__ = ["RecordsEngine"]

logger = logging.getLogger(__name__)

SELECT_MODEL: Final = "SELECT document FROM models WHERE id = ?"
INSERT_MODEL: Final = "INSERT INTO models (id, document, uploaded) VALUES (?, ?, ?)"
SELECT_MODELS: Final = "SELECT id, document FROM models ORDER BY seq"
DELETE_MODEL: Final = "DELETE FROM models WHERE id = ?"

TOKEN_COLUMNS: Final = "id, name, role, hash, created, revoked"
INSERT_TOKEN: Final = f"INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
SELECT_TOKEN_BY_HASH: Final = f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ?"
SELECT_TOKENS: Final = f"SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created, rowid"
# Revoking twice keeps the first time: the audit trail says when it really stopped working.
REVOKE_TOKEN: Final = "UPDATE tokens SET revoked = coalesce(revoked, ?) WHERE id = ?"

DEAD_LETTER_COLUMNS: Final = "id, source, payload, reason, received, replayed"
INSERT_DEAD_LETTER: Final = (
    "INSERT INTO dead_letters (source, payload, reason, received) VALUES (?, ?, ?, ?)"
)
SELECT_DEAD_LETTERS: Final = (
    f"SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters {{where}} ORDER BY id LIMIT ?"
)
SELECT_DEAD_LETTER: Final = f"SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters WHERE id = ?"
UPDATE_REPLAYED: Final = "UPDATE dead_letters SET replayed = ? WHERE id = ?"


class RecordsEngine:
    """Models, tokens and dead letters as plain, blocking calls on the store's connection."""

    __slots__ = ("_conn", "_where")

    def __init__(self, conn: sqlite3.Connection, where: str) -> None:
        self._conn = conn
        self._where = where

    # -- models ----------------------------------------------------------------------------

    def save_models(self, documents: Sequence[dict[str, Any]], uploaded: float) -> None:
        """Keep every document not kept yet, in one transaction; all or none of them."""
        prepared = _prepare_models(documents)
        conn = self._conn
        added = 0
        conn.execute("BEGIN IMMEDIATE")
        try:
            for model_id, (document, canonical) in prepared.items():
                row = conn.execute(SELECT_MODEL, (model_id,)).fetchone()
                if row is None:
                    conn.execute(INSERT_MODEL, (model_id, document, uploaded))
                    added += 1
                elif self._canonical(model_id, row[0]) != canonical:
                    raise ConflictError(
                        f"model {model_id!r} is already kept in {self._where} with a different "
                        "document; expected the same document, or a new version in its DTMI "
                        "(or delete the model first); nothing of the upload of "
                        f"{len(documents)} documents was kept"
                    )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        logger.info("kept %d new of %d model documents in %s", added, len(prepared), self._where)

    def _canonical(self, model_id: str, stored: bytes) -> bytes:
        try:
            return canonical_json(orjson.loads(stored))
        except orjson.JSONDecodeError as err:
            raise self._unreadable(f"model {model_id!r}", err) from err

    def models(self) -> list[dict[str, Any]]:
        out = []
        for model_id, document in self._conn.execute(SELECT_MODELS):
            try:
                out.append(orjson.loads(document))
            except orjson.JSONDecodeError as err:
                raise self._unreadable(f"model {model_id!r}", err) from err
        return out

    def delete_model(self, model_id: str) -> None:
        if self._conn.execute(DELETE_MODEL, (model_id,)).rowcount == 0:
            raise NotFoundError(
                f"model {model_id!r} not found in {self._where}; expected the @id of a kept model"
            )
        logger.info("deleted model %s from %s", model_id, self._where)

    # -- tokens ----------------------------------------------------------------------------

    def add_token(self, record: TokenRecord) -> None:
        if not isinstance(record.hash, bytes) or not record.hash:
            raise ValidationError(
                "token hash must be non-empty bytes (the store keeps a hash, never a token)",
                path=f"token {record.id!r}",
                expected="the bytes of a hash of the token",
                # the type only: a str here may be the token itself, which must not be logged
                got=record.hash if isinstance(record.hash, bytes) else type(record.hash).__name__,
            )
        row = (record.id, record.name, record.role, record.hash, record.created, record.revoked)
        try:
            self._conn.execute(INSERT_TOKEN, row)
        except sqlite3.IntegrityError as err:
            raise self._token_conflict(record, err) from err

    def _token_conflict(self, record: TokenRecord, err: sqlite3.IntegrityError) -> Exception:
        if self._conn.execute("SELECT 1 FROM tokens WHERE id = ?", (record.id,)).fetchone():
            return ConflictError(
                f"token id {record.id!r} is already kept in {self._where}; expected a new id"
            )
        same_hash = self._conn.execute("SELECT id FROM tokens WHERE hash = ?", (record.hash,))
        taken = same_hash.fetchone()
        if taken is not None:
            return ConflictError(
                f"token {record.id!r} has the same hash as token {taken[0]!r} kept in "
                f"{self._where}; expected a hash of a new, random token"
            )
        return StoreError(f"token {record.id!r} rejected by {self._where}: {err}")

    def token_by_hash(self, token_hash: bytes) -> TokenRecord | None:
        row = self._conn.execute(SELECT_TOKEN_BY_HASH, (token_hash,)).fetchone()
        return None if row is None else TokenRecord(*row)

    def tokens(self) -> list[TokenRecord]:
        return [TokenRecord(*row) for row in self._conn.execute(SELECT_TOKENS)]

    def revoke_token(self, token_id: str, when: float) -> None:
        if self._conn.execute(REVOKE_TOKEN, (when, token_id)).rowcount == 0:
            raise NotFoundError(
                f"token {token_id!r} not found in {self._where}; expected the id of a kept token"
            )
        logger.info("revoked token %s in %s", token_id, self._where)

    # -- dead letters ----------------------------------------------------------------------

    def add_dead_letter(self, source: str, payload: bytes, reason: str, received: float) -> int:
        cursor = self._conn.execute(INSERT_DEAD_LETTER, (source, payload, reason, received))
        assert cursor.lastrowid is not None  # an INSERT into a rowid table always sets it
        return cursor.lastrowid

    def dead_letters(self, pending_only: bool, limit: int) -> list[DeadLetter]:
        where = "WHERE replayed IS NULL" if pending_only else ""
        rows = self._conn.execute(SELECT_DEAD_LETTERS.format(where=where), (limit,))
        return [DeadLetter(*row) for row in rows]

    def dead_letter(self, dead_letter_id: int) -> DeadLetter:
        row = self._conn.execute(SELECT_DEAD_LETTER, (dead_letter_id,)).fetchone()
        if row is None:
            raise self._no_dead_letter(dead_letter_id)
        return DeadLetter(*row)

    def mark_replayed(self, dead_letter_id: int, when: float) -> None:
        if self._conn.execute(UPDATE_REPLAYED, (when, dead_letter_id)).rowcount == 0:
            raise self._no_dead_letter(dead_letter_id)

    def _no_dead_letter(self, dead_letter_id: int) -> NotFoundError:
        return NotFoundError(
            f"dead letter {dead_letter_id} not found in {self._where}; expected the id "
            "add_dead_letter returned"
        )

    def _unreadable(self, what: str, err: Exception) -> StoreError:
        return StoreError(f"{what} in {self._where} is unreadable: expected JSON, got {err}")


def _prepare_models(documents: Sequence[dict[str, Any]]) -> dict[str, tuple[bytes, bytes]]:
    """``@id`` → (JSON as given, canonical JSON), checked and deduplicated, in upload order."""
    prepared: dict[str, tuple[bytes, bytes]] = {}
    for index, document in enumerate(documents):
        where = f"documents[{index}]"
        if not isinstance(document, dict):
            raise ValidationError(
                "a model document must be a JSON object",
                path=where,
                expected="one top-level DTDL interface object",
                got=type(document).__name__,
            )
        model_id = document.get("@id")
        if not isinstance(model_id, str) or not model_id:
            raise ValidationError(
                "a model document needs its @id",
                path=f"{where}/@id",
                expected="the interface's DTMI, a non-empty string",
                got=model_id,
            )
        try:
            encoded, canonical = dumps(document), canonical_json(document)
        except orjson.JSONEncodeError as err:
            raise ValidationError(
                "a model document is not JSON",
                path=f"{where} ({model_id})",
                expected="JSON values only",
                got=str(err),
            ) from err
        earlier = prepared.get(model_id)
        if earlier is not None and earlier[1] != canonical:
            raise ConflictError(
                f"model {model_id!r} comes twice in one upload ({where} and an earlier "
                "document) with different documents; expected one document per @id"
            )
        prepared.setdefault(model_id, (encoded, canonical))
    return prepared

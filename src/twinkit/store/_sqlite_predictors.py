"""The registry of trained predictors and detectors in SQLite: versions, activation, artifacts.

A trained model is kept as one row of ``predictors`` per version (:class:`PredictorRecord`)
and its serialized object as one row of ``predictor_artifacts``. The two are written in one
transaction, so a version never exists without its artifact nor the other way round.
Versions are numbered 1, 2, ... per name by the store, from ``predictor_names``, and a number
is never handed out twice even when the newest version is deleted: a prediction that says
"version 3" always means the same model. At most one version per name is active (a partial
unique index guards it); activating one deactivates the others in the same transaction.

The artifact bytes are kept in the database rather than in files beside it: one file to back
up and copy, no artifact lost or orphaned by a crash between two writes, and the same
transaction as its record. ``checksum`` (SHA-256) is checked on the way in here and on the way
out by the registry (``twinkit.predict``), which is what knows how to deserialize them.

``info`` is opaque JSON to the store: the predict layer decides what it holds.
"""

from __future__ import annotations

import functools
import hashlib
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Protocol, TypeVar

import orjson

from twinkit.errors import ConflictError, NotFoundError, StoreError, ValidationError

__all__ = ["PREDICTOR_KINDS", "PredictorMethods", "PredictorRecord", "checksum_of"]

_T = TypeVar("_T")

PREDICTOR_KINDS: Final = ("predictor", "detector")
"""What a kept model may be: a :class:`~twinkit.predict.Predictor` or a ``Detector``."""

_COLUMNS: Final = "name, version, model, kind, active, created, cause, checksum, size, info"
_SELECT: Final = f"SELECT {_COLUMNS} FROM predictors"
_INSERT: Final = f"INSERT INTO predictors ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


@dataclass(frozen=True, slots=True)
class PredictorRecord:
    """One version of a trained model as kept.

    ``version`` is 0 on a record not kept yet (the store numbers it); ``checksum`` is the
    SHA-256 (hex) of the artifact and ``size`` its length in bytes; ``cause`` who trained it
    (``token:<id>``, ``system``); ``info`` what the predict layer records about it (JSON).
    """

    name: str
    model: str
    kind: str
    created: float
    cause: str
    checksum: str
    size: int
    info: Mapping[str, Any] = field(default_factory=dict)
    version: int = 0
    active: bool = False


def checksum_of(data: bytes) -> str:
    """The SHA-256 of ``data`` in hex: what :attr:`PredictorRecord.checksum` holds."""
    return hashlib.sha256(data).hexdigest()


def _record(row: Sequence[Any], where: str) -> PredictorRecord:
    name, version, model, kind, active, created, cause, checksum, size, info = row
    try:
        decoded = orjson.loads(info)
    except orjson.JSONDecodeError as err:
        raise StoreError(
            f"predictor {name!r} version {version} in {where} is unreadable: expected JSON "
            f"info, got {err}"
        ) from err
    return PredictorRecord(
        name=name,
        model=model,
        kind=kind,
        created=created,
        cause=cause,
        checksum=checksum,
        size=size,
        info=decoded,
        version=version,
        active=bool(active),
    )


def _not_found(name: str, version: int | None, where: str) -> NotFoundError:
    what = f"predictor {name!r}" if version is None else f"version {version} of predictor {name!r}"
    return NotFoundError(
        f"{what} not found in {where}; expected the name (and version) of a kept predictor",
        where=f"predictor {name}" if version is None else f"predictor {name}/{version}",
    )


def _check(record: PredictorRecord, data: bytes) -> bytes:
    where = f"predictor {record.name}"
    if record.kind not in PREDICTOR_KINDS:
        raise ValidationError(
            "unknown kind of predictor",
            path=f"{where}/kind",
            expected=" or ".join(PREDICTOR_KINDS),
            got=record.kind,
        )
    if len(data) != record.size or checksum_of(data) != record.checksum:
        raise ValidationError(
            "artifact does not match its record",
            path=f"{where}/artifact",
            expected=f"{record.size} bytes with SHA-256 {record.checksum}",
            got=f"{len(data)} bytes with SHA-256 {checksum_of(data)}",
        )
    try:
        return orjson.dumps(dict(record.info))
    except (orjson.JSONEncodeError, TypeError) as err:
        raise ValidationError(
            "predictor info must be JSON",
            path=f"{where}/info",
            expected="JSON values",
            got=str(err),
        ) from err


def _in_transaction(conn: sqlite3.Connection, work: Callable[[], _T]) -> _T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work()
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


def add_record(
    conn: sqlite3.Connection, where: str, record: PredictorRecord, data: bytes
) -> PredictorRecord:
    """Keep the record and its artifact as the name's next version (active: the only one)."""
    info = _check(record, data)

    def work() -> PredictorRecord:
        row = conn.execute(
            "SELECT last_version FROM predictor_names WHERE name = ?", (record.name,)
        ).fetchone()
        version = 1 if row is None else int(row[0]) + 1
        conn.execute(
            "INSERT INTO predictor_names (name, last_version) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET last_version = excluded.last_version",
            (record.name, version),
        )
        if record.active:
            conn.execute("UPDATE predictors SET active = 0 WHERE name = ?", (record.name,))
        kept = replace(record, version=version)
        conn.execute(
            _INSERT,
            (
                kept.name,
                kept.version,
                kept.model,
                kept.kind,
                int(kept.active),
                kept.created,
                kept.cause,
                kept.checksum,
                kept.size,
                info,
            ),
        )
        conn.execute(
            "INSERT INTO predictor_artifacts (name, version, data) VALUES (?, ?, ?)",
            (kept.name, kept.version, data),
        )
        return kept

    return _in_transaction(conn, work)


def get_record(conn: sqlite3.Connection, where: str, name: str, version: int) -> PredictorRecord:
    row = conn.execute(f"{_SELECT} WHERE name = ? AND version = ?", (name, version)).fetchone()
    if row is None:
        raise _not_found(name, version, where)
    return _record(row, where)


def all_records(conn: sqlite3.Connection, where: str, name: str | None) -> list[PredictorRecord]:
    if name is None:
        rows = conn.execute(f"{_SELECT} ORDER BY name, version").fetchall()
    else:
        rows = conn.execute(f"{_SELECT} WHERE name = ? ORDER BY version", (name,)).fetchall()
    return [_record(row, where) for row in rows]


def active_records(conn: sqlite3.Connection, where: str) -> list[PredictorRecord]:
    rows = conn.execute(f"{_SELECT} WHERE active = 1 ORDER BY name").fetchall()
    return [_record(row, where) for row in rows]


def artifact_of(conn: sqlite3.Connection, where: str, name: str, version: int) -> bytes:
    row = conn.execute(
        "SELECT data FROM predictor_artifacts WHERE name = ? AND version = ?", (name, version)
    ).fetchone()
    if row is None:
        get_record(conn, where, name, version)  # NotFoundError for an unknown version
        raise StoreError(
            f"the artifact of version {version} of predictor {name!r} is missing from {where}: "
            "expected one row in predictor_artifacts; retrain the model"
        )
    return bytes(row[0])


def activate(conn: sqlite3.Connection, where: str, name: str, version: int) -> PredictorRecord:
    def work() -> PredictorRecord:
        get_record(conn, where, name, version)
        conn.execute("UPDATE predictors SET active = 0 WHERE name = ? AND active = 1", (name,))
        conn.execute(
            "UPDATE predictors SET active = 1 WHERE name = ? AND version = ?", (name, version)
        )
        return get_record(conn, where, name, version)

    return _in_transaction(conn, work)


def deactivate(conn: sqlite3.Connection, where: str, name: str) -> None:
    def work() -> None:
        if conn.execute("SELECT 1 FROM predictors WHERE name = ?", (name,)).fetchone() is None:
            raise _not_found(name, None, where)
        conn.execute("UPDATE predictors SET active = 0 WHERE name = ?", (name,))

    _in_transaction(conn, work)


def delete(conn: sqlite3.Connection, where: str, name: str, version: int) -> None:
    def work() -> None:
        record = get_record(conn, where, name, version)
        if record.active:
            raise ConflictError(
                f"version {version} of predictor {name!r} is active: activate another version "
                "or deactivate it before deleting it",
                where=f"predictor {name}/{version}",
            )
        conn.execute(
            "DELETE FROM predictor_artifacts WHERE name = ? AND version = ?", (name, version)
        )
        conn.execute("DELETE FROM predictors WHERE name = ? AND version = ?", (name, version))

    _in_transaction(conn, work)


# -- the async face --------------------------------------------------------------------------


class _Host(Protocol):
    """What :class:`PredictorMethods` needs of the store it is mixed into."""

    _conn: sqlite3.Connection

    @property
    def path(self) -> str: ...

    async def _run(self, what: str, call: Callable[[], _T]) -> _T: ...

    async def read(self, what: str, call: Callable[[sqlite3.Connection], _T]) -> _T: ...


class PredictorMethods:
    """The predictor registry methods of :class:`~twinkit.store.SQLiteStore` (a mixin)."""

    __slots__ = ()

    async def add_predictor(
        self: _Host, record: PredictorRecord, artifact: bytes
    ) -> PredictorRecord:
        """Keep ``record`` and its artifact as the name's next version; returns it as kept.

        A ``checksum`` or ``size`` that does not match ``artifact`` is a ValidationError.
        """
        return await self._run(
            f"adding predictor {record.name!r}",
            functools.partial(add_record, self._conn, self.path, record, artifact),
        )

    async def predictor(self: _Host, name: str, version: int) -> PredictorRecord:
        """One version; NotFoundError for an unknown name or version."""
        return await self.read(
            f"reading predictor {name!r} version {version}",
            functools.partial(get_record, where=self.path, name=name, version=version),
        )

    async def predictors(self: _Host, name: str | None = None) -> list[PredictorRecord]:
        """Every kept version (of ``name``), by name then version."""
        return await self.read(
            "listing predictors", functools.partial(all_records, where=self.path, name=name)
        )

    async def active_predictors(self: _Host) -> list[PredictorRecord]:
        """The active version of every name that has one, by name."""
        return await self.read(
            "listing active predictors", functools.partial(active_records, where=self.path)
        )

    async def predictor_artifact(self: _Host, name: str, version: int) -> bytes:
        """The artifact bytes of one version (NotFoundError for an unknown version)."""
        return await self.read(
            f"reading the artifact of predictor {name!r} version {version}",
            functools.partial(artifact_of, where=self.path, name=name, version=version),
        )

    async def activate_predictor(self: _Host, name: str, version: int) -> PredictorRecord:
        """Make ``version`` the one active version of ``name``; returns it as kept."""
        return await self._run(
            f"activating predictor {name!r} version {version}",
            functools.partial(activate, self._conn, self.path, name, version),
        )

    async def deactivate_predictor(self: _Host, name: str) -> None:
        """Leave no version of ``name`` active; NotFoundError for an unknown name."""
        await self._run(
            f"deactivating predictor {name!r}",
            functools.partial(deactivate, self._conn, self.path, name),
        )

    async def delete_predictor(self: _Host, name: str, version: int) -> None:
        """Forget one version and its artifact; ConflictError while it is active."""
        await self._run(
            f"deleting predictor {name!r} version {version}",
            functools.partial(delete, self._conn, self.path, name, version),
        )

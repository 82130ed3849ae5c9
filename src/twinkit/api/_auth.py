"""Bearer tokens: issuing them, checking them, and the roles they carry.

A token's secret is ``tk_`` plus 32 random bytes (``secrets.token_urlsafe(32)``); only its
SHA-256 hash is stored. A fast, unsalted hash is the right tool here, unlike for passwords:
the secret has 256 bits of entropy, so there is nothing to brute-force or to look up in a
table, and a verification costs one hash and one indexed lookup of the hash.

Verified tokens are cached for ``cache_s`` (one second by default), so a revocation made by
another process (``twinkit token revoke`` on the same data dir) takes effect within that time;
a revocation made through this process drops the cache entry at once.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from twinkit.api._errors import ForbiddenError
from twinkit.errors import AuthError, ValidationError
from twinkit.store import TokenRecord

__all__ = [
    "Authenticator",
    "Principal",
    "Role",
    "TokenStore",
    "hash_secret",
    "issue_token",
    "new_secret",
]

logger = logging.getLogger(__name__)

SECRET_PREFIX = "tk_"


class Role(StrEnum):
    """What a token may do; each role may do everything the roles before it may."""

    VIEWER = "viewer"  # read
    OPERATOR = "operator"  # + ingest, desired values, commands, dead-letter replay
    ADMIN = "admin"  # + models, twins, relationships, tokens

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank

    @classmethod
    def parse(cls, value: str, where: str = "role") -> Role:
        try:
            return cls(value)
        except ValueError:
            raise ValidationError(
                "unknown role",
                path=where,
                expected=" or ".join(repr(r.value) for r in cls),
                got=value,
            ) from None


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


class TokenStore(Protocol):
    """The token half of :class:`twinkit.store.Store`."""

    async def add_token(self, record: TokenRecord) -> None: ...

    async def token_by_hash(self, hash: bytes) -> TokenRecord | None: ...

    async def tokens(self) -> list[TokenRecord]: ...

    async def revoke_token(self, token_id: str, when: float) -> None: ...


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's id (for ``cause``) and role."""

    token_id: str
    name: str
    role: Role

    @property
    def cause(self) -> str:
        """What events caused by this caller record as their ``cause``."""
        return f"token:{self.token_id}"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> bytes:
    """SHA-256 of the secret (see the module docstring for why a fast hash is right)."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


async def issue_token(
    store: TokenStore, role: Role | str, name: str, *, clock: Callable[[], float] = time.time
) -> tuple[TokenRecord, str]:
    """Create and store a token; returns its record and the secret, which is not kept anywhere."""
    role = Role.parse(role) if not isinstance(role, Role) else role
    secret = new_secret()
    record = TokenRecord(
        id=secrets.token_hex(6),
        name=name,
        role=role.value,
        hash=hash_secret(secret),
        created=clock(),
    )
    await store.add_token(record)
    logger.info("token %s (%s, %s) created", record.id, name, role.value)
    return record, secret


class Authenticator:
    """Checks secrets against the store, with a short cache of verified tokens."""

    __slots__ = ("_cache", "_cache_s", "_clock", "_store")

    def __init__(
        self,
        store: TokenStore,
        *,
        cache_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._cache_s = cache_s
        self._clock = clock
        self._cache: dict[bytes, tuple[Principal, float]] = {}

    async def verify(self, secret: str | None, where: str) -> Principal:
        """The principal of ``secret``; AuthError (logged, without the secret) when none."""
        if not secret:
            raise self._failed(None, where, "no bearer token")
        digest = hash_secret(secret)
        now = self._clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        record = await self._store.token_by_hash(digest)
        if record is None:
            self._cache.pop(digest, None)
            raise self._failed(None, where, "unknown token")
        if record.revoked is not None:
            self._cache.pop(digest, None)
            raise self._failed(record.id, where, "revoked token")
        principal = Principal(record.id, record.name, Role.parse(record.role, f"token {record.id}"))
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (principal, now + self._cache_s)
        return principal

    def check_role(self, principal: Principal, needed: Role, where: str) -> None:
        """ForbiddenError (logged) when the principal's role is below ``needed``."""
        if principal.role.allows(needed):
            return
        reason = f"role {principal.role.value} below {needed.value}"
        logger.warning("auth failed: token=%s path=%s reason=%s", principal.token_id, where, reason)
        raise ForbiddenError(
            f"{where} needs the {needed.value} role; token {principal.token_id} "
            f"has {principal.role.value}"
        )

    async def revoke(self, token_id: str, when: float) -> None:
        """Revoke in the store and drop the token from the cache at once."""
        await self._store.revoke_token(token_id, when)
        for digest, (principal, _) in list(self._cache.items()):
            if principal.token_id == token_id:
                del self._cache[digest]
        logger.info("token %s revoked", token_id)

    @staticmethod
    def _failed(token_id: str | None, where: str, reason: str) -> AuthError:
        logger.warning(
            "auth failed: token=%s path=%s reason=%s", token_id or "anonymous", where, reason
        )
        return AuthError(f"{where}: expected a valid bearer token, got {reason}")

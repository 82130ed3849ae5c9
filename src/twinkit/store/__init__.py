"""Durable storage behind one protocol: SQLite by default, PostgreSQL at scale."""

from __future__ import annotations

from twinkit.store._protocol import (
    DeadLetter,
    Point,
    ScenarioBuckets,
    ScenarioPoints,
    ScenarioRecord,
    ScenarioStatus,
    Store,
    TokenRecord,
    Touch,
)
from twinkit.store._sqlite import SQLiteStore

__all__ = [
    "DeadLetter",
    "Point",
    "SQLiteStore",
    "ScenarioBuckets",
    "ScenarioPoints",
    "ScenarioRecord",
    "ScenarioStatus",
    "Store",
    "TokenRecord",
    "Touch",
]

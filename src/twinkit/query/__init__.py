"""History and queries: the twin query language, series queries, time travel, bulk in and out."""

from __future__ import annotations

__all__: list[str] = []

"""Read-only SQLite connections on their own threads, so long reads never wait for ingest.

In WAL mode readers and the one writer do not block each other: a query over the history
sees the last committed state while batches keep committing on the writer's thread. Each
reader thread opens its own read-only connection the first time it is used. An in-memory
database has no file to share, so its reads run on the writer's thread instead.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, TypeVar

__all__ = ["READERS", "ReaderPool"]

logger = logging.getLogger(__name__)

READERS: Final = 2
"""Reader threads per store: a query and a history read can run while ingest commits."""

_T = TypeVar("_T")


class ReaderPool:
    """A few threads, each with its own read-only connection to one database file."""

    def __init__(self, where: str, busy_timeout: float, threads: int = READERS) -> None:
        self._uri = Path(where).resolve().as_uri() + "?mode=ro"
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="twinkit-read")

    def call(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``fn`` with this thread's connection (call it on one of :attr:`executor`'s)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self._uri,
                uri=True,
                isolation_level=None,
                timeout=self._busy_timeout,
                check_same_thread=False,  # closed by close(), from another thread
            )
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return fn(conn)

    def close(self) -> None:
        """Wait for running reads, then close every connection."""
        self.executor.shutdown(wait=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

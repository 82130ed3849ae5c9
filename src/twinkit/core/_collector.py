"""The cyclic garbage collector tuned for a process that holds a live twin graph.

A server keeps about a million long-lived objects (twins, latest values, series ids, buffers).
With CPython's default first threshold (700 new objects) the collector runs every few ingest
batches and, in `bench/ingest.py`, took a quarter of the ingest time; 50,000 new objects
between collections cuts that to a few per cent. Reference counting still frees everything
that is not in a cycle at once, so memory does not grow with the threshold.
"""

from __future__ import annotations

import gc
from typing import Final

__all__ = ["SERVER_GC_THRESHOLDS", "tune_collector"]

SERVER_GC_THRESHOLDS: Final = (50_000, 20, 10)


def tune_collector() -> None:
    """Set the collector's thresholds for a long-running twinkit process (`twinkit serve`, the
    demos, the benchmarks that measure them); process-wide, so only programs call it."""
    gc.set_threshold(*SERVER_GC_THRESHOLDS)

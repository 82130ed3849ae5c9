"""The bottling-line reference model: a discrete-event simulation on SimPy.

A filler, a capper and a labeller with finite buffers between them, random breakdowns and
repairs (:class:`BottlingLine`, a :class:`~twinkit.sim._des.DesModel`). Run it like any
simulator::

    from twinkit.examples.bottling import BottlingLine
    from twinkit.sim import simulate

    result = simulate(BottlingLine().simulator(seed=1), stop=8 * 3600, dt=60)
    result.frame()[["throughput", "buffer1_level", "capper_utilisation"]]

:func:`ideal_throughput` is the large-buffer limit to compare a run with.
"""

from __future__ import annotations

from twinkit.examples.bottling._line import STATIONS, BottlingLine, LineObserver, ideal_throughput

__all__ = ["STATIONS", "BottlingLine", "LineObserver", "ideal_throughput"]

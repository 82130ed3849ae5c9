"""Loading the twin graph from the event log: what :meth:`Runtime.open` starts from."""

from __future__ import annotations

from twinkit.core._derived import split_derived
from twinkit.core._graph import TwinGraph
from twinkit.core._log import EventLog
from twinkit.core._models import ModelRegistry
from twinkit.core._twin import (
    TelemetryValue,
    Twin,
    apply,
    with_derived,
    with_touch,
)

__all__ = ["load_graph"]


async def load_graph(log: EventLog, registry: ModelRegistry) -> TwinGraph:
    """Every twin of ``log``: its snapshot folded on with the later events, then its latest
    telemetry, derived values and touches put on it."""
    graph = TwinGraph()
    snapshots, events = await log.load_twins()
    twins: dict[str, Twin | None] = {twin.id: twin for twin in snapshots}
    for event in events:
        twins[event.twin_id] = apply(twins.get(event.twin_id), event)
    for twin_id, last in (await log.last_seqs()).items():
        graph.note_seq(twin_id, last)
    for twin in twins.values():
        if twin is not None:
            graph.put(twin)
    for point in await log.latest_points():
        twin = graph.get(point.twin_id)
        if twin is not None and registry.kind(twin.model, point.name) == "telemetry":
            known = twin.telemetry.get(point.name)
            if known is None or point.time > known.time:
                graph.update_latest(twin.id, {point.name: TelemetryValue(point.value, point.time)})
        elif twin is not None and split_derived(point.name) is not None:
            latest = {point.name: TelemetryValue(point.value, point.time)}
            graph.put(with_derived(twin, latest))
    for touch in await log.touches():
        twin = graph.get(touch.twin_id)
        if twin is not None:
            graph.put(with_touch(twin, touch.name, touch.time))
    return graph

"""Where parts stand in the 3D scene: given positions, else a layout from the relationship graph.

The automatic layout (see docs/dashboard.md) reads the graph the way a plant is drawn:

- *containment* (relationships named ``contains``, ``hasPart``, ``includes``, ``hosts``,
  ``hasChild``) groups parts: each top container (a station) gets its own block, drawn on a
  ground plate around its contents; blocks stand side by side along y;
- *connectors* (pipes with a twin upstream and one downstream) are not placed: they run as
  tubes between the two parts they join;
- every other relationship is *flow* from source to target, except names that say the flow runs
  the other way (``drains``, ``isFedBy``, ``receivesFrom``, ``isSuppliedBy``): a valve that
  drains a tank stands downstream of it;
- within a block, parts go into columns along x by their longest upstream path (sources left);
  a column is ordered by where its parts' upstream neighbours are, and wraps when long. Parts
  with no flow at all form a grid after the last column.

Positions are the centre of a part's base, in metres, z up. Linear in twins plus relationships.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "CONTAINMENT",
    "UPSTREAM",
    "Layout",
    "LayoutNode",
    "Plate",
    "auto_layout",
]

CONTAINMENT: Final = frozenset({"contains", "hasPart", "includes", "hosts", "hasChild"})
"""Relationship names that mean "is made of": grouping, not flow."""
UPSTREAM: Final = frozenset({"drains", "isFedBy", "receivesFrom", "isSuppliedBy"})
"""Relationship names whose flow runs from target to source."""
_GAP: Final = 2.5  # metres between neighbouring parts
_MARGIN: Final = 1.5  # metres of plate around a block's parts

Point = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class LayoutNode:
    """A twin to lay out: its id, its relationships ``(name, target)``, how much room it needs
    (m), whether it is a connector (a pipe) or a container (a station), and a given position."""

    id: str
    edges: tuple[tuple[str, str], ...] = ()
    footprint: float = 1.0
    connector: bool = False
    container: bool = False
    position: Point | None = None


@dataclass(frozen=True, slots=True)
class Plate:
    """A container's ground plate: its centre and extents along x and y (m)."""

    x: float
    y: float
    size_x: float
    size_y: float


@dataclass(frozen=True, slots=True)
class Layout:
    """Positions of placed parts, the ends of connectors, the plates of containers."""

    positions: Mapping[str, Point] = field(default_factory=dict)
    connectors: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    plates: Mapping[str, Plate] = field(default_factory=dict)


def _flow_edges(nodes: Mapping[str, LayoutNode]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Flow edges (upstream, downstream) between known twins, and each twin's container."""
    flows: list[tuple[str, str]] = []
    parent: dict[str, str] = {}
    for node in nodes.values():
        for name, target in node.edges:
            if target not in nodes or target == node.id:
                continue
            if name in CONTAINMENT:
                parent.setdefault(target, node.id)
            elif name in UPSTREAM:
                flows.append((target, node.id))
            else:
                flows.append((node.id, target))
    return flows, parent


def _top(twin_id: str, parent: Mapping[str, str]) -> str | None:
    """The outermost container of a twin (None when it is in none); containment cycles stop."""
    seen = {twin_id}
    current = parent.get(twin_id)
    top = None
    while current is not None and current not in seen:
        top = current
        seen.add(current)
        current = parent.get(current)
    return top


def _collapse(
    nodes: Mapping[str, LayoutNode], flows: Sequence[tuple[str, str]]
) -> tuple[dict[str, tuple[str, str]], list[tuple[str, str]]]:
    """Connectors with an upstream and a downstream part become tubes between them; the flow
    between placed parts runs through them."""
    ins: dict[str, list[str]] = defaultdict(list)
    outs: dict[str, list[str]] = defaultdict(list)
    for a, b in flows:
        outs[a].append(b)
        ins[b].append(a)
    tubes: dict[str, tuple[str, str]] = {}
    for node in nodes.values():
        up, down = ins.get(node.id, []), outs.get(node.id, [])
        if (
            node.connector
            and up
            and down
            and not (nodes[up[0]].connector or nodes[down[0]].connector)
        ):
            tubes[node.id] = (up[0], down[0])
    collapsed = []
    for a, b in flows:
        if a in tubes or b in tubes:
            continue
        collapsed.append((a, b))
    collapsed.extend(tubes.values())
    return tubes, collapsed


def _layers(members: Sequence[str], flows: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Longest upstream path of each member (Kahn's order; a cycle is broken at the member with
    the fewest unplaced upstream parts)."""
    inside = set(members)
    succ: dict[str, list[str]] = defaultdict(list)
    indegree = dict.fromkeys(members, 0)
    for a, b in flows:
        if a in inside and b in inside:
            succ[a].append(b)
            indegree[b] += 1
    layer = dict.fromkeys(members, 0)
    ready = deque(m for m in members if indegree[m] == 0)
    left = set(members)
    while left:
        if not ready:  # a cycle: start it at its least constrained member
            pick = min(sorted(left), key=lambda m: indegree[m])
            indegree[pick] = 0
            ready.append(pick)
        current = ready.popleft()
        if current not in left:
            continue
        left.discard(current)
        for nxt in succ[current]:
            if nxt in left:
                layer[nxt] = max(layer[nxt], layer[current] + 1)
                indegree[nxt] -= 1
                if indegree[nxt] == 0:
                    ready.append(nxt)
    return layer


def _block(
    members: Sequence[str], flows: Sequence[tuple[str, str]], room: Mapping[str, float]
) -> dict[str, tuple[float, float]]:
    """Positions (x, y) of one block's parts, its first column at x = 0, centred on y = 0.
    ``room``: each member's footprint; columns and rows are as wide as their widest part."""
    linked = {m for pair in flows for m in pair}
    flowing = [m for m in members if m in linked]
    alone = sorted(m for m in members if m not in linked)
    layers = _layers(flowing, flows)
    preds: dict[str, list[str]] = defaultdict(list)
    for a, b in flows:
        preds[b].append(a)
    by_layer: dict[int, list[str]] = defaultdict(list)
    for member in flowing:
        by_layer[layers[member]].append(member)
    wrap = max(8, math.ceil(math.sqrt(len(members))))
    placed: dict[str, tuple[float, float]] = {}
    columns: list[list[str]] = []
    for index in sorted(by_layer):
        column = by_layer[index]
        rank = {m: placed[m][1] for m in placed}
        column.sort(key=lambda m: (_mean(rank[p] for p in preds[m] if p in rank), m))
        for start in range(0, len(column), wrap):
            chunk = column[start : start + wrap]
            pitch = max(room[m] for m in chunk) + _GAP
            for i, member in enumerate(chunk):
                placed[member] = (0.0, (i - (len(chunk) - 1) / 2.0) * pitch)
            columns.append(chunk)
    if alone:
        side = max(1, math.ceil(math.sqrt(len(alone))))
        pitch = max(room[m] for m in alone) + _GAP
        for start in range(0, len(alone), side):
            chunk = alone[start : start + side]
            for i, member in enumerate(chunk):
                placed[member] = (0.0, (i - (len(chunk) - 1) / 2.0) * pitch)
            columns.append(chunk)
    x, previous = 0.0, None
    for chunk in columns:
        width = max(room[m] for m in chunk)
        if previous is not None:
            x += previous / 2.0 + _GAP + width / 2.0
        for member in chunk:
            placed[member] = (x, placed[member][1])
        previous = width
    return placed


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items) if items else 0.0


def auto_layout(nodes: Sequence[LayoutNode]) -> Layout:
    """Lay out ``nodes`` (see the module docstring); given positions are kept as they are."""
    by_id = {node.id: node for node in nodes}
    flows, parent = _flow_edges(by_id)
    tubes, collapsed = _collapse(by_id, flows)
    containers = {n.id for n in nodes if n.container} | set(parent.values())
    blocks: dict[str | None, list[str]] = defaultdict(list)
    for node in nodes:
        if node.id in tubes or node.id in containers:
            continue
        blocks[_top(node.id, parent)].append(node.id)
    for container in containers:  # a container with nothing placed still shows
        if _top(container, parent) is None and container not in blocks:
            blocks[container] = []
    positions: dict[str, Point] = {}
    plates: dict[str, Plate] = {}
    y_offset = 0.0
    for key in sorted(blocks, key=lambda k: (k is None, k or "")):
        members = sorted(blocks[key])
        local = _block(members, collapsed, {m: by_id[m].footprint for m in members})
        ys = [p[1] for p in local.values()] or [0.0]
        shift = y_offset - min(ys)
        for member, (x, y) in local.items():
            given = by_id[member].position
            positions[member] = given if given is not None else (x, y + shift, 0.0)
        widest = max((by_id[m].footprint for m in members), default=1.0)
        y_offset += (max(ys) - min(ys)) + widest + _GAP + 2 * _MARGIN
    for container in containers:
        plate = _plate(container, positions, parent, by_id)
        if plate is not None:
            plates[container] = plate
            given = by_id[container].position
            positions[container] = given if given is not None else (plate.x, plate.y, 0.0)
    return Layout(positions, tubes, plates)


def _plate(
    container: str,
    positions: Mapping[str, Point],
    parent: Mapping[str, str],
    nodes: Mapping[str, LayoutNode],
) -> Plate | None:
    """A plate around every placed part inside ``container`` (a 4 m square when it holds none)."""
    inside = [
        (positions[m], nodes[m].footprint)
        for m in positions
        if m != container and _within(m, container, parent)
    ]
    if not inside:
        given = nodes[container].position
        if given is None:
            return None
        return Plate(given[0], given[1], 4.0, 4.0)
    low_x = min(p[0] - f / 2 for p, f in inside) - _MARGIN
    high_x = max(p[0] + f / 2 for p, f in inside) + _MARGIN
    low_y = min(p[1] - f / 2 for p, f in inside) - _MARGIN
    high_y = max(p[1] + f / 2 for p, f in inside) + _MARGIN
    return Plate((low_x + high_x) / 2, (low_y + high_y) / 2, high_x - low_x, high_y - low_y)


def _within(twin_id: str, container: str, parent: Mapping[str, str]) -> bool:
    seen = {twin_id}
    current = parent.get(twin_id)
    while current is not None and current not in seen:
        if current == container:
            return True
        seen.add(current)
        current = parent.get(current)
    return False

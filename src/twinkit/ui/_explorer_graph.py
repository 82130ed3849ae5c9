"""The explorer's graph: the twins of a query result, their neighbours one relationship away,
a layered layout and the ECharts options that draw them.

A graph of 100k twins is no picture, so :func:`neighbourhood` takes the result's twins first,
then their neighbours, up to a cap, and says how many it left out. :func:`layered_layout`
places relationships left to right (sources before targets, cycles broken) and orders each
layer to keep edges short; ``force`` lets ECharts place the nodes instead.
"""

from __future__ import annotations

import zlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

from twinkit.core import RelationshipEdge, Twin

__all__ = [
    "MAX_NODES",
    "PALETTE",
    "GraphEdge",
    "GraphNode",
    "GraphSource",
    "GraphView",
    "Layout",
    "graph_options",
    "layered_layout",
    "model_colours",
    "neighbourhood",
]

MAX_NODES: Final = 200
"""Most twins the graph draws (the result's first, then their neighbours)."""

LABELS_UP_TO: Final = 60
"""Node labels show when the graph has at most this many nodes (else on hover)."""

PALETTE: Final = (
    "#5470c6",
    "#91cc75",
    "#fac858",
    "#ee6666",
    "#73c0de",
    "#3ba272",
    "#fc8452",
    "#9a60b4",
    "#ea7ccc",
    "#2f4554",
)
"""Model colours (ECharts' own palette, so the legend matches its other charts)."""

_LAYER_GAP: Final = 220.0
_ROW_GAP: Final = 60.0
_SWEEPS: Final = 4

Layout = Literal["layered", "force"]


class GraphSource(Protocol):
    """Where the graph's twins come from (the runtime)."""

    def find(self, twin_id: str) -> Twin | None: ...

    def incoming(self, twin_id: str) -> list[RelationshipEdge]: ...


@dataclass(frozen=True, slots=True)
class GraphNode:
    """A twin in the graph; ``in_result`` when the query returned it (else a neighbour)."""

    id: str
    model: str
    in_result: bool


@dataclass(frozen=True, slots=True)
class GraphEdge:
    """A relationship between two drawn twins."""

    id: str
    name: str
    source: str
    target: str


@dataclass(frozen=True, slots=True)
class GraphView:
    """What to draw, and what was left out: ``left_out`` twins (result or neighbours) past the
    cap of ``cap``."""

    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]
    left_out: int
    cap: int

    @property
    def note(self) -> str:
        """A line for under the graph: what it shows, and whether the cap cut it."""
        result = sum(1 for node in self.nodes if node.in_result)
        text = f"{result} twins of the result and {len(self.nodes) - result} neighbours"
        if self.left_out:
            text += f"; {self.left_out} more left out (at most {self.cap} are drawn)"
        return text


def neighbourhood(source: GraphSource, seeds: Iterable[str], *, cap: int = MAX_NODES) -> GraphView:
    """The live twins among ``seeds`` and everything one relationship away (either way), at
    most ``cap`` of them, seeds first; with every relationship among the drawn twins."""
    twins: dict[str, Twin] = {}
    result: set[str] = set()
    left_out = 0
    for twin_id in dict.fromkeys(seeds):
        twin = source.find(twin_id)
        if twin is None or twin.deleted:
            continue
        if len(twins) < cap:
            twins[twin_id] = twin
            result.add(twin_id)
        else:
            left_out += 1
    neighbours: dict[str, None] = {}
    for twin_id in list(twins):
        twin = twins[twin_id]
        for edge in sorted(twin.relationships.values(), key=lambda e: (e.name, e.target)):
            neighbours.setdefault(edge.target, None)
        for edge in sorted(source.incoming(twin_id), key=lambda e: (e.name, e.source)):
            neighbours.setdefault(edge.source, None)
    for twin_id in neighbours:
        if twin_id in twins:
            continue
        twin = source.find(twin_id)
        if twin is None or twin.deleted:
            continue
        if len(twins) < cap:
            twins[twin_id] = twin
        else:
            left_out += 1
    nodes = tuple(GraphNode(t.id, t.model, t.id in result) for t in twins.values())
    edges = tuple(
        GraphEdge(edge.id, edge.name, edge.source, edge.target)
        for twin in twins.values()
        for edge in sorted(twin.relationships.values(), key=lambda e: (e.name, e.target, e.id))
        if edge.target in twins
    )
    return GraphView(nodes, edges, left_out, cap)


def _ranks(ids: Sequence[str], edges: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Longest-path layers of the graph with its cycles broken (depth-first back edges go)."""
    outgoing: dict[str, list[str]] = {twin_id: [] for twin_id in ids}
    for source, target in edges:
        if source != target:
            outgoing[source].append(target)
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    order: list[str] = []  # reverse topological order of the acyclic part
    kept: dict[str, list[str]] = {twin_id: [] for twin_id in ids}
    for root in ids:
        if root in state:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        state[root] = 1
        while stack:
            node, index = stack[-1]
            if index < len(outgoing[node]):
                stack[-1] = (node, index + 1)
                nxt = outgoing[node][index]
                if state.get(nxt) == 1:
                    continue  # a back edge: ignoring it breaks the cycle
                kept[node].append(nxt)
                if nxt not in state:
                    state[nxt] = 1
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                order.append(node)
                stack.pop()
    rank = dict.fromkeys(ids, 0)
    for node in reversed(order):  # sources before targets
        for nxt in kept[node]:
            rank[nxt] = max(rank[nxt], rank[node] + 1)
    return rank


def layered_layout(
    nodes: Sequence[GraphNode], edges: Sequence[GraphEdge]
) -> dict[str, tuple[float, float]]:
    """Positions (x, y) of the nodes: relationships point left to right, one column per layer,
    each column ordered by the mean position of its neighbours (a few sweeps each way)."""
    ids = [node.id for node in nodes]
    known = set(ids)
    pairs = [(e.source, e.target) for e in edges if e.source in known and e.target in known]
    rank = _ranks(ids, pairs)
    model = {node.id: node.model for node in nodes}
    layers: dict[int, list[str]] = {}
    for twin_id in sorted(ids, key=lambda i: (model[i], i)):
        layers.setdefault(rank[twin_id], []).append(twin_id)
    linked: dict[str, list[str]] = {twin_id: [] for twin_id in ids}
    for source, target in pairs:
        linked[source].append(target)
        linked[target].append(source)
    depth = sorted(layers)
    for sweep in range(_SWEEPS):
        position = {twin_id: i for layer in layers.values() for i, twin_id in enumerate(layer)}
        for level in depth if sweep % 2 == 0 else reversed(depth):
            layers[level] = _by_barycentre(layers[level], linked, position, rank, level)
    out: dict[str, tuple[float, float]] = {}
    for level, layer in layers.items():
        middle = (len(layer) - 1) / 2
        for i, twin_id in enumerate(layer):
            out[twin_id] = (level * _LAYER_GAP, (i - middle) * _ROW_GAP)
    return out


def _by_barycentre(
    layer: list[str],
    linked: Mapping[str, list[str]],
    position: Mapping[str, int],
    rank: Mapping[str, int],
    level: int,
) -> list[str]:
    def key(item: tuple[int, str]) -> tuple[float, int]:
        index, twin_id = item
        others = [position[o] for o in linked[twin_id] if rank[o] != level]
        return (sum(others) / len(others) if others else float(index), index)

    return [twin_id for _, twin_id in sorted(enumerate(layer), key=key)]


def model_colours(models: Collection[str]) -> dict[str, str]:
    """A colour per model, the same for a model on every page where it can be (picked by a
    hash of its DTMI; models that collide take the next free colour, in DTMI order)."""
    out: dict[str, str] = {}
    taken: set[int] = set()
    for model in sorted(models):
        index = zlib.crc32(model.encode()) % len(PALETTE)
        if len(taken) < len(PALETTE):
            while index in taken:
                index = (index + 1) % len(PALETTE)
        taken.add(index)
        out[model] = PALETTE[index]
    return out


def graph_options(
    view: GraphView, names: Mapping[str, str], *, layout: Layout = "layered"
) -> dict[str, Any]:
    """ECharts options of a graph series for ``view``: nodes coloured by model (``names``
    gives each DTMI's name for the legend), result twins larger than their neighbours,
    relationship names on the edges' tooltips. Node ``id`` is the twin id (for clicks)."""
    models = sorted({node.model for node in view.nodes}, key=lambda m: (names.get(m, m), m))
    labels = _category_labels(models, names)
    colours = model_colours(models)
    category = {model: index for index, model in enumerate(models)}
    positions = layered_layout(view.nodes, view.edges) if layout == "layered" else {}
    data = []
    for node in view.nodes:
        item: dict[str, Any] = {
            "id": node.id,
            "name": node.id,
            "category": category[node.model],
            "value": labels[node.model],
            "symbolSize": 18 if node.in_result else 11,
        }
        if not node.in_result:
            item["itemStyle"] = {"opacity": 0.55}
        if node.id in positions:
            item["x"], item["y"] = positions[node.id]
        data.append(item)
    links = [
        {"source": e.source, "target": e.target, "value": e.name, "name": e.name}
        for e in view.edges
    ]
    series: dict[str, Any] = {
        "type": "graph",
        "layout": "none" if layout == "layered" else "force",
        "roam": True,
        "categories": [{"name": labels[m], "itemStyle": {"color": colours[m]}} for m in models],
        "data": data,
        "links": links,
        "edgeSymbol": ["none", "arrow"],
        "edgeSymbolSize": 7,
        "label": {"show": len(data) <= LABELS_UP_TO, "position": "right", "fontSize": 11},
        "lineStyle": {"color": "source", "opacity": 0.6, "curveness": 0.08},
        "emphasis": {"focus": "adjacency", "label": {"show": True}},
    }
    if layout == "force":
        series["force"] = {"repulsion": 160, "edgeLength": 70, "gravity": 0.08}
        series["draggable"] = True
    return {
        "tooltip": {"confine": True},
        "legend": [{"data": [labels[m] for m in models], "top": 0, "type": "scroll"}],
        "animationDurationUpdate": 300,
        "series": [series],
    }


def _category_labels(models: Sequence[str], names: Mapping[str, str]) -> dict[str, str]:
    """Legend labels: each model's name, with its DTMI where two models share a name."""
    plain = [names.get(model, model) for model in models]
    return {
        model: label if plain.count(label) == 1 else f"{label} ({model})"
        for model, label in zip(models, plain, strict=True)
    }

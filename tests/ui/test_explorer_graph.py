"""The explorer's graph: the result plus one hop under a cap, a layered layout that points
relationships left to right, stable model colours, and the ECharts options."""

from __future__ import annotations

import zlib
from types import MappingProxyType

from twinkit.core import RelationshipEdge, Twin
from twinkit.ui._explorer_graph import (
    PALETTE,
    GraphEdge,
    GraphNode,
    graph_options,
    layered_layout,
    model_colours,
    neighbourhood,
)

PUMP, PIPE, TANK, STATION = (f"dtmi:t:{n};1" for n in ("Pump", "Pipe", "Tank", "Station"))


class Graph:
    """A twin graph in memory, with the two reads the explorer makes of the runtime."""

    def __init__(self, edges: list[tuple[str, str, str]], models: dict[str, str]) -> None:
        self.twins: dict[str, Twin] = {}
        for twin_id, model in models.items():
            out = {
                f"{s}.{n}.{t}": RelationshipEdge(f"{s}.{n}.{t}", n, s, t)
                for s, n, t in edges
                if s == twin_id
            }
            self.twins[twin_id] = Twin(
                twin_id, model, 1, 0.0, 0.0, relationships=MappingProxyType(out)
            )

    def find(self, twin_id: str) -> Twin | None:
        return self.twins.get(twin_id)

    def incoming(self, twin_id: str) -> list[RelationshipEdge]:
        return [
            e for t in self.twins.values() for e in t.relationships.values() if e.target == twin_id
        ]


def station(pumps: int = 3) -> Graph:
    models = {"station-1": STATION, "tank-1": TANK}
    edges = []
    for i in range(1, pumps + 1):
        models[f"pump-{i}"], models[f"pipe-{i}"] = PUMP, PIPE
        edges += [
            ("station-1", "contains", f"pump-{i}"),
            (f"pump-{i}", "feeds", f"pipe-{i}"),
            (f"pipe-{i}", "connectsTo", "tank-1"),
        ]
    return Graph(edges, models)


def test_the_result_comes_with_its_neighbours_one_hop_away() -> None:
    view = neighbourhood(station(), ["pump-2", "ghost"])
    assert [(n.id, n.in_result) for n in view.nodes] == [
        ("pump-2", True),
        ("pipe-2", False),
        ("station-1", False),
    ]
    assert {(e.source, e.name, e.target) for e in view.edges} == {
        ("station-1", "contains", "pump-2"),
        ("pump-2", "feeds", "pipe-2"),
    }
    assert view.left_out == 0
    assert view.note == "1 twins of the result and 2 neighbours"


def test_a_large_result_is_cut_at_the_cap_and_says_so() -> None:
    graph = station(pumps=30)
    pumps = [f"pump-{i}" for i in range(1, 31)]
    view = neighbourhood(graph, pumps, cap=20)
    assert len(view.nodes) == 20
    assert all(node.in_result for node in view.nodes)  # the result goes first
    assert view.left_out == 10 + 20 + 1  # 10 pumps, 20 of their pipes, the station
    assert "31 more left out (at most 20 are drawn)" in view.note
    assert all(e.source in {n.id for n in view.nodes} for e in view.edges)


def test_the_layered_layout_points_relationships_left_to_right() -> None:
    view = neighbourhood(station(), ["station-1", "pump-1", "pump-2", "pump-3", "tank-1"])
    positions = layered_layout(view.nodes, view.edges)
    x = {twin_id: pos[0] for twin_id, pos in positions.items()}
    assert x["station-1"] < x["pump-1"] < x["pipe-1"] < x["tank-1"]
    assert x["pump-1"] == x["pump-2"] == x["pump-3"]
    column = sorted((positions[f"pump-{i}"][1], f"pump-{i}") for i in (1, 2, 3))
    pipes = sorted((positions[f"pipe-{i}"][1], f"pipe-{i}") for i in (1, 2, 3))
    # each pipe sits level with its pump: no crossing edges
    assert [p.split("-")[1] for _, p in column] == [p.split("-")[1] for _, p in pipes]


def test_cycles_do_not_stop_the_layout() -> None:
    nodes = [GraphNode(n, PUMP, True) for n in ("a", "b", "c")]
    edges = [GraphEdge(f"{s}{t}", "next", s, t) for s, t in (("a", "b"), ("b", "c"), ("c", "a"))]
    positions = layered_layout(nodes, edges)
    assert sorted(p[0] for p in positions.values()) == [0.0, 220.0, 440.0]


def test_model_colours_are_stable_and_distinct() -> None:
    colours = model_colours([PUMP, PIPE, TANK, STATION])
    assert len(set(colours.values())) == 4
    # alone, a model takes the colour its DTMI hashes to, on every page
    assert model_colours([PUMP])[PUMP] == PALETTE[zlib.crc32(PUMP.encode()) % len(PALETTE)]
    assert model_colours([TANK, PUMP, PIPE, STATION]) == colours
    many = model_colours([f"dtmi:t:M{i};1" for i in range(15)])
    assert set(many.values()) <= set(PALETTE)


def test_options_draw_nodes_by_model_and_keep_twin_ids_for_clicks() -> None:
    view = neighbourhood(station(), ["pump-1"])
    names = {PUMP: "Pump", PIPE: "Pipe", STATION: "Pump station"}
    options = graph_options(view, names)
    series = options["series"][0]
    assert series["type"] == "graph"
    assert series["layout"] == "none"
    categories = [c["name"] for c in series["categories"]]
    assert categories == ["Pipe", "Pump", "Pump station"]
    assert options["legend"][0]["data"] == categories
    node = next(d for d in series["data"] if d["id"] == "pump-1")
    assert categories[node["category"]] == "Pump"
    assert node["symbolSize"] > next(d for d in series["data"] if d["id"] == "pipe-1")["symbolSize"]
    assert {"x", "y"} <= node.keys()
    assert {(link["source"], link["target"], link["value"]) for link in series["links"]} == {
        ("station-1", "pump-1", "contains"),
        ("pump-1", "pipe-1", "feeds"),
    }
    force = graph_options(view, names, layout="force")["series"][0]
    assert force["layout"] == "force"
    assert "x" not in force["data"][0]


def test_models_sharing_a_name_are_told_apart_in_the_legend() -> None:
    graph = Graph([], {"a": "dtmi:t:Pump;1", "b": "dtmi:t:Pump;2"})
    options = graph_options(
        neighbourhood(graph, ["a", "b"]), {"dtmi:t:Pump;1": "Pump", "dtmi:t:Pump;2": "Pump"}
    )
    assert options["legend"][0]["data"] == ["Pump (dtmi:t:Pump;1)", "Pump (dtmi:t:Pump;2)"]

"""Scene data shaping without a browser: part kinds and shapes, layout, colours, the plan."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh
from scene_twins import station_twins, twin

from twinkit.errors import NotFoundError, ValidationError
from twinkit.examples.pumps._layout import PIPE, PUMP, TANK, VALVE, load_models
from twinkit.ui._geometry import (
    PartKind,
    Shape,
    classify,
    part_mesh,
    shape_from_query,
    shape_glb,
    shape_of,
    tube_between,
)
from twinkit.ui._scene_colors import (
    ALERT_COLOR,
    NO_VALUE_COLOR,
    ColorScale,
    scale_for,
    vertex_colors,
)
from twinkit.ui._scene_config import geometry_file, load_scene_config
from twinkit.ui._scene_layout import LayoutNode, auto_layout
from twinkit.ui._scene_plan import Draw, colour_choices, plan_scene


def test_pump_station_models_map_to_their_kinds() -> None:
    models = load_models()
    assert classify(PUMP, models) is PartKind.PUMP
    assert classify(TANK, models) is PartKind.TANK
    assert classify(PIPE, models) is PartKind.PIPE
    assert classify(VALVE, models) is PartKind.VALVE
    assert classify("dtmi:acme:Widget;1", models) is PartKind.GENERIC


def test_a_tank_is_a_cylinder_of_its_area_and_height_in_metres() -> None:
    tank = twin("tank-1", TANK, {"area": 12.0, "height": 4.0})
    shape = shape_of(tank, PartKind.TANK, load_models())
    assert shape.radius == pytest.approx(np.sqrt(12.0 / np.pi), abs=0.01)
    mesh = part_mesh(shape)
    assert mesh.bounds[0][2] == pytest.approx(0.0) and mesh.bounds[1][2] == pytest.approx(4.0)
    assert mesh.volume == pytest.approx(12.0 * 4.0, rel=0.02)


def test_a_pipe_diameter_in_millimetres_sizes_its_tube() -> None:
    pipe = twin("pipe-1", PIPE, {"diameter": 150.0})
    assert shape_of(pipe, PartKind.PIPE, load_models()).size[0] == pytest.approx(0.15)


def test_shapes_round_trip_through_their_url_and_export_as_glb() -> None:
    shape = Shape(PartKind.TANK, radius=1.95, height=4.0)
    assert shape_from_query(shape.query()) == shape
    loaded = trimesh.load(
        trimesh.util.wrap_as_stream(shape_glb(shape)), file_type="glb", force="mesh"
    )
    assert loaded.bounds[1][2] == pytest.approx(4.0, abs=1e-3)  # z stays up
    with pytest.raises(ValidationError, match="out of range"):
        shape_from_query({"kind": "tank", "radius": "1e9"})
    with pytest.raises(ValidationError, match="unknown shape kind"):
        shape_from_query({"kind": "rocket"})


def test_a_tube_runs_up_then_level_to_its_end() -> None:
    mesh = tube_between((0.0, 0.0, 0.5), (4.0, 0.0, 3.0), 0.1)
    assert mesh.bounds[0] == pytest.approx([-0.1, -0.1, 0.5], abs=0.02)
    assert mesh.bounds[1] == pytest.approx([4.0, 0.1, 3.1], abs=0.02)


def test_layout_puts_flow_left_to_right_pipes_between_and_a_plate_under_the_station() -> None:
    layout = auto_layout(
        [
            LayoutNode("station", (("contains", "p1"), ("contains", "t"), ("contains", "v"))),
            LayoutNode("p1", (("feeds", "pipe"),)),
            LayoutNode("pipe", (("connectsTo", "t"),), connector=True),
            LayoutNode("t", footprint=4.0),
            LayoutNode("v", (("drains", "t"),)),
            LayoutNode("lone", position=(50.0, 50.0, 0.0)),
        ]
    )
    x = {k: p[0] for k, p in layout.positions.items()}
    assert x["p1"] < x["t"] < x["v"], "pump, then tank, then the valve that drains it"
    assert layout.connectors == {"pipe": ("p1", "t")}
    plate = layout.plates["station"]
    for member in ("p1", "t", "v"):
        px, py, _ = layout.positions[member]
        assert abs(px - plate.x) < plate.size_x / 2 and abs(py - plate.y) < plate.size_y / 2
    assert layout.positions["lone"] == (50.0, 50.0, 0.0)


def test_layout_of_a_thousand_unrelated_twins_is_a_grid_without_overlaps() -> None:
    layout = auto_layout([LayoutNode(f"t{i}") for i in range(1000)])
    points = {(round(x, 3), round(y, 3)) for x, y, _ in layout.positions.values()}
    assert len(points) == 1000
    xs = [x for x, _ in points]
    assert max(xs) - min(xs) < 150, "a square-ish grid, not a line"


def test_colour_scale_and_legend() -> None:
    scale = ColorScale(0.0, 10.0)
    assert scale.color(0.0) != scale.color(10.0)
    assert scale.color(-5.0) == scale.color(0.0), "outside values take the end colour"
    assert scale.color(None) == NO_VALUE_COLOR
    assert ALERT_COLOR not in {stop.color for stop in scale.legend(5)}
    assert [s.label for s in ColorScale(0.0, 4.0, unit="m").legend(2)] == ["0 m", "4 m"]
    assert scale_for([None, float("nan")]) is None
    flat = scale_for([3.0, 3.0])
    assert flat is not None and len(flat.legend()) == 1
    colours = vertex_colors(ColorScale(0.0, 1.0, "stress"), [0.0, 1.0])
    assert len(colours) == 6 and colours[2] > colours[0] and colours[3] > colours[5]


def test_the_station_plan_draws_every_twin(tmp_path: Path) -> None:
    twins = station_twins(3)
    plan = plan_scene(
        twins, load_models(), load_scene_config(tmp_path), shape_url=lambda s: s.key(),
        file_url=lambda n: "/files/" + n,
    )  # fmt: skip
    draws = {p.twin_id: p.draw for p in plan.parts}
    assert set(draws) == {t.id for t in twins}
    assert draws["pipe-1"] is Draw.MESH and draws["tank-1"] is Draw.SHAPE
    assert plan.part("tank-1").url == "tank-r1.95-h4"  # type: ignore[union-attr]
    assert "height" in colour_choices(load_models(), {TANK})


def test_scene_file_and_geometry_folder_override_the_generated_parts(tmp_path: Path) -> None:
    (tmp_path / "geometry").mkdir()
    (tmp_path / "geometry" / "pump.stl").write_bytes(b"solid x\nendsolid x\n")
    (tmp_path / "scene.json").write_text(
        json.dumps({"twins": {"tank-1": {"position": {"x": 1, "y": 2, "z": 0}, "heading": 90}}})
    )
    config = load_scene_config(tmp_path)
    plan = plan_scene(
        station_twins(1), load_models(), config, shape_url=lambda s: s.key(),
        file_url=lambda n: "/files/" + n,
    )  # fmt: skip
    pump, tank = plan.part("pump-1"), plan.part("tank-1")
    assert pump is not None and pump.draw is Draw.FILE and pump.url == "/files/pump.stl"
    assert tank is not None and tank.position == (1.0, 2.0, 0.0) and tank.heading == 90.0
    assert geometry_file(config.geometry_dir, "pump.stl").name == "pump.stl"
    with pytest.raises(ValidationError):
        geometry_file(config.geometry_dir, "../scene.json")
    with pytest.raises(NotFoundError):
        geometry_file(config.geometry_dir, "valve.glb")
    (tmp_path / "scene.json").write_text('{"twins": {"x": {"position": "here"}}}')
    with pytest.raises(ValidationError, match="position"):
        load_scene_config(tmp_path)

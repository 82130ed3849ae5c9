"""The bracket's field for display: from a twin's latest loads, as JSON for three.js and .vtu."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
from bracket_helpers import SMALL, TWIN

from twinkit.core import Reading, Runtime
from twinkit.errors import ValidationError
from twinkit.examples.bracket import (
    CRACK,
    FIELD_FORMAT,
    BracketRom,
    GaugeModel,
    field_json,
    install_bracket,
    twin_field,
    write_field_vtu,
)
from twinkit.store import SQLiteStore

LOADS = {"loadVertical": 9000.0, "loadLateral": -400.0, "loadAxial": 150.0}


def test_the_field_is_the_full_model_s_stress_and_displacement_on_the_surface(
    small_rom: BracketRom, small_gauges: GaugeModel
) -> None:
    field = small_rom.field(LOADS, crack_stiffness=0.6)
    full = small_gauges.system.solve(LOADS, {CRACK: 0.6})
    rom = small_rom.rom
    exact_stress = full.von_mises()[rom.surface_nodes]
    assert np.abs(field.von_mises - exact_stress).max() < 0.01 * exact_stress.max()
    exact_moved = full.nodal_displacement[rom.surface_nodes]
    assert np.abs(field.displacement - exact_moved).max() < 0.01 * np.abs(exact_moved).max()
    assert field.points.shape == (len(field.von_mises), 3) == field.displacement.shape
    assert field.triangles.max() < len(field.points) and field.triangles.min() >= 0
    lower, upper = field.points.min(axis=0), field.points.max(axis=0)
    np.testing.assert_allclose(lower, 0.0, atol=1e-12)
    np.testing.assert_allclose(upper, (SMALL.length, SMALL.width, SMALL.height))
    tip = np.isclose(field.points[:, 0], SMALL.length)
    assert -field.displacement[tip, 2].mean() * 1e3 == pytest.approx(
        field.outputs["tipDeflection"], rel=0.05
    )
    assert field.surface("displacement").values == pytest.approx(field.displacement_magnitude)
    with pytest.raises(ValidationError, match="quantity"):
        field.surface("temperature")


def test_a_twin_s_field_follows_its_latest_loads(tmp_path: Path, small_rom: BracketRom) -> None:
    async def main() -> None:
        async with await SQLiteStore.open(tmp_path / "twins.db") as store:
            runtime = await Runtime.open(store)
            await install_bracket(runtime, SMALL, TWIN, cause="test")
            empty = twin_field(small_rom.rom, runtime.get(TWIN))
            assert empty.time is None and empty.von_mises.max() == 0.0
            for t, vertical in ((10.0, 2000.0), (11.0, LOADS["loadVertical"])):
                values = {**LOADS, "loadVertical": vertical}
                await runtime.ingest([[Reading(TWIN, values, time=t)]], cause="test")
            field = small_rom.twin_field(runtime.get(TWIN))
            assert field.twin_id == TWIN and field.time == 11.0
            assert dict(field.loads) == LOADS
            direct = small_rom.field(LOADS)
            np.testing.assert_allclose(field.von_mises, direct.von_mises)
            await runtime.close()

    asyncio.run(main())


def test_field_json_is_what_a_three_js_viewer_takes(small_rom: BracketRom) -> None:
    field = small_rom.field(LOADS)
    data = json.loads(json.dumps(field_json(field)))  # plain JSON, nothing numpy left
    n, m = len(field.points), len(field.triangles)
    assert data["format"] == FIELD_FORMAT
    assert len(data["positions"]) == 3 * n and len(data["displacement"]) == 3 * n
    assert len(data["indices"]) == 3 * m and max(data["indices"]) == n - 1
    assert all(isinstance(i, int) for i in data["indices"])
    stress = data["scalars"]["vonMises"]
    assert stress["unit"] == "Pa" and len(stress["values"]) == n
    assert stress["min"] <= min(stress["values"]) and max(stress["values"]) <= stress["max"] + 1
    assert stress["max"] == pytest.approx(field.von_mises.max())
    moved = data["scalars"]["displacement"]
    assert moved["unit"] == "m" and moved["max"] == pytest.approx(
        field.displacement_magnitude.max()
    )
    assert data["loads"] == LOADS and data["parameters"] == {CRACK: 1.0}
    assert data["outputs"]["tipDeflection"] > 0 and data["errorBound"] < 0.01
    # each triangle faces outward: its normal points away from the bar's centre
    points = np.array(data["positions"]).reshape(-1, 3)
    corners = points[np.array(data["indices"]).reshape(-1, 3)]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    centre = np.array([SMALL.length, SMALL.width, SMALL.height]) / 2
    assert np.all(np.einsum("ij,ij->i", normals, corners.mean(axis=1) - centre) > 0)


def test_the_field_goes_to_paraview(tmp_path: Path, small_rom: BracketRom) -> None:
    import meshio

    field = small_rom.field(LOADS)
    path = write_field_vtu(tmp_path / "bracket.vtu", field)
    back = meshio.read(path)
    np.testing.assert_allclose(back.points, field.points)
    np.testing.assert_array_equal(back.cells_dict["triangle"], field.triangles)
    np.testing.assert_allclose(back.point_data["von_mises"], field.von_mises)
    np.testing.assert_allclose(back.point_data["displacement"], field.displacement)

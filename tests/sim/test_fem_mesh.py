"""Meshes: generated boxes and rectangles, named boundaries, files read with meshio, export."""

from __future__ import annotations

from pathlib import Path

import meshio
import numpy as np
import pytest

from twinkit.errors import ValidationError
from twinkit.sim._calculix import calculix_input
from twinkit.sim._fem_elastic import ElasticSystem
from twinkit.sim._fem_elastic_problem import STEEL, Deflection, ElasticProblem, SurfaceForce
from twinkit.sim._fem_export import Surface, surface, write_vtu
from twinkit.sim._fem_mesh import FemMesh, box_mesh, read_mesh, rectangle_mesh


def enclosed_volume(skin: Surface) -> float:
    """Volume by the divergence theorem: right only if every triangle faces outwards."""
    a, b, c = (skin.points[skin.triangles[:, i]] for i in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6)


def tip_deflection(mesh: FemMesh) -> float:
    problem = ElasticProblem(
        mesh,
        STEEL,
        {"fixed": "xyz"},
        {"F": SurfaceForce("tip", (0.0, 0.0, -1000.0))},
        outputs={"tip": Deflection("tip", "z")},
    )
    return ElasticSystem(problem).solve({"F": 1.0}).outputs()["tip"]


@pytest.mark.parametrize(("kind", "per_box"), [("hex", 1), ("tet", 6)])
def test_box_has_named_sides(kind: str, per_box: int) -> None:
    mesh = box_mesh((2.0, 0.2, 0.1), divisions=(10, 2, 1), kind=kind)  # type: ignore[arg-type]
    assert mesh.kind == kind and mesh.dim == 3
    assert mesh.n_elements == 20 * per_box
    assert mesh.boundary_area("tip") == pytest.approx(0.02)
    assert mesh.boundary_area("xmin") == pytest.approx(0.02)
    assert mesh.boundary_area("ymax") == pytest.approx(0.2)
    assert mesh.boundary_area("zmin") == pytest.approx(0.4)
    np.testing.assert_array_equal(mesh.boundary("fixed"), mesh.boundary("xmin"))
    assert enclosed_volume(surface(mesh)) == pytest.approx(0.04)


def test_element_size_sets_the_divisions() -> None:
    mesh = box_mesh((1.0, 0.1, 0.05), element_size=0.05)
    assert mesh.n_elements == 20 * 2 * 1
    plane = rectangle_mesh((1.0, 0.3), element_size=0.1, kind="tri")
    assert plane.n_elements == 10 * 3 * 2
    assert plane.boundary_area("ymax") == pytest.approx(1.0)


def test_rectangle_surface_is_its_triangles_facing_up() -> None:
    mesh = rectangle_mesh((1.0, 0.5), divisions=(4, 2))
    values = mesh.points[:, 0] * 10
    skin = surface(mesh, values)
    assert skin.triangles.shape == (16, 3)
    a, b, c = (skin.points[skin.triangles[:, i]] for i in range(3))
    assert np.all(np.cross(b - a, c - a)[:, 2] > 0)
    np.testing.assert_allclose(skin.values, skin.points[:, 0] * 10)


@pytest.mark.parametrize(
    ("call", "path"),
    [
        (lambda: box_mesh((1.0, -0.1, 0.1)), "size/1"),
        (lambda: box_mesh((1.0, 0.1, 0.1), divisions=(0, 1, 1)), "divisions"),
        (lambda: box_mesh((1.0, 0.1, 0.1), element_size=0.0), "element_size"),
        (lambda: box_mesh((1.0, 0.1)), "size"),
        (lambda: box_mesh((1.0, 0.1, 0.1), kind="wedge"), "kind"),  # type: ignore[arg-type]
        (lambda: rectangle_mesh((1.0, 0.1), kind="hex"), "kind"),  # type: ignore[arg-type]
    ],
)
def test_bad_generation_requests_are_rejected(call: object, path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        call()  # type: ignore[operator]
    assert caught.value.path == path


def test_unknown_boundary_names_the_known_ones() -> None:
    mesh = box_mesh((1.0, 0.1, 0.1), divisions=(2, 1, 1))
    with pytest.raises(ValidationError, match="no boundary 'root'") as caught:
        mesh.boundary("root")
    assert "tip" in str(caught.value.expected)
    with pytest.raises(ValidationError, match="no subdomain"):
        mesh.subdomain("core")


def test_predicates_add_boundaries_and_subdomains() -> None:
    mesh = box_mesh((1.0, 0.1, 0.1), divisions=(10, 1, 1))
    mesh = mesh.with_boundaries(patch=lambda x: (x[2] > 0.099) & (x[0] > 0.5))
    mesh = mesh.with_subdomains(root=lambda x: x[0] < 0.2)
    assert mesh.boundary_area("patch") == pytest.approx(0.05)
    assert len(mesh.subdomain("root")) == 2
    with pytest.raises(ValidationError, match="selects no boundary facet"):
        mesh.with_boundaries(nothing=lambda x: x[0] > 5)
    with pytest.raises(ValidationError, match="selects no element"):
        mesh.with_subdomains(nothing=lambda x: x[0] > 5)


@pytest.mark.parametrize("kind", ["hex", "tet"])
def test_vtu_round_trip_gives_the_same_solution(tmp_path: Path, kind: str) -> None:
    mesh = box_mesh((1.0, 0.1, 0.1), divisions=(8, 1, 1), kind=kind)  # type: ignore[arg-type]
    field = np.column_stack([mesh.points[:, 0], np.zeros(len(mesh.points))])
    path = write_vtu(tmp_path / "beam.vtu", mesh, {"u": field, "x": mesh.points[:, 0]})
    back = meshio.read(path)
    np.testing.assert_allclose(back.point_data["u"], field)
    read = read_mesh(
        path,
        fixed=lambda x: np.isclose(x[0], 0.0),
        tip=lambda x: np.isclose(x[0], 1.0),
    )
    assert read.kind == kind and read.n_elements == mesh.n_elements
    np.testing.assert_allclose(read.points, mesh.points)
    assert enclosed_volume(surface(read)) == pytest.approx(0.01)
    assert tip_deflection(read) == pytest.approx(tip_deflection(mesh), rel=1e-10)


def test_gmsh_physical_groups_become_boundaries_and_subdomains(tmp_path: Path) -> None:
    mesh = box_mesh((1.0, 0.1, 0.1), divisions=(4, 1, 1), kind="tet")
    clamp = mesh.mesh.facets[:, mesh.boundary("fixed")].T
    load = mesh.mesh.facets[:, mesh.boundary("tip")].T
    tags = [np.full(mesh.n_elements, 3), np.r_[np.full(len(clamp), 1), np.full(len(load), 2)]]
    meshio.Mesh(
        mesh.points,
        [("tetra", mesh.cells), ("triangle", np.vstack([clamp, load]))],
        cell_data={"gmsh:physical": tags, "gmsh:geometrical": tags},
        field_data={"clamp": np.array([1, 2]), "load": np.array([2, 2]), "body": np.array([3, 3])},
    ).write(tmp_path / "beam.msh", file_format="gmsh22", binary=False)
    read = read_mesh(tmp_path / "beam.msh")
    assert sorted(read.boundaries) == ["clamp", "load"]
    assert read.boundary_area("clamp") == pytest.approx(0.01)
    assert len(read.subdomain("body")) == mesh.n_elements


def test_abaqus_node_sets_and_second_order_cells(tmp_path: Path) -> None:
    mesh = box_mesh((1.0, 0.1, 0.1), divisions=(4, 1, 1))
    clamped = np.flatnonzero(np.isclose(mesh.points[:, 0], 0.0))
    meshio.Mesh(
        mesh.points,
        [("hexahedron", mesh.cells[:, [0, 3, 6, 2, 1, 5, 7, 4]])],
        point_sets={"clamped": clamped},
    ).write(tmp_path / "beam.inp")
    assert read_mesh(tmp_path / "beam.inp").boundary_area("clamped") == pytest.approx(0.01)
    # CalculiX's own input (C3D20): the corners are kept, the midside nodes dropped
    system = ElasticSystem(
        ElasticProblem(mesh, STEEL, {"fixed": "xyz"}, {"F": SurfaceForce("tip", (0, 0, 1.0))})
    )
    (tmp_path / "ccx.inp").write_text(calculix_input(system, {"F": 1.0}))
    read = read_mesh(tmp_path / "ccx.inp", tip=lambda x: np.isclose(x[0], 1.0))
    assert read.kind == "hex" and read.n_elements == 4 and len(read.points) == 20
    assert read.boundary_area("tip") == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("wedge.vtu", None, "unsupported cells"),
        ("garbage.msh", "this is not a mesh", "could not read"),
        ("beam.xyz", "1 2 3", "unsupported mesh file type"),
    ],
)
def test_unreadable_mesh_files_are_validation_errors(
    tmp_path: Path, name: str, content: str | None, match: str
) -> None:
    path = tmp_path / name
    if content is None:
        points = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [0, 1, 1.0]])
        meshio.Mesh(points, [("wedge", np.array([[0, 1, 2, 3, 4, 5]]))]).write(path)
    else:
        path.write_text(content)
    with pytest.raises(ValidationError, match=match) as caught:
        read_mesh(path)
    assert caught.value.path == str(path)


def test_missing_mesh_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="not found"):
        read_mesh(tmp_path / "nothing.msh")


def test_vtu_field_must_match_the_vertices(tmp_path: Path) -> None:
    mesh = rectangle_mesh((1.0, 0.1), divisions=(2, 1))
    with pytest.raises(ValidationError, match="one value") as caught:
        write_vtu(tmp_path / "bad.vtu", mesh, {"t": np.zeros(3)})
    assert caught.value.path == "point_data/t"

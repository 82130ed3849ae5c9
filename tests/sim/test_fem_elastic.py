"""Linear elasticity: patch tests, beam theory, loads, zones, and bad problems."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import meshio
import numpy as np
import pytest
from fem_models import LENGTH, SIDE, bracket, bracket_system, euler_bernoulli

from twinkit.errors import ValidationError
from twinkit.sim._fem_elastic import ElasticSystem
from twinkit.sim._fem_elastic_problem import (
    MAX_VON_MISES,
    STEEL,
    BodyForce,
    Deflection,
    ElasticProblem,
    Gravity,
    Material,
    PointDisplacement,
    PointForce,
    StrainGauge,
    SurfaceForce,
    Traction,
)
from twinkit.sim._fem_export import write_vtu
from twinkit.sim._fem_mesh import box_mesh, rectangle_mesh

E, NU = STEEL.youngs_modulus, STEEL.poisson_ratio
SIGMA = 2.0e6  # Pa


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("kind", ["hex", "tet"])
def test_uniaxial_bar_is_exact(kind: str, order: int) -> None:
    """Patch test: a bar in uniform tension on symmetry supports has the exact linear field."""
    mesh = box_mesh((1.0, 0.2, 0.2), divisions=(3, 2, 2), kind=kind)  # type: ignore[arg-type]
    problem = ElasticProblem(
        mesh,
        STEEL,
        supports={"xmin": "x", "ymin": "y", "zmin": "z"},
        loads={"pull": Traction("xmax", (SIGMA, 0.0, 0.0))},
        outputs={
            "stretch": Deflection("tip", "x"),
            "at": PointDisplacement((0.7, 0.13, 0.05), "y"),
            "axial": StrainGauge((0.4, 0.1, 0.2), (1.0, 0.0, 0.0)),
            "lateral": StrainGauge((0.4, 0.2, 0.1), (0.0, 3.0, 0.0)),
            "diagonal": StrainGauge((0.4, 0.1, 0.2), (1.0, 1.0, 0.0)),
        },
        order=order,
    )
    solution = ElasticSystem(problem).solve({"pull": 1.0})
    x = solution.system.space.node_points
    exact = SIGMA / E * np.column_stack([x[:, 0], -NU * x[:, 1], -NU * x[:, 2]])
    np.testing.assert_allclose(solution.nodal_displacement, exact, atol=1e-12 * SIGMA / E)
    stress = solution.stress()
    np.testing.assert_allclose(stress[:, 0], SIGMA, rtol=1e-9)
    np.testing.assert_allclose(stress[:, 1:], 0.0, atol=1e-9 * SIGMA)
    out = solution.outputs()
    strain = SIGMA / E * 1e6
    assert out["stretch"] == pytest.approx(SIGMA / E)
    assert out["at"] == pytest.approx(-NU * SIGMA / E * 0.13)
    assert out["axial"] == pytest.approx(strain)
    assert out["lateral"] == pytest.approx(-NU * strain)
    assert out["diagonal"] == pytest.approx((1 - NU) * strain / 2)
    assert out[MAX_VON_MISES] == pytest.approx(SIGMA)


def test_plane_strain_bar_carries_the_out_of_plane_stress() -> None:
    mesh = rectangle_mesh((1.0, 0.2), divisions=(4, 2))
    problem = ElasticProblem(
        mesh,
        STEEL,
        supports={"xmin": "x", "ymin": "y"},
        loads={"pull": Traction("xmax", (SIGMA, 0.0))},
        plane="strain",
    )
    solution = ElasticSystem(problem).solve({"pull": 1.0})
    x = solution.system.space.node_points
    exact = SIGMA / E * np.column_stack([(1 - NU**2) * x[:, 0], -NU * (1 + NU) * x[:, 1]])
    np.testing.assert_allclose(solution.nodal_displacement, exact, atol=1e-12 * SIGMA / E)
    np.testing.assert_allclose(solution.stress()[:, 2], NU * SIGMA, rtol=1e-9)
    np.testing.assert_allclose(solution.von_mises(), SIGMA * math.sqrt(1 - NU + NU**2), rtol=1e-9)


def test_cantilever_matches_euler_bernoulli() -> None:
    force = -1000.0
    out = bracket_system().solve({"Fz": force}).outputs()
    assert out["tip_z"] == pytest.approx(-euler_bernoulli(1000.0), rel=0.01)
    assert out["tip_y"] == pytest.approx(0.0, abs=1e-12)
    x = 0.5  # the top gauge: bending strain M c / (E I), in tension under a downward load
    inertia = SIDE**4 / 12
    expected = 1000.0 * (LENGTH - x) * (SIDE / 2) / (E * inertia) * 1e6
    assert out["gauge_top"] == pytest.approx(expected, rel=0.02)
    # near the root stress of beam theory (the clamp concentrates it, the mesh is coarse)
    root = 1000.0 * LENGTH * (SIDE / 2) / inertia
    assert 0.95 * root < out[MAX_VON_MISES] < 1.3 * root


def test_quadratic_tetrahedra_and_linear_locking() -> None:
    expected = euler_bernoulli(1000.0)
    tet = bracket_system(kind="tet").solve({"Fz": -1000.0}).outputs()["tip_z"]
    assert tet == pytest.approx(-expected, rel=0.02)
    linear = bracket_system(order=1).solve({"Fz": -1000.0}).outputs()["tip_z"]
    assert -linear < 0.9 * expected  # a linear hexahedron locks in bending


def test_plane_stress_cantilever_and_thickness() -> None:
    def deflection(thickness: float) -> float:
        problem = ElasticProblem(
            rectangle_mesh((LENGTH, SIDE), divisions=(40, 2)),
            STEEL,
            {"fixed": "xy"},
            {"F": SurfaceForce("tip", (0.0, -1.0))},
            outputs={"tip": Deflection("tip", "y")},
            thickness=thickness,
        )
        return ElasticSystem(problem).solve({"F": 1000.0}).outputs()["tip"]

    assert deflection(SIDE) == pytest.approx(-euler_bernoulli(1000.0), rel=0.01)
    assert deflection(2 * SIDE) == pytest.approx(deflection(SIDE) / 2, rel=1e-9)


def test_load_vectors_carry_the_right_totals() -> None:
    mesh = box_mesh((1.0, 0.1, 0.2), divisions=(4, 1, 2))
    problem = ElasticProblem(
        mesh,
        Material(200e9, 0.3, density=8000.0),
        {"fixed": "xyz"},
        {
            "weight": Gravity(),
            "body": BodyForce((0.0, 5.0, 0.0)),
            "patch": SurfaceForce("zmax", (0.0, 0.0, -300.0)),
            "pressure": Traction("tip", (0.0, 0.0, -1e4)),
            "point": PointForce((1.0, 0.1, 0.2), (7.0, 0.0, 0.0)),
        },
    )
    system = ElasticSystem(problem)
    totals = {name: vector.reshape(-1, 3).sum(axis=0) for name, vector in system.loads.items()}
    np.testing.assert_allclose(totals["weight"], [0, 0, -8000.0 * 9.81 * 0.02])
    np.testing.assert_allclose(totals["body"], [0, 5.0 * 0.02, 0], atol=1e-12)
    np.testing.assert_allclose(totals["patch"], [0, 0, -300.0], atol=1e-9)
    np.testing.assert_allclose(totals["pressure"], [0, 0, -1e4 * 0.02], atol=1e-9)
    loaded = np.flatnonzero(system.loads["point"])
    assert len(loaded) == 1
    np.testing.assert_allclose(system.space.node_points[loaded[0] // 3], [1.0, 0.1, 0.2])


def test_solutions_are_linear_in_the_loads() -> None:
    system = bracket_system((10, 1, 1))
    one = system.solve({"Fz": 100.0}).outputs()
    both = system.solve({"Fz": 300.0, "Fy": 50.0}).outputs()
    other = system.solve({"Fy": 50.0}).outputs()
    for name in ("tip_z", "tip_y", "gauge_top", "gauge_side"):
        assert both[name] == pytest.approx(3 * one[name] + other[name], rel=1e-9, abs=1e-15)


def test_stiffness_zones_scale_the_stiffness() -> None:
    mesh = box_mesh((1.0, 0.1, 0.1), divisions=(6, 1, 1)).with_subdomains(all=lambda x: x[0] > -1)
    problem = ElasticProblem(
        mesh,
        STEEL,
        {"fixed": "xyz"},
        {"F": SurfaceForce("tip", (0, 0, 1.0))},
        outputs={"tip": Deflection("tip")},
        zones={"stiffness": "all"},
    )
    system = ElasticSystem(problem)
    nominal = system.solve({"F": 1.0}).outputs()
    soft = system.solve({"F": 1.0}, {"stiffness": 0.5}).outputs()
    assert soft["tip"] == pytest.approx(2 * nominal["tip"], rel=1e-9)
    assert soft[MAX_VON_MISES] == pytest.approx(nominal[MAX_VON_MISES], rel=1e-6)
    damaged = bracket_system((10, 1, 1)).solve({"Fz": 1.0}, {"root_stiffness": 0.5})
    intact = bracket_system((10, 1, 1)).solve({"Fz": 1.0})
    assert damaged.outputs()["tip_z"] > 1.05 * intact.outputs()["tip_z"]


def test_solution_fields_for_display(tmp_path: Path) -> None:
    solution = bracket_system((10, 1, 1)).solve({"Fz": -1000.0})
    moved = solution.vertex_displacement
    mesh = solution.system.problem.mesh
    assert moved.shape == (len(mesh.points), 3)
    path = write_vtu(tmp_path / "beam.vtu", mesh, {"u": moved})
    assert meshio.read(path).point_data["u"].shape == moved.shape
    assert solution.output(Deflection("tip", "z")) == pytest.approx(solution.outputs()["tip_z"])


def _problem(**changes: object) -> Callable[[], object]:
    def build() -> object:
        base: dict[str, object] = {
            "mesh": box_mesh((1.0, 0.1, 0.1), divisions=(4, 1, 1)),
            "material": STEEL,
            "supports": {"fixed": "xyz"},
            "loads": {"F": SurfaceForce("tip", (0.0, 0.0, 1.0))},
        }
        return ElasticSystem(ElasticProblem(**{**base, **changes}))  # type: ignore[arg-type]

    return build


@pytest.mark.parametrize(
    ("build", "path"),
    [
        (lambda: Material(-1.0, 0.3), "material/youngs_modulus"),
        (lambda: Material(1e9, 0.5), "material/poisson_ratio"),
        (lambda: Material(1e9, -1.0), "material/poisson_ratio"),
        (lambda: Material(1e9, 0.3, density=-1.0), "material/density"),
        (_problem(supports={}), "supports"),
        (_problem(supports={"root": "xyz"}), "boundaries/root"),
        (_problem(supports={"fixed": "xw"}), "supports/fixed"),
        (_problem(supports={"fixed": ""}), "supports/fixed"),
        (_problem(supports={"fixed": "y"}), "supports"),
        (_problem(loads={"F": Traction("top", (0, 0, 1.0))}), "boundaries/top"),
        (_problem(loads={"F": SurfaceForce("tip", (0, 1.0))}), "loads/F/force"),
        (_problem(loads={"F": PointForce((0.5, 0.05), (0, 0, 1.0))}), "loads/F/point"),
        (_problem(loads={"F": "heavy"}), "loads/F"),
        (_problem(outputs={"g": StrainGauge((2.0, 0.0, 0.0))}), "outputs/g/point"),
        (_problem(outputs={"g": StrainGauge((0.5, 0.0, 0.0), (0, 0, 0))}), "outputs/g/direction"),
        (_problem(outputs={"d": Deflection("tip", "w")}), "outputs/d/axis"),
        (_problem(outputs={"max_von_mises": Deflection("tip")}), "outputs"),
        (_problem(zones={"z": "core"}), "subdomains/core"),
        (_problem(order=3), "order"),
        (_problem(plane="shell"), "plane"),
    ],
)
def test_bad_problems_are_validation_errors(build: Callable[[], object], path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        build()
    assert caught.value.path == path


def test_bad_solve_requests_are_validation_errors() -> None:
    system = bracket_system((4, 1, 1))
    with pytest.raises(ValidationError, match="unknown load"):
        system.solve({"Fw": 1.0})
    with pytest.raises(ValidationError, match="unknown stiffness parameter"):
        system.solve({"Fz": 1.0}, {"tip_stiffness": 0.5})
    with pytest.raises(ValidationError, match="positive"):
        system.solve({"Fz": 1.0}, {"root_stiffness": 0.0})


def test_overlapping_zones_are_rejected() -> None:
    mesh = box_mesh((1.0, 0.1, 0.1), divisions=(5, 1, 1))
    mesh = mesh.with_subdomains(a=lambda x: x[0] < 0.6, b=lambda x: x[0] > 0.4)
    problem = replace(bracket((5, 1, 1)), mesh=mesh, zones={"a": "a", "b": "b"})
    with pytest.raises(ValidationError, match="overlap") as caught:
        ElasticSystem(problem)
    assert caught.value.path == "zones/b"

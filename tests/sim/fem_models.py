"""Small finite element problems shared by the FEA, ROM and CalculiX tests."""

from __future__ import annotations

from typing import Literal

from twinkit.sim._fem_elastic import ElasticSystem
from twinkit.sim._fem_elastic_problem import (
    STEEL,
    Deflection,
    ElasticProblem,
    Gravity,
    StrainGauge,
    SurfaceForce,
)
from twinkit.sim._fem_mesh import box_mesh

LENGTH = 1.0
SIDE = 0.05  # square section: L/h = 20, where shear adds only 0.2 % to the deflection
ROOT = 0.2  # the damage zone is x < ROOT


def euler_bernoulli(force: float, length: float = LENGTH, side: float = SIDE) -> float:
    """Tip deflection of a cantilever with a square section under a tip force."""
    inertia = side**4 / 12
    return force * length**3 / (3 * STEEL.youngs_modulus * inertia)


def bracket(
    divisions: tuple[int, int, int] = (20, 2, 2),
    *,
    kind: Literal["hex", "tet"] = "hex",
    order: int = 2,
) -> ElasticProblem:
    """A clamped steel cantilever with tip loads, its weight, gauges and a root damage zone."""
    mesh = box_mesh((LENGTH, SIDE, SIDE), divisions=divisions, kind=kind)
    mesh = mesh.with_subdomains(root=lambda x: x[0] < ROOT)
    return ElasticProblem(
        mesh=mesh,
        material=STEEL,
        supports={"fixed": "xyz"},
        loads={
            "Fz": SurfaceForce("tip", (0.0, 0.0, 1.0)),
            "Fy": SurfaceForce("tip", (0.0, 1.0, 0.0)),
            "Fx": SurfaceForce("tip", (1.0, 0.0, 0.0)),
            "weight": Gravity(),
        },
        outputs={
            "tip_z": Deflection("tip", "z"),
            "tip_y": Deflection("tip", "y"),
            "gauge_top": StrainGauge((0.5, SIDE / 2, SIDE), (1.0, 0.0, 0.0)),
            "gauge_side": StrainGauge((0.1, 0.0, SIDE / 2), (1.0, 0.0, 0.0)),
        },
        zones={"root_stiffness": "root"},
        order=order,
    )


def bracket_system(
    divisions: tuple[int, int, int] = (20, 2, 2),
    *,
    kind: Literal["hex", "tet"] = "hex",
    order: int = 2,
) -> ElasticSystem:
    return ElasticSystem(bracket(divisions, kind=kind, order=order))

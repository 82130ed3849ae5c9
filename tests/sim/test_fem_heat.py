"""Heat conduction against 1D analytic solutions: sources, convection, fluxes, transients."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twinkit.errors import ValidationError
from twinkit.sim._fem_heat import Convection, HeatProblem, HeatSystem
from twinkit.sim._fem_mesh import box_mesh, rectangle_mesh

K = 2.0  # W/(m K)
RHO, CP = 1000.0, 500.0


@pytest.mark.parametrize("order", [1, 2])
def test_slab_with_a_source_between_fixed_temperatures(order: int) -> None:
    """T = T0 + (T1 - T0) x / L + q x (L - x) / (2 k): exact at the nodes (P1) or everywhere (P2)."""
    q, length = 100.0, 1.0
    problem = HeatProblem(
        rectangle_mesh((length, 0.1), divisions=(10, 1)),
        K,
        source=q,
        fixed={"xmin": 10.0, "xmax": 30.0},
        probes={"mid": (0.45, 0.05)},
        order=order,
    )
    system = HeatSystem(problem)
    t = system.steady()
    x = system.space.node_points[:, 0]
    np.testing.assert_allclose(t, 10 + 20 * x + q * x * (length - x) / (2 * K), atol=1e-10)
    out = system.outputs(t)
    if order == 2:
        assert out["mid"] == pytest.approx(10 + 20 * 0.45 + q * 0.45 * 0.55 / (2 * K))
        assert out["mean_temperature"] == pytest.approx(20 + q / (12 * K))
    assert out["max_temperature"] == pytest.approx(t.max())


def test_convection_and_flux_boundaries() -> None:
    mesh = box_mesh((1.0, 0.2, 0.2), divisions=(6, 1, 1))
    # fixed 0 at x = 0, convection to 50 at x = L: T = a x with -k a = h (a L - 50)
    convective = HeatSystem(
        HeatProblem(
            mesh, K, fixed={"xmin": 0.0}, convection={"xmax": Convection(5.0, 50.0)}, order=2
        )
    )
    x = convective.space.node_points[:, 0]
    np.testing.assert_allclose(convective.steady(), 5.0 * 50.0 / (K + 5.0) * x, atol=1e-10)
    # the ambient temperature is an input: the field scales with it
    np.testing.assert_allclose(
        convective.steady({"xmax.ambient": 100.0}), 5.0 * 100.0 / (K + 5.0) * x, atol=1e-10
    )
    # a heat flux q into the body at x = L: T = q x / k
    flux = HeatSystem(HeatProblem(mesh, K, fixed={"xmin": 0.0}, flux={"xmax": 300.0}))
    np.testing.assert_allclose(flux.steady(), 300.0 * flux.space.node_points[:, 0] / K, atol=1e-10)


@pytest.mark.parametrize(("scheme", "tolerance"), [("euler", 2e-3), ("crank-nicolson", 1e-5)])
def test_transient_decay_of_a_sine_mode(scheme: str, tolerance: float) -> None:
    """T(x, 0) = sin(pi x / L), ends at 0: T decays as exp(-alpha pi^2 t / L^2)."""
    problem = HeatProblem(
        rectangle_mesh((1.0, 0.05), divisions=(40, 1)),
        K,
        fixed={"xmin": 0.0, "xmax": 0.0},
        density=RHO,
        specific_heat=CP,
        order=2,
    )
    system = HeatSystem(problem)
    x = system.space.node_points[:, 0]
    t = np.sin(np.pi * x)
    tau = RHO * CP / (K * np.pi**2)
    for _ in range(100):
        t = system.step(t, tau / 200, {}, scheme)  # type: ignore[arg-type]
    assert t.max() == pytest.approx(math.exp(-0.5), rel=tolerance)


def test_bad_heat_problems_are_validation_errors() -> None:
    mesh = rectangle_mesh((1.0, 0.1), divisions=(4, 1))
    with pytest.raises(ValidationError, match="conductivity"):
        HeatProblem(mesh, -1.0, fixed={"xmin": 0.0})
    with pytest.raises(ValidationError, match="fixed temperature or convection"):
        HeatProblem(mesh, K, flux={"xmax": 10.0})
    with pytest.raises(ValidationError, match="coefficient"):
        HeatProblem(mesh, K, convection={"xmax": Convection(-1.0, 20.0)})
    with pytest.raises(ValidationError, match="no boundary"):
        HeatSystem(HeatProblem(mesh, K, fixed={"left": 0.0}))
    steady_only = HeatSystem(HeatProblem(mesh, K, fixed={"xmin": 0.0}))
    with pytest.raises(ValidationError, match="heat capacity"):
        steady_only.step(np.zeros(steady_only.space.n_nodes), 1.0, {})
    with pytest.raises(ValidationError, match="unknown heat input"):
        steady_only.steady({"xmax.ambient": 20.0})

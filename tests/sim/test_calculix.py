"""CalculiX on the same mesh, material and loads agrees with the scikit-fem solution.

ccx is part of the test set-up (``apt-get install calculix-ccx``; ./run.sh installs it): a
missing one fails these tests with that hint rather than skipping them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fem_models import bracket_system

from twinkit.errors import SimulationError, ValidationError
from twinkit.sim._calculix import calculix_input, run_calculix
from twinkit.sim._fem_elastic import ElasticSystem
from twinkit.sim._fem_elastic_problem import STEEL, ElasticProblem, SurfaceForce
from twinkit.sim._fem_mesh import rectangle_mesh

LOADS = {"Fz": -1000.0, "Fy": 250.0, "weight": 1.0}


@pytest.mark.parametrize(
    ("kind", "order"), [("hex", 2), ("tet", 2), ("hex", 1)], ids=["C3D20", "C3D10", "C3D8"]
)
def test_calculix_gives_the_same_displacements(kind: str, order: int) -> None:
    system = bracket_system((10, 1, 1), kind=kind, order=order)  # type: ignore[arg-type]
    parameters = {"root_stiffness": 0.6}
    ours = system.solve(LOADS, parameters)
    theirs = run_calculix(system, LOADS, parameters)
    scale = np.abs(ours.displacement).max()
    # ccx prints displacements with 7 significant digits
    np.testing.assert_allclose(theirs.solution.displacement, ours.displacement, atol=1e-6 * scale)
    assert theirs.solution.outputs()["tip_z"] == pytest.approx(ours.outputs()["tip_z"], rel=1e-5)
    assert theirs.seconds > 0 and "Job finished" in theirs.log


def test_the_input_file_has_one_material_per_zone() -> None:
    text = calculix_input(bracket_system((10, 1, 1)), {"Fz": 1.0}, {"root_stiffness": 0.5})
    assert "*ELEMENT, TYPE=C3D20, ELSET=EALL" in text
    assert f"{STEEL.youngs_modulus * 0.5:.13g}, 0.3" in text
    assert text.count("*MATERIAL") == 2


def test_missing_ccx_says_how_to_install_it() -> None:
    system = bracket_system((4, 1, 1))
    with pytest.raises(SimulationError, match="apt-get install calculix-ccx"):
        run_calculix(system, {"Fz": 1.0}, executable="/nonexistent/ccx")


def test_ccx_failures_are_simulation_errors() -> None:
    system = bracket_system((4, 1, 1))
    with pytest.raises(SimulationError, match="did not finish"):
        run_calculix(system, {"Fz": 1.0}, timeout=1e-4)


def test_plane_problems_are_not_written() -> None:
    problem = ElasticProblem(
        rectangle_mesh((1.0, 0.1), divisions=(4, 1)),
        STEEL,
        {"fixed": "xy"},
        {"F": SurfaceForce("tip", (0, 1.0))},
    )
    with pytest.raises(ValidationError, match="only 3D"):
        calculix_input(ElasticSystem(problem), {"F": 1.0})


def test_calculix_error_text_is_reported(tmp_path: Path) -> None:
    """What ccx prints about a deck it rejects reaches the error (a stand-in ccx prints it)."""
    fake = tmp_path / "ccx"
    fake.write_text(
        "#!/bin/sh\n"
        "echo ' *ERROR reading *CLOAD. Card image:'\n"
        "echo '        19,2,1.8716470549032372E-15'\n"
        "echo ''\n"
        "exit 201\n"
    )
    fake.chmod(0o755)
    with pytest.raises(SimulationError, match=r"\*ERROR reading \*CLOAD\. Card image: 19,2,"):
        run_calculix(bracket_system((4, 1, 1)), {"Fz": 1.0}, executable=str(fake))

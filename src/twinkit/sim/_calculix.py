"""CalculiX as the outside reference for the elastic solver: same mesh, material and loads.

:func:`calculix_input` writes an :class:`~twinkit.sim._fem_elastic.ElasticSystem` as a
CalculiX (Abaqus-format) ``.inp``: every scikit-fem node becomes a CalculiX node (node ``i`` is
CalculiX node ``i + 1``), every element the matching CalculiX element (20-node serendipity
hexahedron → C3D20, 10-node tetrahedron → C3D10, linear ones C3D8/C3D4; full integration as
in scikit-fem), every stiffness zone its own material. Supports are ``*BOUNDARY`` conditions
and the loads go in as the consistent nodal forces scikit-fem assembled (``*CLOAD``), so both
programs solve the same discrete load case and differ only in how they build and solve the
stiffness. :func:`run_calculix` runs ``ccx`` in a temporary folder with a timeout and reads
the displacements back from the ``.dat`` file.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from twinkit.errors import SimulationError, ValidationError
from twinkit.sim._fem_elastic import ElasticSolution, ElasticSystem

__all__ = ["CalculixResult", "calculix_input", "find_ccx", "run_calculix"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
INSTALL_HINT = "apt-get install calculix-ccx"
_JOB = "twinkit"
# reference coordinates of CalculiX's corner order (C3D8/C3D20: bottom face, then top face)
_HEX_CORNERS = np.array(
    [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]],
    dtype=np.float64,
)
_HEX_EDGES = [
    (0, 1),
    (1, 2),
    (2, 3),
    (3, 0),
    (4, 5),
    (5, 6),
    (6, 7),
    (7, 4),
    (0, 4),
    (1, 5),
    (2, 6),
    (3, 7),
]
_TET_EDGES = [(0, 1), (1, 2), (2, 0), (0, 3), (1, 3), (2, 3)]
_TYPES = {("hex", 1): "C3D8", ("hex", 2): "C3D20", ("tet", 1): "C3D4", ("tet", 2): "C3D10"}


@dataclass(frozen=True, slots=True, eq=False)
class CalculixResult:
    """CalculiX's displacement as a solution of the same system, its wall time and its log."""

    solution: ElasticSolution
    seconds: float
    log: str


def find_ccx(executable: str | None = None) -> str:
    """The path of ``ccx``; a :class:`SimulationError` with the install command if missing."""
    name = executable or os.environ.get("TWINKIT_CCX", "ccx")
    found = shutil.which(name)
    if found is None:
        raise SimulationError(
            f"CalculiX ({name!r}) is not installed or not on PATH; install it with "
            f"`{INSTALL_HINT}` (Debian/Ubuntu package calculix-ccx)",
            where="calculix",
        )
    return found


def _corners(system: ElasticSystem) -> IntArray:
    """Each element's vertices in CalculiX's order, positively oriented: ``(elements, n)``."""
    from skfem.refdom import RefHex  # type: ignore[import-untyped, unused-ignore]

    mesh = system.problem.mesh
    t = np.asarray(mesh.mesh.t, dtype=np.int64)
    p = np.asarray(mesh.mesh.p, dtype=np.float64).T
    if mesh.kind == "tet":
        corners = t.T.copy()
        flip = _volume(p, corners, (0, 1, 2, 3)) < 0
        corners[flip] = corners[flip][:, [0, 2, 1, 3]]
        return corners
    reference = np.asarray(RefHex.p, dtype=np.float64).T
    order = [int(np.flatnonzero(np.all(reference == c, axis=1))[0]) for c in _HEX_CORNERS]
    mirrored = [
        int(np.flatnonzero(np.all(reference == c[[1, 0, 2]], axis=1))[0]) for c in _HEX_CORNERS
    ]
    corners = t[order].T
    flip = _volume(p, corners, (0, 1, 3, 4)) < 0
    corners[flip] = t[mirrored].T[flip]
    return corners


def _volume(p: FloatArray, corners: IntArray, which: tuple[int, int, int, int]) -> FloatArray:
    a, b, c, d = (p[corners[:, i]] for i in which)
    return np.asarray(np.einsum("ij,ij->i", np.cross(b - a, c - a), d - a), dtype=np.float64)


def _connectivity(system: ElasticSystem) -> tuple[str, IntArray]:
    mesh = system.problem.mesh
    if mesh.dim != 3:
        raise ValidationError(
            "only 3D problems can be written for CalculiX here",
            path="mesh",
            expected="a hexahedral or tetrahedral mesh",
            got=mesh.kind,
        )
    corners = _corners(system)
    nodes = system.space.vertex_nodes[corners]
    if system.problem.order == 1:
        return _TYPES[(mesh.kind, 1)], nodes
    edges = np.sort(np.asarray(mesh.mesh.edges, dtype=np.int64), axis=0)
    n = int(mesh.mesh.p.shape[1])
    keys = edges[0] * n + edges[1]
    order = np.argsort(keys)
    edge_node = np.asarray(system.space.basis.edge_dofs[0], dtype=np.int64)
    pairs = _HEX_EDGES if mesh.kind == "hex" else _TET_EDGES
    middles = []
    for a, b in pairs:
        low, high = (
            np.minimum(corners[:, a], corners[:, b]),
            np.maximum(corners[:, a], corners[:, b]),
        )
        at = order[np.searchsorted(keys[order], low * n + high)]
        middles.append(edge_node[at])
    return _TYPES[(mesh.kind, 2)], np.column_stack([nodes, *middles])


def calculix_input(
    system: ElasticSystem, loads: Mapping[str, float], parameters: Mapping[str, float] | None = None
) -> str:
    """The CalculiX ``.inp`` text of the system under named load factors and zone parameters."""
    kind, elements = _connectivity(system)
    factors = system.parameter_values(parameters)
    material = system.problem.material
    # 13 significant digits: CalculiX reads numbers from fields of at most 20 characters
    lines = ["*HEADING", "twinkit elastic system", "*NODE, NSET=NALL"]
    lines += [
        f"{i + 1}, {x:.13g}, {y:.13g}, {z:.13g}"
        for i, (x, y, z) in enumerate(system.space.node_points)
    ]
    lines.append(f"*ELEMENT, TYPE={kind}, ELSET=EALL")
    for index, row in enumerate(elements + 1, start=1):
        numbers = [str(index), *map(str, row.tolist())]
        lines += [
            ", ".join(numbers[i : i + 16]) + ("," if i + 16 < len(numbers) else "")
            for i in range(0, len(numbers), 16)
        ]
    for term, name in enumerate(system.terms):
        members = np.flatnonzero(system.element_term == term) + 1
        if members.size == 0:
            continue
        lines.append(f"*ELSET, ELSET=Z{term}")
        lines += [
            ", ".join(map(str, members[i : i + 16].tolist())) for i in range(0, members.size, 16)
        ]
        lines += [
            f"*MATERIAL, NAME=M{term}",
            "*ELASTIC",
            f"{material.youngs_modulus * factors[term]:.13g}, {material.poisson_ratio:.13g}",
            f"*SOLID SECTION, ELSET=Z{term}, MATERIAL=M{term}",
            "",
        ]
        logger.debug("zone %s: %d elements", name, members.size)
    lines.append("*BOUNDARY")
    lines += [f"{dof // 3 + 1}, {dof % 3 + 1}, {dof % 3 + 1}" for dof in system.fixed.tolist()]
    lines += ["*STEP", "*STATIC", "*CLOAD"]
    force = system.load_vector(loads)
    lines += [
        f"{dof // 3 + 1}, {dof % 3 + 1}, {force[dof]:.13g}"
        for dof in np.flatnonzero(force).tolist()
    ]
    lines += ["*NODE PRINT, NSET=NALL", "U", "*END STEP", ""]
    return "\n".join(lines)


def run_calculix(
    system: ElasticSystem,
    loads: Mapping[str, float],
    parameters: Mapping[str, float] | None = None,
    *,
    executable: str | None = None,
    timeout: float = 600.0,
    threads: int = 1,
) -> CalculixResult:
    """Solve the system with CalculiX; its displacement as an :class:`ElasticSolution`.

    ``seconds`` is ccx's wall time alone (writing the input not counted). A missing ``ccx``,
    a timeout or an error CalculiX reports raise :class:`SimulationError` with its own text.
    """
    ccx = find_ccx(executable)
    text = calculix_input(system, loads, parameters)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "CCX_NPROC_EQUATION_SOLVER": str(threads)}
    with tempfile.TemporaryDirectory(prefix="twinkit-ccx-") as folder:
        work = Path(folder)
        (work / f"{_JOB}.inp").write_text(text, encoding="ascii")
        started = time.perf_counter()
        try:
            done = subprocess.run(
                [ccx, "-i", _JOB],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise SimulationError(
                f"CalculiX did not finish within {timeout:g} s", where="calculix"
            ) from error
        seconds = time.perf_counter() - started
        log = done.stdout + done.stderr
        errors = _errors(log)
        dat = work / f"{_JOB}.dat"
        if done.returncode != 0 or errors or not dat.is_file():
            detail = errors or log.strip()[-2000:] or f"exit status {done.returncode}"
            raise SimulationError(f"CalculiX failed: {detail}", where="calculix")
        u = _read_displacements(
            dat.read_text(encoding="ascii", errors="replace"), system.space.n_nodes
        )
    return CalculixResult(
        ElasticSolution(system, u, system.parameter_values(parameters)), seconds, log
    )


def _errors(log: str) -> str:
    """CalculiX's error messages: each ``*ERROR`` line with the lines that follow it."""
    found: list[str] = []
    lines = log.splitlines()
    for index, line in enumerate(lines):
        if "*ERROR" in line.upper():
            message = [line.strip()]
            for following in lines[index + 1 : index + 4]:
                if not following.strip() or "*ERROR" in following.upper():
                    break
                message.append(following.strip())
            found.append(" ".join(message))
    return "; ".join(found)


def _read_displacements(text: str, n_nodes: int) -> FloatArray:
    """The ``U`` block of a ``.dat`` file as a dof vector (``dof = 3 * node + component``)."""
    u = np.full((n_nodes, 3), np.nan)
    reading = False
    for line in text.splitlines():
        if "displacements" in line:
            reading = True
            continue
        fields = line.split()
        if reading and len(fields) == 4:
            u[int(fields[0]) - 1] = [float(v) for v in fields[1:]]
        elif reading and fields and len(fields) != 4:
            reading = False
    if np.isnan(u).any():
        missing = int(np.isnan(u).any(axis=1).sum())
        raise SimulationError(
            f"CalculiX's .dat output lacks displacements of {missing} of {n_nodes} nodes",
            where="calculix",
        )
    return u.ravel()

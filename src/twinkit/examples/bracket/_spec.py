"""The bracket's design: geometry, material, gauges, the crack zone, and its finite element model.

One :class:`BracketSpec` is the single source of what the bracket is: the twin's nameplate
properties, the full finite element model the simulated device reads its gauges from, and the
reduced-order model the twin runs (whose cache key is a hash of the spec) are all made from it,
so what the twin says about the bracket is what the simulated bracket does.

The bracket is a solid steel bar clamped to a wall at ``x = 0`` and loaded at its free end
(``x = length``) by a hoist through a three-axis load cell. Axes: ``x`` along the bar away
from the wall, ``y`` across it, ``z`` up. Loads as the load cell reports them: ``loadVertical``
downward (a hanging load), ``loadLateral`` along ``+y`` (a sideways swing), ``loadAxial`` along
``+x`` (a pull away from the wall). Strain gauges read the axial strain (along ``x``) where they
are bonded, in microstrain, zeroed after installation (the bar's own weight is not in them).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from twinkit.errors import ValidationError
from twinkit.model import ModelSet
from twinkit.model.dtdl import parse
from twinkit.sim._fem_elastic_problem import (
    Deflection,
    ElasticProblem,
    Material,
    StrainGauge,
    SurfaceForce,
)
from twinkit.sim._fem_mesh import box_mesh

__all__ = [
    "BRACKET",
    "CRACK",
    "DEFAULT_GAUGES",
    "LOADS",
    "TIP",
    "BracketSpec",
    "Gauge",
    "elastic_problem",
    "load_models",
    "model_documents",
    "model_files",
]

BRACKET: Final = "dtmi:twinkit:bracket:Bracket;1"
LOADS: Final = ("loadVertical", "loadLateral", "loadAxial")
"""The load cell's components, N: the model's telemetry and the finite element unit loads."""
CRACK: Final = "crackStiffness"
"""The stiffness factor of the crack zone (1 = as built): a parameter of the FE model and ROM."""
TIP: Final = "tipZ"
"""The FE output: mean vertical displacement of the loaded end, m (negative = down)."""
_DIRECTIONS: Final = {
    "loadVertical": (0.0, 0.0, -1.0),
    "loadLateral": (0.0, 1.0, 0.0),
    "loadAxial": (1.0, 0.0, 0.0),
}
_CACHE_VERSION: Final = 1
"""Bump when the way a spec becomes a model changes, so cached ROMs are trained again."""

Face = Literal["top", "bottom", "side"]


@dataclass(frozen=True, slots=True)
class Gauge:
    """A strain gauge bonded along the bar, ``x`` metres from the wall, on a face's centre line.

    ``top`` and ``bottom`` are the faces ``z = height`` and ``z = 0`` (bending under a hanging
    load), ``side`` the face ``y = width`` at mid-height (bending under a sideways load).
    """

    name: str
    x: float
    face: Face

    def position(self, spec: BracketSpec) -> tuple[float, float, float]:
        if self.face == "top":
            return (self.x, spec.width / 2, spec.height)
        if self.face == "bottom":
            return (self.x, spec.width / 2, 0.0)
        return (self.x, spec.width, spec.height / 2)


DEFAULT_GAUGES: Final = (
    Gauge("strainRootTop", 0.1, "top"),
    Gauge("strainRootBottom", 0.1, "bottom"),
    Gauge("strainRootSide", 0.1, "side"),
    Gauge("strainMidTop", 0.4, "top"),
)


@dataclass(frozen=True, slots=True)
class BracketSpec:
    """What the bracket is; SI units (m, Pa, N). See the module docstring for the axes.

    ``divisions`` are the hexahedra along x, y and z (20-node, quadratic). The crack zone is
    the elements whose centres lie between ``crack_x`` and within ``crack_depth`` of the top
    face: where a fatigue crack grows from the weld toe near the wall, under the root gauges.
    ``crack_range`` is the zone's stiffness factors the reduced-order model is trained over;
    ``rom_samples`` and ``rom_tolerance`` its training settings (see ``train_rom``).
    """

    length: float = 0.8
    width: float = 0.06
    height: float = 0.12
    youngs_modulus: float = 210e9
    poisson_ratio: float = 0.3
    density: float = 7850.0
    yield_strength: float = 355e6
    rated_load: float = 10_000.0
    material: str = "S355 structural steel"
    divisions: tuple[int, int, int] = (32, 3, 6)
    gauges: tuple[Gauge, ...] = DEFAULT_GAUGES
    crack_x: tuple[float, float] = (0.07, 0.13)
    crack_depth: float = 0.04
    crack_range: tuple[float, float] = (0.2, 1.0)
    rom_samples: int = 6
    rom_tolerance: float = 1e-6
    serial_number: str = "BR-2024-0001"
    manufacturer: str = "twinkit fabrication"

    def __post_init__(self) -> None:
        for name in ("length", "width", "height", "yield_strength", "rated_load", "crack_depth"):
            _positive(name, getattr(self, name))
        if len(self.divisions) != 3 or min(self.divisions) < 1:
            raise ValidationError(
                "divisions must give a count >= 1 per axis",
                path="bracket/divisions",
                expected="three integers >= 1",
                got=self.divisions,
            )
        low, high = self.crack_x
        if not (0 <= low < high <= self.length) or self.crack_depth > self.height:
            raise ValidationError(
                "the crack zone must lie inside the bar",
                path="bracket/crack_x",
                expected=f"0 <= start < end <= {self.length:g} m, depth <= {self.height:g} m",
                got={"crack_x": self.crack_x, "crack_depth": self.crack_depth},
            )
        if not (0 < self.crack_range[0] < self.crack_range[1] <= 1):
            raise ValidationError(
                "the crack stiffness range must lie in (0, 1]",
                path="bracket/crack_range",
                expected="0 < low < high <= 1",
                got=self.crack_range,
            )
        names = [g.name for g in self.gauges]
        if not names or len(set(names)) != len(names):
            raise ValidationError(
                "gauges need distinct names",
                path="bracket/gauges",
                expected="at least one gauge, no name twice",
                got=names,
            )
        for gauge in self.gauges:
            if not (0 < gauge.x < self.length) or gauge.face not in ("top", "bottom", "side"):
                raise ValidationError(
                    f"gauge {gauge.name!r} is not on the bar",
                    path=f"bracket/gauges/{gauge.name}",
                    expected=f"0 < x < {self.length:g} m on face 'top', 'bottom' or 'side'",
                    got={"x": gauge.x, "face": gauge.face},
                )

    @property
    def gauge_names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.gauges)

    def key(self) -> str:
        """A hash of everything the reduced-order model depends on (its cache key)."""
        described = {k: v for k, v in asdict(self).items() if k not in _NOT_IN_MODEL}
        text = json.dumps({"v": _CACHE_VERSION, **described}, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def properties(self) -> dict[str, Any]:
        """The twin's nameplate: the Bracket model's properties (lengths in mm)."""
        return {
            "manufacturer": self.manufacturer,
            "serialNumber": self.serial_number,
            "material": self.material,
            "length": self.length * 1e3,
            "width": self.width * 1e3,
            "height": self.height * 1e3,
            "youngsModulus": self.youngs_modulus,
            "poissonRatio": self.poisson_ratio,
            "yieldStrength": self.yield_strength,
            "ratedLoad": self.rated_load,
        }


_NOT_IN_MODEL: Final = frozenset({"serial_number", "manufacturer", "material"})


def _positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not (isinstance(value, int | float) and math.isfinite(value)):
        raise ValidationError(
            f"{name} is not a number", path=f"bracket/{name}", expected="a number > 0", got=value
        )
    if value <= 0:
        raise ValidationError(
            f"{name} must be positive", path=f"bracket/{name}", expected="> 0", got=value
        )


def _crack_elements(spec: BracketSpec) -> Any:
    low, high = spec.crack_x

    def inside(centres: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        x, z = centres[0], centres[2]
        return np.asarray((x > low) & (x < high) & (z > spec.height - spec.crack_depth))

    return inside


def elastic_problem(spec: BracketSpec) -> ElasticProblem:
    """The bracket as a linear elastic problem: clamped at the wall, unit loads at the end.

    Loads are named as the load cell's components (1 N each, spread over the end face),
    outputs are the gauges (microstrain) and :data:`TIP`, the zone :data:`CRACK`.
    """
    mesh = box_mesh((spec.length, spec.width, spec.height), divisions=spec.divisions)
    mesh = mesh.with_subdomains(crack=_crack_elements(spec))
    outputs: dict[str, Any] = {
        g.name: StrainGauge(g.position(spec), (1.0, 0.0, 0.0)) for g in spec.gauges
    }
    outputs[TIP] = Deflection("tip", "z")
    return ElasticProblem(
        mesh=mesh,
        material=Material(spec.youngs_modulus, spec.poisson_ratio, spec.density),
        supports={"fixed": "xyz"},
        loads={name: SurfaceForce("tip", _DIRECTIONS[name]) for name in LOADS},
        outputs=outputs,
        zones={CRACK: "crack"},
        order=2,
    )


def model_files() -> list[Path]:
    """The DTDL v3 files of the bracket's models."""
    folder = resources.files(__package__ or "twinkit.examples.bracket") / "models"
    return sorted(Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith(".json"))


def model_documents() -> list[dict[str, Any]]:
    """The DTDL documents, as ``Runtime.add_models`` takes them."""
    documents: list[dict[str, Any]] = []
    for path in model_files():
        loaded = json.loads(path.read_text(encoding="utf-8"))
        documents.extend(loaded if isinstance(loaded, list) else [loaded])
    return documents


@cache
def load_models() -> ModelSet:
    """The bracket's models, parsed (raises ParsingError if a file is broken)."""
    return parse(model_files())

"""Fields on a part's surface (a stress field on a bracket), for the 3D scene.

A twin shows a field when a :class:`FieldProvider` gives one for it. Two kinds of provider:

- registered ones (:func:`register_field_provider`), for models whose field comes from
  something else than a simulator binding: an application registers it before serving;
- built in, :class:`RomFieldProvider`: a twin whose model is bound to a simulator that carries
  a reduced-order FE model (a ``rom`` attribute holding a :class:`twinkit.sim.Rom` with a
  surface, as :class:`twinkit.sim.RomSimulator` does) shows the von Mises stress of that ROM
  under the twin's latest inputs: the loads the shadow runner feeds it, through the same
  binding. So ``twinkit serve --simulators twinkit.examples.bracket:bindings`` shows the
  bracket's live stress field with nothing more to set up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from twinkit.core import Twin
from twinkit.errors import ValidationError
from twinkit.model import ModelSet
from twinkit.sim import Bindings, Rom, SimulationBinding

__all__ = [
    "FieldProvider",
    "RomFieldProvider",
    "SurfaceField",
    "field_for",
    "field_providers",
    "register_field_provider",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class SurfaceField:
    """Triangles in metres with a value per vertex: ``points`` (n, 3), ``triangles`` (m, 3)
    indices into them, ``values`` (n,) of the quantity ``name`` in ``unit``."""

    points: FloatArray
    triangles: IntArray
    values: FloatArray
    name: str = "vonMises"
    unit: str = "Pa"

    def __post_init__(self) -> None:
        n = len(self.points)
        if self.points.ndim != 2 or self.points.shape[1] != 3:
            raise ValidationError(
                "points must be (n, 3)",
                path="field.points",
                expected="(n, 3)",
                got=self.points.shape,
            )
        if self.values.shape != (n,):
            raise ValidationError(
                "one value per point",
                path="field.values",
                expected=f"({n},)",
                got=self.values.shape,
            )
        if self.triangles.size and (self.triangles.min() < 0 or self.triangles.max() >= n):
            raise ValidationError(
                "triangle indices out of range",
                path="field.triangles",
                expected=f"0 to {n - 1}",
                got=(int(self.triangles.min()), int(self.triangles.max())),
            )


@runtime_checkable
class FieldProvider(Protocol):
    """Gives a twin's field now, or None when it has none (yet)."""

    def field(self, twin: Twin) -> SurfaceField | None: ...


_registered: dict[str, FieldProvider] = {}
_lock = threading.Lock()


def register_field_provider(model_id: str, provider: FieldProvider) -> Callable[[], None]:
    """Show ``provider``'s field on twins of ``model_id`` (and of models extending it); returns
    the function that removes it again."""
    if not isinstance(provider, FieldProvider):
        raise ValidationError(
            "not a field provider",
            path=model_id,
            expected="an object with field(twin)",
            got=provider,
        )
    with _lock:
        _registered[model_id] = provider

    def remove() -> None:
        with _lock:
            if _registered.get(model_id) is provider:
                del _registered[model_id]

    return remove


def field_providers() -> dict[str, FieldProvider]:
    """The registered providers by model id (a copy)."""
    with _lock:
        return dict(_registered)


class RomFieldProvider:
    """The von Mises stress of a binding's ROM under a twin's latest inputs (module docstring).

    ``rom`` of the binding's simulator is read once; a binding whose simulator has none gives no
    field.
    """

    def __init__(self, binding: SimulationBinding) -> None:
        self.binding = binding
        simulator = binding.factory()
        try:
            rom = getattr(simulator, "rom", None)
        finally:
            simulator.close()
        has_surface = isinstance(rom, Rom) and len(rom.surface_triangles) > 0
        self.rom: Rom | None = rom if has_surface else None

    def field(self, twin: Twin) -> SurfaceField | None:
        rom = self.rom
        if rom is None:
            return None
        inputs = self.binding.inputs_of(twin)
        loads = {name: inputs[name] for name in rom.load_names if name in inputs}
        parameters = self.binding.parameters_of(twin)
        known = {name: parameters[name] for name in rom.parameter_names if name in parameters}
        evaluation = rom.evaluate(loads, known or None)
        surface = rom.surface_field(evaluation, "von_mises")
        return SurfaceField(
            np.asarray(surface.points, dtype=np.float64),
            np.asarray(surface.triangles, dtype=np.int64),
            np.asarray(surface.values, dtype=np.float64),
        )


_rom_providers: dict[
    int, RomFieldProvider
] = {}  # by id(binding); bindings live as long as the server


def _rom_provider(binding: SimulationBinding) -> RomFieldProvider:
    with _lock:
        found = _rom_providers.get(id(binding))
        if found is not None and found.binding is binding:
            return found
    made = RomFieldProvider(binding)
    with _lock:
        _rom_providers[id(binding)] = made
    return made


def field_for(twin: Twin, models: ModelSet, bindings: Bindings) -> SurfaceField | None:
    """The field of ``twin`` from a registered provider of its model (or a base), else from a
    ROM its bindings carry; None when nothing gives one. A provider that fails is logged."""
    registered = field_providers()
    chain = (twin.model, *models.ancestors(twin.model)) if twin.model in models else (twin.model,)
    try:
        for model_id in chain:
            if model_id in registered:
                return registered[model_id].field(twin)
        for binding in bindings.for_model(twin.model, models) if twin.model in models else []:
            provided = _rom_provider(binding).field(twin)
            if provided is not None:
                return provided
    except Exception:
        logger.exception("the field of twin %r could not be made", twin.id)
    return None

"""Binding a simulator to a twin model: which twin values feed it and what it predicts.

A :class:`SimulationBinding` is how a model declares its simulator. It names a factory that
makes a fresh simulator, the step, and four maps from simulator variables to the twin's
contents (properties or telemetry, by DTDL name):

- ``parameters``: set once at initialize from the twin's values (a pump's rated speed);
- ``inputs``: read before every step from the twin's latest values (the speed it runs at), or
  from the twins at the other end of a relationship (:class:`Related`: the tank's inflow is
  the sum of the flows of the pumps that feed it);
- ``states``: seed the simulator's state from measured values when a run starts from a twin
  (the tank level now), so a simulation can start from a twin's current or past state (a
  state variable, or an output that is one, as FMUs expose their continuous states);
- ``outputs``: each simulator output that predicts a measured content; the residual of that
  content is measured minus simulated. Outputs not in the map are published as simulated
  values only.

``feedthrough`` marks a model whose outputs follow its inputs at the same instant (a static
FE model: loads in, strains out): in shadow mode each reading is then compared with the model
at that reading's own inputs, where a dynamic model integrates the inputs held since the
previous reading.

The value of a content on a twin is its reported value (a property) or its latest telemetry
value. Bindings apply to twins of the model and of every model that extends it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, TypeAlias

from twinkit.core import Twin
from twinkit.errors import NotFoundError, ValidationError
from twinkit.model import ModelSet
from twinkit.sim._protocol import Causality, Simulator

__all__ = ["Bindings", "Related", "RelatedValues", "SimulationBinding", "Source", "twin_value"]

_EMPTY: Mapping[str, str] = MappingProxyType({})
# A state may be seeded through an output that is one (FMI lists continuous states as outputs),
# and an output may be a state (an ODE simulator reports its states).
_SEEDABLE = frozenset({Causality.STATE, Causality.OUTPUT})
_AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "sum": sum,
    "mean": lambda values: sum(values) / len(values),
    "min": min,
    "max": max,
}


@dataclass(frozen=True, slots=True)
class Related:
    """A content of the twins at the other end of relationship ``relationship``, aggregated.

    Outgoing by default (the twins this one points to); ``incoming=True`` takes the twins that
    point to this one with a relationship of that name. Twins without a value are left out; with
    none left the input keeps its default.
    """

    relationship: str
    content: str
    aggregate: Literal["sum", "mean", "min", "max"] = "sum"
    incoming: bool = False

    def __post_init__(self) -> None:
        if self.aggregate not in _AGGREGATES:
            raise ValidationError(
                "unknown aggregate",
                path=f"related {self.relationship}/{self.content}",
                expected=f"one of {sorted(_AGGREGATES)}",
                got=self.aggregate,
            )

    def combine(self, values: list[float]) -> float | None:
        """The aggregate of ``values``; None when there are none."""
        return float(_AGGREGATES[self.aggregate](values)) if values else None


Source: TypeAlias = "str | Related"
# Values of a Related source for one twin: the caller knows the graph (live or simulated).
RelatedValues: TypeAlias = "Callable[[Twin, Related], list[float]]"


def twin_value(twin: Twin, content: str) -> float | None:
    """The twin's current numeric value of ``content`` (reported property or latest telemetry)."""
    state = twin.properties.get(content)
    value: object = None
    if state is not None and state.has_reported:
        value = state.reported
    else:
        latest = twin.telemetry.get(content)
        if latest is not None:
            value = latest.value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class SimulationBinding:
    """A model's simulator and the maps between its variables and the model's contents."""

    model: str
    factory: Callable[[], Simulator]
    dt: float
    parameters: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    inputs: Mapping[str, Source] = field(default_factory=lambda: _EMPTY)
    states: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    outputs: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    name: str = "physics"
    feedthrough: bool = False

    def check(self, models: ModelSet) -> None:
        """Raise :class:`ValidationError` unless every mapped name exists on both sides."""
        where = f"binding {self.name!r} of {self.model}"
        if not (math.isfinite(self.dt) and self.dt > 0):
            raise ValidationError(
                "step must be positive", path=f"{where}/dt", expected="dt > 0", got=self.dt
            )
        try:
            contents = models.contents(self.model)
        except (KeyError, NotFoundError) as error:
            raise ValidationError(
                f"model {self.model} is not loaded",
                path=where,
                expected="the id of an uploaded model",
                got=self.model,
            ) from error
        simulator = self.factory()
        try:
            variables = {v.name: v.causality for v in simulator.variables}
        finally:
            simulator.close()
        for part, causality, mapping in self._maps():
            allowed = _SEEDABLE if causality in _SEEDABLE else {causality}
            for variable, content in mapping.items():
                if variables.get(variable) not in allowed:
                    raise ValidationError(
                        f"simulator has no {causality.value} {variable!r}",
                        path=f"{where}/{part}/{variable}",
                        expected=f"one of {sorted(k for k, c in variables.items() if c in allowed)}",
                        got=variable,
                    )
                if content not in contents:
                    raise ValidationError(
                        f"model has no content {content!r}",
                        model=self.model,
                        path=f"{where}/{part}/{variable}",
                        expected=f"one of {sorted(contents)}",
                        got=content,
                    )

    def _maps(self) -> Iterator[tuple[str, Causality, Mapping[str, str]]]:
        # A Related input names a relationship of this model (outgoing); an incoming one
        # belongs to the other model, which the binding cannot see.
        own = {
            k: v.relationship if isinstance(v, Related) else v
            for k, v in self.inputs.items()
            if not (isinstance(v, Related) and v.incoming)
        }
        yield "parameters", Causality.PARAMETER, self.parameters
        yield "inputs", Causality.INPUT, own
        yield "states", Causality.STATE, self.states
        yield "outputs", Causality.OUTPUT, self.outputs

    def parameters_of(self, twin: Twin) -> dict[str, float]:
        """Parameters the twin has values for (the others keep the simulator's defaults)."""
        return _values(twin, self.parameters)

    def inputs_of(self, twin: Twin, related: RelatedValues | None = None) -> dict[str, float]:
        """Inputs with a value now (the others keep their defaults).

        ``related`` gives the values of a :class:`Related` source for the twin (from the live
        graph in shadow mode, from the simulated neighbours in a scenario); without it such
        inputs keep their defaults.
        """
        values = {}
        for variable, source in self.inputs.items():
            if isinstance(source, Related):
                value = source.combine(related(twin, source)) if related is not None else None
            else:
                value = twin_value(twin, source)
            if value is not None:
                values[variable] = value
        return values

    def state_of(self, twin: Twin) -> dict[str, float]:
        """States seeded from the twin's measured values."""
        return _values(twin, self.states)

    def residuals(
        self, twin: Twin, simulated: Mapping[str, float]
    ) -> dict[str, tuple[float, float]]:
        """Per predicted content: (measured, simulated), where the twin has a measurement."""
        pairs: dict[str, tuple[float, float]] = {}
        for output, content in self.outputs.items():
            measured = twin_value(twin, content)
            if measured is not None and output in simulated:
                pairs[content] = (measured, simulated[output])
        return pairs


def _values(twin: Twin, mapping: Mapping[str, str]) -> dict[str, float]:
    values = {}
    for variable, content in mapping.items():
        value = twin_value(twin, content)
        if value is not None:
            values[variable] = value
    return values


class Bindings:
    """The simulation bindings of a deployment, found by twin model (extensions included)."""

    def __init__(self) -> None:
        self._by_model: dict[str, list[SimulationBinding]] = {}

    def add(self, binding: SimulationBinding, models: ModelSet) -> None:
        """Check ``binding`` against ``models`` and keep it; a second with its name replaces it."""
        binding.check(models)
        kept = self._by_model.setdefault(binding.model, [])
        names = [b.name for b in kept]
        if binding.name in names:
            kept[names.index(binding.name)] = binding
        else:
            kept.append(binding)

    def for_model(self, model_id: str, models: ModelSet) -> list[SimulationBinding]:
        """Bindings of ``model_id`` and of the models it extends (nearest model first)."""
        found: list[SimulationBinding] = []
        try:
            lineage = (model_id, *models.ancestors(model_id))
        except (KeyError, NotFoundError):
            lineage = (model_id,)
        for model in lineage:
            found.extend(self._by_model.get(model, ()))
        return found

    def __iter__(self) -> Iterator[SimulationBinding]:
        for bindings in self._by_model.values():
            yield from bindings

    def __len__(self) -> int:
        return sum(len(b) for b in self._by_model.values())

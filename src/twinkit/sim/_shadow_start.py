"""Starting a simulation from a twin: its current state, or its state at a past time.

Three levels, as for the engine:

- :func:`initial_conditions`: what a binding reads off a twin (parameters, state, inputs; the
  inputs of :class:`~twinkit.sim.Related` sources from the twin's neighbours in a
  :class:`TwinView`, the live runtime or a :class:`GraphView` of a graph as of T);
- :func:`run_binding`: the CPU-bound run of a binding's simulator from given conditions
  (synchronous; scenarios and the shadow runner call it on worker threads);
- :func:`simulate_twin`: one call, ``await simulate_twin(runtime, binding, "tank-1",
  horizon=3600)``; with ``at=`` the twin (and its neighbours) as they were then, by time travel.

Neighbours feeding :class:`~twinkit.sim.Related` inputs are not simulated here: their values
are held at what they were at the start. Nothing is stored; scenarios store their results.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple, Protocol

from twinkit.core import RelationshipEdge, Twin
from twinkit.errors import NotFoundError, SimulationError, TwinkitError, ValidationError
from twinkit.query._timetravel import Time, graph_as_of, seconds, twin_as_of
from twinkit.sim._binding import Related, RelatedValues, SimulationBinding, twin_value
from twinkit.sim._engine import MAX_STEPS, Inputs, SimulationResult, simulate
from twinkit.sim._protocol import Simulator

if TYPE_CHECKING:
    from twinkit.model import ModelSet
    from twinkit.query._timetravel import HistoryStore

__all__ = [
    "GraphView",
    "InitialConditions",
    "TwinView",
    "data_time",
    "initial_conditions",
    "make_simulator",
    "related_values",
    "run_binding",
    "simulate_twin",
]


class TwinView(Protocol):
    """Twins and their relationships, as :class:`~twinkit.core.Runtime` shows the live graph."""

    def get(self, twin_id: str) -> Twin:
        """The twin, or NotFoundError."""
        ...

    def outgoing(self, twin_id: str) -> list[RelationshipEdge]: ...

    def incoming(self, twin_id: str) -> list[RelationshipEdge]: ...


class GraphView:
    """A :class:`TwinView` over a fixed set of twins: a graph as of T, a scenario's fork."""

    def __init__(self, twins: Mapping[str, Twin]) -> None:
        self._twins = dict(twins)
        self._incoming: dict[str, list[RelationshipEdge]] = {}
        for twin in self._twins.values():
            for edge in twin.relationships.values():
                self._incoming.setdefault(edge.target, []).append(edge)

    def get(self, twin_id: str) -> Twin:
        twin = self._twins.get(twin_id)
        if twin is None:
            raise NotFoundError(f"twin {twin_id!r} is not in this graph", where=twin_id)
        return twin

    def outgoing(self, twin_id: str) -> list[RelationshipEdge]:
        return list(self.get(twin_id).relationships.values())

    def incoming(self, twin_id: str) -> list[RelationshipEdge]:
        self.get(twin_id)
        return list(self._incoming.get(twin_id, ()))


class InitialConditions(NamedTuple):
    """What a run starts from: the binding's values read off a twin (the others: defaults)."""

    parameters: dict[str, float]
    state: dict[str, float]
    inputs: dict[str, float]


def related_values(view: TwinView) -> RelatedValues:
    """The values of a :class:`Related` source for a twin, from its neighbours in ``view``."""

    def values(twin: Twin, source: Related) -> list[float]:
        try:
            edges = view.incoming(twin.id) if source.incoming else view.outgoing(twin.id)
        except NotFoundError:
            return []
        found = []
        for edge in edges:
            if edge.name != source.relationship:
                continue
            try:
                other = view.get(edge.source if source.incoming else edge.target)
            except NotFoundError:
                continue
            value = twin_value(other, source.content)
            if value is not None:
                found.append(value)
        return found

    return values


def initial_conditions(
    binding: SimulationBinding, twin: Twin, related: RelatedValues | None = None
) -> InitialConditions:
    """Parameters, state and inputs of ``binding`` as ``twin`` has them (``related`` resolves
    :class:`Related` inputs; without it they keep their defaults)."""
    return InitialConditions(
        binding.parameters_of(twin), binding.state_of(twin), binding.inputs_of(twin, related)
    )


def data_time(twin: Twin) -> float:
    """When the twin's state was last measured or changed: where a run from it starts."""
    times = [twin.updated]
    times.extend(latest.time for latest in twin.telemetry.values())
    times.extend(s.reported_time for s in twin.properties.values() if s.reported_time is not None)
    return max(times)


def make_simulator(binding: SimulationBinding, where: str) -> Simulator:
    """A fresh simulator from the binding's factory; its failure is a SimulationError."""
    try:
        return binding.factory()
    except TwinkitError:
        raise
    except Exception as error:
        raise SimulationError(
            f"simulator factory of binding {binding.name!r} ({binding.model}) failed: "
            f"{type(error).__name__}: {error}",
            where=where,
        ) from error


def run_binding(
    binding: SimulationBinding,
    conditions: InitialConditions,
    *,
    start: float,
    horizon: float,
    dt: float | None = None,
    inputs: Inputs = None,
    parameters: Mapping[str, float] | None = None,
    max_steps: int = MAX_STEPS,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
    where: str = "simulation",
) -> SimulationResult:
    """Run a fresh simulator of ``binding`` from ``conditions`` for ``horizon`` seconds.

    ``inputs`` override the twin's inputs (a mapping, a function of time or a frame, as for
    :func:`~twinkit.sim.simulate`); ``parameters`` override its parameters. More than
    ``max_steps`` steps is a ValidationError before anything runs; a simulator that fails or
    diverges is a SimulationError naming ``where`` and the time.
    """
    step = binding.dt if dt is None else dt
    _check_run(horizon, step, max_steps, where)
    simulator = make_simulator(binding, where)
    try:
        return simulate(
            simulator,
            start=start,
            stop=start + horizon,
            dt=step,
            inputs=_merged(conditions.inputs, inputs),
            parameters={**conditions.parameters, **(parameters or {})},
            state=conditions.state,
            progress=progress,
            cancel=cancel,
        )
    except SimulationError as error:  # the engine names the simulator; add the twin
        inner = f": {error.where}" if error.where else ""
        raise SimulationError(str(error), where=f"{where}{inner}") from error
    except TwinkitError:
        raise
    except Exception as error:  # a backend's own failure at initialize: say where
        raise SimulationError(
            f"binding {binding.name!r} failed to start at t={start:g} s: "
            f"{type(error).__name__}: {error}",
            where=where,
        ) from error
    finally:
        simulator.close()


def _check_run(horizon: float, dt: float, max_steps: int, where: str) -> None:
    for name, value in (("horizon", horizon), ("dt", dt)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError(
                f"{name} is not a number", path=f"{where}/{name}", expected="seconds", got=value
            )
        if not (math.isfinite(value) and value > 0):
            raise ValidationError(
                f"{name} must be positive", path=f"{where}/{name}", expected="> 0", got=value
            )
    steps = math.ceil(horizon / dt - 1e-9)
    if steps > max_steps:
        raise ValidationError(
            f"{steps:,} steps is more than this run may take",
            path=f"{where}/dt",
            expected=f"horizon / dt <= {max_steps:,} (a shorter horizon or a longer step)",
            got={"horizon": horizon, "dt": dt},
        )


def _merged(base: Mapping[str, float], inputs: Inputs) -> Inputs:
    """The twin's inputs with ``inputs`` over them (inputs of a frame or function win)."""
    if inputs is None:
        return dict(base)
    if isinstance(inputs, Mapping):
        return {**base, **inputs}
    if callable(inputs):
        given = inputs
        return lambda t: {**base, **given(t)}
    frame = inputs.copy()  # a DataFrame: the twin's values as constant columns it lacks
    for name, value in base.items():
        if name not in frame.columns:
            frame[name] = value
    return frame


async def simulate_twin(
    source: TwinView,
    binding: SimulationBinding,
    twin: Twin | str,
    *,
    horizon: float,
    dt: float | None = None,
    at: Time | None = None,
    store: HistoryStore | None = None,
    models: ModelSet | None = None,
    inputs: Inputs = None,
    parameters: Mapping[str, float] | None = None,
    max_steps: int = MAX_STEPS,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
) -> SimulationResult:
    """Simulate ``twin`` with ``binding`` for ``horizon`` seconds from its state now (from its
    newest data time), or as it was at ``at`` (time travel: needs ``store``).

    The simulation runs on a worker thread; the event loop only reads the twin. The result is
    not stored.
    """
    if at is None:
        found = twin if isinstance(twin, Twin) else source.get(twin)
        view, start = source, data_time(found)
    else:
        twin_id = twin.id if isinstance(twin, Twin) else twin
        start = seconds(at, "at")
        found, view = await _as_of(store, binding, twin_id, start, models)
    conditions = initial_conditions(binding, found, related_values(view))
    return await asyncio.to_thread(
        run_binding,
        binding,
        conditions,
        start=start,
        horizon=horizon,
        dt=dt,
        inputs=inputs,
        parameters=parameters,
        max_steps=max_steps,
        progress=progress,
        cancel=cancel,
        where=f"twin {found.id} binding {binding.name}",
    )


async def _as_of(
    store: HistoryStore | None,
    binding: SimulationBinding,
    twin_id: str,
    at: float,
    models: ModelSet | None,
) -> tuple[Twin, TwinView]:
    """The twin as of ``at`` and a view of the neighbours its Related inputs read."""
    if store is None:
        raise ValidationError(
            "a simulation from a past state needs the store to travel back in",
            path="at",
            expected="store=... (the runtime's store) with at=",
            got=at,
        )
    found = await twin_as_of(store, twin_id, at, models=models)
    if found is None:
        raise NotFoundError(f"twin {twin_id!r} did not exist at t={at:g}", where=twin_id)
    related = [s for s in binding.inputs.values() if isinstance(s, Related)]
    if any(source.incoming for source in related):
        state = await graph_as_of(store, at, models=models)
        return found, GraphView(state.twins)
    names = {source.relationship for source in related}
    twins = {twin_id: found}
    for edge in found.relationships.values():
        if edge.name in names and edge.target not in twins:
            neighbour = await twin_as_of(store, edge.target, at, models=models)
            if neighbour is not None:
                twins[edge.target] = neighbour
    return found, GraphView(twins)

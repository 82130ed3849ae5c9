"""Forking a scenario: the twins it covers, their state at T, and a simulator for each.

Two steps, both before anything runs, so a bad request fails with a clear error and no trace:

1. :func:`fork_twins` walks the graph (live, or as of T through time travel) from the roots,
   ``depth`` relationship hops in either direction. Those twins are the *subgraph*; the
   twins one hop further are *boundary* twins, kept at their state at T so that an input
   bound to a neighbour (a :class:`~twinkit.sim.Related` source) sees the world around the
   subgraph as it was. It is quick and reads only immutable twins (live ones detached).
2. :func:`make_plan` gives every twin of the subgraph whose model has a simulation binding a
   fresh simulator and resolves the overrides of the spec against it: parameters (the
   binding's, from the twin at T, with the spec's on top), the seeded state, input settings,
   setpoints and faults, each checked to name a variable of the simulator (or a content the
   binding maps to one). It makes simulators, which may be slow (an FMU loads), so a server
   runs it in a worker thread.

The :class:`Plan` owns the simulators until :meth:`Plan.close`; the master
(:mod:`twinkit.sim._scenario_master`) runs them.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from twinkit.core import RelationshipEdge, Twin
from twinkit.errors import SimulationError, TwinkitError, ValidationError
from twinkit.model import ModelSet, Property
from twinkit.sim._binding import Bindings, Related, SimulationBinding
from twinkit.sim._protocol import Causality, Simulator, check_parameters
from twinkit.sim._scenario_spec import Fault, ScenarioSpec, Setting, step_count

__all__ = [
    "MAX_POINTS",
    "Forked",
    "GraphView",
    "Member",
    "Plan",
    "fork_twins",
    "make_plan",
]

logger = logging.getLogger(__name__)

MAX_POINTS: Final = 20_000_000
"""The most simulated points one scenario may write (steps * outputs of every twin)."""
MAX_TWINS: Final = 100_000


class GraphView(Protocol):
    """The twin graph a scenario forks from: the live one, or one as of a past time."""

    def find(self, twin_id: str) -> Twin | None: ...

    def incoming(self, twin_id: str) -> Sequence[RelationshipEdge]: ...


@dataclass(frozen=True, slots=True)
class Forked:
    """The twins of a scenario as of ``at``: the subgraph (by distance from the roots, then
    id) and every twin it or its boundary holds, with the edges pointing into the subgraph."""

    at: float
    subgraph: tuple[str, ...]
    twins: Mapping[str, Twin]
    incoming: Mapping[str, tuple[RelationshipEdge, ...]]


def fork_twins(spec: ScenarioSpec, graph: GraphView, at: float) -> Forked:
    """The subgraph of ``spec`` in ``graph`` (ValidationError for a root that did not exist)."""
    twins: dict[str, Twin] = {}
    incoming: dict[str, tuple[RelationshipEdge, ...]] = {}
    for index, root in enumerate(spec.roots):
        twin = graph.find(root)
        if twin is None:
            raise ValidationError(
                f"root twin {root!r} did not exist at {at:.3f}",
                path=f"roots/{index}",
                expected="the id of a twin alive at the fork time",
                got=root,
            )
        twins[root] = twin
    order: list[str] = []
    queue = deque((root, 0) for root in dict.fromkeys(spec.roots))
    seen = set(twins)
    while queue:
        twin_id, hops = queue.popleft()
        order.append(twin_id)
        edges = tuple(graph.incoming(twin_id))
        incoming[twin_id] = edges
        neighbours = [e.target for e in twins[twin_id].relationships.values()]
        neighbours += [e.source for e in edges]
        for other in neighbours:
            if other in seen:
                continue
            found = graph.find(other)
            if found is None:  # a dangling edge: nothing there to simulate or read
                continue
            seen.add(other)
            twins[other] = found  # boundary until it is queued
            if hops < spec.depth:
                queue.append((other, hops + 1))
        if len(twins) > MAX_TWINS:
            raise ValidationError(
                "the scenario's subgraph is too large",
                path="depth",
                expected=f"at most {MAX_TWINS:,} twins (fewer roots or a smaller depth)",
                got=f"more than {len(twins):,} twins at depth {spec.depth}",
            )
    return Forked(at, tuple(order), twins, incoming)


@dataclass(slots=True, eq=False)
class Member:
    """One simulated twin: its state at T, binding, simulator and resolved overrides."""

    twin: Twin
    binding: SimulationBinding
    simulator: Simulator
    parameters: dict[str, float]  # every parameter at the start (defaults filled in)
    state: dict[str, float]
    settings: dict[str, Setting]  # input variable -> setting (inputs and setpoints)
    faults: list[tuple[str, Causality, Fault]]  # (variable, PARAMETER or INPUT, fault)
    neighbours: dict[str, tuple[str, ...]]  # Related input variable -> twin ids it reads
    series: dict[str, str]  # output variable -> series name (the content, else the output)
    where: str = field(init=False)  # for errors: "twin tank-1 (binding 'physics')"
    tuned: bool = field(init=False)  # has a fault on a parameter

    def __post_init__(self) -> None:
        self.where = f"twin {self.twin.id} (binding {self.binding.name!r})"
        self.tuned = any(causality is Causality.PARAMETER for _, causality, _ in self.faults)


@dataclass(slots=True, eq=False)
class Plan:
    """A scenario ready to run: every simulator made, every override resolved."""

    spec: ScenarioSpec
    at: float
    dt: float
    steps: int
    twins: Mapping[str, Twin]
    subgraph: tuple[str, ...]
    members: list[Member] = field(default_factory=list)

    def close(self) -> None:
        """Close every simulator (errors are logged: closing must not hide a result)."""
        for member in self.members:
            try:
                member.simulator.close()
            except Exception:
                logger.exception("closing the simulator of %s failed", member.where)


def make_plan(spec: ScenarioSpec, forked: Forked, bindings: Bindings, models: ModelSet) -> Plan:
    """Simulators and resolved overrides for the subgraph (ValidationError on a bad name,
    SimulationError when a simulator cannot be made); closes what it made if it fails."""
    chosen = {
        twin_id: binding
        for twin_id in forked.subgraph
        if (binding := _binding(forked.twins[twin_id], spec.binding, bindings, models))
    }
    _check_twins(spec, forked, chosen)
    dt = spec.dt if spec.dt is not None else min((b.dt for b in chosen.values()), default=1.0)
    plan = Plan(spec, forked.at, dt, step_count(spec.horizon, dt), forked.twins, forked.subgraph)
    try:
        for twin_id, binding in chosen.items():
            plan.members.append(_member(spec, forked, forked.twins[twin_id], binding, models))
        outputs = sum(len(m.series) for m in plan.members)
        if (plan.steps + 1) * outputs > MAX_POINTS:
            raise ValidationError(
                "the scenario would write too many points",
                path="dt",
                expected=f"(steps + 1) * outputs <= {MAX_POINTS:,} (a longer dt or a smaller "
                "subgraph)",
                got=f"{plan.steps + 1:,} * {outputs:,}",
            )
    except BaseException:
        plan.close()
        raise
    return plan


def _binding(
    twin: Twin, name: str | None, bindings: Bindings, models: ModelSet
) -> SimulationBinding | None:
    found = bindings.for_model(twin.model, models)
    if name is not None:
        found = [b for b in found if b.name == name]
    return found[0] if found else None


def _check_twins(
    spec: ScenarioSpec, forked: Forked, chosen: Mapping[str, SimulationBinding]
) -> None:
    if not chosen:
        which = f" named {spec.binding!r}" if spec.binding else ""
        raise ValidationError(
            f"no twin of the scenario has a simulation binding{which}",
            path="roots",
            expected="roots (and depth) reaching twins whose models have a simulator bound",
            got=list(forked.subgraph),
        )
    parts: tuple[tuple[str, Mapping[str, Any]], ...] = (
        ("parameters", spec.parameters),
        ("inputs", spec.inputs),
        ("setpoints", spec.setpoints),
    )
    named = [(f"{part}/{twin_id}", twin_id) for part, values in parts for twin_id in values]
    named += [(f"faults/{i}/twin", fault.twin) for i, fault in enumerate(spec.faults)]
    for path, twin_id in named:
        if twin_id not in forked.subgraph:
            raise ValidationError(
                f"twin {twin_id!r} is not in the scenario",
                path=path,
                expected=f"a twin of the subgraph: {_few(forked.subgraph)}",
                got=twin_id,
            )
        if twin_id not in chosen:
            raise ValidationError(
                f"twin {twin_id!r} has no simulator to change",
                path=path,
                expected=f"a simulated twin: {_few(chosen)}",
                got=twin_id,
            )


def _few(names: Sequence[str] | Mapping[str, Any], limit: int = 20) -> str:
    listed = sorted(names)
    more = f" and {len(listed) - limit} more" if len(listed) > limit else ""
    return ", ".join(listed[:limit]) + more


def _member(
    spec: ScenarioSpec, forked: Forked, twin: Twin, binding: SimulationBinding, models: ModelSet
) -> Member:
    simulator = _make(binding, twin)
    try:
        variables = {v.name: v.causality for v in simulator.variables}
        where = f"twin {twin.id}"
        given = binding.parameters_of(twin)
        for name, value in spec.parameters.get(twin.id, {}).items():
            variable = _resolve(name, Causality.PARAMETER, variables, binding.parameters)
            if variable is None:
                raise _unknown(f"parameters/{twin.id}/{name}", "parameter", variables, binding)
            given[variable] = value
        member = Member(
            twin=twin,
            binding=binding,
            simulator=simulator,
            parameters=check_parameters(simulator.variables, given, f"{where}/parameters"),
            state=binding.state_of(twin),
            settings=_settings(spec, twin, binding, variables, models),
            faults=_faults(spec, twin, binding, variables),
            neighbours=_neighbours(forked, twin, binding),
            series=_series(binding, variables, where),
        )
    except BaseException:
        simulator.close()
        raise
    return member


def _make(binding: SimulationBinding, twin: Twin) -> Simulator:
    try:
        return binding.factory()
    except TwinkitError:
        raise
    except Exception as error:
        raise SimulationError(
            f"could not make the simulator of binding {binding.name!r} for twin {twin.id} "
            f"(model {twin.model}): {type(error).__name__}: {error}",
            where=f"twin {twin.id}",
        ) from error


def _resolve(
    name: str,
    causality: Causality,
    variables: Mapping[str, Causality],
    mapping: Mapping[str, Any],
) -> str | None:
    """The variable ``name`` is (a variable of that causality, or the content it is bound to)."""
    if variables.get(name) is causality:
        return name
    for variable, source in mapping.items():
        if source == name and variables.get(variable) is causality:
            return variable
    return None


def _unknown(
    path: str, what: str, variables: Mapping[str, Causality], binding: SimulationBinding
) -> ValidationError:
    causality = Causality(what)
    names = sorted(v for v, c in variables.items() if c is causality)
    mapping = binding.parameters if causality is Causality.PARAMETER else binding.inputs
    contents = sorted(str(s) for v, s in mapping.items() if isinstance(s, str) and v in names)
    return ValidationError(
        f"unknown {what} {path.rsplit('/', 1)[-1]!r}",
        path=path,
        expected=f"a {what} of the simulator ({', '.join(names) or 'none'})"
        + (f" or a content bound to one ({', '.join(contents)})" if contents else ""),
        got=path.rsplit("/", 1)[-1],
    )


def _settings(
    spec: ScenarioSpec,
    twin: Twin,
    binding: SimulationBinding,
    variables: Mapping[str, Causality],
    models: ModelSet,
) -> dict[str, Setting]:
    settings: dict[str, Setting] = {}
    for name, setting in spec.inputs.get(twin.id, {}).items():
        variable = _resolve(name, Causality.INPUT, variables, binding.inputs)
        if variable is None:
            raise _unknown(f"inputs/{twin.id}/{name}", "input", variables, binding)
        settings[variable] = setting
    contents = models.contents(twin.model)
    for name, setting in spec.setpoints.get(twin.id, {}).items():
        path = f"setpoints/{twin.id}/{name}"
        content = contents.get(name)
        if not (isinstance(content, Property) and content.writable):
            writable = [n for n, c in contents.items() if isinstance(c, Property) and c.writable]
            raise ValidationError(
                f"{name!r} is not a writable property of {twin.model}",
                model=twin.model,
                path=path,
                expected=f"a writable property ({', '.join(sorted(writable)) or 'none'})",
                got=name,
            )
        variable = next(
            (v for v, s in binding.inputs.items() if s == name and v in variables), None
        )
        if variable is None:
            raise ValidationError(
                f"binding {binding.name!r} maps no simulator input to {name!r}",
                model=twin.model,
                path=path,
                expected="a property the binding's inputs map names",
                got=name,
            )
        if variable in settings:
            raise ValidationError(
                f"input {variable!r} of twin {twin.id} is set twice",
                path=path,
                expected="one of inputs or setpoints per input",
                got=name,
            )
        settings[variable] = setting
    return settings


def _faults(
    spec: ScenarioSpec,
    twin: Twin,
    binding: SimulationBinding,
    variables: Mapping[str, Causality],
) -> list[tuple[str, Causality, Fault]]:
    found: list[tuple[str, Causality, Fault]] = []
    for index, fault in enumerate(spec.faults):
        if fault.twin != twin.id:
            continue
        kinds = [Causality(fault.kind)] if fault.kind else [Causality.PARAMETER, Causality.INPUT]
        matches = []
        for kind in kinds:
            mapping = binding.parameters if kind is Causality.PARAMETER else binding.inputs
            variable = _resolve(fault.target, kind, variables, mapping)
            if variable is not None:
                matches.append((variable, kind))
        path = f"faults/{index}/target"
        if not matches:
            kind_name = fault.kind or "parameter"
            error = _unknown(path, kind_name, variables, binding)
            if fault.kind is None:
                inputs = _unknown(path, "input", variables, binding).expected
                error = ValidationError(
                    f"unknown parameter or input {fault.target!r}",
                    path=path,
                    expected=f"{error.expected}; or {inputs}",
                    got=fault.target,
                )
            raise error
        if len(matches) > 1:
            raise ValidationError(
                f"{fault.target!r} names a parameter and an input of twin {twin.id}",
                path=f"faults/{index}/kind",
                expected='"parameter" or "input"',
                got=None,
            )
        found.append((matches[0][0], matches[0][1], fault))
    return found


def _neighbours(
    forked: Forked, twin: Twin, binding: SimulationBinding
) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for variable, source in binding.inputs.items():
        if not isinstance(source, Related):
            continue
        if source.incoming:
            ids = [
                e.source for e in forked.incoming.get(twin.id, ()) if e.name == source.relationship
            ]
        else:
            ids = [e.target for e in twin.relationships.values() if e.name == source.relationship]
        out[variable] = tuple(i for i in dict.fromkeys(ids) if i in forked.twins)
    return out


def _series(
    binding: SimulationBinding, variables: Mapping[str, Causality], where: str
) -> dict[str, str]:
    series: dict[str, str] = {}
    for name, causality in variables.items():
        if causality is Causality.OUTPUT:
            series[name] = binding.outputs.get(name, name)
    names = list(series.values())
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValidationError(
            f"two outputs of binding {binding.name!r} would write series {twice[0]!r}",
            path=f"{where}/outputs",
            expected="one output per content (an unmapped output is named after itself)",
            got=twice,
        )
    return series

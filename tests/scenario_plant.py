"""A small plant for the scenario tests: sources and a spring feed a tank.

``source-1`` (simulated) and ``spring-1`` (no simulator) feed ``tank-1`` (simulated); the
tank's inflow is a Related input: the sum of the flows of the twins that feed it. The
simulators are exact, so results can be checked against closed-form solutions.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from twinkit.core import Reading, Runtime
from twinkit.sim import Bindings, Causality, Related, SimulationBinding, Variable
from twinkit.sim._protocol import check_parameters

SOURCE = "dtmi:test:scenario:Source;1"
TANK = "dtmi:test:scenario:Tank;1"
SPRING = "dtmi:test:scenario:Spring;1"


def _interface(model_id: str, contents: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@context": "dtmi:dtdl:context;3",
        "@id": model_id,
        "@type": "Interface",
        "contents": contents,
    }


MODELS: list[dict[str, Any]] = [
    _interface(
        TANK,
        [
            {"@type": "Telemetry", "name": "level", "schema": "double"},
            {"@type": "Property", "name": "area", "schema": "double"},
            {"@type": "Property", "name": "outletK", "schema": "double"},
        ],
    ),
    _interface(
        SOURCE,
        [
            {"@type": "Telemetry", "name": "flow", "schema": "double"},
            {"@type": "Property", "name": "rate", "schema": "double", "writable": True},
            {"@type": "Property", "name": "label", "schema": "string"},
            {"@type": "Relationship", "name": "feeds", "target": TANK},
        ],
    ),
    _interface(
        SPRING,
        [
            {"@type": "Telemetry", "name": "flow", "schema": "double"},
            {"@type": "Relationship", "name": "feeds", "target": TANK},
        ],
    ),
]


class SourceSim:
    """Its flow follows the rate it is set to, within one step: q = gain * rate."""

    variables: Sequence[Variable] = (
        Variable("gain", Causality.PARAMETER, start=1.0),
        Variable("rate", Causality.INPUT, start=0.0),
        Variable("q", Causality.STATE, start=0.0),
        Variable("q_out", Causality.OUTPUT),
    )

    def __init__(self) -> None:
        self.q = 0.0
        self.p: dict[str, float] = {}

    def initialize(
        self,
        t0: float,
        parameters: Mapping[str, float] | None = None,
        state: Mapping[str, float] | None = None,
    ) -> Mapping[str, float]:
        self.p = check_parameters(self.variables, parameters, "source")
        self.q = (state or {}).get("q", 0.0)
        return {"q_out": self.q}

    def step(self, t: float, dt: float, inputs: Mapping[str, float]) -> Mapping[str, float]:
        self.q = self.p["gain"] * inputs["rate"]
        return {"q_out": self.q}

    def get_state(self) -> Any:
        return self.q

    def set_state(self, state: Any) -> None:
        self.q = state

    def close(self) -> None:
        return None


class TankSim:
    """dh/dt = (q_in - k*h) / area, solved exactly over each step (inputs held)."""

    variables: Sequence[Variable] = (
        Variable("area", Causality.PARAMETER, start=2.0),
        Variable("k", Causality.PARAMETER, start=0.5),
        Variable("q_in", Causality.INPUT, start=0.0),
        Variable("level", Causality.STATE, start=1.0),
        Variable("level_out", Causality.OUTPUT),
        Variable("outflow", Causality.OUTPUT),
    )

    made = 0  # how many were made and closed, all instances together
    closed = 0

    def __init__(self) -> None:
        TankSim.made += 1
        self.h = 1.0
        self.t = 0.0
        self.p: dict[str, float] = {}

    def initialize(
        self,
        t0: float,
        parameters: Mapping[str, float] | None = None,
        state: Mapping[str, float] | None = None,
    ) -> Mapping[str, float]:
        self.p = check_parameters(self.variables, parameters, "tank")
        self.h = (state or {}).get("level", 1.0)
        self.t = t0
        return self._out()

    def _out(self) -> dict[str, float]:
        return {"level_out": self.h, "outflow": self.p["k"] * self.h}

    def step(self, t: float, dt: float, inputs: Mapping[str, float]) -> Mapping[str, float]:
        assert math.isclose(t, self.t, abs_tol=1e-9), (t, self.t)
        rate = self.p["k"] / self.p["area"]
        steady = inputs["q_in"] / self.p["k"]
        self.h = steady + (self.h - steady) * math.exp(-rate * dt)
        self.t = t + dt
        return self._out()

    def get_state(self) -> Any:
        return (self.t, self.h)

    def set_state(self, state: Any) -> None:
        self.t, self.h = state

    def close(self) -> None:
        TankSim.closed += 1


class DivergingTank(TankSim):
    """Blows up from t = 50 s: a scenario with it must fail, not take anything down."""

    def step(self, t: float, dt: float, inputs: Mapping[str, float]) -> Mapping[str, float]:
        out = dict(super().step(t, dt, inputs))
        if t >= 50:
            out["level_out"] = math.inf
        return out


class SlowTank(TankSim):
    """Takes a millisecond per step: long enough to watch progress and cancel."""

    def step(self, t: float, dt: float, inputs: Mapping[str, float]) -> Mapping[str, float]:
        time.sleep(0.001)
        return super().step(t, dt, inputs)


def source_binding() -> SimulationBinding:
    return SimulationBinding(
        model=SOURCE,
        factory=SourceSim,
        dt=1.0,
        inputs={"rate": "rate"},
        states={"q": "flow"},
        outputs={"q_out": "flow"},
    )


def tank_binding(factory: Any = TankSim, dt: float = 1.0) -> SimulationBinding:
    return SimulationBinding(
        model=TANK,
        factory=factory,
        dt=dt,
        parameters={"area": "area", "k": "outletK"},
        inputs={"q_in": Related("feeds", "flow", "sum", incoming=True)},
        states={"level": "level"},
        outputs={"level_out": "level"},
    )


def bindings(runtime: Runtime, tank_factory: Any = TankSim) -> Bindings:
    found = Bindings()
    found.add(source_binding(), runtime.models)
    found.add(tank_binding(tank_factory), runtime.models)
    return found


async def build_plant(runtime: Runtime, t0: float) -> None:
    """The models, the twins and their measurements: at ``t0`` the source runs at 1 (flow 1),
    the spring gives 0.5 and the tank is at 2 m; at ``t0 + 100`` the source runs at 4 (flow
    4) and the tank is at 5 m."""
    await runtime.add_models(MODELS)
    cause = "test:plant"
    await runtime.create_twin("tank-1", TANK, {"area": 2.0, "outletK": 0.5}, cause=cause)
    await runtime.create_twin("source-1", SOURCE, {"rate": 1.0, "label": "main"}, cause=cause)
    await runtime.create_twin("spring-1", SPRING, cause=cause)
    await runtime.add_relationship("source-1", "feeds", "tank-1", cause=cause)
    await runtime.add_relationship("spring-1", "feeds", "tank-1", cause=cause)
    await measure(runtime, t0, source=1.0, spring=0.5, level=2.0)
    await measure(runtime, t0 + 100, source=4.0, spring=0.5, level=5.0)


async def measure(
    runtime: Runtime, at: float, *, source: float, spring: float, level: float
) -> None:
    readings = [
        [Reading("source-1", {"flow": source, "rate": source}, at)],
        [Reading("spring-1", {"flow": spring}, at)],
        [Reading("tank-1", {"level": level}, at)],
    ]
    errors = await runtime.ingest(readings, cause="test:device")
    assert errors == [None, None, None], errors


def tank_level(t: float, h0: float, q: float, *, k: float = 0.5, area: float = 2.0) -> float:
    """The exact level of the tank after ``t`` s from ``h0`` with inflow ``q``."""
    steady = q / k
    return steady + (h0 - steady) * math.exp(-k / area * t)


def serve_bindings() -> list[SimulationBinding]:
    """The plant's simulators, for ``twinkit serve --simulators scenario_plant:serve_bindings``."""
    return [source_binding(), tank_binding()]

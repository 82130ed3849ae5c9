"""The data bench/query.py measures: a plant graph of many twins, its history, one long series.

Four models, from the top: Plant --contains--> Line --contains--> Machine --hasSensor-->
Sensor. With ``twins=100_000``: 10 plants, 1,000 lines, 20,000 machines and 78,990 sensors,
every one with a few properties, linked by one relationship each to its parent. The graph is
built through the runtime (so the store's query index is what a live system has), on a clock
that the builder moves forward: the twins are created on day 0, then on each of ``days`` days a
tenth of the machines report a new status and temperature, so the graph has a past to travel
to.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twinkit.core import Reading, RelationshipSpec, Runtime

PLANT = "dtmi:bench:Plant;1"
LINE = "dtmi:bench:Line;1"
MACHINE = "dtmi:bench:Machine;1"
SENSOR = "dtmi:bench:Sensor;1"
CITIES = [
    "Lyon",
    "Turin",
    "Porto",
    "Gdansk",
    "Leipzig",
    "Ghent",
    "Brno",
    "Bilbao",
    "Aarhus",
    "Cork",
]
STATUSES = ["running", "idle", "maintenance", "fault"]
KINDS = ["vibration", "temperature", "pressure", "current"]
DAY = 86_400.0
START = 1_735_689_600.0  # 2025-01-01T00:00:00Z

DTDL: list[dict[str, Any]] = [
    {
        "@context": "dtmi:dtdl:context;3",
        "@id": PLANT,
        "@type": "Interface",
        "contents": [
            {"@type": "Property", "name": "city", "schema": "string"},
            {"@type": "Property", "name": "capacity", "schema": "double"},
            {"@type": "Relationship", "name": "contains", "target": LINE},
        ],
    },
    {
        "@context": "dtmi:dtdl:context;3",
        "@id": LINE,
        "@type": "Interface",
        "contents": [
            {"@type": "Property", "name": "name", "schema": "string"},
            {"@type": "Property", "name": "speed", "schema": "double"},
            {"@type": "Relationship", "name": "contains", "target": MACHINE},
        ],
    },
    {
        "@context": "dtmi:dtdl:context;3",
        "@id": MACHINE,
        "@type": "Interface",
        "contents": [
            {"@type": "Property", "name": "status", "schema": "string"},
            {"@type": "Property", "name": "temperature", "schema": "double"},
            {"@type": "Property", "name": "power", "schema": "double"},
            {"@type": "Property", "name": "serial", "schema": "string"},
            {"@type": "Telemetry", "name": "vibration", "schema": "double"},
            {"@type": "Relationship", "name": "hasSensor", "target": SENSOR},
        ],
    },
    {
        "@context": "dtmi:dtdl:context;3",
        "@id": SENSOR,
        "@type": "Interface",
        "contents": [
            {"@type": "Property", "name": "kind", "schema": "string"},
            {"@type": "Property", "name": "range", "schema": "double"},
        ],
    },
]


@dataclass(frozen=True, slots=True)
class Shape:
    """How many twins of each model a graph of ``twins`` twins has."""

    plants: int
    lines: int
    machines: int
    sensors: int

    @classmethod
    def of(cls, twins: int) -> Shape:
        plants = max(1, twins // 10_000)
        lines = max(1, twins // 100)
        machines = max(1, twins // 5)
        return cls(plants, lines, machines, max(1, twins - plants - lines - machines))

    @property
    def total(self) -> int:
        return self.plants + self.lines + self.machines + self.sensors


class Clock:
    """The builder's clock: the runtime stamps events with it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _twins(shape: Shape, rng: random.Random) -> list[tuple[str, str, dict[str, Any]]]:
    specs: list[tuple[str, str, dict[str, Any]]] = []
    for p in range(shape.plants):
        props = {"city": CITIES[p % len(CITIES)], "capacity": rng.uniform(100, 1000)}
        specs.append((f"plant-{p}", PLANT, props))
    for i in range(shape.lines):
        specs.append((f"line-{i}", LINE, {"name": f"line {i}", "speed": rng.uniform(1, 10)}))
    for m in range(shape.machines):
        props = {
            "status": rng.choice(STATUSES),
            "temperature": rng.uniform(20, 100),
            "power": rng.uniform(1, 50),
            "serial": f"SN{m:08d}",
        }
        specs.append((f"machine-{m}", MACHINE, props))
    for s in range(shape.sensors):
        props = {"kind": KINDS[s % len(KINDS)], "range": rng.uniform(1, 100)}
        specs.append((f"sensor-{s}", SENSOR, props))
    return specs


def _edges(shape: Shape) -> list[RelationshipSpec]:
    edges = [
        RelationshipSpec(f"plant-{i % shape.plants}", "contains", f"line-{i}")
        for i in range(shape.lines)
    ]
    edges += [
        RelationshipSpec(f"line-{m % shape.lines}", "contains", f"machine-{m}")
        for m in range(shape.machines)
    ]
    edges += [
        RelationshipSpec(f"machine-{s % shape.machines}", "hasSensor", f"sensor-{s}")
        for s in range(shape.sensors)
    ]
    return edges


async def build_graph(
    runtime: Runtime,
    clock: Clock,
    twins: int,
    days: int,
    *,
    progress: Callable[[str], None],
    chunk: int = 5_000,
) -> Shape:
    """Create the graph at ``START`` and give it ``days`` days of property history."""
    rng = random.Random(7)
    shape = Shape.of(twins)
    clock.now = START
    await runtime.add_models(DTDL)
    specs = _twins(shape, rng)
    for i in range(0, len(specs), chunk):
        await runtime.create_twins(specs[i : i + chunk], cause="bench")
    progress(f"created {len(specs):,} twins")
    edges = _edges(shape)
    for i in range(0, len(edges), chunk):
        await runtime.add_relationships(edges[i : i + chunk], cause="bench")
    progress(f"added {len(edges):,} relationships")
    for day in range(1, days + 1):
        clock.now = START + day * DAY
        changed = rng.sample(range(shape.machines), max(1, shape.machines // 10))
        readings = [
            [
                Reading(
                    f"machine-{m}",
                    {"status": rng.choice(STATUSES), "temperature": rng.uniform(20, 100)},
                    clock.now,
                )
            ]
            for m in changed
        ]
        for i in range(0, len(readings), chunk):
            await runtime.ingest(readings[i : i + chunk], cause="connector:bench")
    progress(f"{days} days of property history on a tenth of the machines per day")
    return shape

"""Models and a small plant for the twin query language tests.

Station --contains--> Pump --feeds(length)--> Tank --drains--> Valve; Pump extends Device and
SpecialPump extends Pump; a Pump has an Object property ``config``, an Array ``tags`` and a
Component ``motor``.
"""

from __future__ import annotations

from typing import Any

from twinkit.core import Runtime

CTX = "dtmi:dtdl:context;3"
DEVICE = "dtmi:tql:Device;1"
PUMP = "dtmi:tql:Pump;1"
SPECIAL = "dtmi:tql:SpecialPump;1"
MOTOR = "dtmi:tql:Motor;1"
TANK = "dtmi:tql:Tank;1"
VALVE = "dtmi:tql:Valve;1"
STATION = "dtmi:tql:Station;1"
ADMIN = "token:admin"

MODELS: list[dict[str, Any]] = [
    {
        "@context": CTX,
        "@id": DEVICE,
        "@type": "Interface",
        "contents": [{"@type": "Property", "name": "serial", "schema": "string"}],
    },
    {
        "@context": CTX,
        "@id": MOTOR,
        "@type": "Interface",
        "contents": [
            {"@type": "Property", "name": "temperature", "schema": "double"},
            {"@type": "Property", "name": "label", "schema": "string"},
        ],
    },
    {
        "@context": CTX,
        "@id": PUMP,
        "@type": "Interface",
        "extends": DEVICE,
        "contents": [
            {"@type": "Property", "name": "speed", "schema": "double", "writable": True},
            {"@type": "Property", "name": "enabled", "schema": "boolean"},
            {"@type": "Property", "name": "rated", "schema": "double"},
            {
                "@type": "Property",
                "name": "config",
                "schema": {
                    "@type": "Object",
                    "fields": [
                        {"name": "max", "schema": "double"},
                        {"name": "mode", "schema": "string"},
                    ],
                },
            },
            {
                "@type": "Property",
                "name": "tags",
                "schema": {"@type": "Array", "elementSchema": "string"},
            },
            {"@type": "Component", "name": "motor", "schema": MOTOR},
            {
                "@type": "Relationship",
                "name": "feeds",
                "target": TANK,
                "properties": [
                    {"@type": "Property", "name": "length", "schema": "double"},
                    {"@type": "Property", "name": "pipe", "schema": "string"},
                ],
            },
        ],
    },
    {
        "@context": CTX,
        "@id": SPECIAL,
        "@type": "Interface",
        "extends": PUMP,
        "contents": [{"@type": "Property", "name": "boost", "schema": "double"}],
    },
    {
        "@context": CTX,
        "@id": TANK,
        "@type": "Interface",
        "contents": [
            {"@type": "Property", "name": "capacity", "schema": "double"},
            {"@type": "Property", "name": "name", "schema": "string"},
            {"@type": "Relationship", "name": "drains", "target": VALVE},
        ],
    },
    {
        "@context": CTX,
        "@id": VALVE,
        "@type": "Interface",
        "contents": [
            {"@type": "Property", "name": "open", "schema": "boolean"},
            {"@type": "Property", "name": "name", "schema": "string"},
        ],
    },
    {
        "@context": CTX,
        "@id": STATION,
        "@type": "Interface",
        "contents": [
            {"@type": "Property", "name": "name", "schema": "string"},
            {"@type": "Relationship", "name": "contains"},
        ],
    },
]

SQL_VALUE = "Robert'); DROP TABLE twins; --"


async def build_plant(runtime: Runtime) -> None:
    """The plant every run test queries (ids sort as listed)."""
    await runtime.add_models(MODELS)
    specs: list[tuple[str, str, dict[str, Any] | None]] = [
        ("device-1", DEVICE, {"serial": SQL_VALUE}),
        (
            "pump-1",
            PUMP,
            {
                "serial": "A-100",
                "rated": 12.0,
                "enabled": True,
                "config": {"max": 10.0, "mode": "auto"},
                "tags": ["x", "y"],
                "motor": {"temperature": 70.5, "label": "m1"},
            },
        ),
        (
            "pump-2",
            SPECIAL,
            {"serial": "B-200", "rated": 5.0, "enabled": False, "config": {"max": 3.0}},
        ),
        ("pump-3", PUMP, {"serial": "a-100%_x"}),
        ("station-1", STATION, {"name": "North"}),
        ("tank-1", TANK, {"capacity": 50.0, "name": "Main"}),
        ("tank-2", TANK, {"name": 'O\'Brien "quoted"'}),
        ("valve-1", VALVE, {"open": True, "name": "V1"}),
    ]
    await runtime.create_twins(specs, cause=ADMIN)
    # A Component's property reported by path, as devices do: kept as "motor/temperature".
    await runtime.report("pump-2", {"motor/temperature": 60.0}, cause=ADMIN)
    await runtime.set_desired("pump-1", "speed", 3.5, cause=ADMIN)
    await runtime.add_relationship("station-1", "contains", "pump-1", cause=ADMIN)
    await runtime.add_relationship("station-1", "contains", "pump-2", cause=ADMIN)
    await runtime.add_relationship(
        "pump-1", "feeds", "tank-1", cause=ADMIN, properties={"length": 3.0, "pipe": "steel"}
    )
    await runtime.add_relationship(
        "pump-2", "feeds", "tank-2", cause=ADMIN, properties={"length": 8.0}
    )
    await runtime.add_relationship("tank-1", "drains", "valve-1", cause=ADMIN)

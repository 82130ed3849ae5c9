"""A small pump-station model set shared by the runtime tests."""

from __future__ import annotations

from typing import Any

PUMP = "dtmi:test:Pump;1"
TANK = "dtmi:test:Tank;1"
STATION = "dtmi:test:Station;1"
DEVICE = "dtmi:test:Device;1"

MODELS: list[dict[str, Any]] = [
    {
        "@context": "dtmi:dtdl:context;3",
        "@id": DEVICE,
        "@type": "Interface",
        "contents": [
            {"@type": "Property", "name": "serial", "schema": "string"},
        ],
    },
    {
        "@context": "dtmi:dtdl:context;3",
        "@id": PUMP,
        "@type": "Interface",
        "extends": DEVICE,
        "contents": [
            {"@type": "Telemetry", "name": "flow", "schema": "double"},
            {"@type": "Telemetry", "name": "state", "schema": "string"},
            {"@type": "Property", "name": "speed", "schema": "double", "writable": True},
            {"@type": "Property", "name": "enabled", "schema": "boolean", "writable": True},
            {"@type": "Property", "name": "rated", "schema": "double"},
            {
                "@type": "Command",
                "name": "start",
                "request": {"name": "ramp", "schema": "double"},
                "response": {"name": "ok", "schema": "boolean"},
            },
            {
                "@type": "Relationship",
                "name": "feeds",
                "target": TANK,
                "maxMultiplicity": 1,
                "properties": [{"@type": "Property", "name": "length", "schema": "double"}],
            },
        ],
    },
    {
        "@context": "dtmi:dtdl:context;3",
        "@id": TANK,
        "@type": "Interface",
        "contents": [
            {"@type": "Telemetry", "name": "level", "schema": "double"},
            {"@type": "Property", "name": "capacity", "schema": "double"},
        ],
    },
    {
        "@context": "dtmi:dtdl:context;3",
        "@id": STATION,
        "@type": "Interface",
        "contents": [{"@type": "Relationship", "name": "contains"}],
    },
]

"""The pump-station models (DTDL files shipped with the package) and the demo station's layout.

The layout is data: the twins (id, model, initial properties) and relationships the lead
creates through the runtime, and from which the device simulators build their physics, so
that what the twins say about the plant (rated flow, pipe length, tank area) is what the
simulated plant does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from twinkit.errors import NotFoundError, ValidationError
from twinkit.model import ModelSet
from twinkit.model.dtdl import parse

__all__ = [
    "EQUIPMENT",
    "PIPE",
    "PUMP",
    "STATION",
    "TANK",
    "VALVE",
    "RelationshipSpec",
    "StationLayout",
    "TwinSpec",
    "load_models",
    "model_files",
    "station_layout",
]

EQUIPMENT: Final = "dtmi:twinkit:pumps:Equipment;1"
STATION: Final = "dtmi:twinkit:pumps:Station;1"
PUMP: Final = "dtmi:twinkit:pumps:Pump;1"
TANK: Final = "dtmi:twinkit:pumps:Tank;1"
VALVE: Final = "dtmi:twinkit:pumps:Valve;1"
PIPE: Final = "dtmi:twinkit:pumps:Pipe;1"

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def model_files() -> list[Path]:
    """The DTDL v3 files of the pump-station models, sorted by name."""
    folder = resources.files(__package__ or "twinkit.examples.pumps") / "models"
    return sorted(Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith(".json"))


@cache
def load_models() -> ModelSet:
    """The pump-station models, parsed together (raises ParsingError if a file is broken)."""
    return parse(model_files())


@dataclass(frozen=True, slots=True)
class TwinSpec:
    """A twin to create: its id, model and initial (reported) properties."""

    id: str
    model: str
    properties: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class RelationshipSpec:
    """A relationship to create: ``source --name--> target``."""

    source: str
    name: str
    target: str

    @property
    def id(self) -> str:
        """A stable relationship id, unique within the layout."""
        return f"{self.source}.{self.name}.{self.target}"


@dataclass(frozen=True, slots=True)
class StationLayout:
    """The twins and relationships of one station; ``replay_twin`` is the pump fed by SKAB."""

    twins: tuple[TwinSpec, ...]
    relationships: tuple[RelationshipSpec, ...]
    replay_twin: str | None = None

    def twin(self, twin_id: str) -> TwinSpec:
        for spec in self.twins:
            if spec.id == twin_id:
                return spec
        raise NotFoundError(
            f"twin {twin_id!r} is not in the layout; it has: {', '.join(t.id for t in self.twins)}"
        )

    def of_model(self, model: str) -> tuple[TwinSpec, ...]:
        """The twins of one model, in layout order."""
        return tuple(spec for spec in self.twins if spec.model == model)

    def targets(self, source: str, name: str) -> tuple[str, ...]:
        """The targets of ``source``'s relationships called ``name``."""
        return tuple(r.target for r in self.relationships if r.source == source and r.name == name)

    def sources(self, name: str, target: str) -> tuple[str, ...]:
        """The twins with a relationship ``name`` to ``target``."""
        return tuple(r.source for r in self.relationships if r.name == name and r.target == target)

    def __iter__(self) -> Iterator[TwinSpec]:
        return iter(self.twins)


def _pump(index: int) -> TwinSpec:
    return TwinSpec(
        f"pump-{index}",
        PUMP,
        MappingProxyType(
            {
                "manufacturer": "Grundfos-like",
                "serialNumber": f"CP-2024-{index:04d}",
                "ratedSpeed": 1480.0,
                "ratedFlow": 30.0,
                "ratedHead": 32.0,
                "ratedPower": 15.0,
                "speedSetpoint": 1480.0,
                "enabled": True,
            }
        ),
    )


def _pipe(index: int) -> TwinSpec:
    return TwinSpec(
        f"pipe-{index}",
        PIPE,
        MappingProxyType(
            {
                "manufacturer": "ductile iron",
                "serialNumber": f"DN150-{index:04d}",
                "length": 800.0,
                "diameter": 150.0,
                "roughness": 0.1,
                "minorLossCoefficient": 5.0,
            }
        ),
    )


def _tank() -> TwinSpec:
    return TwinSpec(
        "tank-1",
        TANK,
        MappingProxyType(
            {
                "manufacturer": "concrete",
                "serialNumber": "T-0001",
                "capacity": 48.0,
                "area": 12.0,
                "height": 4.0,
                "elevation": 15.0,
                "highLevelAlarm": 3.6,
                "lowLevelAlarm": 0.5,
            }
        ),
    )


def _valve(n_pumps: int) -> TwinSpec:
    """The outlet valve, sized so that n_pumps pumps at rated flow balance it near half level."""
    return TwinSpec(
        "valve-1",
        VALVE,
        MappingProxyType(
            {
                "manufacturer": "AUMA-like",
                "serialNumber": "V-0001",
                "openingSetpoint": 60.0,
                "dischargeCoefficient": 0.022 * n_pumps + 0.04,
                "travelRate": 2.0,
            }
        ),
    )


def station_layout(n_pumps: int = 3, *, replay_pump: bool = True) -> StationLayout:
    """The demo station: ``n_pumps`` pumps, each through its own pipe, lift water into one tank
    drained by one valve. With ``replay_pump`` the station also holds ``pump-skab``, a pump
    whose telemetry is a replay of the SKAB test rig (it is not part of the hydraulics).
    """
    if not 1 <= n_pumps <= 99:
        raise ValidationError(
            "a demo station needs between 1 and 99 pumps",
            path="n_pumps",
            expected="an integer from 1 to 99",
            got=n_pumps,
        )
    station = TwinSpec("station-1", STATION, MappingProxyType({"siteName": "Demo pump station"}))
    tank, valve = _tank(), _valve(n_pumps)
    pumps = [_pump(i) for i in range(1, n_pumps + 1)]
    pipes = [_pipe(i) for i in range(1, n_pumps + 1)]
    twins = [station, *pumps, *pipes, tank, valve]
    relationships = [RelationshipSpec(station.id, "contains", t.id) for t in twins[1:]]
    for pump, pipe in zip(pumps, pipes, strict=True):
        relationships.append(RelationshipSpec(pump.id, "feeds", pipe.id))
        relationships.append(RelationshipSpec(pipe.id, "connectsTo", tank.id))
    relationships.append(RelationshipSpec(valve.id, "drains", tank.id))
    replay = None
    if replay_pump:
        replay = "pump-skab"
        twins.append(
            TwinSpec(
                replay,
                PUMP,
                MappingProxyType(
                    {"manufacturer": "SKAB test rig (Skoltech)", "serialNumber": "SKAB-1"}
                ),
            )
        )
        relationships.append(RelationshipSpec(station.id, "contains", replay))
    return StationLayout(tuple(twins), tuple(relationships), replay)

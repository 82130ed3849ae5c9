"""DTDL Interfaces and their contents: Telemetry, Property, Command, Relationship, Component."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from twinkit.model._dtmi import Dtmi
from twinkit.model._schemas import ComplexSchema, Element, Schema

__all__ = [
    "Command",
    "CommandPayload",
    "Component",
    "Content",
    "Interface",
    "Property",
    "Relationship",
    "Telemetry",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Telemetry(Element):
    """A stream of values a device emits (``temperature`` every second)."""

    name: str
    schema: Schema
    semantic_type: str | None = None
    unit: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Property(Element):
    """State of a twin. A writable one also has a desired value the twin can set."""

    name: str
    schema: Schema
    writable: bool = False
    semantic_type: str | None = None
    unit: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandPayload(Element):
    """The request or response of a Command (DTDL v2 CommandPayload, v3 CommandRequest/Response)."""

    name: str
    schema: Schema
    nullable: bool = False
    semantic_type: str | None = None
    unit: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Command(Element):
    """A function a device can run, with an optional request and response."""

    name: str
    request: CommandPayload | None = None
    response: CommandPayload | None = None
    command_type: str | None = field(default=None, compare=False)
    """DTDL v2's deprecated ``commandType`` (``synchronous``/``asynchronous``); not exported."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Relationship(Element):
    """A link to other twins, optionally restricted to a target model and a multiplicity."""

    name: str
    target: Dtmi | None = None
    min_multiplicity: int | None = None
    max_multiplicity: int | None = None
    writable: bool = False
    properties: tuple[Property, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Component(Element):
    """A part of a twin described by another Interface (``schema``), by value."""

    name: str
    schema: Dtmi


Content: TypeAlias = Telemetry | Property | Command | Relationship | Component


@dataclass(frozen=True, slots=True, kw_only=True)
class Interface(Element):
    """A DTDL Interface: the model of a twin.

    ``contents`` are the Interface's own; ``ModelSet.contents(id)`` adds the inherited ones.
    ``dtdl_version`` records the language version it was written in and does not take part
    in equality, so a v2 model and its v3 export compare equal.
    """

    id: Dtmi  # an Interface always has an id
    contents: tuple[Content, ...] = ()
    extends: tuple[Dtmi, ...] = ()
    schemas: tuple[ComplexSchema, ...] = ()
    dtdl_version: int = field(default=3, compare=False)

    def content(self, name: str) -> Content:
        """This Interface's own content called ``name`` (inherited ones: see ModelSet)."""
        for item in self.contents:
            if item.name == name:
                return item
        raise KeyError(name)

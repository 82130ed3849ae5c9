"""ModelSet: a closed, immutable set of Interfaces with inheritance resolved on demand."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType

from twinkit.errors import ConflictError
from twinkit.model._contents import Content, Interface
from twinkit.model._dtmi import Dtmi
from twinkit.model._schemas import ComplexSchema

__all__ = ["ModelSet"]


class ModelSet(Mapping[Dtmi, Interface]):
    """Interfaces by DTMI, plus the named complex schemas they define.

    It is what the DTDL parser returns and what Python model classes build. Every ``extends``
    and Component schema names an Interface in the set.
    """

    __slots__ = ("_contents_cache", "_interfaces", "_schemas")

    def __init__(
        self,
        interfaces: Iterable[Interface] = (),
        schemas: Iterable[ComplexSchema] = (),
    ) -> None:
        by_id: dict[Dtmi, Interface] = {}
        for interface in interfaces:
            by_id[interface.id] = interface
        self._interfaces = MappingProxyType(dict(sorted(by_id.items())))
        named = {schema.id: schema for schema in schemas if schema.id is not None}
        for interface in by_id.values():
            named.update((s.id, s) for s in interface.schemas if s.id is not None)
        self._schemas = MappingProxyType(named)
        self._contents_cache: dict[Dtmi, Mapping[str, Content]] = {}

    def __getitem__(self, model_id: str) -> Interface:
        return self._interfaces[Dtmi(model_id)]

    def __iter__(self) -> Iterator[Dtmi]:
        return iter(self._interfaces)

    def __len__(self) -> int:
        return len(self._interfaces)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ModelSet):
            return NotImplemented
        return dict(self._interfaces) == dict(other._interfaces)

    def __hash__(self) -> int:
        return hash(tuple(self._interfaces.values()))

    def __repr__(self) -> str:
        return f"ModelSet({list(self._interfaces)!r})"

    @property
    def schemas(self) -> Mapping[Dtmi, ComplexSchema]:
        """Complex schemas that carry their own DTMI, from every Interface's ``schemas``."""
        return self._schemas

    def ancestors(self, model_id: str) -> tuple[Dtmi, ...]:
        """Every Interface ``model_id`` extends, directly or not, nearest first, no repeats."""
        seen: dict[Dtmi, None] = {}
        queue = list(self[model_id].extends)
        while queue:
            current = queue.pop(0)
            if current in seen:
                continue
            seen[current] = None
            queue.extend(self[current].extends)
        return tuple(seen)

    def is_a(self, model_id: str, base_id: str) -> bool:
        """True when ``model_id`` is ``base_id`` or extends it."""
        return Dtmi(model_id) == Dtmi(base_id) or Dtmi(base_id) in self.ancestors(model_id)

    def contents(self, model_id: str) -> Mapping[str, Content]:
        """All contents of a model by name, inherited ones included (bases first)."""
        key = Dtmi(model_id)
        cached = self._contents_cache.get(key)
        if cached is None:
            merged: dict[str, Content] = {}
            for base in reversed(self.ancestors(key)):
                merged.update((c.name, c) for c in self[base].contents)
            merged.update((c.name, c) for c in self[key].contents)
            cached = MappingProxyType(merged)
            self._contents_cache[key] = cached
        return cached

    def merge(self, other: ModelSet) -> ModelSet:
        """A new set holding both; an Interface in both must be equal in both."""
        for model_id, interface in other.items():
            mine = self._interfaces.get(model_id)
            if mine is not None and mine != interface:
                raise ConflictError(f"{model_id} is defined differently in the two model sets")
        return ModelSet([*self.values(), *other.values()], self._schemas.values())

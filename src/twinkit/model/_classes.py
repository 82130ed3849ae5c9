"""Python model classes: declare a DTDL Interface as a class.

::

    class Pump(Equipment, dtmi="dtmi:example:Pump;1", display_name="Pump"):
        \"\"\"A centrifugal pump.\"\"\"

        temperature: float = telemetry(semantic_type="Temperature", unit="degreeCelsius")
        speed: float = prop(writable=True, unit="revolutionPerMinute")
        feeds: Tank = relationship(max_multiplicity=1)
        motor: Motor = component()
        start = command(request=("rpm", float), response=("ok", bool))

``Pump.interface`` is the metamodel :class:`Interface`, the same objects a DTDL parser builds;
:func:`model_set` gathers classes and every class they refer to. An annotation with no
declaration (``serial: str``) is a read-only Property; private (``_x``) and ``ClassVar``
annotations are skipped. Contents come in the order they are declared (a bare annotation
goes before an unannotated ``command()`` next to it: Python does not record which came first).

Python types map to schemas as follows: ``bool`` boolean, ``int`` **long** (pass
``schema="integer"`` for a 32-bit one), ``float`` double, ``str`` string, ``datetime``
dateTime, ``date``, ``time``, ``timedelta`` duration, ``UUID`` uuid, ``bytes``, ``Decimal``
decimal; an ``Enum`` an Enum (of strings, or integers when every value is an ``int``);
``list[T]`` and ``tuple[T, ...]`` an Array; ``dict[str, T]`` a Map; a dataclass or a TypedDict
an Object. ``T | None`` is ``T`` (DTDL values may always be absent; a nullable command payload).

DTDL allows a unit only with a semantic type. Given a unit alone, a declaration takes the
semantic type its unit type belongs to (``revolutionPerMinute``: AngularVelocity), or the one
named after it where several share it (``kilowatt``: Power, not EnergyRate); where that does
not decide (``percent``) ``semantic_type`` must be given. Annotations may name classes defined later
(forward references); those are resolved when ``interface`` is first read.
"""

from __future__ import annotations

import contextlib
import inspect
import re
import sys
import typing
from collections import ChainMap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final, NoReturn, TypeAlias, TypedDict, Unpack

from twinkit.errors import ValidationError
from twinkit.model import _quantities as quantities
from twinkit.model._contents import (
    Command,
    CommandPayload,
    Component,
    Content,
    Interface,
    Property,
    Relationship,
    Telemetry,
)
from twinkit.model._dtmi import Dtmi
from twinkit.model._langstring import EMPTY, LangString
from twinkit.model._modelset import ModelSet
from twinkit.model._pytypes import NAME, SEQUENCES, schema_of, strip_optional
from twinkit.model._schemas import PrimitiveSchema, Schema

__all__ = ["TwinModel", "command", "component", "model_set", "prop", "relationship", "telemetry"]

_RESERVED: Final = frozenset({"interface", "dtmi"})

Text: TypeAlias = str | Mapping[str, str] | None
SchemaLike: TypeAlias = Any
"""A metamodel schema, a DTDL schema term (``"integer"``, ``"point"``) or a Python type."""


# --- declarations ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Declaration:
    """What ``telemetry()``, ``prop()``... record; turned into a content by the class."""

    kind: str
    name: str | None = None
    id: str | None = None
    display_name: Text = None
    description: Text = None
    comment: str | None = None
    cotypes: tuple[str, ...] = ()
    schema: SchemaLike = None
    semantic_type: str | None = None
    unit: str | None = None
    writable: bool = False
    target: type[TwinModel] | str | None = None
    min_multiplicity: int | None = None
    max_multiplicity: int | None = None
    properties: Mapping[str, Any] | None = None
    request: tuple[str, SchemaLike] | CommandPayload | None = None
    response: tuple[str, SchemaLike] | CommandPayload | None = None


class ElementOptions(TypedDict, total=False):
    """Keywords every declaration takes besides its own."""

    name: str  # the DTDL name, where it differs from the attribute's
    id: str
    display_name: str | Mapping[str, str]
    description: str | Mapping[str, str]
    comment: str
    cotypes: Sequence[str]


def telemetry(
    *,
    schema: SchemaLike = None,
    semantic_type: str | None = None,
    unit: str | None = None,
    **options: Unpack[ElementOptions],
) -> Any:
    """A Telemetry; its schema comes from the annotation unless ``schema`` is given."""
    return _declare("Telemetry", options, schema=schema, semantic_type=semantic_type, unit=unit)


def prop(
    *,
    schema: SchemaLike = None,
    writable: bool = False,
    semantic_type: str | None = None,
    unit: str | None = None,
    **options: Unpack[ElementOptions],
) -> Any:
    """A Property; a ``writable`` one also takes desired values from the twin."""
    return _declare(
        "Property", options, schema=schema, writable=writable, semantic_type=semantic_type,
        unit=unit,
    )  # fmt: skip


def relationship(
    target: type[TwinModel] | str | None = None,
    *,
    min_multiplicity: int | None = None,
    max_multiplicity: int | None = None,
    writable: bool = False,
    properties: Mapping[str, Any] | None = None,
    **options: Unpack[ElementOptions],
) -> Any:
    """A Relationship to twins of ``target`` (a TwinModel class or a DTMI).

    Without ``target`` it is read from the annotation (``Tank``, ``list[Tank]``); annotated
    ``TwinModel`` or not at all, any twin may be the target. ``properties`` maps names to
    schemas (a type, a term or a schema) or to ``prop(...)`` declarations.
    """
    return _declare(
        "Relationship", options, target=target, min_multiplicity=min_multiplicity,
        max_multiplicity=max_multiplicity, writable=writable, properties=properties,
    )  # fmt: skip


def component(
    schema: type[TwinModel] | str | None = None, **options: Unpack[ElementOptions]
) -> Any:
    """A Component: a part described by another model, from the annotation or ``schema``."""
    return _declare("Component", options, schema=schema)


def command(
    *,
    request: tuple[str, SchemaLike] | CommandPayload | None = None,
    response: tuple[str, SchemaLike] | CommandPayload | None = None,
    **options: Unpack[ElementOptions],
) -> Any:
    """A Command; ``request`` and ``response`` are ``(name, schema)`` pairs or payloads.

    A pair whose schema is ``T | None`` makes a nullable payload.
    """
    return _declare("Command", options, request=request, response=response)


def _declare(kind: str, options: ElementOptions, **fields: Any) -> _Declaration:
    common: dict[str, Any] = {**options, "cotypes": tuple(options.get("cotypes", ()))}
    return _Declaration(kind=kind, **common, **fields)


# --- the base class ------------------------------------------------------------------------


class _InterfaceAttribute:
    """``Model.interface``: built on first read (or when the class is defined), then kept."""

    def __get__(self, instance: object, owner: type[TwinModel]) -> Interface:
        return _built(owner, final=True).interface


class TwinModel:
    """Base of model classes. Subclass it with ``dtmi=...`` (see the module docstring).

    Class keywords: ``dtmi`` (required), ``display_name``, ``description`` (default: the first
    paragraph of the docstring) and ``comment``. TwinModel bases become ``extends``; other
    bases (mixins with methods) contribute no contents.
    """

    interface: ClassVar[_InterfaceAttribute] = _InterfaceAttribute()
    dtmi: ClassVar[Dtmi]
    _twinkit_texts: ClassVar[tuple[LangString, LangString, str | None]]
    _twinkit_namespace: ClassVar[Mapping[str, Any]]

    def __init_subclass__(
        cls,
        *,
        dtmi: str | None = None,
        display_name: Text = None,
        description: Text = None,
        comment: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        for name in (*inspect.get_annotations(cls), *vars(cls)):
            if name in _RESERVED:
                _fail(cls, name, f"'{name}' is reserved on model classes", "another name", name)
        if dtmi is None:
            _fail(cls, None, "a model class needs a DTMI", "dtmi='dtmi:com:example:Pump;1'", None)
        try:
            cls.dtmi = Dtmi(dtmi)
        except ValueError as err:
            expected = "a DTMI such as 'dtmi:com:example:Pump;1'"
            _fail(cls, None, "invalid DTMI", expected, dtmi, cause=err)
        if description is None:
            description = _first_paragraph(cls.__dict__.get("__doc__"))
        cls._twinkit_texts = (_lang(display_name), _lang(description), comment)
        cls._twinkit_namespace = _caller_namespace()
        # Report bad declarations where the class is defined; a forward reference waits
        # until `interface` is first read.
        with contextlib.suppress(_Unresolved):
            _built(cls, final=False)
        _REGISTRY.setdefault(cls.__module__, {})[cls.__name__] = cls


_REGISTRY: Final[dict[str, dict[str, type[TwinModel]]]] = {}
"""Model classes by module and name: the last resort for forward references."""


def model_set(*classes: type[TwinModel]) -> ModelSet:
    """The classes and every model they refer to (bases, components, relationship targets)."""
    seen: dict[type[TwinModel], Interface] = {}
    queue = list(classes)
    while queue:
        cls = queue.pop()
        if cls in seen:
            continue
        if not (isinstance(cls, type) and issubclass(cls, TwinModel)) or cls is TwinModel:
            raise ValidationError(
                "model_set takes model classes", expected="TwinModel subclasses", got=cls
            )
        built = _built(cls, final=True)
        seen[cls] = built.interface
        queue.extend(built.references)
    return ModelSet(seen.values())


# --- building the Interface ----------------------------------------------------------------


class _Unresolved(Exception):
    """An annotation names something not defined (yet)."""

    def __init__(self, cls: type, attribute: str | None, annotation: object, error: Exception):
        super().__init__(str(error))
        self.cls = cls
        self.attribute = attribute
        self.annotation = annotation


@dataclass(frozen=True, slots=True)
class _Built:
    interface: Interface
    references: tuple[type[TwinModel], ...]
    names: frozenset[str]  # content names, inherited ones included


def _built(cls: type[TwinModel], *, final: bool) -> _Built:
    """The Interface of ``cls`` and what it refers to, built once.

    Not ``final`` (while classes are still being defined), an unresolved name raises
    ``_Unresolved``; ``final``, it is an error, and names are also looked up among the model
    classes defined since.
    """
    if cls is TwinModel:
        raise ValidationError("TwinModel itself is no model", expected="a subclass", got=cls)
    built = cls.__dict__.get("_twinkit_built")
    if isinstance(built, _Built):
        return built
    try:
        built = _Builder(cls, final=final).build()
    except _Unresolved as err:
        if not final:
            raise
        _fail(err.cls, err.attribute, f"cannot resolve {err}", "a defined type", err.annotation)
    cls._twinkit_built = built  # type: ignore[attr-defined]
    return built


class _Builder:
    """Turns one model class into an Interface."""

    def __init__(self, cls: type[TwinModel], *, final: bool) -> None:
        self.cls = cls
        self.final = final
        self.references: list[type[TwinModel]] = []
        self.attribute: str | None = None
        module = sys.modules.get(cls.__module__)
        self.globals: dict[str, Any] = vars(module) if module is not None else {}
        scopes: list[dict[str, Any]] = [dict(vars(cls)), dict(cls._twinkit_namespace)]
        scopes.append(self.globals)
        if final:
            scopes.append(dict(_REGISTRY.get(cls.__module__, {})))
        self.locals: ChainMap[str, Any] = ChainMap(*scopes)

    def build(self) -> _Built:
        cls = self.cls
        bases = [b for b in cls.__bases__ if issubclass(b, TwinModel) and b is not TwinModel]
        inherited: set[str] = set()
        for base in bases:
            inherited |= _built(base, final=self.final).names
        self.references += bases
        contents: list[Content] = []
        for attribute, annotation, declaration in self._members():
            self.attribute = attribute
            content = self._content(attribute, annotation, declaration)
            if content.name in inherited or any(c.name == content.name for c in contents):
                self.fail("duplicate content name", "a name unique in the model", content.name)
            contents.append(content)
        display_name, description, comment = cls._twinkit_texts
        interface = Interface(
            id=cls.dtmi,
            display_name=display_name,
            description=description,
            comment=comment,
            contents=tuple(contents),
            extends=tuple(base.dtmi for base in bases),
        )
        names = frozenset(inherited | {c.name for c in contents})
        return _Built(interface, tuple(dict.fromkeys(self.references)), names)

    def _members(self) -> list[tuple[str, object, _Declaration | None]]:
        """(attribute, annotation or None, declaration or None), in declaration order.

        Python keeps annotations and assignments apart, so where a bare annotation stands
        relative to an unannotated declaration (a command) is not known: it goes before it.
        """
        annotations: dict[str, object] = inspect.get_annotations(self.cls)
        namespace = vars(self.cls)
        declared = [n for n, v in namespace.items() if isinstance(v, _Declaration)]
        bare = [n for n in annotations if n not in declared]
        rank = {name: index for index, name in enumerate(annotations)}
        order: list[str] = []
        for index, name in enumerate(declared):
            upcoming = next((rank[n] for n in declared[index:] if n in rank), len(rank))
            order += [n for n in bare if rank[n] < upcoming and n not in order]
            order.append(name)
        order += [n for n in bare if n not in order]
        members: list[tuple[str, object, _Declaration | None]] = []
        for name in order:
            value = namespace.get(name)
            if isinstance(value, _Declaration):
                members.append((name, annotations.get(name), value))
            elif not name.startswith("_") and not self._is_classvar(name, annotations[name]):
                members.append((name, annotations[name], None))
        return members

    def _is_classvar(self, name: str, annotation: object) -> bool:
        if isinstance(annotation, str) and re.match(r"(typing\.)?ClassVar\b", annotation):
            return True
        self.attribute = name
        return typing.get_origin(self.resolve(annotation)) is ClassVar

    def resolve(self, annotation: object) -> Any:
        """The object an annotation (maybe a string or a forward reference) stands for."""
        if isinstance(annotation, typing.ForwardRef):
            annotation = annotation.__forward_arg__
        if not isinstance(annotation, str):
            return annotation
        try:
            return eval(annotation, self.globals, self.locals)
        except NameError as err:
            raise _Unresolved(self.cls, self.attribute, annotation, err) from err
        except Exception as err:
            self.fail("unreadable annotation", "a Python type expression", annotation, err)

    def is_model(self, tp: type) -> bool:
        return issubclass(tp, TwinModel)

    def fail(
        self, message: str, expected: str, got: object, cause: Exception | None = None
    ) -> NoReturn:
        _fail(self.cls, self.attribute, message, expected, got, cause=cause)

    # --- contents ---

    def _content(
        self, attribute: str, annotation: object, declaration: _Declaration | None
    ) -> Content:
        decl = declaration or _Declaration(kind="Property")
        name = decl.name or attribute
        if not NAME.fullmatch(name):
            self.fail("invalid content name", "letters, digits and inner '_'", name)
        common = self._element(decl)
        if decl.kind in ("Telemetry", "Property"):
            if decl.schema is not None:
                schema = schema_of(decl.schema, self)
            elif annotation is not None:
                schema = schema_of(annotation, self, annotation=True)
            else:
                self.fail("no schema", "an annotation or schema=...", None)
            semantic_type, unit = self._quantity(decl.semantic_type, decl.unit, schema)
            if decl.kind == "Telemetry":
                return Telemetry(
                    **common, name=name, schema=schema, semantic_type=semantic_type, unit=unit
                )
            return Property(
                **common, name=name, schema=schema, semantic_type=semantic_type, unit=unit,
                writable=decl.writable,
            )  # fmt: skip
        if decl.kind == "Command":
            request = self._payload(decl.request, "request")
            response = self._payload(decl.response, "response")
            return Command(**common, name=name, request=request, response=response)
        if decl.kind == "Relationship":
            return self._relationship(decl, common, name, annotation)
        target = decl.schema if decl.schema is not None else annotation
        return Component(**common, name=name, schema=self._model(target, "a component"))

    def _element(self, decl: _Declaration) -> dict[str, Any]:
        element_id = None
        if decl.id is not None:
            try:
                element_id = Dtmi(decl.id)
            except ValueError as err:
                self.fail("invalid id", "a DTMI such as 'dtmi:com:example:x;1'", decl.id, err)
        return {
            "id": element_id,
            "display_name": _lang(decl.display_name),
            "description": _lang(decl.description),
            "comment": decl.comment,
            "cotypes": decl.cotypes,
        }

    def _relationship(
        self, decl: _Declaration, common: dict[str, Any], name: str, annotation: object
    ) -> Relationship:
        spec: object = decl.target if decl.target is not None else annotation
        if spec is not None and not _is_dtmi_text(spec):
            spec = strip_optional(self.resolve(spec))
            if typing.get_origin(spec) in (*SEQUENCES, set, frozenset):
                spec = self.resolve(typing.get_args(spec)[0])
        target = (
            None
            if spec is None or spec is TwinModel
            else self._model(spec, "a relationship target")
        )
        if decl.min_multiplicity not in (None, 0):
            self.fail("minMultiplicity must be 0", "0 or None", decl.min_multiplicity)
        if decl.max_multiplicity is not None and decl.max_multiplicity < 1:
            self.fail("maxMultiplicity must be at least 1", "an int >= 1", decl.max_multiplicity)
        properties: list[Property] = []
        for prop_name, value in (decl.properties or {}).items():
            if isinstance(value, _Declaration) and value.kind != "Property":
                self.fail("relationship properties are Properties", "prop(...)", value)
            if not isinstance(value, _Declaration):
                value = _Declaration(kind="Property", schema=value)  # noqa: PLW2901
            item = self._content(prop_name, None, value)
            assert isinstance(item, Property)
            properties.append(item)
        return Relationship(
            **common,
            name=name,
            target=target,
            min_multiplicity=decl.min_multiplicity,
            max_multiplicity=decl.max_multiplicity,
            writable=decl.writable,
            properties=tuple(properties),
        )

    def _model(self, spec: object, role: str) -> Dtmi:
        """The DTMI of the model ``spec`` names: a TwinModel class or a DTMI string."""
        if spec is None:
            self.fail(f"{role} needs a model", "an annotation naming a TwinModel class", None)
        if isinstance(spec, str) and _is_dtmi_text(spec):
            try:
                return Dtmi(spec)
            except ValueError as err:
                self.fail("invalid DTMI", "a DTMI such as 'dtmi:com:example:x;1'", spec, err)
        model = self.resolve(spec)
        if not (isinstance(model, type) and issubclass(model, TwinModel)) or model is TwinModel:
            self.fail(f"{role} must be a model class", "a TwinModel subclass", model)
        self.references.append(model)
        return model.dtmi

    def _payload(
        self, spec: tuple[str, SchemaLike] | CommandPayload | None, role: str
    ) -> CommandPayload | None:
        if spec is None or isinstance(spec, CommandPayload):
            return spec
        if not (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str)):
            self.fail(f"a command {role} is a (name, schema) pair", "('rpm', float)", spec)
        name, schema_spec = spec
        if not NAME.fullmatch(name):
            self.fail(f"invalid command {role} name", "letters, digits and inner '_'", name)
        nullable = strip_optional(schema_spec) is not schema_spec
        return CommandPayload(name=name, schema=schema_of(schema_spec, self), nullable=nullable)

    def _quantity(
        self, semantic_type: str | None, unit: str | None, schema: Schema
    ) -> tuple[str | None, str | None]:
        known = quantities.semantic_types(3)
        if unit is not None and semantic_type is None:
            candidates = [s for s in known if unit in quantities.units_of(s, 3)]
            exact = [s for s in candidates if known[s] == f"{s}Unit"]
            if not candidates:
                self.fail("unknown unit", "a DTDL unit such as 'degreeCelsius'", unit)
            if len(candidates) > 1 and len(exact) != 1:
                self.fail(
                    f"unit {unit!r} fits several semantic types; give semantic_type",
                    f"semantic_type, one of {', '.join(candidates)}",
                    unit,
                )
            semantic_type = candidates[0] if len(candidates) == 1 else exact[0]
        if semantic_type is None:
            return None, None
        if semantic_type not in known:
            expected = "a DTDL semantic type such as 'Temperature'"
            self.fail("unknown semantic type", expected, semantic_type)
        if unit is not None and unit not in quantities.units_of(semantic_type, 3):
            expected = (
                f"a {known[semantic_type]} such as {min(quantities.units_of(semantic_type, 3))!r}"
            )
            self.fail(f"unit does not fit semantic type {semantic_type!r}", expected, unit)
        if not (isinstance(schema, PrimitiveSchema) and schema.is_numeric):
            self.fail(
                "a semantic type needs a numeric schema", "int, float or a numeric term", schema
            )
        return semantic_type, unit


# --- helpers -------------------------------------------------------------------------------


def _is_dtmi_text(spec: object) -> bool:
    return isinstance(spec, str) and spec.startswith("dtmi:")


def _lang(text: Text) -> LangString:
    return EMPTY if not text else LangString(text)


def _first_paragraph(doc: str | None) -> str | None:
    if not doc:
        return None
    paragraph = inspect.cleandoc(doc).split("\n\n", 1)[0]
    return " ".join(paragraph.split()) or None


def _caller_namespace() -> Mapping[str, Any]:
    """Local names where the class statement runs (none at module level).

    Kept so that annotations naming a class defined in a function (an Enum, a dataclass)
    resolve later; ``typing.get_type_hints`` cannot see those.
    """
    frame = sys._getframe(2)
    while frame.f_back is not None and frame.f_code.co_name == "__init_subclass__":
        frame = frame.f_back
    if frame.f_locals is frame.f_globals:
        return {}
    return dict(frame.f_locals)


def _fail(
    cls: type,
    attribute: str | None,
    message: str,
    expected: str,
    got: object,
    *,
    cause: Exception | None = None,
) -> NoReturn:
    name = cls.__qualname__.rpartition("<locals>.")[2]
    where = name if attribute is None else f"{name}.{attribute}"
    model = vars(cls).get("dtmi")
    error = ValidationError(
        f"{where}: {message}", model=model, path=where, expected=expected, got=got
    )
    raise error from cause

"""JSON-LD ``@context`` handling and term classification for the DTDL parser.

DTDL documents are JSON-LD with a fixed set of contexts. Rather than run a general JSON-LD
processor, the parser keeps a small ``Scope`` per element (language version and active
extensions) and classifies every ``@type`` value and property key against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from functools import cache

from twinkit.model import _quantities as quantities
from twinkit.model._dtmi import is_dtmi
from twinkit.model.dtdl._vocab import (
    DTDL_CONTEXTS,
    EXTENSION_CONTEXTS,
    IOT_CENTRAL,
    QUANTITATIVE_TYPES,
    Vocabulary,
    vocabulary,
)

__all__ = ["Category", "Scope", "classify", "read_context"]

IOTC_CLASSES = frozenset({"State", "Event", "Location", "VelocityVector", "AccelerationVector"})
IOTC_SCHEMAS = frozenset({"vector", "geopoint"})
QT_CLASS_PREFIX = "dtmi:dtdl:extension:quantitativeTypes:v1:class:"
QT_UNIT_PREFIX = "dtmi:dtdl:extension:quantitativeTypes:v1:unit:"
QT_PROPERTY_UNIT = "dtmi:dtdl:extension:quantitativeTypes:v1:property:unit"


@dataclass(frozen=True, slots=True)
class Scope:
    """What is in force at one element: DTDL version and the contexts around it."""

    version: int
    quantitative: bool = False
    iot_central: bool = False
    undefined_extension: bool = False

    @property
    def vocab(self) -> Vocabulary:
        return vocabulary(self.version)

    @property
    def semantics(self) -> bool:
        """Whether semantic types and units are available here."""
        return self.version == 2 or self.quantitative

    @property
    def quantity_version(self) -> int:
        return 2 if self.version == 2 else 3


class Category(Enum):
    """What a string used as a type or property key turns out to be."""

    MATERIAL = "class"
    SEMANTIC = "semantic type"
    EXTENSION = "extension type"
    IRRELEVANT = "defined term or DTMI that does not apply here"
    UNDEFINED = "undefined term"
    NOT_DTMI_NOR_TERM = "neither a DTMI nor a term"
    INVALID_DTMI = "invalid DTMI"


ContextProblem = tuple[str, str]  # (rule, message)


@dataclass(slots=True)
class _Entries:
    """What one ``@context`` value names, entry by entry."""

    dtdl_version: int | None = None
    extensions: set[str] = field(default_factory=set)
    undefined: bool = False
    problems: list[ContextProblem] = field(default_factory=list)


def read_context(
    value: object, parent: Scope | None, *, allow_undefined: bool
) -> tuple[Scope | None, list[ContextProblem]]:
    """Apply an ``@context`` value to the enclosing scope (None at top level)."""
    if isinstance(value, str):
        items: list[object] = [value]
    elif isinstance(value, list):
        items = list(value)
    else:
        message = f"@context must be a string or an array of strings, got {value!r}"
        return None, [("context-form", message)]
    entries = _scan(items, allow_undefined)
    entries.undefined |= parent.undefined_extension if parent is not None else False
    problems = entries.problems
    version = parent.version if parent is not None else None
    if entries.dtdl_version is not None:
        if version is not None and entries.dtdl_version > version:
            problems.append(
                (
                    "context-version",
                    f"a DTDL v{version} element cannot contain a DTDL v{entries.dtdl_version} element",
                )
            )
        version = entries.dtdl_version
    if version is None:
        problems.append(
            (
                "context-dtdl",
                "the top-level @context must name dtmi:dtdl:context;2 or dtmi:dtdl:context;3",
            )
        )
        return None, problems
    base = parent if parent is not None and parent.version == version else Scope(version)
    scope = replace(base, undefined_extension=entries.undefined)
    for ext in entries.extensions:
        if EXTENSION_CONTEXTS[ext] != version:
            problems.append(("context-extension", f"{ext} cannot be used with DTDL v{version}"))
        elif ext == QUANTITATIVE_TYPES:
            scope = replace(scope, quantitative=True)
        elif ext == IOT_CENTRAL:
            scope = replace(scope, iot_central=True)
    return scope, problems


def _scan(items: list[object], allow_undefined: bool) -> _Entries:
    """Sort the entries of an ``@context``: DTDL version, known and undefined extensions."""
    entries = _Entries()
    problems = entries.problems
    others_before = False  # a non-DTDL context seen (IoT Central may precede, by exception)
    for item in items:
        if not isinstance(item, str):
            problems.append(
                ("context-form", f"every @context entry must be a string, got {item!r}")
            )
        elif not is_dtmi(item) or ";" not in item:
            problems.append(
                ("context-dtmi", f"@context entry {item!r} is not a DTMI with a version")
            )
        elif item.startswith("dtmi:dtdl:context;"):
            if item not in DTDL_CONTEXTS:
                problems.append(
                    (
                        "context-version",
                        f"unsupported DTDL version {item!r}: expected dtmi:dtdl:context;2 or ;3",
                    )
                )
                continue
            if others_before:
                problems.append(
                    (
                        "context-order",
                        f"the DTDL context {item!r} must come before extension contexts",
                    )
                )
            entries.dtdl_version = DTDL_CONTEXTS[item]
        elif item in EXTENSION_CONTEXTS:
            others_before = others_before or item != IOT_CENTRAL
            entries.extensions.add(item)
        else:
            others_before = True
            entries.undefined = True
            if not allow_undefined:
                problems.append(
                    (
                        "undefined-extension",
                        f"@context {item!r} is not a context twinkit knows (allow undefined extensions to accept it)",
                    )
                )
    return entries


def is_term(text: str) -> bool:
    return ":" not in text and text != "" and not text.startswith("@")


@cache
def defined_terms(scope: Scope) -> frozenset[str]:
    terms = set(scope.vocab.core_terms)
    if scope.semantics:
        terms |= quantities.all_terms(scope.quantity_version)
        terms.add("unit")
    if scope.iot_central:
        terms |= IOTC_CLASSES | IOTC_SCHEMAS
    return frozenset(terms)


def semantic_type_of(text: str, scope: Scope) -> str | None:
    """The semantic type term ``text`` names in ``scope``, if it names one."""
    if not scope.semantics:
        return None
    table = quantities.semantic_types(scope.quantity_version)
    if is_term(text):
        return text if text in table else None
    if scope.version == 2 and text.startswith("dtmi:standard:class:") and text.endswith(";2"):
        name = text[len("dtmi:standard:class:") : -2]
        return name if name in table else None
    if scope.version == 3 and text.startswith(QT_CLASS_PREFIX):
        name = text[len(QT_CLASS_PREFIX) :]
        return name if name in table else None
    return None


def unit_of(text: str, scope: Scope) -> str | None:
    """The unit term ``text`` names in ``scope`` (term or DTMI spelling)."""
    if is_term(text):
        return text
    if scope.version == 2 and text.startswith("dtmi:standard:unit:") and text.endswith(";2"):
        return text[len("dtmi:standard:unit:") : -2]
    if scope.version == 3 and text.startswith(QT_UNIT_PREFIX):
        return text[len(QT_UNIT_PREFIX) :]
    return None


def classify(text: str, scope: Scope) -> tuple[Category, str]:
    """Classify a string used in ``@type``: a class, semantic type, or something else."""
    vocab = scope.vocab
    if is_term(text):
        if text in vocab.classes:
            return Category.MATERIAL, text
        semantic = semantic_type_of(text, scope)
        if semantic is not None:
            return Category.SEMANTIC, semantic
        if scope.iot_central and text in IOTC_CLASSES:
            return Category.EXTENSION, text
        if text in defined_terms(scope):
            return Category.IRRELEVANT, text
        return Category.UNDEFINED, text
    if text.startswith("dtmi:"):
        if not is_dtmi(text):
            return Category.INVALID_DTMI, text
        prefix, suffix = "dtmi:dtdl:class:", f";{scope.version}"
        if text.startswith(prefix) and text.endswith(suffix):
            name = text[len(prefix) : -len(suffix)]
            if name in vocab.classes:
                return Category.MATERIAL, name
        semantic = semantic_type_of(text, scope)
        if semantic is not None:
            return Category.SEMANTIC, semantic
        if scope.iot_central and text.startswith("dtmi:iotcentral:class:") and text.endswith(";2"):
            name = text[len("dtmi:iotcentral:class:") : -2]
            if name in IOTC_CLASSES:
                return Category.EXTENSION, name
        return Category.IRRELEVANT, text
    return Category.NOT_DTMI_NOR_TERM, text


def property_name(key: str, scope: Scope, props: frozenset[str]) -> str | None:
    """The DTDL property a key names among ``props``, by term or by DTMI."""
    if is_term(key):
        return key if key in props else None
    prefix, suffix = "dtmi:dtdl:property:", f";{scope.version}"
    if key.startswith(prefix) and key.endswith(suffix):
        name = key[len(prefix) : -len(suffix)]
        return name if name in props else None
    if key == "dtmi:dtdl:property:unit;2" and scope.version == 2 and "unit" in props:
        return "unit"
    if key == QT_PROPERTY_UNIT and scope.quantitative and "unit" in props:
        return "unit"
    return None


# Apocrypha: how each version treats strings it does not understand, as a cotype or as a
# property key of an element that has such a cotype. "tenable" means: accepted only where an
# undefined extension context is in scope.
_VALID, _TENABLE, _INVALID = "valid", "tenable", "invalid"
_APOCRYPHA = {
    2: {
        ("cotype", Category.INVALID_DTMI): _INVALID,
        ("cotype", Category.IRRELEVANT): _TENABLE,
        ("cotype", Category.NOT_DTMI_NOR_TERM): _VALID,
        ("cotype", Category.UNDEFINED): _VALID,
        ("property", Category.INVALID_DTMI): _VALID,
        ("property", Category.IRRELEVANT): _VALID,
        ("property", Category.NOT_DTMI_NOR_TERM): _VALID,
        ("property", Category.UNDEFINED): _VALID,
    },
    3: {
        ("cotype", Category.INVALID_DTMI): _INVALID,
        ("cotype", Category.IRRELEVANT): _TENABLE,
        ("cotype", Category.NOT_DTMI_NOR_TERM): _INVALID,
        ("cotype", Category.UNDEFINED): _TENABLE,
        ("property", Category.INVALID_DTMI): _INVALID,
        ("property", Category.IRRELEVANT): _TENABLE,
        ("property", Category.NOT_DTMI_NOR_TERM): _INVALID,
        ("property", Category.UNDEFINED): _TENABLE,
    },
}


def apocryphal_ok(role: str, category: Category, scope: Scope) -> bool:
    """Whether an unrecognised cotype or property key is acceptable in ``scope``."""
    verdict = _APOCRYPHA[scope.version][(role, category)]
    return verdict == _VALID or (verdict == _TENABLE and scope.undefined_extension)


def classify_key(key: str, scope: Scope) -> Category:
    """Classify a property key the element's class does not define."""
    if is_term(key):
        return Category.IRRELEVANT if key in defined_terms(scope) else Category.UNDEFINED
    if key.startswith("dtmi:"):
        return Category.IRRELEVANT if is_dtmi(key) else Category.INVALID_DTMI
    return Category.NOT_DTMI_NOR_TERM

"""First pass of the DTDL parser: JSON documents to a graph of untyped nodes.

Every element becomes a ``Node`` (its class, id, scope, and property values), every DTMI
used as a value becomes a ``Ref``. Problems are collected, not raised, so one run reports
all of them. Cross-element rules (references, inheritance, names) run in ``_checks``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final

from twinkit.model.dtdl._context import (
    Category,
    Scope,
    apocryphal_ok,
    classify,
    classify_key,
    property_name,
    read_context,
)
from twinkit.model.dtdl._errors import ParseIssue
from twinkit.model.dtdl._values import (
    describe,
    dtmi_hint,
    instance_term,
    label_of,
    read_literal,
    unit_term,
    valid_dtmi,
)
from twinkit.model.dtdl._vocab import ClassSpec, Kind, PropSpec

__all__ = ["Node", "Ref", "Walker"]

Say = Callable[[str, str], None]
"""Reports a problem (rule, message) about the element at hand."""

_ALLOWED_KEYWORDS: Final = frozenset({"@id", "@type", "@context"})
_RESERVED_PREFIXES: Final = ("dtmi:dtdl:", "dtmi:standard:")
# Properties whose values must be in the DTDL version of their parent (elsewhere a v3 element
# may hold v2 elements).
_SAME_VERSION_ONLY: Final = frozenset(
    {"schemas", "enumValues", "fields", "mapKey", "mapValue", "request", "response"}
)


@dataclass(frozen=True, slots=True)
class Ref:
    """A DTMI used where an element may stand (``"extends": "dtmi:..."``)."""

    dtmi: str
    doc: str
    path: str


@dataclass(eq=False, slots=True)
class Node:
    """One DTDL element as read from JSON, before cross-element checks."""

    cls: str
    id: str | None
    scope: Scope
    doc: str
    path: str
    props: dict[str, Any] = field(default_factory=dict)
    semantic_type: str | None = None
    unit: str | None = None
    cotypes: list[str] = field(default_factory=list)
    top_level: bool = False
    partition: Node | None = None
    """The Interface this element belongs to (an Interface is its own partition)."""
    display: str = ""

    @property
    def label(self) -> str:
        """How errors name this element: its DTMI, else its JSON path."""
        return self.id or self.display or self.path or "/"

    def values(self, prop: str) -> list[Any]:
        value = self.props.get(prop)
        if value is None:
            return []
        return value if isinstance(value, list) else [value]


class Walker:
    """Reads DTDL documents into nodes, collecting every problem."""

    def __init__(self, *, allow_undefined_extensions: bool) -> None:
        self.allow_undefined = allow_undefined_extensions
        self.issues: list[ParseIssue] = []
        self.nodes: list[Node] = []
        self._partition: Node | None = None

    # -- reporting -------------------------------------------------------------------------

    def problem(self, doc: str, element: str, rule: str, message: str) -> None:
        self.issues.append(ParseIssue(doc, element or "/", rule, message))

    # -- documents -------------------------------------------------------------------------

    def document(self, root: object, doc: str) -> None:
        """Read one parsed JSON document: an Interface or an array of them."""
        if isinstance(root, dict):
            self.top_level(root, doc, "")
        elif isinstance(root, list):
            for i, item in enumerate(root):
                if isinstance(item, dict):
                    self.top_level(item, doc, f"/{i}")
                else:
                    self.problem(
                        doc, f"/{i}", "root-form", f"expected a DTDL Interface object, got {item!r}"
                    )
        else:
            self.problem(doc, "/", "root-form", f"expected a JSON object or array, got {root!r}")

    def top_level(self, obj: dict[str, Any], doc: str, path: str) -> None:
        if "@context" not in obj:
            self.problem(
                doc,
                label_of(obj, path),
                "context-required",
                "a top-level element needs an @context naming dtmi:dtdl:context;2 or ;3",
            )
            return
        scope = self.scope_of(obj, None, doc, path)
        if scope is None:
            return
        spec_interface = PropSpec("root", Kind.ELEMENTS, classes=("Interface",))
        node = self.element(obj, scope, spec_interface, doc, path, top_level=True)
        if node is not None and node.cls != "Interface":
            self.problem(
                doc,
                node.label,
                "root-class",
                f"a top-level element must be an Interface, got {node.cls}",
            )

    def scope_of(
        self, obj: dict[str, Any], parent: Scope | None, doc: str, path: str
    ) -> Scope | None:
        if "@context" not in obj:
            return parent
        scope, problems = read_context(
            obj["@context"], parent, allow_undefined=self.allow_undefined
        )
        for rule, message in problems:
            self.problem(doc, label_of(obj, path), rule, message)
        if problems:
            return None
        return scope

    # -- elements --------------------------------------------------------------------------

    def element(
        self,
        obj: dict[str, Any],
        parent_scope: Scope,
        spec: PropSpec,
        doc: str,
        path: str,
        *,
        top_level: bool = False,
    ) -> Node | None:
        scope = parent_scope if top_level else self.scope_of(obj, parent_scope, doc, path)
        if scope is None:
            return None
        label = label_of(obj, path)
        say = partial(self.problem, doc, label)
        if scope.version != parent_scope.version and spec.name in _SAME_VERSION_ONLY:
            v = parent_scope.version
            say("context-version", f"{spec.name} of a DTDL v{v} element must be DTDL v{v} too")
            return None
        element_id = self.read_id(obj, doc, label, scope)
        strict_keywords = scope.version >= 3  # DTDL v2 tolerates (ignores) other keywords
        for key in obj:
            if (
                key.startswith("@")
                and key not in _ALLOWED_KEYWORDS
                and (strict_keywords or key == "@graph")
            ):
                say("keyword", f"JSON-LD keyword {key!r} is not allowed in a DTDL element")
        cls, cotypes, semantic, is_open = self.read_types(obj, scope, spec, say)
        if cls is None:
            return None
        cls_spec = scope.vocab.classes[cls]
        _check_id(obj, element_id, cls_spec, spec, say)
        node = Node(cls, element_id, scope, doc, path, cotypes=cotypes, top_level=top_level)
        node.display = label
        node.semantic_type = semantic
        outer = self._partition
        node.partition = node if cls == "Interface" else outer
        self._partition = node.partition
        try:
            self.read_properties(obj, node, cls_spec, is_open)
        finally:
            self._partition = outer
        self.nodes.append(node)
        return node

    def read_id(self, obj: dict[str, Any], doc: str, label: str, scope: Scope) -> str | None:
        if "@id" not in obj:
            return None
        value = obj["@id"]
        if not isinstance(value, str):
            self.problem(doc, label, "id-form", f"@id must be a single DTMI string, got {value!r}")
            return None
        if not valid_dtmi(value, scope.version):
            self.problem(
                doc,
                label,
                "dtmi-syntax",
                f"@id {value!r} is not a valid DTMI{dtmi_hint(scope.version)}",
            )
            return None
        if value.startswith(_RESERVED_PREFIXES):
            self.problem(
                doc, label, "dtmi-reserved", f"@id {value!r} uses a prefix reserved for DTDL itself"
            )
            return None
        return value

    def read_types(
        self, obj: dict[str, Any], scope: Scope, spec: PropSpec, say: Say
    ) -> tuple[str | None, list[str], str | None, bool]:
        """The element's class, extra types, semantic type, and whether it is open."""
        raw = obj.get("@type")
        if raw is None and "@type" not in obj:
            if spec.implicit is not None:
                return spec.implicit, [], None, False
            say("type-required", f"expected an @type naming one of {', '.join(spec.classes)}")
            return None, [], None, False
        types = raw if isinstance(raw, list) else [raw]
        if not types or not all(isinstance(t, str) for t in types):
            say("type-form", f"@type must be a string or an array of strings, got {raw!r}")
            return None, [], None, False
        materials: list[str] = []
        semantics: list[str] = []
        cotypes: list[str] = []
        is_open = False
        for text in types:
            category, value = classify(str(text), scope)
            if category is Category.MATERIAL:
                materials.extend([value] if value not in materials else [])
            elif category is Category.SEMANTIC:
                semantics.extend([value] if value not in semantics else [])
            elif category is Category.EXTENSION or apocryphal_ok("cotype", category, scope):
                cotypes.append(value)
                is_open = is_open or category is not Category.EXTENSION
            else:
                say("type-value", f"@type {text!r} is a {category.value} and is not allowed here")
        allowed = ", ".join(spec.classes)
        if len(materials) != 1:
            found = ", ".join(materials) or "none"
            say("type-class", f"@type must name exactly one of {allowed}; found {found} in {raw!r}")
            return None, cotypes, None, is_open
        cls = materials[0]
        if cls not in spec.classes:
            say("type-class", f"expected one of {allowed} here, got {cls}")
            return None, cotypes, None, is_open
        return cls, cotypes, _one_semantic_type(cls, semantics, scope, say), is_open

    def read_properties(
        self, obj: dict[str, Any], node: Node, spec: ClassSpec, is_open: bool
    ) -> None:
        props = dict(spec.props)
        if node.semantic_type is not None:
            props["unit"] = PropSpec("unit", Kind.INSTANCE, required=True, instances="unit")
        names = frozenset(props)
        seen: dict[str, str] = {}
        scope = node.scope
        for key, value in obj.items():
            if key.startswith("@"):
                continue
            name = property_name(key, scope, names)
            if name is None:
                category = classify_key(key, scope)
                if not (is_open and apocryphal_ok("property", category, scope)):
                    self.problem(
                        node.doc,
                        node.label,
                        "unknown-property",
                        f"{node.cls} has no property {key!r} ({category.value})",
                    )
                continue
            if name in seen:
                self.problem(
                    node.doc,
                    node.label,
                    "duplicate-property",
                    f"property {name!r} is given twice, as {seen[name]!r} and {key!r}",
                )
                continue
            seen[name] = key
            if value == []:
                if props[name].required:
                    self.problem(
                        node.doc,
                        node.label,
                        "required-property",
                        f"{node.cls} needs a value for {name!r}, got an empty array",
                    )
                continue
            self.read_value(node, props[name], value, f"{node.path}/{key}")
        for name, prop in props.items():
            if prop.required and name not in seen:
                self.problem(
                    node.doc,
                    node.label,
                    "required-property",
                    f"{node.cls} needs the property {name!r}",
                )

    # -- property values -------------------------------------------------------------------

    def read_value(self, node: Node, prop: PropSpec, value: object, path: str) -> None:
        if value == [] and prop.kind is not Kind.LANG:
            return  # JSON-LD: an empty array is no value at all
        if prop.kind is Kind.ELEMENTS:
            self.read_elements(node, prop, value, path)
            return
        if prop.kind is Kind.INSTANCE:
            self.read_instance(node, prop, value)
            return
        result, problem = read_literal(prop, value, node.scope.version)
        if problem is not None:
            self.problem(node.doc, node.label, f"{prop.name}-value", f"{prop.name}: {problem}")
            return
        node.props[prop.name] = result

    def read_instance(self, node: Node, prop: PropSpec, value: object) -> None:
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if not isinstance(value, str):
            self.problem(
                node.doc,
                node.label,
                f"{prop.name}-value",
                f"{prop.name}: expected a term, got {value!r}",
            )
            return
        if prop.name == "unit":
            term = unit_term(node, value)
        else:
            term = instance_term(node.scope, prop.instances or "", value)
        if term is None:
            self.problem(
                node.doc,
                node.label,
                f"{prop.name}-value",
                f"{prop.name}: expected {describe(prop.instances, node)}, got {value!r}",
            )
            return
        if prop.name == "unit":
            node.unit = term
        node.props[prop.name] = term

    def read_elements(self, node: Node, prop: PropSpec, value: object, path: str) -> None:
        items = value if isinstance(value, list) else [value]
        if not prop.multi and len(items) > 1:
            self.problem(
                node.doc,
                node.label,
                f"{prop.name}-count",
                f"{prop.name}: expected one value, got {len(items)}",
            )
            return
        if prop.max_count is not None and len(items) > prop.max_count:
            self.problem(
                node.doc,
                node.label,
                f"{prop.name}-count",
                f"{prop.name}: at most {prop.max_count} values, got {len(items)}",
            )
        if prop.min_count and len(items) < prop.min_count:
            self.problem(
                node.doc,
                node.label,
                f"{prop.name}-count",
                f"{prop.name}: at least {prop.min_count} values, got {len(items)}",
            )
        out: list[Any] = []
        for i, item in enumerate(items):
            item_path = f"{path}/{i}" if isinstance(value, list) else path
            parsed = self.read_element_value(node, prop, item, item_path)
            if parsed is not None:
                out.append(parsed)
        node.props[prop.name] = out if prop.multi else (out[0] if out else None)

    def read_element_value(self, node: Node, prop: PropSpec, item: object, path: str) -> Any:
        if isinstance(item, dict):
            child = self.element(item, node.scope, prop, node.doc, path)
            if child is None:
                return None
            if child.id is None:
                child.id = None
            return child
        if isinstance(item, str):
            if prop.instances is not None:
                term = instance_term(node.scope, prop.instances, item)
                if term is not None:
                    return term
            if item.startswith("dtmi:") and valid_dtmi(item, node.scope.version):
                return Ref(item, node.doc, path)
        self.problem(
            node.doc,
            node.label,
            f"{prop.name}-value",
            f"{prop.name}: expected {describe(prop.instances, node, prop.classes)}, got {item!r}",
        )
        return None


def _check_id(
    obj: dict[str, Any], element_id: str | None, cls_spec: ClassSpec, spec: PropSpec, say: Say
) -> None:
    """Identifier rules that depend on the class: length, and where an @id is required."""
    limit = cls_spec.id_max_length
    if element_id is not None and len(element_id) > limit:
        say(
            "id-length",
            f"a {cls_spec.name} @id may have at most {limit} characters, got {len(element_id)}",
        )
    if element_id is None and "@id" not in obj:
        if cls_spec.name == "Interface":
            say("id-required", "an Interface needs an @id")
        elif spec.name == "schemas":
            say("id-required", f"a {cls_spec.name} in 'schemas' needs an @id")


def _one_semantic_type(cls: str, semantics: list[str], scope: Scope, say: Say) -> str | None:
    """The element's semantic type, if it has exactly one and its class may have one."""
    if not semantics:
        return None
    if not scope.vocab.classes[cls].semantic:
        say("semantic-type", f"a {cls} cannot have the semantic type {semantics[0]!r}")
        return None
    if len(semantics) > 1:
        say("semantic-type", f"at most one semantic type is allowed, got {semantics}")
        return None
    return semantics[0]

"""Second pass of the DTDL parser: rules that span elements.

Identifiers are unique, references resolve to elements of the right class, inheritance has
no cycles and stays within the depth and count limits, complex schemas neither recurse nor
nest too deeply, and names are unique where DTDL says they must be.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from twinkit.model.dtdl._errors import ParseIssue
from twinkit.model.dtdl._parser import Node, Ref
from twinkit.model.dtdl._values import numeric_schema

__all__ = ["Graph"]

MAX_EXTENDS_DEPTH: Final = 10
MAX_EXTENDS_TOTAL: Final = 1024
MAX_SCHEMA_DEPTH: Final = 5
_SCHEMA_CHILDREN: Final = {"Array": ("elementSchema",), "Map": ("mapValue",), "Object": ("fields",)}


class Graph:
    """The nodes of all documents, indexed by id, with references resolved."""

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = nodes
        self.issues: list[ParseIssue] = []
        self.by_id: dict[str, Node] = {}

    def problem(self, node: Node, rule: str, message: str, ref: str | None = None) -> None:
        self.issues.append(ParseIssue(node.doc, node.label, rule, message, ref))

    def check(self) -> list[ParseIssue]:
        self.index()
        self.resolve()
        if self.issues:
            return self.issues
        interfaces = [n for n in self.nodes if n.cls == "Interface"]
        self.check_inheritance(interfaces)
        self.check_schemas()
        if self.issues:
            return self.issues
        for interface in interfaces:
            self.check_contents(interface)
        for node in self.nodes:
            self.check_node(node)
        return self.issues

    # -- identity and references -----------------------------------------------------------

    def index(self) -> None:
        for node in self.nodes:
            if node.id is None:
                continue
            other = self.by_id.get(node.id)
            if other is not None:
                self.problem(
                    node,
                    "id-duplicate",
                    f"@id {node.id} is already used by the {other.cls} at {other.doc}{other.path or '/'}",
                )
                continue
            self.by_id[node.id] = node

    def resolve(self) -> None:
        from twinkit.model.dtdl._vocab import vocabulary

        for node in self.nodes:
            specs = vocabulary(node.scope.version).classes[node.cls].props
            for name, value in node.props.items():
                spec = specs.get(name)
                if spec is None or not spec.classes:
                    continue
                items = value if isinstance(value, list) else [value]
                resolved: list[Any] = []
                for item in items:
                    if isinstance(item, Ref):
                        target = self.by_id.get(item.dtmi)
                        if target is None:
                            self.problem(
                                node,
                                "unresolved-reference",
                                f"{name}: {item.dtmi} is not defined in any of the documents",
                                ref=item.dtmi,
                            )
                            continue
                        if target.cls not in spec.classes:
                            self.problem(
                                node,
                                f"{name}-value",
                                f"{name}: {item.dtmi} is a {target.cls}, expected {' or '.join(spec.classes)}",
                            )
                            continue
                        if target.cls != "Interface" and target.partition is not node.partition:
                            owner = (
                                target.partition.label if target.partition else "another element"
                            )
                            self.problem(
                                node,
                                f"{name}-value",
                                f"{name}: {item.dtmi} is a {target.cls} defined inside {owner}; outside its Interface only Interfaces can be referenced",
                            )
                            continue
                        resolved.append(target)
                    else:
                        resolved.append(item)
                node.props[name] = (
                    resolved if isinstance(value, list) else (resolved[0] if resolved else None)
                )

    # -- inheritance -----------------------------------------------------------------------

    def check_inheritance(self, interfaces: list[Node]) -> None:
        state: dict[int, int] = {}  # 1 = visiting, 2 = done
        depth: dict[int, int] = {}

        def visit(node: Node, chain: list[Node]) -> int:
            key = id(node)
            if state.get(key) == 1:
                cycle = " -> ".join(n.label for n in [*chain[chain.index(node) :], node])
                self.problem(node, "extends-cycle", f"an Interface may not extend itself: {cycle}")
                return 0
            if state.get(key) == 2:
                return depth[key]
            state[key] = 1
            deepest = 0
            for base in node.values("extends"):
                if isinstance(base, Node):
                    deepest = max(deepest, 1 + visit(base, [*chain, node]))
            state[key] = 2
            depth[key] = deepest
            return deepest

        for interface in interfaces:
            if visit(interface, []) > MAX_EXTENDS_DEPTH:
                self.problem(
                    interface,
                    "extends-depth",
                    f"extends may nest at most {MAX_EXTENDS_DEPTH} levels deep, got {depth[id(interface)]}",
                )
            if interface.scope.version >= 3 and not self.issues:
                total = len(list(self.ancestors(interface)))
                if total > MAX_EXTENDS_TOTAL:
                    self.problem(
                        interface,
                        "extends-count",
                        f"an Interface may extend at most {MAX_EXTENDS_TOTAL} Interfaces in all, got {total}",
                    )

    def ancestors(self, node: Node) -> Iterator[Node]:
        seen: set[int] = set()
        stack = [b for b in node.values("extends") if isinstance(b, Node)]
        while stack:
            base = stack.pop()
            if id(base) in seen:
                continue
            seen.add(id(base))
            yield base
            stack.extend(b for b in base.values("extends") if isinstance(b, Node))

    # -- schemas ---------------------------------------------------------------------------

    def schema_children(self, node: Node) -> Iterator[Node]:
        for prop in _SCHEMA_CHILDREN.get(node.cls, ()):
            for child in node.values(prop):
                if not isinstance(child, Node):
                    continue
                if child.cls in ("MapValue", "Field"):
                    yield from (s for s in child.values("schema") if isinstance(s, Node))
                else:
                    yield child

    def check_schemas(self) -> None:
        depth: dict[int, int] = {}
        visiting: set[int] = set()

        def visit(node: Node) -> int:
            key = id(node)
            if key in depth:
                return depth[key]
            if key in visiting:
                self.problem(node, "schema-cycle", f"the {node.cls} {node.label} contains itself")
                return 0
            visiting.add(key)
            deepest = 0
            for child in self.schema_children(node):
                deepest = max(deepest, visit(child))
            visiting.discard(key)
            depth[key] = deepest + 1
            return depth[key]

        for node in self.nodes:
            if node.cls in _SCHEMA_CHILDREN and visit(node) > MAX_SCHEMA_DEPTH:
                self.problem(
                    node,
                    "schema-depth",
                    f"complex schemas may nest at most {MAX_SCHEMA_DEPTH} deep, got {depth[id(node)]}",
                )

    def contains_array(self, schema: object) -> bool:
        if isinstance(schema, str):
            return schema in {
                "point",
                "lineString",
                "polygon",
                "multiPoint",
                "multiLineString",
                "multiPolygon",
            }
        if not isinstance(schema, Node):
            return False
        if schema.cls == "Array":
            return True
        return any(self.contains_array(child) for child in self.schema_children(schema)) or any(
            isinstance(s, str) and self.contains_array(s)
            for prop in _SCHEMA_CHILDREN.get(schema.cls, ())
            for c in schema.values(prop)
            if isinstance(c, Node)
            for s in c.values("schema")
        )

    # -- names and element rules -----------------------------------------------------------

    def check_contents(self, interface: Node) -> None:
        seen: dict[str, Node] = {}
        owners = [interface, *self.ancestors(interface)]
        for owner in owners:
            for content in owner.values("contents"):
                if not isinstance(content, Node):
                    continue
                name = content.props.get("name")
                if not isinstance(name, str):
                    continue
                other = seen.get(name)
                if other is not None and other is not content:
                    where = "" if owner is interface else f" (inherited from {owner.label})"
                    self.problem(
                        interface, "name-duplicate", f"two contents are named {name!r}{where}"
                    )
                seen[name] = content

    def check_node(self, node: Node) -> None:
        if node.cls == "Component":
            for schema in node.values("schema"):
                if isinstance(schema, Node):
                    for owner in [schema, *self.ancestors(schema)]:
                        if any(
                            isinstance(c, Node) and c.cls == "Component"
                            for c in owner.values("contents")
                        ):
                            self.problem(
                                node,
                                "component-nesting",
                                f"the schema {schema.label} of Component {node.props.get('name')!r} itself contains a Component",
                            )
                            break
        elif node.cls == "Object":
            self.unique_names(node, "fields")
        elif node.cls == "Relationship":
            self.unique_names(node, "properties")
            low, high = node.props.get("minMultiplicity"), node.props.get("maxMultiplicity")
            if isinstance(low, int) and isinstance(high, int) and low > high:
                self.problem(
                    node, "multiplicity", f"minMultiplicity {low} exceeds maxMultiplicity {high}"
                )
        elif node.cls == "Enum":
            self.check_enum(node)
        if (
            node.cls == "Property"
            and node.scope.version == 2
            and self.contains_array(node.props.get("schema"))
        ):
            self.problem(
                node,
                "property-array",
                f"in DTDL v2 a Property schema may not be or contain an Array (Property {node.props.get('name')!r})",
            )
        if node.semantic_type is not None and not numeric_schema(node.props.get("schema")):
            self.problem(
                node,
                "semantic-schema",
                f"the semantic type {node.semantic_type} needs a numeric schema, got {_schema_label(node.props.get('schema'))}",
            )

    def unique_names(self, node: Node, prop: str) -> None:
        seen: set[str] = set()
        for child in node.values(prop):
            name = child.props.get("name") if isinstance(child, Node) else None
            if isinstance(name, str):
                if name in seen:
                    self.problem(node, "name-duplicate", f"two {prop} are named {name!r}")
                seen.add(name)

    def check_enum(self, node: Node) -> None:
        self.unique_names(node, "enumValues")
        value_schema = node.props.get("valueSchema")
        wanted = int if value_schema == "integer" else str
        seen: set[object] = set()
        for member in node.values("enumValues"):
            if not isinstance(member, Node) or "enumValue" not in member.props:
                continue
            value = member.props["enumValue"]
            if value_schema in ("integer", "string") and (
                not isinstance(value, wanted) or isinstance(value, bool)
            ):
                self.problem(
                    node,
                    "enum-value",
                    f"enumValue {value!r} of {member.props.get('name')!r} does not match valueSchema {value_schema}",
                )
            if value in seen:
                self.problem(node, "enum-value", f"enumValue {value!r} is used twice")
            seen.add(value)


def _schema_label(schema: object) -> str:
    if isinstance(schema, Node):
        return schema.cls
    return repr(schema)

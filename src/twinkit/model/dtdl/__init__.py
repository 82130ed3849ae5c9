"""DTDL import and export: JSON-LD documents to and from the twinkit metamodel.

``parse`` reads DTDL v2 and v3 (with the QuantitativeTypes and IoT Central extensions) and
returns a :class:`~twinkit.model.ModelSet`, or raises :class:`ParsingError` listing every
problem; ``export`` and ``dumps`` write DTDL v3.
"""

from __future__ import annotations

from collections.abc import Iterable

from twinkit.model._modelset import ModelSet
from twinkit.model.dtdl._build import build_model_set
from twinkit.model.dtdl._checks import Graph
from twinkit.model.dtdl._errors import ParseIssue, ParsingError
from twinkit.model.dtdl._export import dumps, export
from twinkit.model.dtdl._load import Document, iter_documents
from twinkit.model.dtdl._parser import Walker

__all__ = ["Document", "ParseIssue", "ParsingError", "dumps", "export", "parse"]


def parse(
    documents: Iterable[Document] | Document, *, allow_undefined_extensions: bool = False
) -> ModelSet:
    """Parse DTDL documents together (they may reference each other) into a ModelSet.

    ``documents`` are JSON texts, file paths, or already-decoded JSON (an Interface object or
    an array of them); one document may be passed on its own. With
    ``allow_undefined_extensions`` contexts twinkit does not know are accepted (their terms
    still are not). Raises :class:`ParsingError` with every problem found.
    """
    walker = Walker(allow_undefined_extensions=allow_undefined_extensions)
    for label, value in iter_documents(documents, walker.issues):  # type: ignore[arg-type]
        walker.document(value, label)
    graph = Graph(walker.nodes)
    if walker.issues:
        graph.index()
        graph.resolve()  # also report unresolved references alongside the first problems
        raise ParsingError([*walker.issues, *graph.issues])
    issues = graph.check()
    if issues:
        raise ParsingError(issues)
    return build_model_set(walker.nodes)

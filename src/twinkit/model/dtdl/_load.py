"""Turning what callers pass to ``parse`` into (label, JSON value) pairs."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

from twinkit.model.dtdl._errors import ParseIssue

__all__ = ["Document", "iter_documents"]

Document: TypeAlias = "str | os.PathLike[str] | Mapping[str, Any] | Sequence[Any]"


def iter_documents(
    documents: Iterable[Document], issues: list[ParseIssue]
) -> Iterator[tuple[str, object]]:
    """Yield ``(label, value)`` for each document; unreadable ones become issues.

    A ``str`` is JSON text when it starts with ``{`` or ``[`` (after whitespace), otherwise a
    file path; a ``Path`` is always a file. Dicts and lists are taken as already-parsed JSON.
    """
    if isinstance(documents, (str, os.PathLike, Mapping)):
        documents = [documents]
    for i, document in enumerate(documents):
        if isinstance(document, os.PathLike) or (
            isinstance(document, str) and document.lstrip()[:1] not in ("{", "[")
        ):
            path = Path(document)
            label = str(path)
            try:
                text = path.read_text(encoding="utf-8-sig")
            except OSError as err:
                issues.append(
                    ParseIssue(label, "/", "file", f"cannot read the file: {err.strerror or err}")
                )
                continue
        elif isinstance(document, str):
            label, text = f"document[{i}]", document
        else:
            yield f"document[{i}]", document
            continue
        try:
            yield label, json.loads(text)
        except json.JSONDecodeError as err:
            issues.append(
                ParseIssue(
                    label,
                    f"line {err.lineno} column {err.colno}",
                    "json",
                    f"not valid JSON: {err.msg}",
                )
            )

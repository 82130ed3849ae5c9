"""Run the DTDL parser conformance suite (digitaltwinconsortium/DTDLParser test cases).

Each case file holds one case or a list of them: ``{"valid": bool, "options": [...],
"input": [documents], "expect": {...}}``. A valid case must parse; an invalid one must be
rejected, and where ``expect`` lists ``unresolvedIdentifiers`` the error must name them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twinkit.model.dtdl._errors import ParsingError

__all__ = ["Case", "Outcome", "load_cases", "load_file", "run_case"]


@dataclass(frozen=True, slots=True)
class Case:
    file: str  # file name, e.g. "Requirement-ClassArrayIdDuplicateV3.json"
    index: int  # position in the file
    valid: bool
    options: tuple[str, ...]
    documents: tuple[Any, ...]
    unresolved: tuple[str, ...]

    @property
    def version(self) -> int:
        return int(self.file.removesuffix(".json")[-1])

    @property
    def kind(self) -> str:
        """Requirement, Allowance, Recommendation or Completion."""
        return self.file.split("-", 1)[0]

    @property
    def name(self) -> str:
        return f"{self.file}#{self.index}"


@dataclass(frozen=True, slots=True)
class Outcome:
    case: Case
    passed: bool
    detail: str


def load_cases(folder: Path) -> Iterator[Case]:
    """Every case of every ``*.json`` file in ``folder``, in file-name order."""
    for path in sorted(folder.glob("*.json")):
        yield from load_file(path)


def load_file(path: Path) -> Iterator[Case]:
    """The cases of one conformance file."""
    data = json.loads(path.read_text(encoding="utf-8-sig"))
    for i, raw in enumerate(data if isinstance(data, list) else [data]):
        expect = raw.get("expect") or {}
        yield Case(
            file=path.name,
            index=i,
            valid=bool(raw["valid"]),
            options=tuple(raw.get("options", ())),
            documents=tuple(raw["input"]),
            unresolved=tuple(expect.get("unresolvedIdentifiers", ())),
        )


def run_case(case: Case) -> Outcome:
    from twinkit.model.dtdl import parse

    allow = "AllowUndefinedExtensions" in case.options
    try:
        parse(list(case.documents), allow_undefined_extensions=allow)
    except ParsingError as err:
        if case.valid:
            return Outcome(case, False, f"rejected a valid case: {err.errors[0]}")
        missing = [d for d in case.unresolved if d not in err.unresolved_identifiers]
        if missing:
            return Outcome(case, False, f"rejected, but did not name unresolved {missing}")
        return Outcome(case, True, str(err.errors[0]))
    if case.valid:
        return Outcome(case, True, "parsed")
    return Outcome(case, False, "accepted an invalid case")

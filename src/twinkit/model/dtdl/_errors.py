"""ParsingError: everything wrong with a set of DTDL documents, reported at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from twinkit.errors import ValidationError

__all__ = ["ParseIssue", "ParsingError"]


@dataclass(frozen=True, slots=True)
class ParseIssue:
    """One problem in a DTDL document.

    ``document`` names the document (its file path, or ``document[i]`` for in-memory input),
    ``element`` the element (its DTMI when it has one, else a JSON path such as
    ``/contents/2/schema``), ``rule`` the short name of the rule broken (``dtmi-syntax``,
    ``required-property``...) and ``message`` says what was expected and what was found.
    """

    document: str
    element: str
    rule: str
    message: str
    ref: str | None = None
    """For ``unresolved-reference``: the DTMI that no document defines."""

    def __str__(self) -> str:
        return f"{self.document}: {self.element}: {self.message} [{self.rule}]"


class ParsingError(ValidationError):
    """DTDL input that is not valid DTDL. ``errors`` lists every problem found."""

    def __init__(self, errors: Sequence[ParseIssue]) -> None:
        self.errors: tuple[ParseIssue, ...] = tuple(errors)
        count = len(self.errors)
        lines = "\n".join(f"  {issue}" for issue in self.errors[:20])
        more = f"\n  ... and {count - 20} more" if count > 20 else ""
        super().__init__(
            f"{count} error{'s' if count != 1 else ''} in DTDL input:\n{lines}{more}",
            expected="valid DTDL v2 or v3",
        )

    @property
    def unresolved_identifiers(self) -> tuple[str, ...]:
        """DTMIs referenced but defined in none of the documents given."""
        found: list[str] = []
        for issue in self.errors:
            if issue.ref is not None and issue.ref not in found:
                found.append(issue.ref)
        return tuple(found)

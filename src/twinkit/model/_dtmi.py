"""Digital Twin Model Identifiers (DTMI), the ids of every DTDL element.

A DTMI looks like ``dtmi:com:example:Pump;1``: the scheme ``dtmi``, colon-separated path
segments, and a version after ``;`` (``major`` or, in DTDL v3, ``major.minor``).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["Dtmi", "is_dtmi"]

_SEGMENT: Final = r"[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?"
_SYSTEM_SEGMENT: Final = r"(?:_+[A-Za-z0-9]|[A-Za-z])(?:[A-Za-z0-9_]*[A-Za-z0-9])?"
_VERSION: Final = r"(?:;[1-9][0-9]{0,8}(?:\.[1-9][0-9]{0,5})?)?"

_USER_RE: Final = re.compile(rf"dtmi:{_SEGMENT}(?::{_SEGMENT})*{_VERSION}")
_SYSTEM_RE: Final = re.compile(rf"dtmi:{_SYSTEM_SEGMENT}(?::{_SYSTEM_SEGMENT})*{_VERSION}")

MAX_LENGTH: Final = 2048
"""Longest DTMI the DTDL specification allows (Interfaces are limited to 128 characters)."""


def is_dtmi(text: object, *, system: bool = False) -> bool:
    """Tell whether ``text`` is a syntactically valid DTMI.

    ``system`` also admits path segments that start with ``_``, which DTDL reserves for
    identifiers a parser generates for nested elements.
    """
    if not isinstance(text, str) or len(text) > MAX_LENGTH:
        return False
    pattern = _SYSTEM_RE if system else _USER_RE
    return pattern.fullmatch(text) is not None


class Dtmi(str):
    """A validated DTMI. It is a ``str``, so it compares and hashes like its text."""

    __slots__ = ()

    def __new__(cls, text: str, *, system: bool = False) -> Dtmi:
        if isinstance(text, Dtmi):
            return text
        if not is_dtmi(text, system=system):
            raise ValueError(f"expected a DTMI such as 'dtmi:com:example:Pump;1', got {text!r}")
        return super().__new__(cls, text)

    @property
    def path(self) -> str:
        """The identifier without scheme and version: ``com:example:Pump``."""
        return self[5:].split(";", 1)[0]

    @property
    def version(self) -> str | None:
        """The version text after ``;`` (``"1"`` or ``"2.1"``), or None when unversioned."""
        _, sep, version = self.partition(";")
        return version if sep else None

    @property
    def major_version(self) -> int | None:
        """The major version number, or None when unversioned."""
        version = self.version
        return None if version is None else int(version.split(".", 1)[0])

    def __repr__(self) -> str:
        return f"Dtmi({str(self)!r})"

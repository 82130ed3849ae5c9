"""Reading JSON-LD literal values: strings, numbers, booleans and language maps.

Each reader returns ``(value, problem)``: the value when it is well formed, otherwise None
and a message that says what was expected and what came.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["read_boolean", "read_integer", "read_langstring", "read_string"]

_LANGUAGE: Final = re.compile(r"[a-z]{2,4}(?:-[A-Z][a-z]{3})?(?:-(?:[A-Z]{2}|[0-9]{3}))?")
_NO_NESTED: Final = frozenset({"@id", "@context", "@graph"})

Read = tuple[object, str | None]


def _single(value: object, what: str) -> tuple[object, str | None]:
    """Unwrap a one-element array; JSON-LD allows ``"x"`` and ``["x"]`` alike."""
    if isinstance(value, list):
        if len(value) != 1:
            return None, f"expected one {what}, got {len(value)} values"
        return value[0], None
    return value, None


_XSD = "http://www.w3.org/2001/XMLSchema#"


def _literal(value: object, what: str, ok: type, xsd: str, strict: bool) -> Read:
    value, problem = _single(value, what)
    if problem:
        return None, problem
    if isinstance(value, dict):
        keys = set(value)
        if "@value" not in keys:
            return None, f"a value object for {what} needs '@value', got keys {sorted(keys)}"
        if any(not k.startswith("@") for k in keys):
            return None, f"a value object may only hold keywords, got keys {sorted(keys)}"
        if keys & _NO_NESTED:
            return None, f"a value object may not hold {sorted(keys & _NO_NESTED)}"
        if strict and keys - {"@value", "@type"}:
            return None, f"a value object may only hold '@value' and '@type', got {sorted(keys)}"
        if "@type" in value:
            datatype, _ = _single(value["@type"], "type")
            if datatype not in (xsd, _XSD + xsd.removeprefix("xsd:")):
                return None, f"'@type' of a value object must be {xsd!r}, got {value['@type']!r}"
        value = value["@value"]
    if isinstance(value, bool) and ok is not bool:
        return None, f"expected {what} ({xsd}), got {value!r}"
    if not isinstance(value, ok):
        return None, f"expected {what} ({xsd}), got {value!r}"
    return value, None


def read_string(value: object, what: str = "a string", *, strict: bool = True) -> Read:
    return _literal(value, what, str, "xsd:string", strict)


def read_integer(value: object, what: str = "an integer", *, strict: bool = True) -> Read:
    return _literal(value, what, int, "xsd:integer", strict)


def read_boolean(value: object, what: str = "a boolean", *, strict: bool = True) -> Read:
    return _literal(value, what, bool, "xsd:boolean", strict)


def read_langstring(
    value: object, *, strict: bool = True
) -> tuple[dict[str, str] | None, str | None]:
    """A localizable string: ``"text"``, ``{"en": "text"}`` or JSON-LD language objects."""
    if isinstance(value, str):
        return {"en": value}, None
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for lang, text in value.items():
            if not _LANGUAGE.fullmatch(lang):
                return None, f"expected a language code such as 'en' or 'en-US', got {lang!r}"
            if not isinstance(text, str):
                return None, f"expected a string for language {lang!r}, got {text!r}"
            out[lang] = text
        return out, None
    if isinstance(value, list):
        return _langstring_array(value, strict)
    return None, f"expected a string, a language map or an array, got {value!r}"


def _langstring_array(
    items: list[object], strict: bool
) -> tuple[dict[str, str] | None, str | None]:
    out: dict[str, str] = {}
    default_seen = False
    for item in items:
        language: str | None = None
        if isinstance(item, str):
            text = item
        elif isinstance(item, dict):
            keys = set(item)
            if any(not k.startswith("@") for k in keys):
                return None, f"a language object may only hold keywords, got keys {sorted(keys)}"
            if keys & _NO_NESTED:
                return None, f"a language object may not hold {sorted(keys & _NO_NESTED)}"
            if "@value" not in keys:
                return None, f"a language object needs '@value', got keys {sorted(keys)}"
            if strict and keys - {"@value", "@language"}:
                return (
                    None,
                    f"a language object holds only '@value' and '@language', got {sorted(keys)}",
                )
            text_value = item["@value"]
            if not isinstance(text_value, str):
                return None, f"'@value' must be a string, got {text_value!r}"
            text = text_value
            if "@language" in item:
                lang = item["@language"]
                if not isinstance(lang, str) or not _LANGUAGE.fullmatch(lang):
                    return None, f"expected a language code such as 'en', got {lang!r}"
                language = lang
        else:
            return None, f"expected a string or a language object, got {item!r}"
        if language is None:
            if default_seen:
                return None, "at most one value may be without a language"
            default_seen = True
            language = "en"
        if language in out:
            return None, f"language {language!r} is given twice"
        out[language] = text
    return out, None
